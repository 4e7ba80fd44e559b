"""Inference logs as typed columns, the capture percentage, and reading logs (old files included)."""

from __future__ import annotations

import datetime as dt
import io
import os
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _monitoring_support import FEATURES, HOUR, last_hours, setup_monitored, write_logs
from _services import serve_in_thread

from mainsail import Client
from mainsail.core.errors import InvalidInput
from mainsail.monitoring.logs import read_logs
from mainsail.serving.inference_log import FORMAT, FORMAT_KEY, LEGACY_SCHEMA, LogSpec, build_table


def _row(rid: str, inputs: object, outputs: object, spec: LogSpec, status: int = 200, t: float = 1e9) -> tuple:
    return (rid, t, "a", "m", 1, 2.5, False, status, inputs, outputs, spec)


def test_a_file_has_one_typed_column_per_feature() -> None:
    spec = LogSpec(("tenure", "plan", "time"), ("int64", "string", "float64"),
                   proba=lambda x: np.tile([0.25, 0.75], (len(x["tenure"]) if isinstance(x, dict) else len(x), 1)),
                   classes=("no", "yes"))
    rows = [_row("r1", [{"tenure": 3, "plan": "a", "time": 1.5}, {"tenure": 4, "plan": "b", "time": 2.0}], [0, 1], spec),
            _row("r2", {"tenure": [5], "plan": ["c"], "time": [0.5]}, [1], spec),
            _row("r3", np.ones((1, 2, 2)), [[1.0, 2.0]], spec),  # not tabular: JSON text
            _row("r4", [{"tenure": 1, "plan": "a", "time": 1.0}], "model exploded", spec, status=500)]
    t = build_table("api", rows)
    assert t.schema.metadata[FORMAT_KEY] == FORMAT
    assert t.schema.field("tenure").type == pa.int64() and t.schema.field("plan").type == pa.string()
    assert "input_time" in t.column_names  # a feature named like a log column keeps its values apart
    assert t["request_id"].to_pylist() == ["r1", "r1", "r2", "r4", "r3"] and t["row"].to_pylist() == [0, 1, 0, 0, 0]
    assert t["prediction"].to_pylist()[:3] == [0, 1, 1] and t["prediction"][3].as_py() is None
    assert t["outputs"][3].as_py() == "model exploded" and t["inputs"][4].as_py() == "[[[1.0,1.0],[1.0,1.0]]]"
    assert "proba_yes" not in t.column_names  # a failed request in the batch: no probabilities guessed
    ok = build_table("api", rows[:2])
    assert ok["proba_yes"].to_pylist() == [0.75] * 3 and ok["proba_no"].to_pylist() == [0.25] * 3


def test_a_float_matrix_keeps_the_signature_types() -> None:
    spec = LogSpec(("a", "b"), ("int64", "float32"))
    x = np.array([[1.0, 0.5], [2.0, np.nan]])
    t = build_table("api", [_row("r", x, np.array([1, 0]), spec)])
    assert t.schema.field("a").type == pa.int64() and t.schema.field("b").type == pa.float32()
    assert t["a"].to_pylist() == [1, 2] and t["prediction"].to_pylist() == [1, 0]
    t2 = build_table("api", [_row("r", np.array([[np.nan, 1.0]]), [1], spec)])
    assert t2.schema.field("a").type == pa.float64()  # a missing value in an int column stays a float


@pytest.fixture
def local(tmp_path: Path) -> Client:
    c = Client(f"sqlite:///{tmp_path / 'm.db'}", artifact_root=str(tmp_path / "artifacts"))
    yield c
    c.close()


