"""Upgrades: a database at the previous release's schema (the newest migrations taken off a real quickstart
database with Alembic) migrates forward with nothing lost — in place with `mainsail db upgrade`, and through
a backup taken at the old schema and restored by this release."""

from __future__ import annotations

from pathlib import Path

import pytest
from _dbsnap import assert_same, copy_sqlite, quickstart_home, run_cli, snapshot
from sqlalchemy import MetaData, create_engine

from mainsail.core.artifacts import ArtifactStore
from mainsail.core.backup import backup, restore
from mainsail.core.db import make_engine
from mainsail.core.migrate import _config, current_heads, migration_connection, script_graph, script_heads


def previous_release() -> tuple[set[str], set[str]]:
    """``(newest, previous_heads)``: the migrations of the latest landing (the highest number among the
    heads) and the heads of the schema before them."""
    graph, heads = script_graph(), script_heads()
    top = max(int(r[:4]) for r in heads)
    newest = {r for r in heads if int(r[:4]) == top}
    rest = {r: p for r, p in graph.items() if r not in newest}
    return newest, set(rest) - {p for ps in rest.values() for p in ps}


def _downgrade(url: str, newest: set[str]) -> set[str]:
    from alembic import command

    engine = make_engine(url)
    try:
        with migration_connection(engine) as conn:
            for rev in sorted(newest):
                command.downgrade(_config(conn), f"{rev}@-1")
                conn.commit()
            return current_heads(conn)
    finally:
        engine.dispose()


def _columns(url: str) -> dict[str, set[str]]:
    engine = create_engine(url)
    try:
        md = MetaData()
        md.reflect(engine)
        return {str(t.name): {c.name for c in t.columns} for t in md.sorted_tables}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def qs_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return quickstart_home(tmp_path_factory.getbasetemp() / "deploy-qs")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_previous_release_database_upgrades_in_place(qs_home: Path, tmp_path: Path, kind: str,
                                                     request: pytest.FixtureRequest) -> None:
    newest, previous = previous_release()
    assert newest and previous and not newest & previous
    home = tmp_path / "home"
    if kind == "sqlite":
        copy_sqlite(qs_home / "mainsail.db", home / "mainsail.db")
        url = f"sqlite:///{home / 'mainsail.db'}"
    else:  # a real database on PostgreSQL: the quickstart's, restored there
        url = request.getfixturevalue("pg_url")
        engine = make_engine(f"sqlite:///{qs_home / 'mainsail.db'}", write=False)
        backup(engine, ArtifactStore(str(qs_home / "artifacts")), tmp_path / "qs.tar.gz")
        engine.dispose()
        engine = make_engine(url)
        restore(engine, ArtifactStore(str(qs_home / "artifacts")), tmp_path / "qs.tar.gz")
        engine.dispose()
    full, full_cols = snapshot(url), _columns(url)
    assert _downgrade(url, newest) == previous  # the database is now at the previous release's schema
    old, old_cols = snapshot(url), _columns(url)
    added = {t: cols - old_cols.get(t, set()) for t, cols in full_cols.items()}
    assert any(added.values()) or set(full_cols) - set(old_cols), "the newest migrations changed nothing?"
    assert_same(old, {t: rows for t, rows in snapshot_without(full, full_cols, added).items() if t in old})

    # forward again, the way an operator upgrades: `mainsail db upgrade`
    out = run_cli("db", "upgrade", home=home if kind == "sqlite" else tmp_path, uri=url)
    assert "migrated" in out.stdout and "up to date" in out.stdout
    engine = create_engine(url)
    with engine.connect() as conn:
        assert current_heads(conn) == script_heads()
    engine.dispose()
    upgraded = snapshot(url)
    assert_same({t: rows for t, rows in snapshot_without(upgraded, full_cols, added).items() if t in old}, old)
    if kind == "sqlite":  # the upgraded database is the real thing: the CLI reads it as before
        shown = run_cli("models", "show", "churn", home=home)
        assert "champion" in shown.stdout and "production" in shown.stdout
        runs = run_cli("runs", "list", "-e", "churn-quickstart", "--json", home=home)
        assert runs.stdout.count('"id"') >= 3


def snapshot_without(snap: dict, cols: dict[str, set[str]], drop: dict[str, set[str]]) -> dict:  # type: ignore[type-arg]
    """``snap`` with the columns ``drop`` names taken out of each row (columns are in name order)."""
    out = {}
    for table, rows in snap.items():
        names = sorted(cols[table])
        keep = [i for i, n in enumerate(names) if n not in drop.get(table, set())]
        out[table] = sorted((tuple(r[i] for i in keep) for r in rows), key=repr)
    return out


def test_backup_of_previous_release_restores_into_this_one(qs_home: Path, tmp_path: Path, pg_url: str) -> None:
    """A backup taken by the previous release (its schema) restores here and lands at this release's heads,
    equal to the same database upgraded in place."""
    newest, previous = previous_release()
    old_url = f"sqlite:///{tmp_path / 'old.db'}"
    copy_sqlite(qs_home / "mainsail.db", tmp_path / "old.db")
    _downgrade(old_url, newest)
    engine = make_engine(old_url, write=False)
    summary = backup(engine, ArtifactStore(str(qs_home / "artifacts")), tmp_path / "old.tar.gz")
    engine.dispose()
    assert set(summary.revisions) == previous
    engine = make_engine(pg_url)
    restored = restore(engine, ArtifactStore(str(qs_home / "artifacts")), tmp_path / "old.tar.gz")
    engine.dispose()
    assert restored.tables == summary.tables
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert current_heads(conn) == script_heads()
    engine.dispose()
    run_cli("db", "upgrade", home=tmp_path, uri=old_url)  # the same database upgraded in place, for comparison
    surrogate = {"cost_usage_rollup": {"id"}}  # numbered in the backfill's GROUP BY order, which each database picks
    assert_same(snapshot(pg_url, surrogate), snapshot(old_url, surrogate))
