"""Secrets sealed at rest: Fernet keys from the environment or a 0600 key file, rotation to the newest key,
clear errors naming the setting for a lost or wrong key, and a planted secret found nowhere it should not be."""

from __future__ import annotations

import logging
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from _services import behind

from mainsail import Client
from mainsail.core import secrets
from mainsail.core.errors import MainsailError, NotFound
from mainsail.core.secrets import SecretKeyError, generate_key, seal, unseal


def test_seal_creates_a_private_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAINSAIL_SECRET_KEY", raising=False)
    monkeypatch.setenv("MAINSAIL_HOME", str(tmp_path))
    token = seal("hunter2")
    assert "hunter2" not in token and token.startswith("sealed:v1:")
    key = tmp_path / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert unseal(token) == "hunter2" and unseal(seal("")) == ""
    assert seal("hunter2") != token  # a fresh IV every time


def test_lost_or_wrong_key_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINSAIL_SECRET_KEY", generate_key())
    token = seal("hunter2")
    monkeypatch.setenv("MAINSAIL_SECRET_KEY", generate_key())
    with pytest.raises(SecretKeyError, match="MAINSAIL_SECRET_KEY") as e:
        unseal(token)
    assert "hunter2" not in str(e.value) and e.value.status == 409
    monkeypatch.setenv("MAINSAIL_SECRET_KEY", "not-a-key")
    with pytest.raises(SecretKeyError, match="valid Fernet keys"):
        unseal(token)
    monkeypatch.delenv("MAINSAIL_SECRET_KEY")
    monkeypatch.setenv("MAINSAIL_SECRET_KEY_FILE", str(tmp_path / "gone.key"))
    with pytest.raises(SecretKeyError, match="MAINSAIL_SECRET_KEY_FILE"):
        unseal(token)
    with pytest.raises(SecretKeyError, match="not a sealed secret"):
        unseal("hunter2")


