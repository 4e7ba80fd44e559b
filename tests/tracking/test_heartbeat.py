"""A run whose process dies (kill -9) is marked killed once its heartbeats stop, embedded (marked when
runs are read) and behind a server (marked by its background loop); a live run is not, and a run
marked killed only for silence comes back to running when its process writes again."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _services import ServerProcess

from mainsail import Client
from mainsail.core.runtime import Runtime

CHILD = """
import sys, time
import mainsail
run = mainsail.start_run(sys.argv[1])
run.log_metric("loss", 1.0)
run.flush()
print(run.id, flush=True)
time.sleep(600)
"""


def _child(uri: str, name: str, home: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_HOME": str(home),
           "MAINSAIL_ARTIFACT_ROOT": str(home / "art"), "MAINSAIL_RUN_HEARTBEAT_INTERVAL": "0.3",
           "MAINSAIL_METRIC_FLUSH_INTERVAL": "0.2"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, name], env=env, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip() if proc.stdout else ""
    assert len(line) == 32, f"child did not start a run (exit {proc.poll()})"
    return proc, line


def _db_status(db: Path, run_id: str) -> tuple[str, str | None]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT status, status_reason FROM tracking_runs WHERE id = ?", (run_id,)).fetchone()


def _wait_for(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def short_timeout(monkeypatch):
    monkeypatch.setenv("MAINSAIL_RUN_HEARTBEAT_TIMEOUT", "3")
    yield
    for rt in list(Runtime._cache.values()):  # runtimes remember their settings: no leak to other tests
        rt.dispose()


def test_killed_process_run_is_marked_killed_embedded(tmp_path, short_timeout) -> None:
    db = tmp_path / "m.db"
    uri = f"sqlite:///{db}"
    dead, dead_id = _child(uri, "dies", tmp_path)
    live, live_id = _child(uri, "lives", tmp_path)
    try:
        os.kill(dead.pid, signal.SIGKILL)
        dead.wait(10)
        client = Client(uri)
        _wait_for(lambda: client.get_run(dead_id).status == "killed", 30, "the dead run to be marked killed")
        run = client.get_run(dead_id)
        assert run.status_reason == "heartbeat_timeout" and run.last_heartbeat is not None
        assert run.end_time == run.last_heartbeat  # it ended when it was last heard from
        # stored, not only shown: reads mark it (throttled to one check per timeout/4 or 5 s)
        _wait_for(lambda: client.get_run(dead_id) and _db_status(db, dead_id) == ("killed", "heartbeat_timeout"),
                  10, "a read to store the kill")
        time.sleep(1)
        assert client.get_run(live_id).status == "running"  # its heartbeats keep it alive
        assert [r.id for r in client.search_runs(filter="status = 'killed'").items] == [dead_id]
        from typer.testing import CliRunner

        from mainsail.cli.main import app

        out = " ".join(CliRunner().invoke(app, ["runs", "show", dead_id], env={"MAINSAIL_URI": uri}).output.split())
        assert "status killed (no heartbeat since" in out and "last heartbeat" in out
        out = CliRunner().invoke(app, ["runs", "list"], env={"MAINSAIL_URI": uri}).output
        assert "killed*" in out and "running" in out
    finally:
        live.kill()
        live.wait(10)


def test_a_write_brings_a_silent_run_back(short_timeout, backend) -> None:
    client = Client(backend)  # sqlite, postgres and http (env set before the server started)
    run = client.create_run(client.create_experiment("e").id)
    time.sleep(3.5)  # a pause longer than the timeout: a laptop asleep, a long blocking call
    assert client.get_run(run.id).status == "killed"
    client.log_metric(run.id, "loss", 0.1)  # the process was alive after all: nothing it sends is refused
    back = client.get_run(run.id)
    assert back.status == "running" and back.end_time is None and back.status_reason is None
    assert client.end_run(run.id).status == "finished"


def test_killed_process_run_is_marked_killed_by_the_server(tmp_path) -> None:
    db = tmp_path / "s.db"
    srv = ServerProcess(f"sqlite:///{db}", str(tmp_path / "art"), tmp_path, "--background", "--deployments", "none")
    srv.env["MAINSAIL_RUN_HEARTBEAT_TIMEOUT"] = "3"
    srv.start()
    try:
        dead, dead_id = _child(srv.url, "dies", tmp_path)
        live, live_id = _child(srv.url, "lives", tmp_path)
        os.kill(dead.pid, signal.SIGKILL)
        dead.wait(10)
        # nobody reads the run: the server's own loop marks it
        _wait_for(lambda: _db_status(db, dead_id)[0] == "killed", 30, "the server to mark the dead run killed")
        assert _db_status(db, live_id) == ("running", None)
        hb = Client(srv.url).heartbeat(live_id)
        assert hb.status == "running" and hb.timeout == 3
        live.kill()
        live.wait(10)
    finally:
        srv.stop()
