"""SQLAlchemy 2 engines and sessions: SQLite in WAL mode embedded, PostgreSQL (psycopg 3) scaled out."""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import BigInteger, DateTime, Engine, Integer, MetaData, create_engine, event
from sqlalchemy import exc as exc_mod
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from mainsail.core.errors import Conflict, InvalidInput, ServiceUnavailable, redact

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base shared by every domain's tables (one metadata, one migration history)."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id() -> str:
    """A new opaque id (32 hex characters, random: any 8-character prefix tells ids apart, which the CLI
    and UI rely on; time-ordered ids would share it for a minute, see docs/architecture.md)."""
    return uuid.uuid4().hex


T = TypeVar("T")

BigId = BigInteger().with_variant(Integer, "sqlite")
"""An autoincrementing 64-bit key: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite."""


def get_or_create(session: Session, get: Callable[[], T | None], create: Callable[[], T]) -> T:
    """``get()``, else ``create()`` in a savepoint; when another process created it in the meantime (a
    unique key refuses the insert) the savepoint is undone and ``get()`` answers. Parallel tasks on
    several machines that each create the same named object on first use need this, not a 409."""
    found = get()
    if found is not None:
        return found
    try:
        with session.begin_nested():
            return create()
    except (exc_mod.IntegrityError, Conflict):
        found = get()
        if found is None:
            raise
        return found


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _reason(message: str) -> str:
    """The driver's own reason, one line: the part after the last ``failed:``, ``FATAL:`` stripped."""
    line = message.strip().splitlines()[0] if message.strip() else message
    line = line.rsplit("failed: ", 1)[-1]
    return line.replace("FATAL:", "").strip() or "connection failed"


def connection_error(exc: BaseException, url: str) -> ServiceUnavailable:
    """A one-line :class:`ServiceUnavailable` for a database that cannot be reached, naming what failed and
    where (password masked): code ``database_missing``, ``database_auth_failed`` or ``database_unreachable``."""
    where = redact(url)
    message = str(exc)
    reason = _reason(message)
    missing = re.search(r'database "([^"]+)" does not exist', message)
    if missing:
        return ServiceUnavailable(
            f'database "{missing.group(1)}" does not exist at {where}; create it with: mainsail db create',
            code="database_missing")
    if re.search(r'role "[^"]+" does not exist|password authentication failed|no password supplied'
                 r"|authentication failed", message):
        return ServiceUnavailable(f"database at {where} refused the credentials: {reason}",
                                  code="database_auth_failed")
    return ServiceUnavailable(f"cannot reach the database at {where}: {reason}", code="database_unreachable")


_LOST_STATES = ("57P01", "57P02", "57P03", "57P05")  # admin/crash shutdown, cannot connect now, idle timeout


def lost_connection(exc: BaseException) -> bool:
    """True when ``exc`` (a driver error, or SQLAlchemy's wrapper of one) says the PostgreSQL connection is
    gone or the server is shutting down. Raw driver calls (binary ``COPY``, autocommit reads) do not pass
    through the engine's ``handle_error``, so callers check this themselves."""
    orig = getattr(exc, "orig", None) or exc
    if not type(orig).__module__.startswith("psycopg"):
        return False
    import psycopg

    if not isinstance(orig, psycopg.OperationalError):
        return False
    state = getattr(orig, "sqlstate", None)
    # no SQLSTATE: a client-side failure (connection closed, consuming input failed, sending query failed)
    return state is None or state.startswith("08") or state in _LOST_STATES


def _translate_connection_errors(engine: Engine, url: str) -> None:
    """Raise :func:`connection_error` instead of a driver traceback when a connection cannot be made or
    is lost; errors of statements on a live connection pass through unchanged."""

    @event.listens_for(engine, "handle_error")
    def _on_error(ctx: Any) -> None:
        if getattr(ctx, "is_pre_ping", False):
            return  # a stale pooled connection: the pool replaces it (a failing reconnect comes back here)
        if ctx.connection is None or ctx.is_disconnect or lost_connection(ctx.original_exception):
            raise connection_error(ctx.original_exception, url) from None


def _use_wal(cur: Any) -> None:
    """Switch the database file to WAL once (the mode persists in the file). Switching takes an exclusive
    lock and SQLite can answer "database is locked" at once, without waiting, when another process opens
    the same new file at that moment: so read the mode first, and retry the switch briefly."""
    import sqlite3
    import time

    for attempt in range(50):
        if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.1)


def make_engine(url: str, *, write: bool = True) -> Engine:
    """Create an engine. For SQLite: WAL, NORMAL sync (durable across a process crash), a busy
    timeout, foreign keys, and ``BEGIN IMMEDIATE`` on the write engine so concurrent writers queue
    on the lock instead of failing on upgrade."""
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ServiceUnavailable(f"cannot create the folder of the database {url}: {exc.strerror}",
                                         code="database_unreachable") from None
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=60000")
            _use_wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        _translate_connection_errors(engine, url)
        begin = "BEGIN IMMEDIATE" if write else "BEGIN"

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)

        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql") and "connect_timeout" not in url:
        # an unroutable host or a server that never answers fails in seconds, not at the OS's TCP timeout
        connect_args["connect_timeout"] = int(os.environ.get("MAINSAIL_DB_CONNECT_TIMEOUT", "10"))
    try:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=connect_args)
    except (exc_mod.ArgumentError, exc_mod.NoSuchModuleError) as exc:
        raise InvalidInput(f"cannot use the database URI {redact(url)}: {exc}; use sqlite:///path or "
                           "postgresql+psycopg://user@host:5432/db", code="invalid_database_uri") from None
    except ModuleNotFoundError as exc:  # the driver is an extra
        hint = " pip install 'mainsail[postgres]'" if "psycopg" in str(exc) else ""
        raise ServiceUnavailable(f"the database URI {redact(url)} needs a driver that is not installed "
                                 f"({exc.name}):{hint}", code="database_driver_missing") from None
    _translate_connection_errors(engine, url)
    return engine
