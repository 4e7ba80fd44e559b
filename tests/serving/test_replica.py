"""A real ``mainsail serve`` process: /predict, OIP v2 through tritonclient, metrics, hot swap,
degraded loads, inference logs, and a rollback under concurrent load that drops no request."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from _serving_support import FEATURES, ReplicaProcess, churn_data, register
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from mainsail import Client


def _models(client: Client, tmp_path: Path) -> LogisticRegression:
    x, y = churn_data()
    lr = LogisticRegression().fit(x.to_numpy(), y)
    register(client, tmp_path, lr)
    register(client, tmp_path, DummyClassifier(strategy="constant", constant=1).fit(x.to_numpy(), y))
    client.set_model_alias("churn", "champion", 1)
    return lr


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Client, LogisticRegression, str, str]]:
    uri, root = f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts")
    client = Client(uri, artifact_root=root)
    lr = _models(client, tmp_path)
    yield client, lr, uri, root
    client.close()


def _wait(cond, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_predict_oip_metrics_logs_and_hot_swap(setup, tmp_path: Path) -> None:
    client, lr, uri, root = setup
    client.create_deployment("api", [{"name": "a", "model": "models:/churn@champion"},
                                     {"name": "s", "model": "models:/churn/2", "role": "shadow"}])
    rep = ReplicaProcess(uri, "api", tmp_path, artifact_root=root).start()
    try:
        x, _ = churn_data(20)
        expected = lr.predict(x.to_numpy()).tolist()
        with httpx.Client(base_url=rep.url, timeout=10) as http:
            r = http.post("/predict", json={"records": x.to_dict("records"), "request_id": "req-1"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["predictions"] == expected and (body["variant"], body["version"]) == ("a", 1)
            assert body["request_id"] == "req-1" and r.headers["x-mainsail-variant"] == "a"
            r = http.post("/predict", json={"columns": x.to_dict("list")})
            assert r.json()["predictions"] == expected
            assert http.post("/predict", json=x.head(2).to_dict("records")).json()["predictions"] == expected[:2]

            # bad input: 422 naming the field
            bad = [({"records": [{"tenure": 1.0, "charges": 2.0}]}, ["body", "records", 0, "calls"]),
                   ({"records": [{"tenure": 1.0, "charges": "x", "calls": 1}]}, ["body", "records", 0, "charges"]),
                   ({"columns": {"tenure": [1.0], "charges": [2.0], "calls": ["a"]}}, ["body", "columns", "calls", 0]),
                   ({"rows": []}, ["body", "rows"]), ({"records": []}, ["body", "records"])]
            for payload, loc in bad:
                r = http.post("/predict", json=payload)
                assert r.status_code == 422 and r.json()["errors"][0]["loc"] == loc, (payload, r.text)
                assert r.headers["content-type"].startswith("application/problem+json")
            r = http.post("/predict", content=b"{not json")
            assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body"]

            # OIP v2 through a real client library
            import tritonclient.http as triton
            from tritonclient.utils import InferenceServerException

            tc = triton.InferenceServerClient(rep.url.removeprefix("http://"))
            assert tc.is_server_live() and tc.is_server_ready() and tc.is_model_ready("api")
            meta = tc.get_model_metadata("api")
            assert [i["name"] for i in meta["inputs"]] == FEATURES and meta["versions"] == ["1", "2"]
            for binary in (True, False):
                inputs = []
                for col in FEATURES:
                    t = triton.InferInput(col, [len(x)], "FP64")
                    t.set_data_from_numpy(x[col].to_numpy(), binary_data=binary)
                    inputs.append(t)
                res = tc.infer("api", inputs, request_id="oip-1")
                assert res.as_numpy("predict").tolist() == expected
            t = triton.InferInput("input-0", [len(x), 3], "FP32")
            t.set_data_from_numpy(x.to_numpy().astype(np.float32))
            assert tc.infer("a", [t]).as_numpy("predict").tolist() == lr.predict(
                x.to_numpy().astype(np.float32).astype(float)).tolist()
            wrong = triton.InferInput("tenur", [2], "FP64")
            wrong.set_data_from_numpy(np.array([1.0, 2.0]))
            with pytest.raises(InferenceServerException, match="tenur"):
                tc.infer("api", [wrong])
            r = http.post("/v2/models/api/infer", json={"inputs": [{"name": "tenure", "shape": [2], "datatype": "FP64",
                                                                   "data": [1, "x"]}]})
            assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "inputs", 0, "data"]
            assert http.post("/v2/models/nope/infer", json={"inputs": []}).status_code == 404

            # metrics
            text = http.get("/metrics").text
            assert 'mainsail_predictions_total{deployment="api",model="churn",project="default",variant="a",version="1"}' in text
            assert "mainsail_prediction_latency_seconds_bucket" in text and "mainsail_predictions_in_flight" in text
            assert "# TYPE mainsail_prediction_errors_total counter" in text  # model failures (5xx), by code
            assert 'mainsail_batch_size_count{deployment="api",project="default"}' in text
            assert http.get("/health").json()["status"] == "ok"

            # hot swap: moving the alias changes what answers, with no restart
            client.set_model_alias("churn", "champion", 2)
            _wait(lambda: http.post("/predict", json={"records": x.head(1).to_dict("records")}).json()["version"] == 2)
            assert http.post("/predict", json={"records": x.to_dict("records")}).json()["predictions"] == [1] * 20
        # inference logs (with the shadow's answers) reach the artifact store as Parquet
        _wait(lambda: len(client.load_inference_logs("api")) >= 6)
        logs = client.load_inference_logs("api")
        assert {"req-1", "oip-1"} <= set(logs["request_id"]) and logs["shadow"].any()
        row = logs[(logs["request_id"] == "req-1") & ~logs["shadow"]].iloc[0]
        assert row["variant"] == "a" and row["version"] == 1 and row["latency_ms"] > 0
        # typed columns: one per feature with the signature's type, the prediction, class probabilities
        assert row["row"] == 0 and isinstance(row["tenure"], float) and row["prediction"] in (0, 1)
        assert 0 <= row["proba_1"] <= 1 and abs(row["proba_0"] + row["proba_1"] - 1) < 1e-9
        assert pd.isna(row["inputs"]) and pd.isna(row["outputs"])
        assert client.get_deployment("api").replicas[0].status == "healthy"
    finally:
        rep.stop()


def test_a_model_that_fails_to_load_keeps_the_old_one_serving(setup, tmp_path: Path, monkeypatch) -> None:
    client, lr, uri, root = setup
    mod = tmp_path / "mods"
    mod.mkdir()
    (mod / "vanishing_model.py").write_text("class M:\n    def predict(self, x):\n        return [0] * len(x)\n")
    monkeypatch.syspath_prepend(str(mod))
    import vanishing_model  # type: ignore[import-not-found]

    register(client, tmp_path, vanishing_model.M())  # v3: pickled by reference to a module the replica lacks
    client.create_deployment("api", "models:/churn@champion")
    rep = ReplicaProcess(uri, "api", tmp_path, artifact_root=root).start()
    try:
        client.set_model_alias("churn", "champion", 3)
        _wait(lambda: client.get_deployment("api").status == "degraded")
        d = client.get_deployment("api")
        assert "vanishing_model" in (d.replicas[0].message or "")
        x, _ = churn_data(5)
        r = httpx.post(rep.url + "/predict", json={"records": x.to_dict("records")})
        assert r.status_code == 200 and r.json()["version"] == 1  # the old model still answers
        assert httpx.get(rep.url + "/ready").json()["health"] == "degraded"
        client.set_model_alias("churn", "champion", 2)
        _wait(lambda: client.get_deployment("api").status == "healthy")
    finally:
        rep.stop()


def test_rollback_under_load_drops_no_request(http_server, tmp_path: Path) -> None:
    client = Client(http_server.url)
    _models(client, tmp_path)
    client.create_deployment("api", "models:/churn@champion")
    rep = ReplicaProcess(http_server.url, "api", tmp_path).start()
    x, _ = churn_data(8)
    records = x.to_dict("records")
    statuses: list[int] = []
    versions: list[int] = []
    stop = threading.Event()

    def hammer(i: int) -> None:
        with httpx.Client(base_url=rep.url, timeout=30) as http:
            while not stop.is_set():
                r = http.post("/predict", json={"records": records, "key": f"user-{i}-{len(statuses)}"})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.append(r.json()["version"])

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    try:
        for t in threads:
            t.start()
        client.start_rollout("api", "models:/churn/2", steps=[50, 100], step_seconds=3600)
        _wait(lambda: 2 in versions[-50:])  # the canary is answering
        client.rollback_deployment("api", reason="test")
        time.sleep(1.5)  # the replica syncs (0.3 s) and the old routing drains
        n = len(versions)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(30)
    finally:
        stop.set()
        rep.stop()
    assert len(statuses) > 100 and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    assert set(versions[n:]) == {1}
    d = client.get_deployment("api")
    assert d.rollout.state == "rolled_back" and [v.name for v in d.variants] == ["primary"]
