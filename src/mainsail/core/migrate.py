"""Apply Alembic migrations on first use, safely when several processes start at once."""

from __future__ import annotations

import ast
import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

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
    """Revision ids at the heads of the migration scripts shipped with this package.

    Read from each script's ``revision``/``down_revision`` assignments rather than through Alembic: this
    check runs at every start of every process (each CLI command), and importing Alembic costs more than
    the command. Alembic runs only when the database is behind (a test keeps both answers equal)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        values: dict[str, object] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else (
                node.target if isinstance(node, ast.AnnAssign) else None)
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision") and node.value:
                values[target.id] = ast.literal_eval(node.value)
        if isinstance(values.get("revision"), str):
            revisions.add(values["revision"])  # type: ignore[arg-type]
            down = values.get("down_revision")
            parents.update([down] if isinstance(down, str) else down or ())  # type: ignore[arg-type]
    return revisions - parents


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
    """The revisions the database is at (its ``alembic_version`` rows, as Alembic reads them)."""
    if not inspect(conn).has_table("alembic_version"):
        return set()
    return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


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
