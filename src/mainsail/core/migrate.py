"""Apply Alembic migrations on first use, safely when several processes start at once."""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_done: set[str] = set()
_lock = threading.Lock()


def _config(connection: Connection | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script_heads() -> set[str]:
    """Revision ids at the heads of the migration scripts shipped with this package."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(_config()).get_heads())


@contextmanager
def _exclusive(engine: Engine, conn: Connection) -> Iterator[None]:
    """Serialize migrations across processes: a file lock for SQLite, an advisory lock for PostgreSQL."""
    if engine.dialect.name == "sqlite":
        db = engine.url.database
        if db and db != ":memory:":
            with open(f"{db}.migrate.lock", "w") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
            return
        yield
        return
    conn.execute(text("SELECT pg_advisory_lock(7242031)"))
    try:
        yield
    finally:
        conn.execute(text("SELECT pg_advisory_unlock(7242031)"))


def current_heads(conn: Connection) -> set[str]:
    from alembic.migration import MigrationContext

    return set(MigrationContext.configure(conn).get_current_heads())


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision of every branch (``heads``) if it is not there yet."""
    key = str(engine.url)
    with _lock:
        if key in _done:
            return
        wanted = script_heads()
        with engine.connect() as conn:
            behind = current_heads(conn) != wanted
            # End the check's transaction before waiting for the lock: on the SQLite write engine it is
            # BEGIN IMMEDIATE, and holding the write lock while queueing would starve the migrator.
            conn.commit()
            if behind:
                with _exclusive(engine, conn):
                    conn.commit()
                    if current_heads(conn) != wanted:
                        from alembic import command

                        conn.commit()
                        command.upgrade(_config(conn), "heads")
                        conn.commit()
        _done.add(key)
