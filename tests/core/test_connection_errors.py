"""Every connection failure is one line naming what failed and where, raised as Mainsail's own error by
the SDK and printed as one line (exit 1) by the CLI; passwords never appear. Real PostgreSQL, Redis and
a moto S3 server; ``mainsail db create/upgrade/current`` against a real PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from _services import _ensure_pg_database, free_port, require_service

from mainsail.core.errors import ServiceUnavailable

PG = "127.0.0.1:5432"


@pytest.fixture
def pg() -> None:
    err = _ensure_pg_database()
    if err:
        require_service(f"PostgreSQL at {PG}", err)


def cli(*args: str, uri: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAINSAIL_URI": uri, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "mainsail.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def one_line_error(proc: subprocess.CompletedProcess[str], code: str) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"({code})" in lines[0], proc.stderr
    return lines[0]


def sdk_error(uri: str) -> ServiceUnavailable:
    from mainsail import Client

    with pytest.raises(ServiceUnavailable) as info:
        Client(uri)
    return info.value


def test_missing_postgres_database(pg: None) -> None:
    name = f"mainsail_missing_{uuid.uuid4().hex[:8]}"
    uri = f"postgresql+psycopg://postgres:s3cret@{PG}/{name}"
    err = sdk_error(uri)
    assert err.code == "database_missing" and name in err.detail and "mainsail db create" in err.detail
    assert "s3cret" not in str(err) and "postgres:***@" in err.detail
    line = one_line_error(cli("experiments", "list", uri=uri), "database_missing")
    assert name in line and "s3cret" not in line
    line = one_line_error(cli("server", "--port", str(free_port()), uri=uri), "database_missing")  # --uri obeyed
    assert name in line


def test_refused_port_and_unknown_host_and_bad_role(pg: None) -> None:
    port = free_port()  # nothing listens there
    err = sdk_error(f"postgresql+psycopg://postgres:pw@127.0.0.1:{port}/db")
    assert err.code == "database_unreachable" and f"127.0.0.1:{port}" in err.detail
    assert "refused" in err.detail.lower() and ":pw@" not in err.detail
    err = sdk_error("postgresql+psycopg://postgres@no-such-host.invalid:5432/db")
    assert err.code == "database_unreachable" and "no-such-host.invalid" in err.detail
    err = sdk_error(f"postgresql+psycopg://no_such_role_h2:pw@{PG}/postgres")
    assert err.code == "database_auth_failed" and "no_such_role_h2" in err.detail
    one_line_error(cli("runs", "list", uri=f"postgresql+psycopg://postgres@127.0.0.1:{port}/db"),
                   "database_unreachable")


def test_server_unreachable() -> None:
    from mainsail import Client

    port = free_port()
    with pytest.raises(ServiceUnavailable) as info:
        Client(f"http://user:tok3n@127.0.0.1:{port}").list_experiments()
    assert info.value.code == "server_unreachable" and f"127.0.0.1:{port}" in info.value.detail
    assert "tok3n" not in info.value.detail
    one_line_error(cli("experiments", "list", uri=f"http://127.0.0.1:{port}"), "server_unreachable")


def test_unknown_scheme_and_missing_driver() -> None:
    import importlib.util

    from mainsail import Client
    from mainsail.core.errors import InvalidInput, MainsailError

    with pytest.raises(InvalidInput) as info:
        Client("foo://u:pw@h/db")
    assert info.value.code == "invalid_database_uri" and ":pw@" not in info.value.detail
    one_line_error(cli("runs", "list", uri="foo://u:pw@h/db"), "invalid_database_uri")
    if importlib.util.find_spec("pymysql") is None:
        with pytest.raises(MainsailError) as info:
            Client("mysql+pymysql://u:pw@h/db")
        assert info.value.code == "database_driver_missing" and "pymysql" in info.value.detail


def test_sqlite_folder_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    err = sdk_error(f"sqlite:///{blocker}/sub/meta.db")
    assert err.code == "database_unreachable" and str(blocker) in err.detail


def test_db_create_upgrade_current(pg: None) -> None:
    import psycopg

    name = f"mainsail_create_{uuid.uuid4().hex[:8]}"
    uri = f"postgresql+psycopg://postgres:pw@{PG}/{name}"
    try:
        out = cli("db", "current", uri=uri)
        one_line_error(out, "database_missing")
        out = cli("db", "create", uri=uri)
        assert out.returncode == 0, out.stderr
        assert f"created postgresql+psycopg://postgres:***@{PG}/{name}" in out.stdout and ":pw@" not in out.stdout
        assert "up to date" in out.stdout
        again = cli("db", "create", uri=uri)
        assert again.returncode == 0 and "exists:" in again.stdout
        up = cli("db", "upgrade", uri=uri)
        assert up.returncode == 0 and "no migration needed" in up.stdout and "head:" in up.stdout
        cur = cli("db", "current", uri=uri)
        current = next(ln for ln in cur.stdout.splitlines() if ln.startswith("current:"))
        head = next(ln for ln in cur.stdout.splitlines() if ln.startswith("head:"))
        assert current.split(":", 1)[1].strip() == head.split(":", 1)[1].strip() != "(empty)"
        from mainsail import Client  # the created database is usable at once

        with Client(uri) as c:
            assert c.create_experiment("made-by-db-create").name == "made-by-db-create"
    finally:
        from mainsail.core.runtime import Runtime

        for key, rt in list(Runtime._cache.items()):
            if name in key[0]:
                rt.dispose()
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_db_commands_on_sqlite_and_refuse_a_server_url(tmp_path: Path) -> None:
    db = tmp_path / "new" / "meta.db"
    out = cli("db", "create", uri=f"sqlite:///{db}")
    assert out.returncode == 0 and "created" in out.stdout and db.exists()
    one_line_error(cli("db", "upgrade", uri="http://127.0.0.1:1"), "database_uri_required")


def test_redis_online_store_down() -> None:
    pytest.importorskip("redis")
    from mainsail.features.online import open_store

    port = free_port()
    store = open_store(f"redis://:hunter2@127.0.0.1:{port}/0?prefix=t:")
    with pytest.raises(ServiceUnavailable) as info:
        store.write("view", [("k1", 1.0, {"x": 1})])
    assert info.value.code == "redis_unreachable"
    assert f"127.0.0.1:{port}" in info.value.detail and "hunter2" not in info.value.detail
    assert "\n" not in info.value.detail
    with pytest.raises(ServiceUnavailable, match="redis_unreachable|cannot reach"):
        store.read("view", ["k1"], ["x"])


def test_s3_bucket_missing(moto_s3_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mainsail import Client
    from mainsail.core.artifacts import ArtifactStore

    monkeypatch.setenv("MAINSAIL_S3_ENDPOINT_URL", moto_s3_server)
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    store = ArtifactStore(f"s3://{bucket}/artifacts")
    with pytest.raises(ServiceUnavailable) as info:
        store.put_bytes(b"hello")
    assert info.value.code == "bucket_missing" and bucket in info.value.detail
    with pytest.raises(ServiceUnavailable, match=bucket):
        store.get_bytes("a" * 64)
    client = Client(f"sqlite:///{tmp_path / 'meta.db'}", artifact_root=f"s3://{bucket}/artifacts")
    run = client.create_run(client.create_experiment("s3-missing").id)
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ServiceUnavailable) as info:
        client.log_artifact(run.id, tmp_path / "f.txt")
    assert info.value.code == "bucket_missing"


def test_s3_endpoint_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("s3fs")
    from mainsail.core.artifacts import ArtifactStore

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, os.environ.get(key, value))
    port = free_port()
    monkeypatch.setenv("MAINSAIL_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    store = ArtifactStore("s3://some-bucket/artifacts")
    with pytest.raises(ServiceUnavailable) as info:
        store.put_bytes(b"hello")
    assert info.value.code == "artifact_store_unreachable" and "s3://some-bucket/artifacts" in info.value.detail
    s3fs.S3FileSystem.clear_instance_cache()


def test_a_dropped_pooled_connection_is_replaced_not_reported(pg_url: str) -> None:
    """Only real failures become ``database_unreachable``: a pooled connection the server closed (restart,
    idle timeout) is replaced by the pool's pre-ping and the call succeeds."""
    import psycopg

    from mainsail import Client

    with Client(pg_url) as c:
        c.create_experiment("before")
        engine = c._backend.runtime.write_engine
        with engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert {e.name for e in c.list_experiments()} >= {"before"}


