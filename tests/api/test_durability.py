"""Nothing acknowledged is lost: a server killed with kill -9 while clients log, and the SDK's buffer
while its server is down and comes back."""

from __future__ import annotations

import threading
import time

import pytest
from _services import ServerProcess, serve_in_thread

import mainsail
from mainsail import Client
from mainsail.core.errors import MainsailError, ServiceUnavailable


def test_kill_9_loses_no_acknowledged_write(tmp_path) -> None:
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


@pytest.fixture(autouse=True)
def _no_leftover_runs():
    """A failed test must not leave active runs behind for the next one (or for exit)."""
    yield
    from mainsail.client import fluent

    fluent._local.stack.clear()
    fluent._all_active.clear()
    mainsail.set_tracking_uri(None)


def _wait(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_sdk_buffer_keeps_every_run_s_points_across_a_server_restart(tmp_path) -> None:
    """Two runs log while the server is down: nothing is lost, flush() says so while it is down,
    and once the server is back every point is stored and end() raises nothing stale."""
    db, art = f"sqlite:///{tmp_path / 'd.db'}", str(tmp_path / "art")
    srv = ServerProcess(db, art, tmp_path).start()
    mainsail.set_tracking_uri(srv.url)
    try:
        a = mainsail.start_run("a")
        b = mainsail.start_run("b", nested=True)
        srv.stop()
        for i in range(100):
            a.log_metric("m", float(i))
            b.log_metric("m", float(i))
        with pytest.raises(ServiceUnavailable, match="200 metric points could not be stored"):
            b.flush(timeout=0.5)  # the durability point says it failed, and keeps the points
        buffer = b._buffer
        assert buffer.unsent == 200
        srv.start()  # same port: the SDK's URI is still right
        _wait(lambda: buffer.unsent == 0, 60, "the background flush to store the kept points")
        assert b.end().status == "finished"  # no stale ServiceUnavailable from the outage
        assert a.end().status == "finished"
        check = Client(srv.url)
        for run in (a, b):
            assert check.get_metric_history(run.id, "m").step == list(range(100)), f"run {run.info.name}"
    finally:
        mainsail.set_tracking_uri(None)
        srv.stop()


def test_run_end_waits_for_the_store_and_stays_active_if_it_cannot(tmp_path) -> None:
    srv = ServerProcess(f"sqlite:///{tmp_path / 'd.db'}", str(tmp_path / "art"), tmp_path).start()
    mainsail.set_tracking_uri(srv.url)
    try:
        run = mainsail.start_run("r")
        srv.stop()
        run.log_metric("loss", 0.5)
        with pytest.raises(ServiceUnavailable):
            run.end(timeout=0.5)
        assert mainsail.active_run() is run and not run.ended  # still active: end() can be called again
        srv.start()
        assert run.end().status == "finished"
        assert Client(srv.url).get_run(run.id).metrics == {"loss": 0.5}
        assert mainsail.active_run() is None
    finally:
        mainsail.set_tracking_uri(None)
        srv.stop()


def test_a_batch_whose_answer_was_lost_is_stored_once(sqlite_settings) -> None:
    """The server commits a batch but the SDK never hears back: the buffer resends it with the same
    idempotency key, and the server answers from its record instead of storing it twice."""
    from mainsail.api.app import create_app
    from mainsail.core.runtime import Runtime

    inner = create_app(runtime=Runtime.for_settings(sqlite_settings))
    lost: list[str] = []

    async def app(scope, receive, send):  # drops the answer to the first log-batch, after the commit
        if scope["type"] == "http" and scope["path"].endswith("/log-batch") and not lost:
            lost.append(scope["path"])

            async def swallow(_message) -> None:
                return None

            await inner(scope, receive, swallow)
            raise RuntimeError("the answer was lost")  # uvicorn answers a bare 500 instead
        await inner(scope, receive, send)

    with serve_in_thread(app) as url:
        mainsail.set_tracking_uri(url)
        run = mainsail.start_run("once")
        for i in range(50):
            run.log_metric("m", float(i))
        run.end()
        assert lost, "the fault was not injected"
        assert Client(url).get_metric_history(run.id, "m").step == list(range(50))  # 50, not 100
