"""The data-layer contract: the same behaviour embedded (sqlite), on postgres and over http."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mainsail import Client
from mainsail.core.errors import InvalidInput, NotFound
from mainsail.data.suites import Suite, allowed_values, in_range, not_null, row_count, unique


@pytest.fixture
def client(backend: str):
    c = Client(backend)
    yield c
    c.close()


def frame(n: int = 500, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(n),
        "x": rng.normal(10 + shift, 2, n),
        "plan": rng.choice(["basic", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
        "ts": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 86400 * 30, n), unit="s"),
    })


def test_ingest_versions_dedup_and_lookup(client: Client, backend: str) -> None:
    df = frame()
    v1 = client.ingest_dataset(df, "sales", description="first")
    assert v1.source == {"kind": "pandas"} and v1.description == "first"
    assert bool(v1.created_by) is not backend.startswith("http")  # in-process: the OS user; remote: the actor
    assert v1.number == 1 and v1.row_count == 500 and not v1.deduplicated and v1.has_profile
    assert v1.id == v1.digest[:16] and v1.ref == f"sales@{v1.id}"
    assert [c.name for c in v1.columns] == ["id", "x", "plan", "ts"]
    assert {c.name: c.type for c in v1.columns}["plan"] == "string"
    again = client.ingest_dataset(pa.Table.from_pandas(df, preserve_index=False), "sales")  # same rows, as Arrow
    assert again.id == v1.id and again.deduplicated and again.number == 1
    v2 = client.ingest_dataset(frame(seed=1), "sales")
    assert v2.number == 2 and v2.id != v1.id
    assert [v.id for v in client.list_dataset_versions("sales").items] == [v2.id, v1.id]
    ds = client.get_dataset("sales")
    assert ds.version_count == 2 and ds.latest_version == v2.id
    assert client.get_dataset_version("sales").id == v2.id
    assert client.get_dataset_version(f"sales@{v1.id[:6]}").id == v1.id
    assert client.get_dataset_version("sales", v1.digest).id == v1.id
    other = client.ingest_dataset(df, "sales-copy")  # same bytes in another dataset: same id, one object
    assert other.id == v1.id and other.digest == v1.digest
    assert [d.name for d in client.iter_datasets()] == ["sales", "sales-copy"]
    with pytest.raises(NotFound):
        client.get_dataset_version("sales", "abcdef")
    with pytest.raises(NotFound):
        client.get_dataset("nope")
    with pytest.raises(InvalidInput) as ei:
        client.get_dataset_version("sales", "not-hex!")
    assert ei.value.errors[0]["loc"][-1] == "version"


def test_load_pushes_down_columns_rows_and_limit(client: Client, backend: str) -> None:
    client.ingest_dataset(frame(), "sales")
    part = client.load_dataset("sales", columns=["id", "plan"], where="plan = 'team' AND id < 200")
    assert list(part.columns) == ["id", "plan"] and set(part["plan"]) == {"team"} and part["id"].max() < 200
    table = client.load_dataset("sales", as_="arrow", columns=["x"], limit=7)
    assert isinstance(table, pa.Table) and table.num_rows == 7 and table.column_names == ["x"]
    rel = client.load_dataset("sales", as_="duckdb", where="x > 10")
    (n,) = rel.aggregate("count(*)").fetchall()[0]
    assert n == int((frame()["x"] > 10).sum())
    with pytest.raises(InvalidInput) as ei:
        client.load_dataset("sales", columns=["id", "nope"])
    assert ei.value.errors[0]["loc"] == ["columns", "nope"]
    with pytest.raises(InvalidInput) as ei:
        client.load_dataset("sales", where="nope > 1")
    assert ei.value.code == "invalid_filter" and "nope" in ei.value.detail
    if backend.startswith("http"):  # only the selections travelled, and a filter cannot read the server's files
        cache = Path(os.environ["MAINSAIL_HOME"]) / "cache"
        assert not cache.exists() or not any(cache.iterdir())
        with pytest.raises(InvalidInput) as ei:
            client.load_dataset("sales", where="(SELECT count(*) FROM read_csv('/etc/passwd')) > 0")
        assert ei.value.code == "invalid_filter" and "disabled" in ei.value.detail
    df = client.load_dataset("sales")
    assert df.shape == (500, 4) and df["id"].tolist() == list(range(500))


def test_profile_is_stored_with_the_version(client: Client) -> None:
    df = frame()
    df.loc[::10, "x"] = np.nan
    v = client.ingest_dataset(df, "sales", profile=False)
    assert not v.has_profile
    p = client.profile_dataset("sales")
    assert client.get_dataset_version("sales").has_profile
    x = p.column("x")
    assert x is not None and x.kind == "numeric" and x.nulls == 50 and x.count == 450
    valid = df["x"].dropna()
    assert x.mean == pytest.approx(valid.mean()) and x.std == pytest.approx(valid.std())
    assert x.min == pytest.approx(valid.min()) and x.max == pytest.approx(valid.max())
    assert x.quantiles["p50"] == pytest.approx(valid.median())
    assert x.histogram is not None and sum(x.histogram.counts) == 450 and len(x.histogram.edges) == 21
    plan = p.column("plan")
    assert plan is not None and plan.distinct == 3 and plan.top_values[0].value == "basic"
    assert sum(t.count for t in plan.top_values) == 500
    ts = p.column("ts")
    assert ts is not None and ts.kind == "temporal" and ts.min.startswith("2026-01")
    assert p.row_count == 500 and p.version == v.id


def test_validate_reports_failures_with_rows_and_emits_event(client: Client, backend: str) -> None:
    df = frame()
    df.loc[[3, 7], "plan"] = "enterprise"
    df.loc[5, "id"] = 4  # duplicate id
    client.ingest_dataset(df, "sales")
    suite = Suite.of("basic", row_count(min=100, max=1000), not_null("id"), unique("id"),
                     in_range("x", 0, 100), allowed_values("plan", ["basic", "pro", "team"]))
    res = client.validate_dataset("sales", suite)
    assert not res.passed and res.row_count == 500
    by = {c.name: c for c in res.checks}
    assert by["row_count"].passed and by["not_null(id)"].passed and by["range(x)"].passed
    assert not by["unique(id)"].passed and by["unique(id)"].failing_count == 1
    assert [r.row for r in by["unique(id)"].failing_rows] == [4, 5]
    bad = by["allowed_values(plan)"]
    assert bad.failing_count == 2 and [(r.row, r.column, r.value) for r in bad.failing_rows] == [
        (3, "plan", "enterprise"), (7, "plan", "enterprise")]
    stored = client.list_dataset_validations("sales")
    assert [r.id for r in stored] == [res.id] and stored[0].checks == res.checks
    [validated] = [a for a in client.activity("dataset", "sales").items if a.type == "dataset.validated"]
    assert validated.object.label == "sales v1"  # the feed names the version by its number
    if not backend.startswith("http"):
        from mainsail.core.events import list_events
        from mainsail.core.runtime import Runtime
        from mainsail.core.settings import Settings

        rt = Runtime.for_settings(Settings.from_env().with_uri(backend))
        with rt.transaction(write=False) as ctx:
            events = [e for e in list_events(ctx.session, limit=1000) if e.type == "dataset.validated"]
        assert len(events) == 1 and events[0].payload["passed"] is False
        assert events[0].payload["failed_checks"] == ["unique(id)", "allowed_values(plan)"]


def test_yaml_suite_freshness_regex_and_distribution(client: Client) -> None:
    base = frame()
    base["ts"] = pd.Timestamp.now(tz="UTC").tz_localize(None) - pd.to_timedelta(np.arange(500), unit="min")
    client.ingest_dataset(base, "sales")
    suite = """
