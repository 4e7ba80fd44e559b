"""Fresh-database benchmark: what the first ``Client()`` on a new home costs, with the fast path for an
empty database (tables from the models' metadata, seeds, heads stamped: ``mainsail.core.fresh``) and
through the full migration chain (every Alembic step; the fast path switched off in that process).

Each case runs in a new Python process on a new ``MAINSAIL_HOME`` (as a user's first command does), and
reports the process's wall time (interpreter start, imports, migration, first write) and, inside it,
the schema step alone (:func:`mainsail.core.migrate.upgrade`). Rounds interleave the cases. With
PostgreSQL reachable, the same on a scratch database's fresh schema.

    python benchmarks/migrate.py [--smoke] [--rounds 5] [--no-postgres] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from _common import fmt_spread, now, print_load, ratio_spread, rounds, scratch_postgres, spread

CHILD = r"""
import sys, time
t0 = time.perf_counter()
from mainsail.core import fresh, migrate
if sys.argv[1] == "chain":
    fresh.is_empty = lambda conn: False  # the full migration chain, as before the fast path
real = migrate.upgrade
spent = []
def timed(*a, **k):
    t = time.perf_counter()
    try:
        return real(*a, **k)
    finally:
        spent.append(time.perf_counter() - t)
migrate.upgrade = timed
from mainsail import Client
c = Client(sys.argv[2]) if len(sys.argv) > 2 else Client()
c.create_experiment("first")
c.close()
print(sum(spent), time.perf_counter() - t0)
"""


def _case(kind: str, uri: str | None, tmp: Path, out: dict[str, list[float]]) -> Any:
    def run() -> float:
        home = tmp / f"home-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "MAINSAIL_HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)}
        env.pop("MAINSAIL_URI", None)
        args = [sys.executable, "-c", CHILD, kind] + ([_schema(uri)] if uri else [])
        t0 = now()
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
        wall = now() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{kind} failed:\n{proc.stderr[-3000:]}")
        step, _ = (float(x) for x in proc.stdout.split()[-2:])
        out.setdefault(kind, []).append(step)
        return wall

    return run


def _schema(url: str) -> str:
    """A new schema on the scratch database for one first start (PostgreSQL)."""
    from sqlalchemy import create_engine

    name = f"s_{uuid.uuid4().hex[:12]}"
    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    eng.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{name}"


def measure(uri: str | None, tmp: Path, n: int) -> dict[str, Any]:
    steps: dict[str, list[float]] = {}
    res = rounds({"fast": _case("fast", uri, tmp, steps), "chain": _case("chain", uri, tmp, steps)}, n)
    return {"wall_fast": spread(res["fast"]), "wall_chain": spread(res["chain"]),
            "step_fast": spread(steps["fast"]), "step_chain": spread(steps["chain"]),
            "speedup_wall": ratio_spread(res["chain"], res["fast"]),
            "speedup_step": ratio_spread(steps["chain"], steps["fast"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    n = 1 if a.smoke else a.rounds
    print_load()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite (new home)"] = measure(None, Path(tmp), n)
        if not (a.smoke or a.no_postgres):
            try:
                with scratch_postgres() as url:
                    out["postgres (new schema)"] = measure(url, Path(tmp), n)
            except Exception as exc:  # noqa: BLE001
                print(f"postgres skipped: {exc}")
    print_load("after: ")
    if a.json:
        print(json.dumps(out, indent=2))
        return
    for name, r in out.items():
        print(f"{name}: first Client() process {fmt_spread(r['wall_fast'], ' s')} fast path, "
              f"{fmt_spread(r['wall_chain'], ' s')} migration chain ({fmt_spread(r['speedup_wall'])} faster); "
              f"schema step alone {fmt_spread(r['step_fast'], ' s')} vs {fmt_spread(r['step_chain'], ' s')} "
              f"({fmt_spread(r['speedup_step'])})")


if __name__ == "__main__":
    main()
