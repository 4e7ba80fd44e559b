"""Collaboration benchmark: the activity feed over many events.

An embedded Client on SQLite (and on a scratch PostgreSQL database when reachable) whose outbox holds
``--events`` events as the domains write them (model versions registered and moved, runs, deployments,
comments; 200 models, 20 actors). Figures:

- projection: events per second that ``collab.feed.sync`` turns into activity rows (once, then it follows);
- page time of the project feed (first page and a page 20 cursors deep), one model's feed (with its
  versions) and one user's feed, through ``Client.activity`` (50 items, the catch-up check included);
- CPU time of this process per page (on SQLite all the work is in-process: a figure the machine's load
  does not inflate; on PostgreSQL the server's share is not in it);
- the floor: the raw driver query for the same first page straight from the events table (no ORM, no
  projection), and the raw query of one model's events by subject, which has no index to use there.

No peer: MLflow, ZenML and the others keep no activity feed. Rounds are interleaved (at least 3); figures
are median (min–max) milliseconds.

    python benchmarks/collab.py [--smoke] [--events 100000] [--rounds 5] [--no-postgres] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import fmt_spread, now, print_load, ratio_spread, rounds, scratch_postgres, spread

MODELS = 200
ACTORS = [f"user{i}" for i in range(20)]


def seed(uri: str, root: str, n: int) -> Any:
    """Write ``n`` events into the outbox (bulk, as many transactions of domains would have)."""
    from sqlalchemy import insert

    from mainsail.core.events import EventRow
    from mainsail.core.runtime import Runtime
    from mainsail.core.settings import Settings

    rt = Runtime.for_settings(Settings.from_env().with_uri(uri, root))
    rnd = random.Random(7)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(n):
        m = rnd.randrange(MODELS)
        k = rnd.random()
        at = start + dt.timedelta(seconds=i)
        actor = rnd.choice(ACTORS)
        if k < 0.3:
            row = ("stage.changed", f"v{m}-{i % 7}", {"name": f"model-{m}", "version": i % 7 + 1,
                                                      "from": "staging", "to": "production"})
        elif k < 0.5:
            row = ("model_version.registered", f"v{m}-{i % 7}", {"name": f"model-{m}", "version": i % 7 + 1})
        elif k < 0.8:
            row = ("run.finished", f"run{i}", {"experiment_id": f"e{m}", "status": "finished"})
        elif k < 0.9:
            row = ("deployment.traffic_changed", f"d{m}", {"deployment": f"dep-{m}"})
        else:
            row = ("comment.created", str(i), {"project": "default", "object_kind": "model", "object_key": f"model-{m}",
                                               "label": f"model model-{m}", "mentions": []})
        rows.append({"type": row[0], "subject": row[1], "payload": row[2], "actor": actor, "created_at": at})
    with rt.transaction() as ctx:
        for i in range(0, n, 20_000):
            ctx.session.execute(insert(EventRow), rows[i:i + 20_000])
    return rt


def raw_pages(uri: str) -> tuple[Any, Any, Any]:
    """(first page, one model's events by subject) straight from the events table with the driver."""
    if uri.startswith("sqlite"):
        import sqlite3

        conn: Any = sqlite3.connect(uri.removeprefix("sqlite:///"))
        p = "?"
    else:
        import psycopg

        from mainsail.core.db import make_engine

        url = make_engine(uri, write=True).url
        conn = psycopg.connect(url.render_as_string(hide_password=False).replace("postgresql+psycopg", "postgresql"),
                               autocommit=True)
        p = "%s"

    def first() -> float:
        t = now()
        conn.execute("SELECT id, type, subject, payload, actor, created_at FROM events ORDER BY id DESC LIMIT 50"
                     ).fetchall()
        return now() - t

    def by_subject() -> float:
        t = now()
        conn.execute(f"SELECT id, type, subject, payload, actor, created_at FROM events WHERE subject = {p} "
                     f"ORDER BY id DESC LIMIT 50", ("v7-3",)).fetchall()
        return now() - t

    return first, by_subject, conn


def measure(uri: str, root: str, n: int, reps: int) -> dict[str, Any]:
    from mainsail import Client
    from mainsail.collab.feed import sync

    rt = seed(uri, root, n)
    t, c = now(), time.process_time()
    report = sync(rt)
    projection = report.events / (now() - t)
    projection_cpu = report.events / (time.process_time() - c)
    client = Client(uri, artifact_root=root)
    deep_cursor = None
    for _ in range(20):
        deep_cursor = client.activity(limit=50, cursor=deep_cursor).next_cursor

    cpu: dict[str, list[float]] = {}

    def page(name: str, **kw: Any) -> tuple[str, Any]:
        def case() -> float:
            t0, c0 = now(), time.process_time()
            items = client.activity(limit=50, **kw).items
            cpu.setdefault(name, []).append(time.process_time() - c0)
            assert items, kw
            return now() - t0
        return name, case

    def cpu_timed(name: str, fn: Any) -> Any:
        def case() -> float:
            c0 = time.process_time()
            wall = fn()
            cpu.setdefault(name, []).append(time.process_time() - c0)
            return wall
        return case

    # one model's feed (its own events and its versions'): the model exists, as the feed resolves it
    from mainsail.registry import service as registry

    with rt.transaction() as ctx:
        registry.create_model(ctx, "model-7")
    raw_first, raw_subject, conn = raw_pages(uri)
    res = rounds(dict([
        page("project feed"),
        page("project feed, 20 pages deep", cursor=deep_cursor),
        page("model feed", kind="model", ref="model-7"),
        page("user feed", user="user3"),
    ]) | {
        "raw first page": cpu_timed("raw first page", raw_first),
        "raw by subject": cpu_timed("raw by subject", raw_subject),
    }, reps)
    conn.close()
    client.close()
    out: dict[str, Any] = {"events": n, "projection_events_per_s": projection,
                           "projection_events_per_cpu_s": projection_cpu}
    for name, xs in res.items():
        out[name] = spread([x * 1000 for x in xs])
    out["cpu"] = {name: spread([x * 1000 for x in xs]) for name, xs in cpu.items()}
    out["cpu ratio project feed / raw first page"] = ratio_spread(cpu["project feed"], cpu["raw first page"])
    out["ratio project feed / raw first page"] = ratio_spread(res["project feed"], res["raw first page"])
    out["ratio model feed / raw by subject"] = ratio_spread(res["model feed"], res["raw by subject"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    n = 3000 if a.smoke else a.events
    print_load("before: ")
    print("peer: none (MLflow, ZenML and the others keep no activity feed)")
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = measure(f"sqlite:///{Path(tmp) / 'c.db'}", str(Path(tmp) / "art"), n, a.rounds)
        if not (a.smoke or a.no_postgres):
            try:
                with scratch_postgres() as url:
                    out["postgres"] = measure(url, str(Path(tmp) / "art-pg"), n, a.rounds)
            except Exception as exc:  # noqa: BLE001
                print(f"postgres skipped: {exc}")
    print_load("after: ")
    if a.json:
        print(json.dumps(out, indent=2))
        return
    for db, r in out.items():
        print(f"{db}: {r['events']} events; projection {r['projection_events_per_s']:.0f} events/s "
              f"({r['projection_events_per_cpu_s']:.0f} per CPU second of this process)")
        for k, v in r.items():
            if isinstance(v, dict) and "median" in v and not k.startswith(("ratio", "cpu ratio")):
                cpu = r["cpu"].get(k)
                print(f"  {k:<30} {fmt_spread(v, ' ms', 2)}" + (f"   CPU {fmt_spread(cpu, ' ms', 2)}" if cpu else ""))
        print(f"  project feed / raw first page  {fmt_spread(r['ratio project feed / raw first page'])}")
        print(f"  model feed / raw by subject    {fmt_spread(r['ratio model feed / raw by subject'])}")
        print(f"  CPU: project feed / raw first page {fmt_spread(r['cpu ratio project feed / raw first page'])}")


if __name__ == "__main__":
    main()
