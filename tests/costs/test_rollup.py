"""The hourly rollup of usage gives the same cost reports as the raw usage records, on sqlite and postgres:
random periods (whole hours, partial edge hours, less than an hour) and every key the rollup answers,
over two projects, after price changes, after records are deleted and the rollup rebuilt, after a gc that
deletes runs, and after the migration that creates the table backfills it from existing records."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from mainsail import Client
from mainsail.costs import rollup
from mainsail.costs.models import UsageRollupRow, UsageRow

NOW = dt.datetime.now(dt.UTC).replace(minute=37, second=11, microsecond=123456) - dt.timedelta(hours=1)
KEYS = ("project", "team", "kind", "deployment", "pipeline", "task", "model")


@pytest.fixture(params=["sqlite", "postgres"])
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'rollup.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")


def _records(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        end = NOW - dt.timedelta(seconds=rng.uniform(0, 3 * 86400))
        wall = rng.uniform(1, 600)
        kind = rng.choice(("task", "run", "replica"))
        r: dict[str, Any] = {"kind": kind, "started_at": end - dt.timedelta(seconds=wall), "ended_at": end,
                             "wall_seconds": wall, "cpu_seconds": rng.uniform(0, wall), "peak_memory": rng.randrange(1 << 31),
                             "gpu_seconds": rng.choice((0.0, rng.uniform(0, wall))), "requests": rng.randrange(100),
                             "spot": rng.random() < 0.3, "billable": rng.random() < 0.9}
        if kind == "task":
            r.update(pipeline=f"p{rng.randrange(3)}", task=f"t{rng.randrange(3)}")
            if rng.random() < 0.5:
                r.update(cpu_request=rng.choice((0.5, 2.0)), memory_request=rng.choice((1 << 30, 4 << 30)))
        elif kind == "run":
            r.update(run_id=f"{rng.randrange(20):032x}")
        else:
            r.update(deployment=f"d{rng.randrange(3)}", replica="r1", model=f"m{rng.randrange(2)}")
        out.append(r)
    return out


def _lines(rep: Any) -> dict[Any, tuple[float, ...]]:
    return {ln.key: (ln.records, ln.cost, ln.cpu_hours, ln.memory_gb_hours, ln.gpu_hours, ln.wall_hours, ln.requests)
            for ln in rep.lines}


def _assert_same(c: Client, monkeypatch: pytest.MonkeyPatch, periods: list[tuple[dt.datetime, dt.datetime]],
                 all_projects: bool = True) -> int:
    """Every key over every period: the report (rollup + edges) equals the report from raw records."""
    compared = 0
    for since, until in periods:
        for by in KEYS:
            ours = c.cost_report(by, since=since, until=until, all_projects=all_projects)
            with monkeypatch.context() as m:
                m.setattr(rollup, "plan", lambda since, until: [(0, since, until)])
                raw = c.cost_report(by, since=since, until=until, all_projects=all_projects)
            a, b = _lines(ours), _lines(raw)
            assert a.keys() == b.keys(), (by, since, until)
            for k in a:
                assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-9), (by, k, since, until)
            assert ours.total == pytest.approx(raw.total, rel=1e-9, abs=1e-9)
            compared += len(a)
    return compared


def _periods(rng: random.Random, n: int) -> list[tuple[dt.datetime, dt.datetime]]:
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    out = [(NOW - dt.timedelta(days=4), NOW + dt.timedelta(hours=2)),  # everything
           (hour - dt.timedelta(hours=30), hour - dt.timedelta(hours=2)),  # whole hours only: no edges
           (hour - dt.timedelta(hours=5, minutes=20), hour - dt.timedelta(hours=5, minutes=1)),  # inside one hour
           (hour - dt.timedelta(hours=7, minutes=59), hour - dt.timedelta(hours=6, minutes=1))]  # edges, no whole hour
    for _ in range(n):
        a = NOW - dt.timedelta(seconds=rng.uniform(0, 3.2 * 86400))
        out.append((a, a + dt.timedelta(seconds=rng.uniform(1, 2 * 86400))))
    return out


def test_rollup_report_equals_raw_report(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(15)
    c, other = Client(uri), Client(uri, project="other")
    try:
        c.set_prices(cpu_hour=0.5, memory_gb_hour=0.01, gpu_hour=3.0, spot_discount=0.6, team="risk")
        recs = _records(rng, 1500)
        for i in range(0, len(recs), 300):
            c.record_usage(recs[i:i + 300])
        other.record_usage(_records(rng, 400))
        with c._backend.runtime.transaction() as ctx:  # type: ignore[attr-defined]
            raw_n = ctx.session.scalar(select(func.count()).select_from(UsageRow))
            for span in (1, 24):  # every record counted once per span, in fewer rows
                rows, rolled = ctx.session.execute(select(func.count(), func.sum(UsageRollupRow.records))
                                                   .where(UsageRollupRow.span_hours == span)).one()
                assert int(rolled) == raw_n == 1900 and rows < raw_n
        periods = _periods(rng, 10)
        assert _assert_same(c, monkeypatch, periods) > 50
        assert _assert_same(other, monkeypatch, periods[:3], all_projects=False)

        # a price change applies to both alike (the rollup holds quantities, not money)
        c.set_prices(cpu_hour=2.0, memory_gb_hour=0.2, spot_discount=0.1, task_cpus=4)
        c.record_usage(_records(rng, 200))  # tasks without a request now reserve 4 cores
        _assert_same(c, monkeypatch, periods[:4])

        # records deleted (and written) around the service: a rebuild of their hours makes the rollup right again
        h = NOW.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=10)
        with c._backend.runtime.transaction() as ctx:  # type: ignore[attr-defined]
            gone = ctx.session.execute(delete(UsageRow).where(UsageRow.ended_at >= h + dt.timedelta(minutes=10),
                                                              UsageRow.ended_at < h + dt.timedelta(minutes=70)))
            assert gone.rowcount > 0
            rollup.rebuild(ctx.session, since=h + dt.timedelta(minutes=10), until=h + dt.timedelta(minutes=70))
        _assert_same(c, monkeypatch, periods[:4] + [(h - dt.timedelta(hours=3), h + dt.timedelta(hours=3))])
    finally:
        c.close()
        other.close()


def test_gc_deleting_runs_keeps_reports_in_step(uri: str, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    c = Client(uri, artifact_root=str(tmp_path / "art"))
    try:
        exp = c.ensure_experiment("rollup-gc")
        old = c.create_run(exp.id, "old")
        from mainsail.tracking.ops import ops as tracking_ops

        end = NOW - dt.timedelta(days=2)
        c.call(tracking_ops.update_run, run_id=old.id, body={"status": "finished", "end_time": end})
        c.record_usage(_records(random.Random(3), 300))
        c.set_retention(runs_days=1)
        before = c.cost_report("project", since=NOW - dt.timedelta(days=4), until=NOW + dt.timedelta(hours=2))
        assert c.gc(dry_run=False, grace_hours=0).runs_deleted == [old.id]
        after = c.cost_report("project", since=NOW - dt.timedelta(days=4), until=NOW + dt.timedelta(hours=2))
        assert after.total == pytest.approx(before.total)  # the cost it ran up stays on the books
        _assert_same(c, monkeypatch, _periods(random.Random(4), 3), all_projects=False)
    finally:
        c.close()


def test_migration_backfills_the_rollup_from_existing_records(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from alembic import command

    from mainsail.core.migrate import _config, migration_connection, upgrade_to

    c = Client(uri)
    try:
        c.record_usage(_records(random.Random(7), 500))
        expected = {by: _lines(c.cost_report(by, since=NOW - dt.timedelta(days=4), until=NOW)) for by in KEYS}
        runtime = c._backend.runtime  # type: ignore[attr-defined]
        with migration_connection(runtime.write_engine) as conn:  # back to before the rollup, and up again
            command.downgrade(_config(conn), "0013_costs_rollup_costs2@-1")
            conn.commit()
        upgrade_to(runtime.write_engine, {"0013_costs_rollup_costs2"})
        for by in KEYS:
            got = _lines(c.cost_report(by, since=NOW - dt.timedelta(days=4), until=NOW))
            assert got.keys() == expected[by].keys()
            for k in got:
                assert got[k] == pytest.approx(expected[by][k], rel=1e-9), (by, k)
        _assert_same(c, monkeypatch, _periods(random.Random(8), 4), all_projects=False)
    finally:
        c.close()
