"""A server killed with kill -9 while clients log loses no write it acknowledged."""

from __future__ import annotations

import threading
import time

from mainsail import Client
from mainsail.core.errors import MainsailError


def test_kill_9_loses_no_acknowledged_write(tmp_path) -> None:
    from _services import ServerProcess

    db, art = f"sqlite:///{tmp_path / 'd.db'}", str(tmp_path / "art")
    srv = ServerProcess(db, art, tmp_path).start()
    client = Client(srv.url)
    run = client.create_run(client.create_experiment("durable").id)
    acked: list[int] = []
    stop = threading.Event()

    def writer(worker: int) -> None:
        c = Client(srv.url)
        i = 0
        while not stop.is_set():
            step = worker * 1_000_000 + i
            try:
                c.log_batch(run.id, [("m", float(step), step, time.time())], params={f"p{step}": step})
            except (MainsailError, Exception):  # noqa: BLE001 - the server died mid-request
                return
            acked.append(step)
            i += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    srv.kill()  # SIGKILL, no shutdown hooks
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) > 20, "the writers should have had many writes acknowledged"

    srv2 = ServerProcess(db, art, tmp_path).start()
    try:
        after = Client(srv2.url)
        hist = after.get_metric_history(run.id, "m")
        stored = set(hist.step)
        missing = [s for s in acked if s not in stored]
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
        params = after.get_run(run.id).params
        assert all(f"p{s}" in params for s in acked)
    finally:
        srv2.stop()
