"""Runs sorted by a metric read through the latest metrics' (key, value) index: every page is the page the
plain ORDER BY gives (runs without the metric, or with a NULL value, last; ties by the next items, then
id), on real SQLite and PostgreSQL, at every offset and with a filter."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import mainsail.tracking.models  # noqa: F401  (registers the tables)
from mainsail.core.db import Base, make_engine
from mainsail.tracking.models import ExperimentRow, LatestMetricRow, ParamRow, RunRow
from mainsail.tracking.search import apply_order_by, compile_filter, fetch_ordered

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """60 runs: auc in few distinct values (ties), some NULL, some absent; a param to filter and sort on."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 'm.db'}"
    eng = make_engine(url)
    Base.metadata.create_all(eng)
    rng = random.Random(3)
    with Session(eng) as s:
        s.add(ExperimentRow(id="e1", name="e1", tags={}, lifecycle="active", created_at=T0, updated_at=T0))
        s.flush()
        for i in range(60):
            rid = f"r{i:02d}{rng.randrange(100):02d}"
            s.add(RunRow(id=rid, experiment_id="e1", name=f"run-{i}", status="finished",
                         start_time=T0 + dt.timedelta(minutes=rng.randrange(30)), lifecycle="active"))
            s.flush()
            s.add(ParamRow(run_id=rid, key="model", value=rng.choice(["rf", "gbm", "lr"])))
            roll = rng.random()
            if roll < 0.7:
                s.add(LatestMetricRow(run_id=rid, key="auc", value=rng.choice([0.1, 0.5, 0.5, 0.9, 0.7]), step=1,
                                      timestamp=0.0))
            elif roll < 0.8:
                s.add(LatestMetricRow(run_id=rid, key="auc", value=None, step=1, timestamp=0.0))
            s.add(LatestMetricRow(run_id=rid, key="loss", value=rng.random(), step=1, timestamp=0.0))
        s.commit()
    yield eng
    eng.dispose()


@pytest.mark.parametrize("order", [["metrics.auc DESC"], ["metrics.auc"], ["metrics.auc ASC", "name DESC"],
                                   ["metrics.auc DESC, params.model, start_time"], ["metrics.nothing DESC"]])
@pytest.mark.parametrize("where", [None, "params.model != 'lr'", "metrics.loss > 0.3"])
def test_every_page_matches_the_plain_order(engine: Engine, order: list[str], where: str | None) -> None:
    base = select(RunRow).where(RunRow.experiment_id == "e1")
    clause = compile_filter(where)
    if clause is not None:
        base = base.where(clause)
    with Session(engine) as s:
        expected = [r.id for r in s.scalars(apply_order_by(base, order))]
        assert len(expected) > 10
        for size in (1, 7, 25):
            for offset in range(0, len(expected) + size, size):
                got = [r.id for r in fetch_ordered(s, base, order, offset, size)]
                assert got == expected[offset:offset + size], (order, where, offset, size)


def test_other_orders_are_unchanged(engine: Engine) -> None:
    base = select(RunRow).where(RunRow.experiment_id == "e1")
    with Session(engine) as s:
        for order in (None, ["name"], ["params.model DESC", "metrics.auc"]):
            expected = [r.id for r in s.scalars(apply_order_by(base, order))]
            assert [r.id for r in fetch_ordered(s, base, order, 0, 100)] == expected
