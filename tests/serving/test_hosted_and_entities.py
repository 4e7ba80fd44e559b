"""A real ``mainsail server --deployments all`` hosting deployments in-process: /deployments/NAME/predict,
OIP v2 by deployment name (tritonclient), metrics in the API's /metrics, hot swap, inference logs; entity
requests answered from the online store (feature service or lineage feature views), 404 naming an unknown
entity; client errors counted apart from model errors."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from _services import ServerProcess
from _serving_support import FEATURES, churn_data, register
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from mainsail import Client
from mainsail.features.schemas import Entity, FeatureService, FeatureView

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _wait(cond, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Client, ServerProcess, LogisticRegression]]:
    """churn v1 (LR, lineage: feature view customer_stats), v2 (constant 1), v3 (LR, no lineage); a feature
    view over 50 customers, materialized; a server hosting every deployment."""
    uri, root = f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts")
    client = Client(uri, artifact_root=root)
    x, y = churn_data(50)
    lr = LogisticRegression().fit(x.to_numpy(), y)
    client.ingest_dataset(x.assign(customer_id=[f"C{i}" for i in range(50)], event_timestamp=T0), "customers")
    client.apply_features([
        Entity(name="customer", join_key="customer_id"),
        FeatureView(name="customer_stats", entities=["customer"], features=dict.fromkeys(FEATURES, "float64"),
                    source="dataset:customers"),
        FeatureService(name="churn_fs", features=["customer_stats"])])
    client.materialize_features(end=T0 + dt.timedelta(days=1))
    register(client, tmp_path, lr, lineage={"feature_views": ["customer_stats"]})
    register(client, tmp_path, DummyClassifier(strategy="constant", constant=1).fit(x.to_numpy(), y))
    register(client, tmp_path, lr)
    client.set_model_alias("churn", "champion", 1)
    client.create_deployment("api", [{"name": "a", "model": "models:/churn@champion"},
                                     {"name": "s", "model": "models:/churn/2", "role": "shadow"}])
    srv = ServerProcess(uri, root, tmp_path, "--deployments", "all").start()
    yield client, srv, lr
    srv.stop()
    client.close()


def test_server_hosts_deployments_in_process(world) -> None:
    client, srv, lr = world
    x, _ = churn_data(20)
    expected = lr.predict(x.to_numpy()).tolist()
    with httpx.Client(base_url=srv.url, timeout=10) as http:
        _wait(lambda: http.get("/deployments/api/ready").status_code == 200)
        r = http.post("/deployments/api/predict", json={"records": x.to_dict("records"), "request_id": "h-1"})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == expected and r.json()["variant"] == "a"
        r = http.post("/deployments/api/predict", json={"records": [{"tenure": 1.0}]})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "records", 0, "charges"]
        r = http.post("/deployments/nope/predict", json={"records": x.to_dict("records")})
        assert r.status_code == 404 and "nope" in r.json()["detail"]
        assert http.get("/api/v1/deployments/api").status_code == 200  # the API is still there

        # OIP v2 by deployment name, through a real client library
        import tritonclient.http as triton

        tc = triton.InferenceServerClient(srv.url.removeprefix("http://"))
        assert tc.is_server_live() and tc.is_server_ready() and tc.is_model_ready("api")
        assert tc.get_server_metadata()["name"] == "mainsail"
        inputs = []
        for col in FEATURES:
            t = triton.InferInput(col, [len(x)], "FP64")
            t.set_data_from_numpy(x[col].to_numpy())
            inputs.append(t)
        assert tc.infer("api", inputs, request_id="h-oip").as_numpy("predict").tolist() == expected
        assert http.post("/v2/models/nope/infer", json={"inputs": []}).status_code == 404
        # a variant is pinned under the deployment's own prefix
        r = http.post("/deployments/api/v2/models/s/infer", json={"inputs": [
            {"name": "input-0", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 2.0, 3.0]}]})
        assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [1]

        # the API's /metrics carries the hosted deployments' metrics; client errors counted apart
        text = http.get("/metrics").text
        assert ('mainsail_predictions_total{deployment="api",model="churn",project="default",variant="a",'
                'version="1"}') in text
        assert 'mainsail_http_requests_total' in text
        assert ('mainsail_prediction_errors_total{code="invalid_model_input",deployment="api",kind="client",'
                'project="default",variant="a"} 1.0') in text

        # hot swap in the server process
        client.set_model_alias("churn", "champion", 2)
        _wait(lambda: http.post("/deployments/api/predict",
                                json={"records": x.head(1).to_dict("records")}).json()["version"] == 2)
        # a deployment created later is hosted too
        client.create_deployment("later", "models:/churn/3")
        _wait(lambda: http.get("/deployments/later/ready").status_code == 200)
    d = client.get_deployment("api")
    assert d.replicas and d.replicas[0].id.startswith("server-") and d.replicas[0].status == "healthy"
    _wait(lambda: {"h-1", "h-oip"} <= set(client.load_inference_logs("api")["request_id"]))


def test_predict_by_entity_from_the_online_store(world) -> None:
    client, srv, lr = world
    client.create_deployment("by-service", "models:/churn/3", feature_service="churn_fs")
    client.create_deployment("by-lineage", "models:/churn/1")  # feature views from the version's lineage
    client.create_deployment("records-only", "models:/churn/3")
    x, _ = churn_data(50)
    want = lr.predict(x.to_numpy()).tolist()
    assert client.get_deployment("by-service").variants[0].feature_service == "churn_fs"
    assert client.get_deployment("by-lineage").variants[0].feature_views == ["customer_stats"]
    with httpx.Client(base_url=srv.url, timeout=10) as http:
        for name in ("by-service", "by-lineage", "records-only"):
            _wait(lambda name=name: http.get(f"/deployments/{name}/ready").status_code == 200)
        for name in ("by-service", "by-lineage"):
            r = http.post(f"/deployments/{name}/predict", json={"entity_id": "C3", "request_id": f"e-{name}"})
            assert r.status_code == 200, r.text
            assert r.json()["predictions"] == [want[3]]
            r = http.post(f"/deployments/{name}/predict", json={"entities": [{"customer_id": "C7"},
                                                                             {"customer_id": "C11"}]})
            assert r.status_code == 200 and r.json()["predictions"] == [want[7], want[11]], r.text
            r = http.post(f"/deployments/{name}/predict", json={"entity_id": ["C1", "C2"]})
            assert r.json()["predictions"] == want[1:3]
        # request-time values override the stored features
        row = {"customer_id": "C3", "tenure": 1.0, "charges": 50.0, "calls": 9.0}
        r = http.post("/deployments/by-service/predict", json={"entities": [row]})
        assert r.json()["predictions"] == lr.predict(np.array([[1.0, 50.0, 9.0]])).tolist()

        # an unknown entity is a 404 naming it; a malformed one a 422 naming the field
        r = http.post("/deployments/by-service/predict", json={"entity_id": "C999"})
        assert r.status_code == 404 and "C999" in r.json()["detail"] and r.json()["code"] == "entity_not_found"
        r = http.post("/deployments/by-service/predict", json={"entities": [{"customer_id": "C1"},
                                                                            {"customer_id": "C404"}]})
        assert r.status_code == 404 and r.json()["errors"][0]["loc"] == ["body", "entities", 1]
        r = http.post("/deployments/by-service/predict", json={"entities": [{"cust": "C1"}]})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "entities", 0, "customer_id"]
        r = http.post("/deployments/by-service/predict", json={"entity_id": {"x": 1}})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "entity_id"]
        r = http.post("/deployments/records-only/predict", json={"entity_id": "C1"})
        assert r.status_code == 422 and r.json()["code"] == "no_feature_service"
        text = http.get("/deployments/by-service/metrics").text
        assert ('mainsail_prediction_errors_total{code="entity_not_found",deployment="by-service",kind="client",'
                'project="default",variant="primary"} 2.0') in text
    # the inference log holds the features the model saw
    _wait(lambda: "e-by-service" in set(client.load_inference_logs("by-service")["request_id"]))
    logs = client.load_inference_logs("by-service")
    assert logs[logs["request_id"] == "e-by-service"].iloc[0]["tenure"] is not None