name: drift
checks:
  - {type: regex, column: plan, pattern: '^[a-z]+$'}
  - {type: freshness, column: ts, max_age: 1d}
  - {type: column_type, column: x, dtype: float}
  - {type: distribution, column: x, metric: ks, threshold: 0.1}
  - {type: distribution, column: plan, metric: psi, threshold: 0.1}
"""
    first = client.validate_dataset("sales", suite)
    assert first.passed, first.checks
    assert "skipped" in first.checks[3].message
    shifted = base.copy()
    shifted["x"] = shifted["x"] + 3
    client.ingest_dataset(shifted, "sales")
    res = client.validate_dataset("sales", suite)
    by = {c.name: c for c in res.checks}
    assert not by["distribution(x)"].passed and by["distribution(x)"].observed > 0.5
    assert by["distribution(plan)"].passed and by["freshness(ts)"].passed
    with pytest.raises(InvalidInput) as ei:
        client.validate_dataset("sales", {"name": "bad", "checks": [{"type": "range", "column": "x", "min": 5,
                                                                       "max": 1}]})
    assert ei.value.errors[0]["loc"][:3] in (["suite", "checks", 0], ["body", "checks", 0])


def test_diff_between_versions(client: Client) -> None:
    a = frame()
    v1 = client.ingest_dataset(a, "sales")
    b = frame(n=600, seed=3, shift=5.0).drop(columns=["ts"])
    b["id"] = b["id"].astype("float64")
    b["extra"] = "y"
    v2 = client.ingest_dataset(b, "sales")
    d = client.diff_dataset_versions("sales", v1.id, v2.id)
    assert d.row_count_change == 100 and not d.same_data
    assert [c.name for c in d.added] == ["extra"] and [c.name for c in d.removed] == ["ts"]
    assert [(t.column, t.base_type, t.other_type) for t in d.retyped] == [("id", "int64", "double")]
    x = next(s for s in d.shifts if s.column == "x")
    assert x.mean_change == pytest.approx(5.0, abs=0.5) and x.ks > 0.5 and x.psi > 1
    plan = next(s for s in d.shifts if s.column == "plan")
    assert plan.psi is not None and plan.psi < 0.1 and {t.value for t in plan.top_values} == {"basic", "pro", "team"}
    same = client.diff_dataset_versions("sales", v1.id, v1.id)
    assert same.same_data and all(s.ks == 0 for s in same.shifts if s.ks is not None)


def test_bad_input_is_clear(client: Client) -> None:
    with pytest.raises(InvalidInput) as ei:
        client.ingest_dataset(frame(), "bad name!")
    assert ei.value.errors[0]["loc"][-1] == "name"
    with pytest.raises(InvalidInput) as ei:
        client.ingest_dataset(frame(), "s", schema={"plan": "int64"})
    assert "plan" in ei.value.detail and "string" in ei.value.detail and "int64" in ei.value.detail
    with pytest.raises(InvalidInput) as ei:
        client.ingest_dataset(frame(), "s", schema={"nope": "int64"})
    assert ei.value.errors[0]["loc"] == ["schema", "nope"]
    with pytest.raises(NotFound):
        client.profile_dataset("missing")
    client.ingest_dataset(frame(), "s")
    res = client.validate_dataset("s", Suite.of("cols", not_null("nope")))
    assert not res.passed and "not in the dataset" in res.checks[0].message
    with pytest.raises(InvalidInput) as ei:
        client.validate_dataset("s", Suite.of("types", in_range("plan", 1, 2)))
    assert ei.value.errors[0]["loc"][:2] == ["checks", 0]
    assert client.get_dataset("s").version_count == 1


def test_first_use_of_an_s3_store_and_timestamps_with_zone(tmp_path, s3_artifact_root: str) -> None:
    c = Client(f"sqlite:///{tmp_path / 'meta.db'}", artifact_root=s3_artifact_root)
    df = frame()
    df["ts"] = df["ts"].dt.tz_localize("UTC")
    v = c.ingest_dataset(df, "sales")
    ts_type = {x.name: x.type for x in v.columns}["ts"]
    assert v.row_count == 500 and ts_type.startswith("timestamp[") and "tz=UTC" in ts_type
    got = c.load_dataset("sales", columns=["id", "ts"], where="id >= 490")
    assert got["id"].tolist() == list(range(490, 500))
    assert got["ts"].iloc[0] == df["ts"].iloc[490]
    assert c.load_dataset("sales", as_="arrow", columns=["plan"], limit=3).num_rows == 3
    assert c.validate_dataset("sales", Suite.of("s", unique("id"))).passed
    assert c.profile_dataset("sales").column("ts").min.startswith("2026-01-01")  # type: ignore[union-attr]
    assert isinstance(dt.datetime.fromisoformat(c.profile_dataset("sales").column("ts").max), dt.datetime)  # type: ignore[union-attr, arg-type]
