"""Pipeline fixtures: a Client per back end where runs execute (in-process when embedded, on the
server's executor over HTTP), and the path of the test task functions."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

STEPS = str(Path(__file__).with_name("steps.py").resolve())


def step(fn: str) -> str:
    """A ``python`` operator callable reference to a function of ``steps.py``."""
    return f"{STEPS}:{fn}"


class BackgroundServer:
    """``mainsail server`` with its background services (scheduler, triggers, executor) on."""

    def __init__(self, uri: str, artifact_root: str, home: Path, env: dict[str, str] | None = None):
        from _services import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_ARTIFACT_ROOT": artifact_root,
                    "MAINSAIL_HOME": str(home), "MAINSAIL_PIPELINE_PROCESSES": "2", **(env or {})}
        self.log = home / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> BackgroundServer:
        import httpx

        self.proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "server", "--host", "127.0.0.1",
                                      "--port", str(self.port)], env=self.env, stdout=self.log.open("ab"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


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
