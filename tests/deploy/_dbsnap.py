"""Shared pieces of the deployment tests: a quickstart home made once per session, and a snapshot of every
table of a database (normalized across SQLite and PostgreSQL) to compare a restore or an upgrade with."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, MetaData, create_engine, select

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, home: Path, uri: str | None = None, check: bool = True, timeout: float = 600,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``mainsail ARGS`` in a subprocess with its own MAINSAIL_HOME (and URI)."""
    env = {**os.environ, "MAINSAIL_HOME": str(home), "PYTHONPATH": str(REPO / "src"), "COLUMNS": "200"}
    for var in ("MAINSAIL_URI", "MAINSAIL_ARTIFACT_ROOT", "MAINSAIL_TOKEN"):
        env.pop(var, None)
    if uri:
        env["MAINSAIL_URI"] = uri
    proc = subprocess.run([sys.executable, "-m", "mainsail.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=cwd or home)
    if check and proc.returncode != 0:
        raise AssertionError(f"mainsail {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def quickstart_home(root: Path) -> Path:
    """A MAINSAIL_HOME holding a whole quickstart (every domain's tables written), made once per session."""
    home = root / "qs-home"
    if not (home / "mainsail.db").exists():
        home.mkdir(parents=True, exist_ok=True)
        run_cli("quickstart", "--rows", "400", "--skip-loop", home=home)
    return home


def copy_sqlite(src: Path, dest: Path) -> None:
    """Copy a SQLite database (with what its WAL holds) through SQLite's backup API."""
    import sqlite3

    dest.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dest) as b:
        a.backup(b)
    a.close()
    b.close()


def _norm(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if kind == "json":
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def snapshot(url: str, skip_columns: dict[str, set[str]] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but ``alembic_version``), normalized and sorted, keyed by table name."""
    skip_columns = skip_columns or {}
    engine = create_engine(url)
    try:
        md = MetaData()
        with engine.connect() as conn:
            md.reflect(conn)
            out: dict[str, list[tuple[Any, ...]]] = {}
            for table in md.sorted_tables:
                if table.name == "alembic_version":
                    continue
                cols = sorted((c for c in table.columns if c.name not in skip_columns.get(table.name, set())),
                              key=lambda c: c.name)
                kinds = ["json" if isinstance(c.type, JSON) else "" for c in cols]
                rows = [tuple(_norm(k, v) for k, v in zip(kinds, row, strict=True))
                        for row in conn.execute(select(*cols))]
                out[str(table.name)] = sorted(rows, key=repr)
    finally:
        engine.dispose()
    return out


def assert_same(got: dict[str, list[tuple[Any, ...]]], want: dict[str, list[tuple[Any, ...]]]) -> None:
    """Same tables, same row counts, same rows (naming the first table that differs). Rows a migration
    seeds (a fresh id and time each time it runs) are compared by count only."""
    from mainsail.core.backup import seeded_tables
    from mainsail.core.migrate import script_heads

    SEEDED = seeded_tables(script_heads())  # noqa: N806

    assert sorted(got) == sorted(want)
    counts = {t: (len(got[t]), len(want[t])) for t in want if len(got[t]) != len(want[t])}
    assert not counts, f"row counts differ (got, want): {counts}"
    for table in set(want) - SEEDED:
        for a, b in zip(got[table], want[table], strict=True):
            assert a == b, f"{table}: {a} != {b}"
