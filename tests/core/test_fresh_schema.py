"""An empty database is created in one step from the models' metadata (``mainsail.core.fresh``) instead of
walking every migration: the result must be the schema the migration chain builds — tables, columns,
types, nullability, server defaults, primary keys, indexes, unique constraints, foreign keys and seeded
rows — on SQLite and PostgreSQL. A failure names each difference (a model that drifted from its
migration, or a seed not declared in ``fresh.SEEDS``)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from _services import pg_schema_url
from sqlalchemy import Connection, inspect, text

from mainsail.core.db import make_engine
from mainsail.core.migrate import _config, current_heads, migration_connection, script_heads, upgrade

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")  # SQLite hands times back as text


def _norm(value: Any) -> str:
    """A server default or check as text, without the quoting and brackets each path renders differently."""
    s = re.sub(r"::[a-z ]+(\(\d+\))?", "", str(value))  # PostgreSQL casts: 'default'::character varying
    return re.sub(r"[\s()\"`]", "", s).lower()


def _value(v: Any) -> Any:
    if isinstance(v, dt.datetime) or (isinstance(v, str) and _TIME.match(v)):
        return "<time>"  # made when the database is
    if isinstance(v, str) and _HEX_ID.match(v):
        return "<id>"
    return v


def schema_facts(conn: Connection) -> set[str]:
    """Every fact of the schema and its rows as a line of text, so two databases compare as two sets."""
    insp = inspect(conn)
    facts: set[str] = set()
    for t in insp.get_table_names():
        facts.add(f"table {t}")
        for c in insp.get_columns(t):
            default = _norm(c["default"]) if c.get("default") is not None else None
            facts.add(f"column {t}.{c['name']}: {c['type']!s} {'NULL' if c['nullable'] else 'NOT NULL'}"
                      f" default={default}")
        pk = insp.get_pk_constraint(t)
        facts.add(f"primary key {t}: {pk['constrained_columns']}")
        for ix in insp.get_indexes(t):
            facts.add(f"index {t}.{ix['name']}: {ix['column_names']} unique={bool(ix['unique'])}")
        for uq in insp.get_unique_constraints(t):
            facts.add(f"unique {t}.{uq['name']}: {uq['column_names']}")
        for fk in insp.get_foreign_keys(t):
            facts.add(f"foreign key {t}.{fk['name']}: {fk['constrained_columns']} -> {fk['referred_table']}"
                      f"{fk['referred_columns']} ondelete={(fk.get('options') or {}).get('ondelete')}")
        for ck in insp.get_check_constraints(t):
            facts.add(f"check {t}.{ck['name']}: {_norm(ck['sqltext'])}")
        if t != "alembic_version":
            for row in conn.execute(text(f'SELECT * FROM "{t}"')).mappings():
                facts.add(f"row {t}: {sorted((k, _value(v)) for k, v in row.items())}")
    facts |= {f"version {v}" for v in current_heads(conn)}
    return facts


def _build(url: str, fast: bool) -> set[str]:
    engine = make_engine(url)
    try:
        if fast:
            upgrade(engine, recheck=True)
        else:
            from alembic import command

            with migration_connection(engine) as conn:
                command.upgrade(_config(conn), "heads")
                conn.commit()
        with engine.connect() as conn:
            return schema_facts(conn)
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_fast_path_schema_equals_the_migration_chain(kind: str, tmp_path: Path) -> None:
    if kind == "sqlite":
        fast = _build(f"sqlite:///{tmp_path / 'fast.db'}", fast=True)
        slow = _build(f"sqlite:///{tmp_path / 'slow.db'}", fast=False)
    else:
        with pg_schema_url() as url:
            fast = _build(url, fast=True)
        with pg_schema_url() as url:
            slow = _build(url, fast=False)
    assert {f for f in fast if f.startswith("version ")} == {f"version {h}" for h in script_heads()}
    assert any(f.startswith("row audit_head") for f in slow) and any(f.startswith("row auth_projects") for f in slow)
    only_fast, only_slow = sorted(fast - slow), sorted(slow - fast)
    assert not (only_fast or only_slow), (
        "the fast path differs from the migration chain:\n  only from the models: " + "\n    ".join(only_fast)
        + "\n  only from the migrations: " + "\n    ".join(only_slow))


def test_a_database_with_tables_is_migrated_step_by_step(tmp_path: Path) -> None:
    """Only an EMPTY database takes the fast path: one with any table (an older release's) is upgraded by
    its migrations, so its rows are kept."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE keep_me (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO keep_me VALUES (7)")
        from mainsail.core import fresh

        calls: list[int] = []
        real = fresh.create_fresh
        fresh.create_fresh = lambda *a, **k: calls.append(1) or real(*a, **k)  # type: ignore[assignment]
        try:
            upgrade(engine, recheck=True)
        finally:
            fresh.create_fresh = real  # type: ignore[assignment]
        assert calls == []
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT x FROM keep_me").scalar() == 7
            assert current_heads(conn) == script_heads()
    finally:
        engine.dispose()
