"""Labels over sqlite, postgres and http: pushes (inline, pairs, DataFrame, dataset version), upserts,
unknown request ids reported, bad input named; performance per window and variant from real logs."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest
from _labels_support import typed_file, write_logs
from sklearn.metrics import accuracy_score, f1_score

from mainsail import Client
from mainsail.core.errors import InvalidInput, NotFound


@pytest.fixture
def api(churn: Client) -> Client:
    churn.create_deployment("api", [{"name": "a", "model": "models:/churn@champion", "weight": 50},
                                    {"name": "b", "model": "models:/churn/2", "weight": 50}])
    return churn


def test_push_upserts_and_reports_unknown_request_ids(api: Client) -> None:
    write_logs(api, "api", [(f"r{i}", "a", i % 2) for i in range(10)])
    res = api.push_labels("api", {"r0": 0, "r1": 1, "r2": 1, "ghost-1": 0, "ghost-2": 1})
    assert (res.received, res.inserted, res.updated, res.unknown) == (5, 5, 0, 2)
    assert sorted(res.unknown_sample) == ["ghost-1", "ghost-2"]
    res = api.push_labels("api", [("r2", 0), ("r3", 1)])  # r2 corrected, r3 new
    assert (res.inserted, res.updated, res.unknown) == (1, 1, 0)
    report = api.get_performance("api")
    assert report.labels == 6 and report.unmatched_labels == 2
    acc = {r.variant: r for r in report.results if r.test == "accuracy"}
    # a: r0 (pred 0, label 0), r1 (1, 1), r2 (0, 0), r3 (1, 1) -> 1.0 on 4 labeled of 10 rows
    assert acc["a"].value == 1.0 and (acc["a"].rows, acc["a"].labeled) == (10, 4) and not acc["a"].estimated
    assert acc["a"].status == "ok" and acc["a"].kind == "performance"


def test_performance_per_window_and_variant_equals_sklearn(api: Client) -> None:
    rng = np.random.default_rng(0)
    now = time.time()
    start = dt.datetime.fromtimestamp(now - 7200, dt.UTC)
    truth, rows_by = {}, {0: [], 1: []}
    for w in (0, 1):  # two one-hour windows
        rows = []
        for i in range(300):
            rid, v = f"w{w}-{i}", "ab"[i % 2]
            y = int(rng.integers(0, 2))
            pred = y if rng.random() < (0.9 if v == "a" else 0.6) else 1 - y
            rows.append((rid, v, pred))
            truth[rid] = y
        write_logs(api, "api", rows, at=now - 7200 + w * 3600 + 60)
        rows_by[w] = rows
    frame = pd.DataFrame({"request_id": list(truth), "label": list(truth.values())})
    assert api.push_labels("api", frame).inserted == 600
    report = api.get_performance("api", start=start, end=start + dt.timedelta(hours=2), window="1h")
    assert report.task == "classification" and report.window_seconds == 3600
    got = {(r.window_start, r.variant, r.test): r.value for r in report.results}
    for w in (0, 1):
        w0 = start + dt.timedelta(hours=w)
        for v in "ab":
            ys = [(truth[rid], p) for rid, var, p in rows_by[w] if var == v]
            yt, yp = zip(*ys, strict=True)
            assert got[(w0, v, "accuracy")] == pytest.approx(accuracy_score(yt, yp))
            assert got[(w0, v, "f1")] == pytest.approx(f1_score(yt, yp))
    only_b = api.get_performance("api", start=start, variant="b")
    assert {r.variant for r in only_b.results} == {"b"}


def test_multi_record_requests_regression_and_empty_windows(churn: Client) -> None:
    churn.create_deployment("reg", "models:/churn@champion")
    write_logs(churn, "reg", [("q1", "primary", [1.5, 2.0, 3.0]), ("q2", "primary", 4.0)])
    res = churn.push_labels("reg", {"q1#0": 1.0, "q1#1": 2.5, "q1#2": 3.0, "q2": 5.0, "q1": 9.0})
    assert res.unknown == 1 and res.unknown_sample == ["q1"]  # q1 had three records: q1#0..q1#2
    rep = churn.get_performance("reg", task="regression")
    got = {r.test: r.value for r in rep.results}
    err = np.array([0.5, -0.5, 0.0, -1.0])
    assert got["mae"] == pytest.approx(np.abs(err).mean()) and got["rmse"] == pytest.approx(np.sqrt((err ** 2).mean()))
    _typed_multi_record(churn)
    churn.create_deployment("quiet", "models:/churn@champion")
    empty = churn.get_performance("quiet", window="6h")
    assert len({r.window_start for r in empty.results}) == 4
    assert all(r.status == "insufficient_data" and r.value is None for r in empty.results)


def test_labels_from_a_dataset_version(api: Client, tmp_path) -> None:
    write_logs(api, "api", [("d1", "a", "yes"), ("d2", "a", "no"), ("d3", "b", "yes")])
    path = tmp_path / "truth.parquet"
    pd.DataFrame({"rid": ["d1", "d2", "d3"], "outcome": ["yes", "yes", "yes"]}).to_parquet(path)
    api.ingest_dataset(str(path), "truth")
    res = api.push_labels("api", dataset="truth", request_id_column="rid", label_column="outcome")
    assert (res.received, res.unknown) == (3, 0)
    acc = {r.variant: r.value for r in api.get_performance("api").results if r.test == "accuracy"}
    assert acc == {"a": 0.5, "b": 1.0}
    with pytest.raises(InvalidInput, match="no column 'label'") as ei:
        api.push_labels("api", dataset="truth", request_id_column="rid")
    assert ei.value.errors[0]["loc"] == ["body", "label_column"]


def test_bad_input_is_named_and_changes_nothing(api: Client) -> None:
    with pytest.raises(NotFound):
        api.push_labels("nope", {"r": 1})
    with pytest.raises(InvalidInput) as ei:
        api.push_labels("api", [{"request_id": "r1", "label": 1}, {"request_id": "r1", "label": 0}])
    assert "twice" in str(ei.value) and ei.value.errors[0]["loc"] == ["body", "labels", 1, "request_id"]
    with pytest.raises(InvalidInput) as ei:
        api.push_labels("api", [{"request_id": "", "label": 1}])
    assert ei.value.errors[0]["loc"][:4] == ["body", "labels", 0, "request_id"]
    with pytest.raises(InvalidInput):
        api.push_labels("api", [{"request_id": "r\x00", "label": 1}])
    with pytest.raises(InvalidInput):
        api.push_labels("api", [{"request_id": "r", "label": float("nan")}])
    with pytest.raises(InvalidInput, match="window"):
        api.get_performance("api", window="1s")
    with pytest.raises(InvalidInput, match="window"):
        api.get_performance("api", window="soon")
    assert api.get_performance("api").labels == 0


def _typed_multi_record(client: Client) -> None:
    """Typed log files hold one row per record (``row``): a request of two records is labeled per record."""
    import pyarrow as pa

    client.create_deployment("typed", "models:/churn@champion")
    now = dt.datetime.now(dt.UTC)
    t = pa.table({"request_id": ["t1", "t1", "t2"], "row": pa.array([0, 1, 0], pa.int32()),
                  "time": pa.array([now] * 3, pa.timestamp("us", tz="UTC")), "variant": ["primary"] * 3,
                  "status": pa.array([200] * 3, pa.int16()), "prediction": pa.array([1, 0, 1], pa.int64())})
    client.add_inference_log("typed", typed_file(t), rows=3, first_at=now, last_at=now)
    res = client.push_labels("typed", {"t1#0": 1, "t1#1": 1, "t2": 1, "t1": 0})
    assert (res.unknown, res.unknown_sample) == (1, ["t1"])
    acc = next(r for r in client.get_performance("typed").results if r.test == "accuracy")
    assert (acc.value, acc.labeled) == (pytest.approx(2 / 3), 3)
