"""Dependency faults: the metadata database restarts mid-traffic. The server answers 503 problem+json
while it is down (never a 500), recovers by itself, and loses nothing it acknowledged.

The test runs its own PostgreSQL cluster (initdb on a free port), so restarting it touches nobody else."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _services import ServerProcess, free_port, require_service
from _suite import record

from mainsail import Client


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, Path, int]]:
    """A PostgreSQL cluster of this test's own: (its bin folder, data folder, port). Its folder is outside
    pytest's (which only root may enter) since the server runs as the postgres user."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        require_service("PostgreSQL server binaries", "no /usr/lib/postgresql/*/bin/initdb")
    bindir = str(Path(bins[-1]).parent)
    root = Path(tempfile.mkdtemp(prefix="mainsail-reliability-pg-"))
    data, port = root / "data", free_port()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    subprocess.run(_as_postgres(f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-N"),
                   check=True, capture_output=True)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = [f"{bindir}/pg_ctl", "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w"]
    subprocess.run(_as_postgres(*ctl, "start"), check=True, capture_output=True)
    try:
        yield bindir, data, port
    finally:
        subprocess.run(_as_postgres(*ctl, "-m", "immediate", "stop"), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_database_restart_mid_traffic(private_postgres: tuple[str, Path, int], tmp_path: Path) -> None:
    bindir, data, port = private_postgres
    srv = ServerProcess(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", str(tmp_path / "art"),
                        tmp_path).start()
    statuses: Counter[int] = Counter()
    bodies: list[str] = []
    acked: list[int] = []
    stop = threading.Event()
    try:
        client = Client(srv.url)
        run = client.create_run(client.create_experiment("faults").id)
        url = f"{srv.url}/api/v1/tracking-runs/{run.id}/log-batch"

        def writer(w: int) -> None:
            with httpx.Client(timeout=10) as http:
                i = 0
                while not stop.is_set():
                    step = w * 1_000_000 + i
                    try:
                        r = http.post(url, json={"metrics": {"key": ["m"], "value": [1.0], "step": [step],
                                                             "timestamp": [time.time()]}})
                    except httpx.HTTPError:
                        statuses[-1] += 1
                    else:
                        statuses[r.status_code] += 1
                        if r.status_code < 300:
                            acked.append(step)
                        elif r.status_code >= 400 and len(bodies) < 5:
                            bodies.append(f"{r.status_code} {r.headers.get('content-type')} {r.text[:200]}")
                    i += 1
                    time.sleep(0.01)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        time.sleep(2)
        before = len(acked)
        down = time.monotonic()
        subprocess.run(_as_postgres(f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop"),
                       check=True, capture_output=True)
        time.sleep(3)  # traffic against a database that is gone
        during = dict(statuses)
        opts = f"-p {port} -k {data.parent} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(_as_postgres(f"{bindir}/pg_ctl", "-D", str(data), "-o", opts, "-l", str(data.parent / "log"),
                                    "-w", "start"), check=True, capture_output=True)
        up = len(acked)
        deadline = time.monotonic() + 30
        while len(acked) <= up + 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        recovered = time.monotonic() - down - 3
        stop.set()
        for t in threads:
            t.join(30)
        stored = set(client.get_metric_history(run.id, "m").step)
        lost = sum(1 for s in acked if s not in stored)
        failures = {k: v for k, v in statuses.items() if k >= 400 and k != 503 or k == -1}
        ok = before > 0 and len(acked) > up + 20 and lost == 0 and not failures and statuses[503] > 0
        record("PostgreSQL restart mid-traffic (4 clients)", "postgres", ok, acknowledged=len(acked),
               answered_503=statuses[503], other_errors=sum(failures.values()), lost=lost,
               recovered_s=round(recovered, 1))
        assert statuses[503] > 0, f"no 503 while the database was down: {during}"
        assert not failures, f"answers other than 503 while the database was down: {failures} {bodies}"
        assert all("application/problem+json" in b for b in bodies if b.startswith("503")), bodies
        assert len(acked) > up + 20, "writes did not resume after the database came back"
        assert lost == 0, f"{lost} acknowledged writes lost"
    finally:
        stop.set()
        srv.stop()