@pytest.fixture(params=["sqlite", "postgres"])
def embedded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Client, str]]:
    uri = request.getfixturevalue("pg_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 's.db'}"
    c = Client(uri, artifact_root=str(tmp_path / "art"))
    yield c, uri
    c.close()


def _stored(uri: str, name: str) -> str:
    engine = sa.create_engine(uri)
    with engine.connect() as conn:
        value = conn.execute(sa.text("select value from secrets where name = :n"), {"n": name}).scalar_one()
    engine.dispose()
    return value


def _value(c: Client, name: str) -> str:
    from mainsail.audit.service import secret_value

    with c._backend.runtime.transaction(write=False) as ctx:  # type: ignore[attr-defined]
        return secret_value(ctx, name)


def test_rotate_moves_every_secret_to_the_newest_key(embedded: tuple[Client, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    c, uri = embedded
    old, new = generate_key(), generate_key()
    monkeypatch.setenv("MAINSAIL_SECRET_KEY", old)
    c.set_secret("warehouse", "postgresql://u:pw1@h/db", "the warehouse")
    c.set_secret("token", "tok-2")
    before = _stored(uri, "warehouse")
    monkeypatch.setenv("MAINSAIL_SECRET_KEY", f"{new},{old}")
    assert c.rotate_secrets().rotated["secrets"] == 2
    assert _stored(uri, "warehouse") != before
    monkeypatch.setenv("MAINSAIL_SECRET_KEY", new)  # the old key can go now
    assert _value(c, "warehouse") == "postgresql://u:pw1@h/db" and _value(c, "token") == "tok-2"
    monkeypatch.setenv("MAINSAIL_SECRET_KEY", old)
    with pytest.raises(SecretKeyError, match="MAINSAIL_SECRET_KEY"):
        _value(c, "warehouse")
    with pytest.raises(MainsailError, match="MAINSAIL_SECRET_KEY"):  # rotation without the key changes nothing
        c.rotate_secrets()
    monkeypatch.setenv("MAINSAIL_SECRET_KEY", new)
    assert _value(c, "token") == "tok-2"


def test_planted_secret_never_leaks(backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    planted = f"S3cr3t-{uuid.uuid4().hex}"
    seen: list[str] = []
    c = Client(backend, artifact_root=str(tmp_path / "art"))
    try:
        seen.append(repr(c.set_secret("warehouse", f"postgresql://u:{planted}@db.internal/dwh", "dwh")))
        seen.append(repr(c.set_secret("warehouse", f"postgresql://u:{planted}x@db.internal/dwh")))
        seen.append(repr(c.list_secrets()))
        for bad in (lambda: c.set_secret("bad name/..", planted), lambda: c.set_secret("big", planted * 5000),
                    lambda: c.set_secret("empty", ""), lambda: c._backend.call(
                        __import__("mainsail.audit.ops", fromlist=["ops"]).ops.set_secret,
                        {"name": "x", "body": {"value": planted, "bogus": planted}})):
            with pytest.raises(MainsailError) as e:
                bad()
            seen.append(f"{e.value!r} {e.value.detail} {e.value.errors}")
        with pytest.raises(NotFound):
            c.delete_secret("nope")
        seen.append(repr(c.rotate_secrets()))
        seen.append(repr(list(c.iter_audit())))
        if backend.startswith("http"):
            import httpx

            for path in ("/api/v1/secrets", "/api/v1/audit", "/openapi.json"):
                seen.append(httpx.get(backend + path).text)
    finally:
        c.close()
    assert not [s for s in seen if planted in s]
    url = behind(backend, tmp_path)[0]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        for table in sa.inspect(engine).get_table_names():
            rows = conn.execute(sa.text(f'select * from "{table}"')).fetchall()
            assert planted not in repr(rows), f"the secret is stored in the clear in {table}"
    engine.dispose()
    assert planted not in caplog.text
    for log in tmp_path.glob("server-*.log"):
        assert planted not in log.read_text(errors="replace")


def test_alerts_api_is_seal_and_unseal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINSAIL_SECRET_KEY", generate_key())
    from mainsail.core.secrets import reseal

    token = secrets.seal("https://hooks.example.com/T000/B000/XXXX")
    assert secrets.unseal(reseal(token)) == "https://hooks.example.com/T000/B000/XXXX"


def test_lost_key_file_on_the_server_is_a_clear_error(http_server, tmp_path: Path) -> None:
    import httpx

    c = Client(http_server.url)
    try:
        c.set_secret("warehouse", "postgresql://u:pw@h/db")
        key = tmp_path / "secret.key"  # the server's MAINSAIL_HOME is tmp_path
        assert key.is_file() and stat.S_IMODE(key.stat().st_mode) == 0o600
        key.unlink()
        r = httpx.post(http_server.url + "/api/v1/secrets-rotation")
        assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
        assert "MAINSAIL_SECRET_KEY" in r.json()["detail"] and "pw@" not in r.text
        assert httpx.get(http_server.url + "/health").status_code == 200  # still serving
        assert [s.name for s in c.list_secrets()] == ["warehouse"]
    finally:
        c.close()


def test_connector_reads_a_secret_source(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import sqlite3

    from mainsail.core.errors import InvalidInput

    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as con:
        con.execute("create table orders (id int, amount real)")
        con.executemany("insert into orders values (?, ?)", [(i, i * 1.5) for i in range(10)])
    c = Client(f"sqlite:///{tmp_path / 'm.db'}", artifact_root=str(tmp_path / "art"))
    try:
        c.set_secret("shop", f"sqlite:///{db}")
        v = c.ingest_dataset("secret:shop", "orders", query="select * from orders")
        assert v.row_count == 10 and str(db) not in repr(c.get_dataset_version("orders", v.id))
        with pytest.raises(InvalidInput) as e:
            c.ingest_dataset("secret:shop", "orders", query="select * from nope")
        assert "nope" in e.value.detail and str(db) not in e.value.detail
        with pytest.raises(NotFound):
            c.ingest_dataset("secret:missing", "orders", query="select 1")
    finally:
        c.close()
    assert str(db) not in caplog.text


def test_a_password_in_a_pipeline_definition_is_refused(tmp_path: Path) -> None:
    from mainsail.core.errors import InvalidInput

    c = Client(f"sqlite:///{tmp_path / 'p.db'}", artifact_root=str(tmp_path / "art"))
    try:
        for task in ({"operator": "sql_query", "params": {"query": "select 1", "url": "postgresql://u:pw123@h/db"}},
                     {"operator": "data_ingestion", "params": {"source": "mysql://u:pw123@h/db", "query": "select 1",
                                                               "name": "x"}}):
            with pytest.raises(InvalidInput, match="secret:NAME") as e:
                c.apply_pipeline({"name": "p", "tasks": [{"name": "t", **task}]})
            assert "pw123" not in f"{e.value.detail} {e.value.errors}"
        c.apply_pipeline({"name": "p", "tasks": [{"name": "t", "operator": "sql_query",
                                                  "params": {"query": "select 1", "url": "secret:warehouse"}}]})
    finally:
        c.close()
