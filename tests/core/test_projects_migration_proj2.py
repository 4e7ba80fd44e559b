"""A database from before loops, alert silences and events carried a project upgrades with every row kept:
loop policies and runs and silences land in ``default``; an event takes the project its payload names,
else ``default``. Afterwards another project may reuse a loop policy's name; downgrading takes the
columns away again with the rows kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from mainsail.core.db import make_engine
from mainsail.core.migrate import _config, migration_connection, script_graph, upgrade, upgrade_to

NOW = dt.datetime(2026, 1, 1)
MINE = ("0013_loops_projects_proj2", "0013_alerts_silences_proj2", "0013_core_events_project_proj2")
ROWS = {
    "loop_policies": {"id": "lp1", "name": "fresh", "deployment": "api", "trigger": "drift", "pipeline": "retrain",
                      "spec": "{}", "cooldown_seconds": 60.0, "enabled": True, "created_at": NOW, "updated_at": NOW},
    "loop_runs": {"id": "lr1", "policy_id": "lp1", "policy": "fresh", "deployment": "api", "state": "running",
                  "stage": "retraining", "trigger_event_id": 1, "trigger": "{}", "canary_step": 0, "detected_at": NOW,
                  "started_at": NOW},
    "alert_silences": {"id": "s1", "matchers": "{}", "starts_at": NOW, "ends_at": NOW},
}


def _insert(conn, table: str, row: dict) -> None:  # type: ignore[no-untyped-def]
    conn.execute(text(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)})"), row)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_loops_silences_and_events_upgrade_into_their_projects(kind: str, tmp_path: Path,
                                                                request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_url") if kind == "postgres" else f"sqlite:///{tmp_path / 'old.db'}"
    graph = script_graph()
    heads = set(graph) - {p for ps in graph.values() for p in ps}
    before = (heads - set(MINE)) | {graph[r][0] for r in MINE}
    engine = make_engine(url)
    try:
        upgrade_to(engine, before)
        with engine.begin() as conn:
            for table, row in ROWS.items():
                _insert(conn, table, row)
            for i, payload in enumerate(('{"project": "b", "monitor": "m"}', '{"name": "x"}', '{"project": ""}')):
                _insert(conn, "events", {"id": i + 1, "type": "t", "subject": "s", "payload": payload,
                                         "created_at": NOW})
        upgrade(engine, recheck=True)
        with engine.begin() as conn:
            for table in ROWS:
                assert conn.execute(text(f"SELECT project FROM {table}")).scalars().all() == ["default"], table
            got = conn.execute(text("SELECT project FROM events ORDER BY id")).scalars().all()
            assert got == ["b", "default", "default"]
            _insert(conn, "loop_policies", {**ROWS["loop_policies"], "id": "lp2", "project": "other"})
            with pytest.raises(Exception, match="(?i)unique"), conn.begin_nested():
                _insert(conn, "loop_policies", {**ROWS["loop_policies"], "id": "lp3", "project": "other"})
            conn.execute(text("DELETE FROM loop_policies WHERE project = 'other'"))
            conn.execute(text("UPDATE events SET project = 'default'"))
        from alembic import command

        with migration_connection(engine) as conn:
            for rev in MINE:
                command.downgrade(_config(conn), f"{rev}@-1")
                conn.commit()
        with engine.begin() as conn:
            for table, row in ROWS.items():
                assert conn.execute(text(f"SELECT id FROM {table}")).scalars().all() == [row["id"]]
            assert conn.execute(text("SELECT COUNT(*) FROM events")).scalar_one() == 3
    finally:
        engine.dispose()