def test_read_logs_prunes_files_by_time_and_reads_old_files(local: Client, tmp_path: Path) -> None:
    ctx = setup_monitored(local, tmp_path)
    frame = ctx["frame"]
    h = last_hours(2)
    write_logs(local, "api", ctx["model"], [(h[0], frame.iloc[:100])])
    write_logs(local, "api", ctx["model"], [(h[1], frame.iloc[100:300])])
    # a file written before typed columns: one row per request, JSON text
    buf = io.BytesIO()
    t = h[1] + dt.timedelta(minutes=30)
    pq.write_table(pa.table({"request_id": ["old"], "time": pa.array([t], pa.timestamp("us", tz="UTC")),
                             "deployment": ["api"], "variant": ["primary"], "model": ["churn"],
                             "version": pa.array([1], pa.int32()), "latency_ms": [1.0], "shadow": [False],
                             "status": pa.array([200], pa.int16()),
                             "inputs": ['[{"tenure": 5.0, "charges": 2.0, "calls": 1.0}, '
                                        '{"tenure": 6.0, "charges": 3.0, "calls": 0.0}]'],
                             "outputs": ["[1, 0]"]}, schema=LEGACY_SCHEMA), buf)
    local.add_inference_log("api", buf.getvalue(), rows=1, first_at=t, last_at=t)
    rt = local._backend.runtime  # type: ignore[attr-defined]
    with rt.transaction(write=False) as c:
        everything = read_logs(c, "api")
        assert everything.num_rows == 302 and {*FEATURES, "prediction", "proba_0", "proba_1"} <= set(everything.column_names)
        old = everything.filter(pa.compute.equal(everything["request_id"], "old"))
        assert old["tenure"].to_pylist() == [5.0, 6.0] and old["prediction"].to_pylist() == [1, 0]
        second = read_logs(c, "api", start=h[1], end=h[1] + HOUR, columns=["time", "charges", "prediction"])
        assert second.column_names == ["time", "charges", "prediction"] and second.num_rows == 202
        with pytest.raises(InvalidInput, match=r"unknown column 'nope'.*known: .*charges"):
            read_logs(c, "api", columns=["charges", "nope"])
        # pruning: a file whose rows lie outside the range is never opened
        files = local.list_inference_logs("api")
        os.remove(rt.store.path(files[1].digest))
        assert read_logs(c, "api", start=h[0], end=h[0] + HOUR).num_rows == 100
        with pytest.raises(Exception):  # noqa: B017 - the removed file is needed here
            read_logs(c, "api", start=h[1], end=h[1] + HOUR)


def test_sampling_percentage_is_validated_and_stored(local: Client, tmp_path: Path) -> None:
    setup_monitored(local, tmp_path)
    assert local.get_deployment("api").sampling_percentage == 100
    for bad in (101, -1, float("nan")):
        with pytest.raises(InvalidInput, match="sampling_percentage"):
            local.set_sampling("api", bad)
    assert local.set_sampling("api", 25).sampling_percentage == 25
    with pytest.raises(InvalidInput, match="sampling_percentage"):
        local.create_deployment("x", "models:/churn/1", sampling_percentage=200)


def test_a_replica_logs_the_capture_percentage_of_requests(local: Client, tmp_path: Path) -> None:
    from mainsail.serving.app import create_replica_app
    from mainsail.serving.replica import ReplicaState

    ctx = setup_monitored(local, tmp_path)
    local.set_sampling("api", 0)
    state = ReplicaState(local, "api", poll_interval=0.2, log_interval=0.2).start()
    try:
        records = ctx["frame"][FEATURES].head(2).to_dict("records")
        with serve_in_thread(create_replica_app(state)) as url, httpx.Client(base_url=url) as http:
            for i in range(20):
                assert http.post("/predict", json={"records": records, "request_id": f"off-{i}"}).status_code == 200
            state.logger.flush()  # type: ignore[union-attr]
            assert local.list_inference_logs("api") == []  # 0 %: nothing captured
            local.set_sampling("api", 30)
            deadline = time.monotonic() + 10
            while state.capture != 0.3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sum(state.sampled() for _ in range(20_000)) == pytest.approx(6_000, rel=0.05)
            local.set_sampling("api", 100)
            while state.capture != 1.0 and time.monotonic() < deadline:
                time.sleep(0.05)
            for i in range(5):
                http.post("/predict", json={"records": records, "request_id": f"on-{i}"})
            state.logger.flush()  # type: ignore[union-attr]
    finally:
        state.stop()
    logs = local.load_inference_logs("api")
    assert sorted(set(logs["request_id"])) == [f"on-{i}" for i in range(5)] and len(logs) == 10
    assert logs["tenure"].tolist()[:2] == [r["tenure"] for r in records] and "proba_1" in logs


def test_the_request_path_only_appends() -> None:
    """``log`` keeps the request's objects as they are (one deque append); encoding waits for the flush."""
    from mainsail.serving.inference_log import InferenceLogger

    got = []
    lg = InferenceLogger("api", lambda data, rows, first, last: got.append(rows))
    spec = LogSpec(("a",), ("float64",))
    x = np.ones((1, 1))
    for i in range(20_000):
        lg.log(str(i), 1e9, "a", "m", 1, 1.0, False, 200, x, [1.0], spec)
    assert lg._rows[0][8] is x and got == []  # nothing encoded, nothing written yet
    assert lg.flush() == 20_000 and got == [20_000]
