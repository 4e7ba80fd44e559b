"""The replica's hot path: the plain Starlette prediction routes answer like the documented ones, and the
heap is frozen after start-up so full garbage collections skip the long-lived objects."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest
from _serving_support import FEATURES, churn_data, register
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient

from mainsail import Client
from mainsail.serving.app import create_replica_app
from mainsail.serving.replica import ReplicaState


@pytest.fixture
def replica(tmp_path: Path):
    client = Client(f"sqlite:///{tmp_path / 'm.db'}", artifact_root=str(tmp_path / "art"))
    x, y = churn_data()
    model = LogisticRegression().fit(x.to_numpy(), y)
    register(client, tmp_path, model)
    client.set_model_alias("churn", "champion", 1)
    client.create_deployment("churn", "models:/churn@champion")
    state = ReplicaState(client, "churn", log_inferences=False).start()
    with TestClient(create_replica_app(state), raise_server_exceptions=False) as http:
        yield http, model, x
    state.stop()
    client.close()


def test_prediction_routes_answer_documented_and_fast(replica) -> None:
    http, model, x = replica
    recs = x.head(5).to_dict("records")
    r = http.post("/predict", json={"records": recs, "request_id": "r1"})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == model.predict(x.head(5).to_numpy()).tolist()
    assert r.json()["request_id"] == "r1" and r.headers["x-mainsail-variant"] == "primary"
    # errors stay problem+json naming the field
    bad = http.post("/predict", content=b"{nope", headers={"content-type": "application/json"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["errors"][0]["loc"] == ["body"]
    body = {"inputs": [{"name": c, "shape": [2], "datatype": "FP64", "data": x[c].head(2).tolist()} for c in FEATURES]}
    for path in ("/v2/models/churn/infer", "/v2/models/churn/versions/1/infer"):
        r = http.post(path, json=body)
        assert r.status_code == 200, r.text
        assert r.json()["outputs"][0]["data"] == model.predict(x.head(2).to_numpy()).tolist()
    assert http.post("/v2/models/churn/versions/7/infer", json=body).status_code == 404
    assert http.post("/v2/models/nope/infer", json=body).json()["code"] == "model_not_found"
    # still in the OpenAPI document, once each
    paths = http.get("/openapi.json").json()["paths"]
    assert "post" in paths["/predict"] and "post" in paths["/v2/models/{name}/infer"]
    # the metrics count what the fast route answered
    text = http.get("/metrics").text
    line = next(ln for ln in text.splitlines() if ln.startswith("mainsail_prediction_requests_total{"))
    assert float(line.rsplit(" ", 1)[1]) == 3.0


def test_settle_freezes_the_heap_unless_turned_off() -> None:
    code = ("import gc, os; from mainsail.core.heap import settle; r = settle(); "
            "print(r, gc.get_freeze_count() > 1000)")
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert on.stdout.split() == ["True", "True"]
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "MAINSAIL_GC_FREEZE": "0"})
    assert off.stdout.split() == ["False", "False"]


def test_model_load_freezes_the_new_model(replica) -> None:
    # the replica fixture loaded a model after start: its objects sit in the permanent generation
    assert gc.get_freeze_count() > 0
    gc.unfreeze()  # give this test process its heap back
