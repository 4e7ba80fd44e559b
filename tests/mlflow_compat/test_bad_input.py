"""Bad input to the MLflow-compatible API answers MLflow's error shape with a 4xx naming what was wrong,
never a 500 or an HTML page, and leaves stored state as it was."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mainsail.api.app import create_app

M = "/api/2.0/mlflow"


@pytest.fixture
def api(sqlite_settings):
    with TestClient(create_app(sqlite_settings)) as c:
        yield c


def _run(api: TestClient) -> str:
    exp = api.post(f"{M}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    return api.post(f"{M}/runs/create", json={"experiment_id": exp}).json()["run"]["info"]["run_id"]


BAD = [
    ("POST", "/experiments/create", {"name": 123}, "INVALID_PARAMETER_VALUE", "name"),
    ("POST", "/experiments/create", {}, "INVALID_PARAMETER_VALUE", "name"),
    ("POST", "/experiments/create", {"name": "x", "tags": {"a": "b"}}, "INVALID_PARAMETER_VALUE", "tags"),
    ("GET", "/experiments/get", {"experiment_id": "nope"}, "RESOURCE_DOES_NOT_EXIST", "nope"),
    ("POST", "/experiments/search", {"filter": "owner = 'x'"}, "INVALID_PARAMETER_VALUE", "filter"),
    ("POST", "/experiments/search", {"page_token": "abc"}, "INVALID_PARAMETER_VALUE", "page_token"),
    ("POST", "/runs/create", {"experiment_id": "nope"}, "RESOURCE_DOES_NOT_EXIST", "nope"),
    ("POST", "/runs/create", {"start_time": "yesterday"}, "INVALID_PARAMETER_VALUE", "yesterday"),
    ("POST", "/runs/log-batch", {"metrics": [{"key": "a", "value": "high", "step": 0}]}, "INVALID_PARAMETER_VALUE",
     "metric"),
    ("POST", "/runs/log-batch", {"metrics": [{"key": "a b?", "value": 1}]}, "INVALID_PARAMETER_VALUE", "key"),
    ("POST", "/runs/log-batch", {"metrics": [{"key": "a", "value": 1, "step": 2**70}]}, "INVALID_PARAMETER_VALUE",
     "step"),
    ("POST", "/runs/log-batch", {"metrics": ["a"]}, "INVALID_PARAMETER_VALUE", "metrics"),
    ("POST", "/runs/log-batch", {"params": [{"value": "x"}]}, "INVALID_PARAMETER_VALUE", "params"),
    ("POST", "/runs/log-metric", {"key": "a", "value": 1, "timestamp": "now"}, "INVALID_PARAMETER_VALUE",
     "timestamp"),
    ("POST", "/runs/update", {"status": "PAUSED"}, "INVALID_PARAMETER_VALUE", "PAUSED"),
    ("POST", "/runs/search", {"filter": "metrics.auc >"}, "INVALID_PARAMETER_VALUE", "filter"),
    ("POST", "/runs/search", {"order_by": ["metrics.auc SIDEWAYS"]}, "INVALID_PARAMETER_VALUE", "order_by"),
    ("POST", "/runs/search", {"max_results": 0}, "INVALID_PARAMETER_VALUE", "max_results"),
    ("POST", "/runs/search", {"page_token": "!!"}, "INVALID_PARAMETER_VALUE", "cursor"),
    ("GET", "/metrics/get-history", {"metric_key": "a"}, "INVALID_PARAMETER_VALUE", "run_id"),
    ("GET", "/logged-models/m-nope", {}, "RESOURCE_DOES_NOT_EXIST", "m-nope"),
    ("POST", "/logged-models", {"name": "m"}, "INVALID_PARAMETER_VALUE", "run"),
    ("POST", "/registered-models/create", {"name": 123}, "INVALID_PARAMETER_VALUE", "name"),
    ("GET", "/registered-models/get", {"name": "ghost"}, "RESOURCE_DOES_NOT_EXIST", "ghost"),
    ("GET", "/registered-models/search", {"filter": "owner = 'x'"}, "INVALID_PARAMETER_VALUE", "filter"),
    ("GET", "/model-versions/get", {"name": "ghost", "version": "x"}, "INVALID_PARAMETER_VALUE", "version"),
    ("POST", "/model-versions/create", {"name": "m", "source": "s3://bucket/\u0000model"}, "INVALID_PARAMETER_VALUE",
     "source"),
    ("POST", "/model-versions/create", {"name": "m", "source": "s3://" + "b" * 1000}, "INVALID_PARAMETER_VALUE",
     "source"),
    ("POST", "/model-versions/create", {"name": "m", "source": "s3://b/m", "run_id": "r\u0000"},
     "INVALID_PARAMETER_VALUE", "run_id"),
    ("POST", "/experiments/create", {"name": "e", "tags": [{"key": "k", "value": "v\u0000"}]},
     "INVALID_PARAMETER_VALUE", "tags.0.value"),
    ("POST", "/model-versions/transition-stage", {"name": "m", "version": "1", "stage": "Gold"},
     "RESOURCE_DOES_NOT_EXIST", "m"),
]


@pytest.mark.parametrize(("method", "path", "args", "code", "named"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_an_mlflow_error(api: TestClient, method: str, path: str, args: dict, code: str,
                                      named: str) -> None:
    run_id = _run(api)
    if path.startswith("/runs/") and path not in ("/runs/create", "/runs/search"):
        args = {"run_id": run_id, **args}
    r = api.get(M + path, params=args) if method == "GET" else api.request(method, M + path, json=args)
    assert 400 <= r.status_code < 500, r.text
    body = r.json()
    assert body["error_code"] == code, body
    assert named.lower() in body["message"].lower(), body


def test_a_rejected_batch_writes_nothing_and_unknown_calls_name_the_endpoint(api: TestClient) -> None:
    run_id = _run(api)
    r = api.post(f"{M}/runs/log-batch", json={"run_id": run_id, "params": [{"key": "p", "value": "1"}],
                                             "metrics": [{"key": "a", "value": "high"}]})
    assert r.status_code == 400
    run = api.get(f"{M}/runs/get", params={"run_id": run_id}).json()["run"]
    assert run["data"].get("params", []) == [] and run["data"].get("metrics", []) == []
    r = api.delete("/api/2.0/mlflow-artifacts/artifacts/x/y/artifacts/z")
    assert r.status_code == 404 and r.json() == {
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": "Mainsail's MLflow-compatible API does not support DELETE /api/2.0/mlflow-artifacts/artifacts/x/y/artifacts/z"}
    r = api.post("/api/3.0/mlflow/traces", json={})
    assert r.status_code == 404 and r.json()["error_code"] == "ENDPOINT_NOT_FOUND" and "/api/3.0/mlflow/traces" in r.text
    r = api.get("/api/2.0/mlflow-artifacts/artifacts/elsewhere/file.txt")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
