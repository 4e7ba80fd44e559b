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


def script_graph() -> dict[str, tuple[str, ...]]:
    """Every revision shipped with this package and its parent revisions (``down_revision``), read from the
    scripts' assignments without importing Alembic."""
    graph: dict[str, tuple[str, ...]] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        values: dict[str, object] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else (
                node.target if isinstance(node, ast.AnnAssign) else None)
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision") and node.value:
                values[target.id] = ast.literal_eval(node.value)
        if isinstance(values.get("revision"), str):
            down = values.get("down_revision")
            graph[values["revision"]] = (down,) if isinstance(down, str) else tuple(down or ())  # type: ignore[index,arg-type]
    return graph


def script_heads() -> set[str]:
    """Revision ids at the heads of the migration scripts shipped with this package.

    Read from each script's ``revision``/``down_revision`` assignments rather than through Alembic: this
    check runs at every start of every process (each CLI command), and importing Alembic costs more than
    the command. Alembic runs only when the database is behind (a test keeps both answers equal)."""
    graph = script_graph()
    return set(graph) - {p for parents in graph.values() for p in parents}


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


@contextmanager
def _foreign_keys_off(conn: Connection) -> Iterator[None]:
    """SQLite: foreign keys off while Alembic runs. Its batch mode changes a table by copying it, dropping the
    old one and renaming; with foreign keys on, that DROP cascades into the child tables and deletes their
    rows (a migration must never lose data). SQLite ignores the pragma inside a transaction, so it is set
    between transactions, on the driver connection."""
    if conn.dialect.name != "sqlite":
        yield
        return
    conn.commit()
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        conn.commit()
        raw.execute("PRAGMA foreign_keys=ON")


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection to run Alembic commands on: serialized across processes, SQLite foreign keys off."""
    with engine.connect() as conn:
        conn.commit()
        with _exclusive(engine, conn):
            conn.commit()
            with _foreign_keys_off(conn):
                yield conn
    _done.discard(str(engine.url))


def current_heads(conn: Connection) -> set[str]:
    """The revisions the database is at (its ``alembic_version`` rows, as Alembic reads them)."""
    if not inspect(conn).has_table("alembic_version"):
        return set()
    return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


def upgrade(engine: Engine, *, recheck: bool = False) -> None:
    """Bring the schema to the newest revision of every branch (``heads``) if it is not there yet (once per
    process and URL; ``recheck`` looks again, e.g. after a restore put the database at an older revision)."""
    key = str(engine.url)
    with _lock:
        if key in _done and not recheck:
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
                        _migrate(conn, wanted)
        _done.add(key)


def _migrate(conn: Connection, wanted: set[str]) -> None:
    """Bring the database behind ``conn`` (locked by :func:`_exclusive`) to ``wanted``: an empty one in one
    step from the models (:mod:`mainsail.core.fresh`), any other through Alembic's steps."""
    from mainsail.core import fresh

    if fresh.is_empty(conn):
        conn.commit()
        fresh.create_fresh(conn, wanted)
        conn.commit()
        return
    conn.commit()
    from alembic import command

    with _foreign_keys_off(conn):
        command.upgrade(_config(conn), "heads")
    conn.commit()


def upgrade_to(engine: Engine, targets: set[str]) -> None:
    """Migrate a database forward to exactly ``targets`` (revision ids this package ships), serialized
    like :func:`upgrade`."""
    from alembic import command

    with migration_connection(engine) as conn:
        if targets == script_heads() and current_heads(conn) != targets:
            _migrate(conn, targets)  # an empty database in one step; else the steps to the heads
            return
        for rev in sorted(targets):
            command.upgrade(_config(conn), rev)
            conn.commit()


def revisions(engine: Engine) -> tuple[set[str], set[str]]:
    """``(current, heads)``: the revisions the database is at and those this package ships."""
    with engine.connect() as conn:
        current = current_heads(conn)
        conn.commit()
    return current, script_heads()


def create_database(url: str) -> bool:
    """Create the database ``url`` names if it does not exist; True if it was created. SQLite: the file
    (and its folder). PostgreSQL: ``CREATE DATABASE`` through the server's ``postgres`` (or ``template1``)
    database with the same credentials, so the role needs ``CREATEDB``."""
    from sqlalchemy.engine import make_url

    from mainsail.core.db import is_sqlite, make_engine
    from mainsail.core.errors import Forbidden, InvalidInput, MainsailError, redact

    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        existed = bool(path) and path != ":memory:" and Path(path).exists()
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        finally:
            engine.dispose()
        return not existed
    parsed = make_url(url)
    if not parsed.get_backend_name().startswith("postgresql"):
        raise InvalidInput(f"cannot create a database for {redact(url)}: only sqlite and postgresql URIs",
                           code="unsupported_database")
    name = parsed.database
    if not name:
        raise InvalidInput(f"the URI {redact(url)} names no database", code="invalid_database_uri")
    last: MainsailError | None = None
    for admin_db in ("postgres", "template1"):
        admin = make_engine(parsed.set(database=admin_db).render_as_string(hide_password=False))
        try:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                    return False
                try:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name.replace(chr(34), chr(34) * 2)}"')
                except Exception as exc:  # noqa: BLE001 - the server's reason, one line
                    if "permission denied" in str(exc):
                        raise Forbidden(f"the role in {redact(url)} may not create databases (it needs "
                                        "CREATEDB); ask an administrator to run: CREATE DATABASE "
                                        f'"{name}"', code="database_create_denied") from None
                    if "already exists" in str(exc):
                        return False
                    raise
                return True
        except MainsailError as exc:
            if exc.code != "database_missing":
                raise
            last = exc
        finally:
            admin.dispose()
    assert last is not None
    raise last