def test_db_create_without_createdb_says_so(pg: None) -> None:
    import psycopg

    role = f"mainsail_nocreate_{uuid.uuid4().hex[:8]}"
    name = f"mainsail_denied_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
        try:
            line = one_line_error(cli("db", "create", uri=f"postgresql+psycopg://{role}:pw@{PG}/{name}"),
                                  "database_create_denied")
            assert "CREATEDB" in line and f'CREATE DATABASE "{name}"' in line and ":pw@" not in line
        finally:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_a_server_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that accepts TCP but never speaks (a wrong host or a hung server) fails within the connect
    timeout (``MAINSAIL_DB_CONNECT_TIMEOUT``, default 10 s) as one ``database_unreachable`` line."""
    import socket
    import time

    pytest.importorskip("psycopg")
    monkeypatch.setenv("MAINSAIL_DB_CONNECT_TIMEOUT", "2")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes handshakes; nobody ever answers
        port = silent.getsockname()[1]
        t0 = time.monotonic()
        err = sdk_error(f"postgresql+psycopg://postgres:pw@127.0.0.1:{port}/db")
    assert err.code == "database_unreachable" and f"127.0.0.1:{port}" in err.detail
    assert time.monotonic() - t0 < 30 and "timeout" in err.detail.lower()


def _terminate(pid: int) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@{PG}/postgres", autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_connection_lost_under_raw_driver_calls_is_503(pg_url: str) -> None:
    """A connection the server closes mid-request is ``database_unreachable`` (503), never a driver
    traceback (500), also on the paths below the ORM: the binary ``COPY`` of metric points and the
    autocommit hot reads. (Found by the PostgreSQL-restart fault check: one 500 among 756 503s.)"""
    from sqlalchemy import text

    from mainsail import Client
    from mainsail.core.runtime import Runtime
    from mainsail.core.settings import Settings
    from mainsail.tracking.bulk import insert_metrics

    client = Client(pg_url)
    run = client.create_run(client.create_experiment("lost").id)
    rt = Runtime.for_settings(Settings.from_env().with_uri(pg_url))
    rows = [(run.id, "m", float(i), i, 0.0) for i in range(64)]  # enough points for the COPY path
    with pytest.raises(ServiceUnavailable) as info, rt.transaction() as ctx:
        _terminate(ctx.session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        insert_metrics(ctx.session, run.id, rows)
    assert info.value.code == "database_unreachable" and "127.0.0.1" in info.value.detail
    with pytest.raises(ServiceUnavailable) as info, rt.driver_read() as conn:
        _terminate(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        conn.execute("SELECT 1")
    assert info.value.code == "database_unreachable"
    client.log_metrics(run.id, {"m": 1.0}, step=1)  # the pool replaces the dead connections
    assert client.get_metric_history(run.id, "m").step == [1]
