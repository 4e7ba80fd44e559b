"""Service fixtures: SQLite per test, PostgreSQL schema per test, a uvicorn server per test."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN = os.environ.get("MAINSAIL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PG_DB = "mainsail_test"


def require_service(name: str, reason: str) -> None:
    """Skip the test because ``name`` is unreachable, or fail when services are required (CI)."""
    msg = f"{name} unavailable: {reason}"
    if os.environ.get("MAINSAIL_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(msg + " (MAINSAIL_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sqlite_settings(tmp_path: Path):
    from mainsail.core.settings import Settings

    return Settings.from_env().with_uri(f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts"))


_pg_ready: bool | None = None


def _ensure_pg_database() -> str | None:
    """Create the test database once; return an error string if PostgreSQL is unreachable."""
    global _pg_ready
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg not installed ({exc})"
    try:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres",
                             autocommit=True, connect_timeout=3) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", (PG_DB,)).fetchone():
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(f'CREATE DATABASE "{PG_DB}"')
    except Exception as exc:  # noqa: BLE001
        return str(exc).strip()
    _pg_ready = True
    return None


@contextlib.contextmanager
def pg_schema_url() -> Iterator[str]:
    """A SQLAlchemy URL whose search_path is a fresh schema, dropped (with its runtimes) on exit."""
    err = _ensure_pg_database()
    if err:
        require_service("PostgreSQL at 127.0.0.1:5432", err)
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={PG_DB}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}?options=-csearch_path%3D{schema}"
    finally:
        from mainsail.core.runtime import Runtime

        for key, rt in list(Runtime._cache.items()):
            if schema in key[0]:
                rt.dispose()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL whose search_path is a fresh schema, dropped after the test."""
    with pg_schema_url() as url:
        yield url


@pytest.fixture
def runtime_settings(request: pytest.FixtureRequest, tmp_path: Path):
    """Settings for the backend named by the test's ``backend`` parameter (sqlite or postgres)."""
    from mainsail.core.settings import Settings

    kind = getattr(request, "param", "sqlite")
    uri = request.getfixturevalue("pg_url") if kind == "postgres" else f"sqlite:///{tmp_path / 'meta.db'}"
    return Settings.from_env().with_uri(uri, str(tmp_path / "artifacts"))


def run_cli(*args: str, env: dict[str, str], check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``mainsail ARGS…`` as a user types it (a real subprocess); with ``check``, a failure shows its output."""
    proc = subprocess.run([sys.executable, "-m", "mainsail.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"mainsail {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, what: str, timeout: float) -> None:
    """Poll ``url``/ready until it answers 200; fail with the log's tail if ``proc`` exits or time is up."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready: {log.read_text()[-3000:]}")


def stop_process(proc: subprocess.Popen[bytes] | None, grace: float = 15) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class ServerProcess:
    """A real ``mainsail server`` (uvicorn) subprocess on a free loopback port."""

    def __init__(self, uri: str, artifact_root: str, home: Path, *extra: str):
        self.extra = extra  # more ``mainsail server`` options, e.g. ``--deployments all``
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_ARTIFACT_ROOT": artifact_root,
                    "MAINSAIL_HOME": str(home)}
        self.log = home / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> ServerProcess:
        for _ in range(3):  # another process may grab the free port between free_port() and bind
            if self._start(timeout):
                return self
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
        raise RuntimeError(f"server could not bind a port: {self.log.read_text()[-3000:]}")

    def _start(self, timeout: float) -> bool:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mainsail.cli.main", "server", "--host", "127.0.0.1",
             "--port", str(self.port), "--no-background", *self.extra],
            env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "address already in use" in self.log.read_text():
                    return False
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log.read_text()[-3000:]}")
            try:  # the pid check: it must be our server that answers, not one that holds the port
                if (httpx.get(self.url + "/ready", timeout=1).status_code == 200
                        and httpx.get(self.url + "/health", timeout=1).json().get("pid") == self.proc.pid):
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become ready: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A running server over a fresh SQLite database."""
    srv = ServerProcess(f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "server-artifacts"), tmp_path)
    srv.start()
    yield srv
    srv.stop()


# ``scaled``: the contract suite against a server on PostgreSQL + S3 (moto) + Redis + a local Ray cluster, as it
# runs scaled out; selected by MAINSAIL_CONTRACT_SCALED=1 (the reliability stage runs it with ``-k scaled``).
BACKENDS = ["sqlite", "postgres", "http"] + (["scaled"] if os.environ.get("MAINSAIL_CONTRACT_SCALED") == "1" else [])


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """The GCS address of a local Ray cluster for the whole session (this process is its first driver)."""
    try:
        import ray
    except ImportError as exc:
        require_service("Ray", f"ray is not installed (pip install 'mainsail[ray]'): {exc}")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


_BEHIND: dict[str, tuple[str, str]] = {}  # a scaled server's URL -> (its database URI, its artifact root)


def behind(backend: str, tmp_path: Path) -> tuple[str, str]:
    """(metadata URI, artifact root) behind a contract-suite back end: the database a test may reach into."""
    if backend in _BEHIND:
        return _BEHIND[backend]
    if backend.startswith("http"):
        return f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "server-artifacts")
    return backend, str(tmp_path / "artifacts")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A Client URI for each back end of the contract suite."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'contract.db'}"
    elif request.param == "postgres":
        yield request.getfixturevalue("pg_url")
    elif request.param == "scaled":
        root = request.getfixturevalue("s3_artifact_root")  # sets MAINSAIL_S3_ENDPOINT_URL for the server
        mp = request.getfixturevalue("monkeypatch")
        mp.setenv("MAINSAIL_ONLINE_STORE", f"redis://127.0.0.1:6379/13?prefix=contract-{uuid.uuid4().hex[:12]}")
        mp.setenv("MAINSAIL_PIPELINE_EXECUTOR", "ray")
        mp.setenv("MAINSAIL_RAY_ADDRESS", request.getfixturevalue("ray_address"))
        db = request.getfixturevalue("pg_url")
        srv = ServerProcess(db, root, tmp_path)
        srv.start(timeout=90)
        _BEHIND[srv.url] = (db, root)
        yield srv.url
        srv.stop()
        _BEHIND.pop(srv.url, None)
    else:
        srv = ServerProcess(f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "server-artifacts"), tmp_path)
        srv.start()
        yield srv.url
        srv.stop()


@contextlib.contextmanager
def serve_in_thread(app: object) -> Iterator[str]:
    """Serve an ASGI ``app`` with a real uvicorn in a thread of the test process (so a test can wrap
    the app or inject a fault into a service); yield its base URL; stop it afterwards."""
    import threading

    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical",  # type: ignore[arg-type]
                                        timeout_keep_alive=30))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)
