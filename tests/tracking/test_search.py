"""The run-search filter and order-by language, run against real SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import mainsail.tracking.models  # noqa: F401  (registers the tables)
from mainsail.core.db import Base, make_engine
from mainsail.core.errors import InvalidInput
from mainsail.tracking.models import ExperimentRow, LatestMetricRow, ParamRow, RunRow, TagRow
from mainsail.tracking.search import apply_order_by, compile_filter, compile_order_by

UTC = dt.UTC
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)

# id: (experiment, name, status, start, end, parent, created_by, params, tags, metrics)
RUNS = {
    "r1": ("e1", "alpha", "finished", T0, T0 + dt.timedelta(hours=1), None, "alice",
           {"model": "rf", "depth": "5", "lr": "0.01", "learning rate": "0.5"},
           {"team": "vision", "release note": "v1", "path": "a/b"},
           {"auc": 0.9, "f1 score": 0.8, "loss": 0.3, "val/acc": 0.95}),
    "r2": ("e1", "beta", "finished", T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=1, hours=2), None, "bob",
           {"model": "xgb", "depth": "10", "lr": "0.1"}, {"team": "nlp"}, {"auc": 0.7, "loss": 0.5}),
    "r3": ("e1", "Gamma", "running", T0 + dt.timedelta(days=2), None, "r1", "alice",
           {"model": "rf", "depth": "deep"}, {"team": "Vision"}, {"auc": 0.85}),
    "r4": ("e2", "delta_50%", "failed", T0 + dt.timedelta(days=3, hours=12), T0 + dt.timedelta(days=4), None,
           None, {"model": "lr", "depth": "-2.5e1"}, {}, {"loss": 0.2}),
    "r5": ("e2", "eps'ilon", "killed", T0 + dt.timedelta(days=4), T0 + dt.timedelta(days=5), None, "carol",
           {}, {}, {}),
}
ALL = set(RUNS)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database (SQLite file, or a fresh PostgreSQL schema) holding the five runs above."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 'm.db'}"
    eng = make_engine(url)
    Base.metadata.create_all(eng)
    with Session(eng) as s:
        s.add_all([ExperimentRow(id=e, name=e, tags={}, lifecycle="active", created_at=T0, updated_at=T0)
                   for e in ("e1", "e2")])
        s.flush()
        for rid, (exp, name, status, start, end, parent, by, params, tags, metrics) in RUNS.items():
            s.add(RunRow(id=rid, experiment_id=exp, name=name, status=status, start_time=start, end_time=end,
                         parent_run_id=parent, created_by=by, lifecycle="active"))
            s.flush()
            s.add_all([ParamRow(run_id=rid, key=k, value=v) for k, v in params.items()])
            s.add_all([TagRow(run_id=rid, key=k, value=v) for k, v in tags.items()])
            s.add_all([LatestMetricRow(run_id=rid, key=k, value=v, step=3, timestamp=0.0)
                       for k, v in metrics.items()])
        s.commit()
    yield eng
    eng.dispose()


def run_ids(engine: Engine, text: str | None = None, order_by: list[str] | None = None) -> list[str]:
    q = select(RunRow.id)
    clause = compile_filter(text)
    if clause is not None:
        q = q.where(clause)
    with Session(engine) as s:
        return list(s.scalars(apply_order_by(q, order_by)))


FILTERS: list[tuple[str, set[str]]] = [
    # metrics: every comparator
    ("metrics.auc > 0.8", {"r1", "r3"}),
    ("metrics.auc >= 0.85", {"r1", "r3"}),
    ("metrics.auc < 0.85", {"r2"}),
    ("metrics.auc <= 0.85", {"r2", "r3"}),
    ("metrics.auc = 0.7", {"r2"}),
    ("metrics.auc == 0.7", {"r2"}),
    ("metrics.auc != 0.7", {"r1", "r3"}),
    ("metrics.auc <> 0.7", {"r1", "r3"}),
    ("metrics.loss>-1", {"r1", "r2", "r4"}),
    ("metrics.loss < 3e-1", {"r4"}),
    ("metrics.loss < 1", {"r1", "r2", "r4"}),
    ("metrics.auc IN (0.7, 0.9)", {"r1", "r2"}),
    ("metrics.auc not in (0.7, 0.9)", {"r3"}),
    ("metrics.auc IS NULL", {"r4", "r5"}),
    ("metrics.auc is not null", {"r1", "r2", "r3"}),
    ("metrics.`f1 score` > 0.5", {"r1"}),
    ('metrics."f1 score" > 0.5', {"r1"}),
    ("metrics.val/acc > 0.9", {"r1"}),
    ("metrics.nope > 0", set()),
    # params: text comparisons, numbers as written, numeric ordering
    ("params.model = 'rf'", {"r1", "r3"}),
    ('params.model = "rf"', {"r1", "r3"}),
    ("params.model != 'rf'", {"r2", "r4"}),
    ("params.model LIKE 'x%'", {"r2"}),
    ("params.model NOT LIKE 'r%'", {"r2", "r4"}),
    ("params.model ILIKE 'RF'", {"r1", "r3"}),
    ("params.model IN ('rf', 'lr')", {"r1", "r3", "r4"}),
    ("params.model NOT IN ('rf', 'lr')", {"r2"}),
    ("params.depth = 5", {"r1"}),
    ("params.depth > 6", {"r2"}),
    ("params.depth < 6", {"r1", "r4"}),
    ("params.depth >= -25", {"r1", "r2", "r4"}),
    ("params.depth > '5'", {"r3"}),  # a string literal compares as text
    ("params.lr < 0.05", {"r1"}),
    ("params.lr = 0.01", {"r1"}),
    ("params.depth IS NULL", {"r5"}),
    ("params.lr is null", {"r3", "r4", "r5"}),
    ("params.lr IS NOT NULL", {"r1", "r2"}),
    ("params.`learning rate` = 0.5", {"r1"}),
    ("params.\"learning rate\" = '0.5'", {"r1"}),
    # tags
    ("tags.team = 'vision'", {"r1"}),
    ("tags.team ILIKE 'vision'", {"r1", "r3"}),
    ("tags.`release note` = 'v1'", {"r1"}),
    ("tags.path = 'a/b'", {"r1"}),
    ("tags.team IS NULL", {"r4", "r5"}),
    # attributes
    ("status = 'finished'", {"r1", "r2"}),
    ("STATUS = 'FINISHED'", {"r1", "r2"}),
    ("attributes.status != 'running'", {"r1", "r2", "r4", "r5"}),
    ("attr.status IN ('failed', 'killed')", {"r4", "r5"}),
    ("run.name = 'beta'", {"r2"}),
    ("run_name = 'beta'", {"r2"}),
    ("name ILIKE 'g%'", {"r3"}),
    ("name LIKE 'G%'", {"r3"}),
    ("name LIKE 'delta\\\\_50\\\\%'", {"r4"}),
    ("name = 'eps''ilon'", {"r5"}),
    ("name = 'eps\\'ilon'", {"r5"}),
    ("name = \"eps'ilon\"", {"r5"}),
    ("id = 'r2'", {"r2"}),
    ("run_id IN ('r1', 'r5')", {"r1", "r5"}),
    ("experiment_id = 'e2'", {"r4", "r5"}),
    ("parent_run_id = 'r1'", {"r3"}),
    ("parent_run_id IS NULL", ALL - {"r3"}),
    ("parent_run_id != 'r1'", set()),
    ("not parent_run_id = 'r1'", ALL - {"r3"}),
    ("not created_by = 'bob'", ALL - {"r2"}),
    ("not end_time < '2024-01-02'", ALL - {"r1"}),
    ("parent_run_id IS NOT NULL", {"r3"}),
    ("created_by IS NULL", {"r4"}),
    ("end_time IS NULL", {"r3"}),
    ("start_time > '2024-01-03'", {"r4", "r5"}),
    ("start_time >= '2024-01-03T00:00:00Z'", {"r3", "r4", "r5"}),
    ("start_time < '2024-01-02T01:00:00+01:00'", {"r1"}),
    ("start_time <= 1704153600000", {"r1", "r2"}),
    ("start_time = '2024-01-04T12:00:00'", {"r4"}),
    ("end_time < '2024-01-02 00:00'", {"r1"}),
    # boolean structure and precedence (not > and > or)
    ("metrics.auc > 0.8 and params.model = 'rf'", {"r1", "r3"}),
    ("metrics.auc > 0.8 and tags.team = 'vision'", {"r1"}),
    ("params.model = 'xgb' or metrics.loss < 0.25", {"r2", "r4"}),
    ("status = 'killed' or status = 'running' and created_by = 'bob'", {"r5"}),
    ("(status = 'killed' or status = 'running') and created_by = 'alice'", {"r3"}),
    ("not status = 'finished' and name = 'Gamma'", {"r3"}),
    ("not (status = 'finished' and name = 'alpha')", ALL - {"r1"}),
    ("not (metrics.auc > 0.8 or params.model = 'xgb')", {"r4", "r5"}),
    ("NOT metrics.auc IS NULL", {"r1", "r2", "r3"}),
    ("metrics.auc > 0.8 AND params.model = 'rf' OR tags.team = 'nlp'", {"r1", "r2", "r3"}),
    ("params.model in ('rf') And Not tags.team Is Null", {"r1", "r3"}),
    ("((metrics.auc > 0.8))", {"r1", "r3"}),
    ("\n  metrics.auc > 0.8\n  and status = 'running'  ", {"r3"}),
]


@pytest.mark.parametrize(("text", "expected"), FILTERS, ids=[f for f, _ in FILTERS])
def test_filter(engine: Engine, text: str, expected: set[str]) -> None:
    assert set(run_ids(engine, text)) == expected


ORDERS: list[tuple[list[str] | None, list[str]]] = [
    (None, ["r5", "r4", "r3", "r2", "r1"]),
    ([], ["r5", "r4", "r3", "r2", "r1"]),
    (["metrics.auc DESC"], ["r1", "r3", "r2", "r4", "r5"]),
    (["metrics.auc"], ["r2", "r3", "r1", "r4", "r5"]),
    (["metrics.`f1 score` desc"], ["r1", "r2", "r3", "r4", "r5"]),
    (["params.model"], ["r4", "r1", "r3", "r2", "r5"]),
    (["params.model desc", "metrics.auc desc"], ["r2", "r1", "r3", "r4", "r5"]),
    (["params.model desc, metrics.auc asc"], ["r2", "r3", "r1", "r4", "r5"]),
    (["tags.`release note` DESC"], ["r1", "r2", "r3", "r4", "r5"]),
    (["start_time"], ["r1", "r2", "r3", "r4", "r5"]),
    (["attributes.start_time desc"], ["r5", "r4", "r3", "r2", "r1"]),
    (["created_by desc"], ["r5", "r2", "r1", "r3", "r4"]),
    (["created_by asc"], ["r1", "r3", "r2", "r5", "r4"]),
    (["status asc", "start_time desc"], ["r4", "r2", "r1", "r5", "r3"]),
    (["end_time DESC"], ["r5", "r4", "r2", "r1", "r3"]),
]


@pytest.mark.parametrize(("items", "expected"), ORDERS, ids=[repr(o) for o, _ in ORDERS])
def test_order_by(engine: Engine, items: list[str] | None, expected: list[str]) -> None:
    assert run_ids(engine, order_by=items) == expected


def test_filter_and_order_by_together(engine: Engine) -> None:
    assert run_ids(engine, "experiment_id = 'e1' or metrics.loss < 1", ["metrics.loss desc"]) == \
        ["r2", "r1", "r4", "r3"]


def test_blank_filter_is_none() -> None:
    assert compile_filter(None) is None
    assert compile_filter("   ") is None


def test_order_by_is_total() -> None:
    assert [str(e) for e in compile_order_by(["name"])][-1] == str(RunRow.id.asc())


ERRORS = [
    ("metrics.auc >", 14, "expected a value after '>'"),
    ("metrics.auc > 0.8 and", 22, "expected a field such as metrics.<key>"),
    ("params.model = 'rf", 16, "unterminated quoted text"),
    ("metrics.`f1 score > 1", 9, "unterminated quoted text"),
    ("foo.bar = 1", 1, "unknown field 'foo.bar'"),
    ("metric.x > 1", 1, "unknown field 'metric.x'"),
    ("bogus = 1", 1, "unknown attribute 'bogus'; valid attributes: status, name"),
    ("attributes.nope = 1", 1, "unknown attribute 'attributes.nope'"),
    ("metrics.auc = 'x'", 15, "metrics.auc is a metric and compares only to numbers"),
    ("metrics.auc LIKE 'x%'", 18, "compares only to numbers"),
    ("metrics.auc IN (1, 'x')", 20, "compares only to numbers"),
    ("start_time > 'yesterday'", 14, "ISO-8601"),
    ("start_time LIKE '2024%'", 1, "cannot be used with LIKE"),
    ("end_time > 1e300", 12, "epoch milliseconds"),
    ("(metrics.auc > 1", 17, "expected AND, OR or ')' after '1'"),
    ("metrics.auc > 0.8 )", 19, "unexpected ')': expected AND, OR or end of input"),
    ("metrics.auc 0.8", 13, "unexpected '0.8': expected a comparison operator"),
    ("metrics.auc > 1 # x", 17, "unexpected '#'"),
    ("status IS", 10, "expected NOT or NULL after 'IS'"),
    ("name NOT 'x'", 10, "expected LIKE or IN after 'NOT'"),
    ("metrics.auc IN ()", 17, "unexpected ')': expected a value after '('"),
    ("and status = 'x'", 1, "unexpected 'and'"),
    ("name LIKE 'a\\\\'", 11, "lone escape character"),
]


@pytest.mark.parametrize(("text", "col", "message"), ERRORS, ids=[t for t, _, _ in ERRORS])
def test_filter_errors(text: str, col: int, message: str) -> None:
    with pytest.raises(InvalidInput) as ei:
        compile_filter(text)
    err = ei.value
    first, shown, caret = err.detail.split("\n")
    assert first.startswith(f"invalid filter at column {col}: ")
    assert message in first
    assert shown == "  " + text and caret == "  " + " " * (col - 1) + "^"
    assert err.code == "invalid_filter"
    assert err.errors == [{"loc": ["filter"], "msg": first, "type": "filter_syntax", "pos": col}]


def test_error_position_on_a_later_line() -> None:
    with pytest.raises(InvalidInput) as ei:
        compile_filter("metrics.auc > 0.8\nand params.x ~ 1")
    assert ei.value.detail.split("\n")[1:] == ["  and params.x ~ 1", "  " + " " * 13 + "^"]
    assert ei.value.errors[0]["pos"] == 14


@pytest.mark.parametrize(("items", "message"), [
    (["metrics.auc sideways"], "invalid order_by item 'metrics.auc sideways' at column 13: unexpected 'sideways'"),
    (["name", "foo.x"], "invalid order_by item 'foo.x' at column 1: unknown field 'foo.x'"),
    (["name,"], "invalid order_by item 'name,' at column 6: expected a field"),
    (["bogus desc"], "unknown attribute 'bogus'"),
    (["metrics.auc > 1"], "unexpected '>'"),
])
def test_order_by_errors(items: list[str], message: str) -> None:
    with pytest.raises(InvalidInput) as ei:
        compile_order_by(items)
    assert message in str(ei.value)
    assert ei.value.code == "invalid_order_by"
    assert ei.value.errors[0]["loc"] == ["order_by", len(items) - 1]
