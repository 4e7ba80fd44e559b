"""kill -9 of the server while 4 clients write: no acknowledged write is lost, nothing is half-written."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
from _services import ServerProcess
from _suite import TRIALS, record

from mainsail import Client
from mainsail.core.errors import NotFound


def _trial(uri: str, art: str, home: Path, seed: int) -> tuple[int, int, int]:
    """One trial: 4 writers log (metric step s, param p<s>) pairs in one batch each until the server is
    killed at a random moment; returns (acknowledged, lost, half-written)."""
    srv = ServerProcess(uri, art, home).start()
    client = Client(srv.url)
    run = client.create_run(client.create_experiment(f"kill9-{seed}").id)
    acked: list[int] = []
    stop = threading.Event()

    def writer(worker: int) -> None:
        c = Client(srv.url)
        i = 0
        while not stop.is_set():
            step = worker * 1_000_000 + i
            try:
                c.log_batch(run.id, [("m", float(step), step, time.time())], params={f"p{step}": step})
            except Exception:  # noqa: BLE001 - the server died mid-request
                return
            acked.append(step)
            i += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(random.Random(seed).uniform(0.3, 1.5))
    srv.kill()
    stop.set()
    for t in threads:
        t.join(30)
    after = Client(uri, artifact_root=art)  # what the database holds now (a new server would read the same)
    try:
        steps = set(after.get_metric_history(run.id, "m").step)
    except NotFound:  # killed before the first write
        steps = set()
    params = {int(k[1:]) for k in after.get_run(run.id).params}
    after.close()
    lost = sum(1 for s in acked if s not in steps or s not in params)
    return len(acked), lost, len(steps ^ params)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_during_writes(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    uri = request.getfixturevalue("pg_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'd.db'}"
    acked = lost = half = 0
    started = time.monotonic()
    for trial in range(TRIALS):
        a, lo, h = _trial(uri, str(tmp_path / "art"), tmp_path, seed=trial)
        acked, lost, half = acked + a, lost + lo, half + h
    ok = lost == 0 and half == 0 and acked >= TRIALS
    record("kill -9 during writes (4 clients)", backend, ok, trials=TRIALS, acknowledged=acked, lost=lost,
           half_written=half, seconds=round(time.monotonic() - started, 1))
    assert acked >= TRIALS, "the writers should have had writes acknowledged in every trial"
    assert lost == 0, f"{lost} acknowledged writes lost over {TRIALS} trials"
    assert half == 0, f"{half} batches half-written (metric without its param or the reverse)"
