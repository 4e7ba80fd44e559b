"""Pipeline fixtures: a Client per back end where runs execute (in-process when embedded, on the
server's executor over HTTP), and the path of the test task functions."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _services import free_port, stop_process, wait_ready

STEPS = str(Path(__file__).with_name("steps.py").resolve())


def step(fn: str) -> str:
    """A ``python`` operator callable reference to a function of ``steps.py``."""
    return f"{STEPS}:{fn}"


class BackgroundServer:
    """``mainsail server`` with its background services (scheduler, triggers, executor) on."""

    def __init__(self, uri: str, artifact_root: str, home: Path, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_ARTIFACT_ROOT": artifact_root,
                    "MAINSAIL_HOME": str(home), "MAINSAIL_PIPELINE_PROCESSES": "2", **(env or {})}
        self.log = home / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> BackgroundServer:  # a loaded machine starts Python slowly
        self.proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "server", "--host", "127.0.0.1",
                                      "--port", str(self.port)], env=self.env, stdout=self.log.open("ab"),
                                     stderr=subprocess.STDOUT)
        wait_ready(self.proc, self.url, self.log, "server", timeout)
        return self

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture(params=["sqlite", "postgres", "http"])
def pclient(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A Client on each back end; runs started with ``wait=True`` execute and finish."""
    from mainsail import Client

    request.getfixturevalue("monkeypatch").setenv("MAINSAIL_PIPELINE_PROCESSES", "2")
    if request.param == "http":
        srv = BackgroundServer(f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "server-art"), tmp_path).start()
        c = Client(srv.url)
        yield c
        c.close()
        srv.stop()
        return
    uri = f"sqlite:///{tmp_path / 'p.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    c = Client(uri, artifact_root=str(tmp_path / "art"))
    yield c
    c.close()
