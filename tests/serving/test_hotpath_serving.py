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


def _replica_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    client = Client(f"sqlite:///{tmp_path / 'm.db'}", artifact_root=str(tmp_path / "art"))
    x, y = churn_data()
    model = LogisticRegression().fit(x.to_numpy(), y)
    register(client, tmp_path, model)
    client.create_deployment("churn", "models:/churn/1")
    state = ReplicaState(client, "churn", log_inferences=False).start()
    return client, state, create_replica_app(state), model, x


def test_prediction_lane_keeps_user_middleware_and_error_handling(tmp_path: Path, monkeypatch) -> None:
    from starlette.responses import JSONResponse

    from mainsail.api.auth import AuthMiddleware
    from mainsail.auth.cache import Authenticator
    from mainsail.core.errors import MainsailError

    client, state, app, model, x = _replica_app(tmp_path, monkeypatch, MAINSAIL_MAX_JSON_BODY="4000")
    recs = x.head(3).to_dict("records")
    want = model.predict(x.head(3).to_numpy()).tolist()
    try:
        # 1. as shipped: the lane answers (built on first use) exactly what the route answers
        with TestClient(app, raise_server_exceptions=False) as http:
            r = http.post("/predict", json={"records": recs, "request_id": "q1"}, headers={"x-request-id": "ignored"})
            assert app._lane, "the lane was not used"
            assert r.status_code == 200 and r.json()["predictions"] == want and r.json()["request_id"] == "q1"
            assert r.headers["x-mainsail-variant"] == "primary" and r.headers["content-type"] == "application/json"
            assert http.post("/predict", json={"records": recs}, headers={"x-request-id": "h1"}).json()["request_id"] == "h1"
            bad = http.post("/predict", json={"records": [{"tenure": 1.0}]})  # columns missing: names them
            assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
            assert "charges" in bad.text
            big = http.post("/predict", json={"records": recs * 100})  # over MAINSAIL_MAX_JSON_BODY
            assert big.status_code == 413 and big.json()["code"] == "body_too_large"
            assert http.get("/predict").status_code == 405  # other methods: the full app, as before
            text = http.get("/metrics").text
            ok = next(ln for ln in text.splitlines() if ln.startswith("mainsail_prediction_requests_total{"))
            assert float(ok.rsplit(" ", 1)[1]) == 2.0
            assert "mainsail_prediction_errors_total" in text
        # the full app (lane off) answers byte for byte the same body
        full = create_replica_app(state)
        full._lane = False
        with TestClient(full) as http:
            a = http.post("/predict", json={"records": recs, "request_id": "q1"})
        with TestClient(app) as http:
            b = http.post("/predict", json={"records": recs, "request_id": "q1"})
        assert a.content == b.content and a.headers["x-mainsail-variant"] == b.headers["x-mainsail-variant"]

        # 2. a user's middleware and exception handler: the request takes the full way and both run
        custom = create_replica_app(state)

        class Stamp:
            def __init__(self, app) -> None:
                self.app = app

            async def __call__(self, scope, receive, send) -> None:
                async def _send(m) -> None:
                    if m["type"] == "http.response.start":
                        m["headers"] = [*m["headers"], (b"x-stamp", b"yes")]
                    await send(m)
                await self.app(scope, receive, _send)

        async def mine(request, exc: MainsailError) -> JSONResponse:
            return JSONResponse({"mine": exc.code}, status_code=exc.status)

        custom.add_middleware(Stamp)
        custom.add_exception_handler(MainsailError, mine)
        with TestClient(custom) as http:
            r = http.post("/predict", json={"records": recs})
            assert r.status_code == 200 and r.headers["x-stamp"] == "yes" and r.json()["predictions"] == want
            assert custom._lane is False
            bad = http.post("/predict", content=b"{nope", headers={"content-type": "application/json"})
            assert bad.status_code == 422 and bad.json() == {"mine": "invalid_model_input"} and bad.headers["x-stamp"] == "yes"

        # 3. a handler alone (no extra middleware): the lane stays on and renders errors with it
        handled = create_replica_app(state)
        handled.add_exception_handler(MainsailError, mine)
        with TestClient(handled) as http:
            bad = http.post("/predict", content=b"{nope")
            assert handled._lane and bad.status_code == 422 and bad.json() == {"mine": "invalid_model_input"}

        # 4. auth as `mainsail serve --auth` adds it: the predict permission, checked on the lane too
        client.create_user("svc-p", service=True, role="viewer")
        client.create_user("svc-v", service=True, role="viewer")
        can = client.create_token("p", user="svc-p", role="viewer", permissions=["predict"]).token
        cannot = client.create_token("v", user="svc-v", role="viewer").token
        guarded = create_replica_app(state)
        guarded.add_middleware(AuthMiddleware, authenticator=Authenticator(client._backend.runtime),
                               deployment="churn", project=client.project)
        with TestClient(guarded) as http:
            assert http.post("/predict", json={"records": recs}).status_code == 401
            r = http.post("/predict", json={"records": recs}, headers={"authorization": f"Bearer {cannot}"})
            assert r.status_code == 403 and "'predict'" in r.json()["detail"]
            r = http.post("/predict", json={"records": recs}, headers={"authorization": f"Bearer {can}"})
            assert r.status_code == 200 and r.json()["predictions"] == want
            assert guarded._lane
    finally:
        state.stop()
        client.close()
