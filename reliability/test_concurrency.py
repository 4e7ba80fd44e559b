"""Many writers at once: two embedded processes on one SQLite home, and 16 clients of one server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from _services import ServerProcess
from _suite import SECONDS, record

from mainsail import Client

_EMBEDDED = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import mainsail
    from mainsail import Client

    who, n, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    model = Path(out.parent / f"model-{who}.txt"); model.write_text(who)
    client, moves, errors = Client(), [], []
    exp = client.create_experiment(f"exp-{who}").id
    for i in range(n):
        try:
            run = client.create_run(exp)
            client.log_batch(run.id, [("loss", 1.0 / (i + 1), i, time.time())], params={"who": who})
            client.end_run(run.id)
            v = client.register_model("shared", framework="custom", artifacts=[model], metrics={"i": i})
            client.set_model_alias("shared", "champion", v.version, reason=f"{who}-{i}")
            moves.append(v.version)
        except Exception as exc:  # every error that would reach a user
            errors.append(f"{type(exc).__name__}: {exc}")
    out.write_text(json.dumps({"moves": moves, "errors": errors}))
""")


def test_two_embedded_processes_on_one_sqlite_home(tmp_path: Path) -> None:
    """Both log, register versions of the same model and move the same alias: no error reaches either
    user and no update is lost (every version and every alias move is stored)."""
    n = 25
    env = {**os.environ, "MAINSAIL_HOME": str(tmp_path / "shared-home")}
    script = tmp_path / "embedded.py"
    script.write_text(_EMBEDDED)
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, str(script), who, str(n), str(tmp_path / f"{who}.json")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for who in ("a", "b")]
    outputs = [p.communicate(timeout=600)[0].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    results = [json.loads((tmp_path / f"{who}.json").read_text()) for who in ("a", "b")]
    errors = [e for r in results for e in r["errors"]]
    db = tmp_path / "shared-home" / "mainsail.db"
    reader = Client(f"sqlite:///{db}") if db.exists() and len(errors) < 2 * n else None
    versions = moves = runs = 0
    if reader is not None:
        versions = len(reader.list_model_versions("shared", limit=1000).items)
        moves = sum(1 for t in reader.model_history("shared") if t.kind == "alias")
        runs = sum(len(reader.search_runs([reader.get_experiment_by_name(f"exp-{w}").id], limit=1000).items)
                   for w in ("a", "b"))
    ok = not errors and versions == 2 * n and moves == 2 * n and runs == 2 * n
    record("2 embedded processes, one SQLite home", "sqlite", ok, iterations=2 * n, errors=len(errors),
           versions=versions, alias_moves=moves, runs=runs, seconds=round(time.monotonic() - started, 1))
    assert not errors, errors[:5]
    assert reader is not None, "the shared home has no mainsail.db"
    assert versions == 2 * n and runs == 2 * n
    assert moves == 2 * n, f"{2 * n - moves} alias moves lost"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sixteen_clients_sustained_writes(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """``SECONDS`` of tracking writes from 16 clients: no error (no "database is locked"), every
    acknowledged write readable after."""
    uri = request.getfixturevalue("pg_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'd.db'}"
    srv = ServerProcess(uri, str(tmp_path / "art"), tmp_path).start()
    try:
        client = Client(srv.url)
        exp = client.create_experiment("load").id
        runs = [client.create_run(exp).id for _ in range(16)]
        acked: list[list[int]] = [[] for _ in range(16)]
        errors: Counter[str] = Counter()
        stop = threading.Event()

        def writer(w: int) -> None:
            c = Client(srv.url)
            i = 0
            while not stop.is_set():
                try:
                    c.log_batch(runs[w], [("m", float(i), i, time.time()), ("n", -float(i), i, time.time())])
                except Exception as exc:  # noqa: BLE001 - counted, each one fails the check
                    errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                else:
                    acked[w].append(i)
                i += 1

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(16)]
        started = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(SECONDS)
        stop.set()
        for t in threads:
            t.join(60)
        took = time.monotonic() - started
        missing = 0
        for w in range(16):
            stored = set(client.get_metric_history(runs[w], "m").step)
            missing += sum(1 for s in acked[w] if s not in stored)
        total = sum(len(a) for a in acked)
        ok = not errors and missing == 0
        record("16 clients, sustained tracking writes", backend, ok, seconds=round(took, 1), writes=total,
               writes_per_s=round(total / took, 1), errors=sum(errors.values()), unreadable=missing)
        assert not errors, errors.most_common(5)
        assert missing == 0, f"{missing} acknowledged writes not readable"
    finally:
        srv.stop()
