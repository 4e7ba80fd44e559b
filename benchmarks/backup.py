"""Backup and restore benchmark: `mainsail backup` / `restore` (every table as portable JSON lines, gzip'd)
against the raw floor of each database and a named peer.

A SQLite home holds ``--runs`` tracked runs with ``--points`` metric points each (plus params and tags).
Interleaved rounds (order rotated, at least 3) time:

- SQLite: our backup vs SQLite's own online-backup API (a page copy: the floor), and our restore into an
  empty SQLite file vs the same page copy back;
- PostgreSQL (the same data restored there): our backup vs ``pg_dump -Fc`` (the peer), our restore vs
  ``pg_restore`` into a fresh database.

Prints rows per second as median (min–max) across rounds and the per-round ratio to floor/peer, with the
load average. Every copy is checked: same row count in ``run_metrics`` as the source.

    python benchmarks/backup.py [--runs 20] [--points 10000] [--repeat 3] [--smoke]

``--smoke`` (CI) runs the SQLite rounds on tiny sizes only.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fmt_spread, load_line, ratio_spread, rounds, scratch_postgres, skip, spread  # noqa: E402


def make_source(home: Path, runs: int, points: int) -> tuple[str, str]:
    from mainsail import Client

    uri, root = f"sqlite:///{home / 'src.db'}", str(home / "artifacts")
    c = Client(uri, artifact_root=root)
    exp = c.ensure_experiment("bench-backup")
    for r in range(runs):
        run = c.create_run(exp.id, f"run-{r}", tags={"team": "bench", "r": str(r)})
        c.log_params(run.id, {f"p{i}": i * r for i in range(10)})
        t = time.time()
        c.log_batch(run.id, metrics=[("loss", 1.0 / (s + 1), s, t + s) for s in range(points)])
        c.end_run(run.id)
    return uri, root


def count(uri: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(uri)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM run_metrics")).scalar_one()
    engine.dispose()
    return int(n)


def rows_total(uri: str) -> int:
    from sqlalchemy import MetaData, create_engine, func, select

    engine = create_engine(uri)
    md = MetaData()
    md.reflect(engine)
    with engine.connect() as conn:
        n = sum(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in md.sorted_tables)
    engine.dispose()
    return int(n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, 3 rounds (CI)")
    args = ap.parse_args()
    if args.smoke:
        args.runs, args.points, args.repeat = 2, 200, 3

    from mainsail.core.artifacts import ArtifactStore
    from mainsail.core.backup import backup, restore
    from mainsail.core.db import make_engine

    tmp = Path(tempfile.mkdtemp(prefix="mainsail-bench-backup-"))
    try:
        uri, root = make_source(tmp, args.runs, args.points)
        want, total = count(uri), rows_total(uri)
        store = ArtifactStore(root)
        print(f"source: {args.runs} runs x {args.points} points = {want:,} metric rows, {total:,} rows in all")
        print(load_line())
        archive = tmp / "b.tar.gz"
        n = {"i": 0}

        def ours_backup(src: str = uri, dest: Path = archive) -> float:
            engine = make_engine(src, write=False)
            t = time.perf_counter()
            backup(engine, store, dest)
            dt = time.perf_counter() - t
            engine.dispose()
            return dt

        def ours_restore_sqlite() -> float:
            n["i"] += 1
            target = "sqlite:///" + str(tmp / f"r{n['i']}.db")
            engine = make_engine(target)
            t = time.perf_counter()
            restore(engine, store, archive)
            dt = time.perf_counter() - t
            engine.dispose()
            assert count(target) == want, "restored row count differs"
            return dt

        def floor_copy() -> float:
            n["i"] += 1
            dest = tmp / f"f{n['i']}.db"
            t = time.perf_counter()
            with sqlite3.connect(uri.removeprefix("sqlite:///")) as a, sqlite3.connect(dest) as b:
                a.backup(b)
            dt = time.perf_counter() - t
            a.close()
            b.close()
            assert count(f"sqlite:///{dest}") == want
            return dt

        ours_backup()  # the archive the restores read
        res = rounds({"backup": ours_backup, "restore": ours_restore_sqlite, "floor": floor_copy}, args.repeat)
        print("\nSQLite                   rows/s median (min–max)            ratio to the page copy (floor)")
        for k in ("backup", "restore", "floor"):
            rate = spread([total / s for s in res[k]])
            ratio = ratio_spread(res[k], res["floor"]) if k != "floor" else None
            print(f"  {k:<22} {fmt_spread(rate, ' rows/s', 0):<36} {fmt_spread(ratio) if ratio else '1 (floor)'}")

        if args.smoke:  # CI's smoke run stops here: PostgreSQL rounds create databases and take longer
            return
        if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
            skip("pg_dump", "pg_dump/pg_restore not installed")
            return
        try:
            pg_cm = scratch_postgres()
            pg = pg_cm.__enter__()
        except Exception as exc:  # noqa: BLE001 - no PostgreSQL: the SQLite figures stand alone
            skip("pg_dump", f"PostgreSQL unreachable ({exc})")
            return
        try:
            pg_uri = pg.replace("postgresql://", "postgresql+psycopg://")
            engine = make_engine(pg_uri)
            restore(engine, store, archive)
            engine.dispose()
            assert count(pg_uri) == want
            pg_archive, dump = tmp / "pg.tar.gz", tmp / "pg.dump"

            def pg_ours_backup() -> float:
                return ours_backup(pg_uri, pg_archive)

            def pg_dump() -> float:
                t = time.perf_counter()
                subprocess.run(["pg_dump", "-Fc", "-f", str(dump), pg], check=True)
                dt = time.perf_counter() - t
                assert dump.stat().st_size > 0
                return dt

            def pg_restore_into(fn: str) -> float:
                with scratch_postgres() as fresh:
                    t = time.perf_counter()
                    if fn == "ours":
                        e = make_engine(fresh.replace("postgresql://", "postgresql+psycopg://"))
                        restore(e, store, pg_archive)
                        e.dispose()
                    else:
                        subprocess.run(["pg_restore", "--no-owner", "-d", fresh, str(dump)], check=True)
                    dt = time.perf_counter() - t
                    assert count(fresh.replace("postgresql://", "postgresql+psycopg://")) == want
                return dt

            pg_ours_backup()
            pg_dump()
            res = rounds({"backup": pg_ours_backup, "pg_dump": pg_dump,
                          "restore": lambda: pg_restore_into("ours"), "pg_restore": lambda: pg_restore_into("peer")},
                         args.repeat)
            print(f"\nPostgreSQL               rows/s median (min–max)            ratio to pg_dump / pg_restore\n{load_line()}")
            for k, peer in (("backup", "pg_dump"), ("pg_dump", None), ("restore", "pg_restore"), ("pg_restore", None)):
                rate = spread([total / s for s in res[k]])
                ratio = ratio_spread(res[k], res[peer]) if peer else None
                print(f"  {k:<22} {fmt_spread(rate, ' rows/s', 0):<36} {fmt_spread(ratio) if ratio else '1 (peer)'}")
        finally:
            pg_cm.__exit__(None, None, None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
