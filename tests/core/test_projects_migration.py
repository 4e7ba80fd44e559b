"""A database made before objects carried a project (every domain branch at its revision before its
``0012_<domain>_projects`` migration) upgrades with every row kept, in project ``default``; afterwards a
second project may reuse the names, and downgrading takes the column away again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from mainsail.core.db import make_engine
from mainsail.core.migrate import migration_connection, script_graph, upgrade, upgrade_to

NOW = dt.datetime(2026, 1, 1)
ROWS = {  # table -> a row as the release before projects wrote it
    "experiments": {"id": "e1", "name": "churn", "tags": "{}", "lifecycle": "active", "created_at": NOW,
                    "updated_at": NOW},
    "datasets": {"id": "d1", "name": "events", "tags": "{}", "created_at": NOW, "updated_at": NOW},
    "registered_models": {"id": "m1", "name": "clf", "tags": "{}", "next_version": 1, "created_at": NOW,
                          "updated_at": NOW},
    "deployments": {"id": "dp1", "name": "live", "variants": "[]", "created_at": NOW, "updated_at": NOW},
    "pipelines": {"id": "p1", "name": "train", "latest_version": 0, "created_at": NOW, "updated_at": NOW},
    "monitors": {"id": "mo1", "name": "drift", "dataset": "events", "spec": "{}", "enabled": True,
                 "created_at": NOW, "updated_at": NOW},
    "alert_rules": {"id": "r1", "name": "high", "selector": "{}", "condition": "value > 1", "for_seconds": 0.0,
                    "severity": "warning", "labels": "{}", "enabled": True, "created_at": NOW, "updated_at": NOW},
    "alert_channels": {"id": "c1", "name": "ops", "kind": "log", "config": "{}", "min_severity": "info",
                       "enabled": True, "created_at": NOW, "updated_at": NOW},
    "feature_definitions": {"kind": "view", "name": "live", "version": 1, "spec": "{}", "digest": "x" * 64,
                            "created_at": NOW},
}


def _before_projects() -> set[str]:
    graph = script_graph()
    mine = {r for r in graph if r.startswith("0012_") and r.endswith("_projects")}
    rest = {r: p for r, p in graph.items() if r not in mine}
    return set(rest) - {p for ps in rest.values() for p in ps}


def _insert(conn, table: str, row: dict) -> None:  # type: ignore[no-untyped-def]
    cols = ", ".join(row)
    conn.execute(text(f"INSERT INTO {table} ({cols}) VALUES ({', '.join(':' + c for c in row)})"), row)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_database_from_before_projects_upgrades_into_default(kind: str, tmp_path: Path,
                                                              request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_url") if kind == "postgres" else f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    try:
        upgrade_to(engine, _before_projects())
        with engine.begin() as conn:
            assert "project" not in {c[1] for c in conn.exec_driver_sql(
                "SELECT 0, column_name FROM information_schema.columns WHERE table_name = 'experiments'"
                " AND table_schema = current_schema()"
                if kind == "postgres" else "PRAGMA table_info(experiments)")}
            for table, row in ROWS.items():
                _insert(conn, table, row)
        upgrade(engine, recheck=True)
        with engine.begin() as conn:
            for table, row in ROWS.items():
                key = "name"
                got = conn.execute(text(f"SELECT project, {key} FROM {table}")).all()
                assert [tuple(r) for r in got] == [("default", row[key])], table
                again = {**row, "project": "other"}
                if "id" in again:
                    again["id"] = row["id"] + "-other"
                _insert(conn, table, again)  # the same name in another project
            with pytest.raises(Exception, match="(?i)unique"), conn.begin_nested():
                _insert(conn, "experiments", {**ROWS["experiments"], "id": "e3", "project": "other"})
            conn.execute(text("DELETE FROM experiments WHERE project = 'other'"))
        with engine.begin() as conn:
            for table in ROWS:
                conn.execute(text(f"DELETE FROM {table} WHERE project = 'other'"))
        from alembic import command

        from mainsail.core.migrate import _config

        with migration_connection(engine) as conn:  # and back: the rows stay, the column goes
            for rev in sorted(r for r in script_graph() if r.startswith("0012_") and r.endswith("_projects")):
                command.downgrade(_config(conn), f"{rev}@-1")
                conn.commit()
        with engine.begin() as conn:
            assert conn.execute(text("SELECT name FROM experiments")).scalar_one() == "churn"
    finally:
        engine.dispose()
