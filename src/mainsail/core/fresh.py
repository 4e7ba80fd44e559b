"""A fresh database in one step: an EMPTY database gets every table straight from the models' metadata,
the rows the migrations seed (:data:`SEEDS`) and every head stamped, instead of walking the whole
migration chain (dozens of Alembic steps, many of them SQLite table copies, ~5 s on a new home).

Generic on purpose: a migration that adds a column, an index or a table is covered by the model it
mirrors, with nothing to declare here; only a migration that *inserts rows* declares them in
:data:`SEEDS`. ``tests/core/test_fresh_schema.py`` builds one database each way, on SQLite and
PostgreSQL, and names every table, column, type, nullability, default, key, index, unique constraint
and seeded row that differs, so a model that drifts from its migrations is caught."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, inspect, text

#: table -> the rows its migrations insert into a new database (a callable: ids and times are made
#: when the database is). A migration that seeds rows must declare them here.
SEEDS: dict[str, Callable[[], list[dict[str, Any]]]] = {}


def seed(table: str) -> Callable[[Callable[[], list[dict[str, Any]]]], Callable[[], list[dict[str, Any]]]]:
    """Declare the rows ``table``'s migrations seed (decorator)."""
    def register(fn: Callable[[], list[dict[str, Any]]]) -> Callable[[], list[dict[str, Any]]]:
        SEEDS[table] = fn
        return fn
    return register


@seed("audit_head")  # 0008_audit: the chain's head before its first row
def _audit_head() -> list[dict[str, Any]]:
    return [{"id": 1, "seq": 0, "hash": "0" * 64}]


@seed("auth_projects")  # 0011_auth: every object belongs to the default project
def _default_project() -> list[dict[str, Any]]:
    from mainsail.core.db import utcnow

    return [{"id": uuid.uuid4().hex, "name": "default", "description": "The default project", "created_at": utcnow()}]


def is_empty(conn: Connection) -> bool:
    """True when the database (its current schema, on PostgreSQL) holds no table at all."""
    return not inspect(conn).get_table_names()


def create_fresh(conn: Connection, heads: set[str]) -> None:
    """Create every table of every domain on the empty database behind ``conn``, insert :data:`SEEDS`,
    and stamp ``heads`` in ``alembic_version`` as Alembic would (the caller commits)."""
    from mainsail.migrations.models import target_metadata

    target_metadata.create_all(conn, checkfirst=False)
    for table, rows in SEEDS.items():
        conn.execute(target_metadata.tables[table].insert(), rows())
    conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                      "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))
    conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), [{"v": h} for h in sorted(heads)])
