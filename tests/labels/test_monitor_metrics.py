"""A monitor that asks for metrics stores the deployment's measured and CBPE-estimated performance per
window beside drift and quality."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pyarrow as pa
import pytest
from _labels_support import typed_file

from mainsail import Client
from mainsail.core.errors import InvalidInput


def _logs(client: Client, at: float, prefix: str, y: np.ndarray, p1: np.ndarray) -> None:
    n = len(y)
    rng = np.random.default_rng(n)
    table = pa.table({"request_id": [f"{prefix}{i}" for i in range(n)], "row": pa.array([0] * n, pa.int32()),
                      "time": pa.array([int(at * 1e6)] * n, pa.timestamp("us", tz="UTC")),
                      "deployment": ["api"] * n, "variant": ["primary"] * n, "model": ["churn"] * n,
                      "version": pa.array([1] * n, pa.int32()), "latency_ms": [1.0] * n, "shadow": [False] * n,
                      "status": pa.array([200] * n, pa.int16()), "tenure": rng.integers(1, 72, n).astype(float),
                      "charges": rng.normal(60, 20, n), "calls": rng.poisson(2, n).astype(float),
                      "prediction": (p1 >= 0.5).astype(np.int64), "proba_0": 1 - p1, "proba_1": p1})
    when = dt.datetime.fromtimestamp(at, dt.UTC)
    client.add_inference_log("api", typed_file(table), rows=n, first_at=when, last_at=when, replica="t")


def test_monitor_stores_measured_and_estimated_accuracy(churn: Client) -> None:
    churn.create_deployment("api", "models:/churn@champion")
    rng = np.random.default_rng(0)
    hour = int(time.time() // 3600) * 3600 - 3600  # the last complete hour
    for at, prefix in ((hour - 3600 + 60, "ref"), (hour + 60, "cur")):
        p1 = rng.uniform(0, 1, 400)
        y = (rng.uniform(0, 1, 400) < p1).astype(int)  # calibrated probabilities
        _logs(churn, at, prefix, y, p1)
        churn.push_labels("api", {f"{prefix}{i}": int(v) for i, v in enumerate(y)})
    start = dt.datetime.fromtimestamp(hour, dt.UTC)
    churn.create_monitor("api-quality", deployment="api", every="1h", metrics=["accuracy"],
                         reference={"kind": "window", "start": start - dt.timedelta(hours=1), "end": start})
    churn.run_monitor("api-quality", start=start, end=start + dt.timedelta(hours=1))
    measured = churn.monitor_results("api-quality", kind="performance")
    estimated = churn.monitor_results("api-quality", kind="estimated_performance")
    assert [(r.test, r.estimated) for r in measured] == [("accuracy", False)]
    assert [(r.test, r.estimated) for r in estimated] == [("accuracy", True)]
    assert 0.6 < measured[0].value < 0.9 and abs(estimated[0].value - measured[0].value) < 0.1
    assert churn.monitor_results("api-quality", kind="drift")  # beside drift, in the same run


def test_prediction_is_not_an_input_feature(churn: Client) -> None:
    churn.create_deployment("api", "models:/churn@champion")
    with pytest.raises(InvalidInput, match="prediction"):
        churn.create_monitor("bad", deployment="api", features=["prediction"])
