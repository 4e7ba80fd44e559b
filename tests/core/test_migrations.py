"""Migrations apply on first use, once, even when several processes start together."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import create_engine, inspect

from mainsail.core.migrate import script_heads

SCRIPT = """
import sys
from mainsail import Client
c = Client(sys.argv[1])
c.ensure_experiment("shared")
print("ok")
"""


def test_concurrent_first_use_migrates_once(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1].decode()[-2000:] for o in outs]
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {"experiments", "tracking_runs", "run_metrics", "events", "alembic_version"} <= tables
    with engine.connect() as conn:
        versions = {r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}
        names = [r[0] for r in conn.exec_driver_sql("SELECT name FROM experiments")]
    assert versions == script_heads()
    assert names == ["shared"]


def test_postgres_schema_migrates_on_first_use(pg_url: str) -> None:
    from mainsail import Client

    Client(pg_url).ensure_experiment("x")
    engine = create_engine(pg_url)
    assert "tracking_runs" in inspect(engine).get_table_names()
    engine.dispose()


def test_start_up_head_check_agrees_with_alembic() -> None:
    """Every process checks the heads without importing Alembic; it must read the scripts as Alembic does."""
    from alembic.script import ScriptDirectory

    from mainsail.core.migrate import _config

    assert script_heads() == set(ScriptDirectory.from_config(_config()).get_heads())
