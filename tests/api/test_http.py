"""The HTTP surface as a user's HTTP client sees it: problem+json errors naming the field, health,
readiness, Prometheus metrics, a complete OpenAPI document."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def api(http_server):
    with httpx.Client(base_url=http_server.url, timeout=30) as c:
        yield c


def _run(api: httpx.Client) -> str:
    exp = api.post("/api/v1/experiments", json={"name": "e"}).json()
    return api.post("/api/v1/tracking-runs", json={"experiment_id": exp["id"]}).json()["id"]


def test_health_ready_metrics_docs(api: httpx.Client) -> None:
    assert api.get("/health").json()["status"] == "ok"
    assert api.get("/ready").status_code == 200
    api.get("/api/v1/experiments")
    text = api.get("/metrics").text
    assert 'mainsail_http_requests_total{method="GET",route="/api/v1/experiments",status="200"}' in text
    assert api.get("/docs").status_code == 200


def test_openapi_types_every_response(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    ops = [(path, m, op) for path, item in spec["paths"].items() for m, op in item.items()]
    assert len(ops) >= 16
    for path, method, op in ops:
        ok = [c for c in op["responses"] if c.startswith("2")]
        assert ok, f"{method} {path} has no success response"
        if path.startswith("/api/v1"):
            assert "422" in op["responses"], f"{method} {path} does not document 422"


def test_bad_input_is_problem_json_naming_the_field(api: httpx.Client) -> None:
    run_id = _run(api)
    r = api.post(f"/api/v1/tracking-runs/{run_id}/log-batch",
                 json={"metrics": {"key": ["a"], "value": ["high"], "step": [0], "timestamp": [0]}})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "invalid_input"
    assert body["errors"][0]["loc"] == ["body", "metrics", "value", 0]
    assert "metrics.value.0" in body["detail"]

    r = api.post(f"/api/v1/tracking-runs/{run_id}/log-batch", content=b"{not json",
                 headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_input"

    r = api.get("/api/v1/tracking-runs", params={"filter": "metrics.auc > "})
    assert r.status_code == 422 and r.json()["code"] == "invalid_filter"
    assert "column" in r.json()["detail"]

    r = api.get("/api/v1/tracking-runs", params={"limit": 0})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "limit"]


def test_not_found_and_conflict_codes(api: httpx.Client) -> None:
    r = api.get("/api/v1/tracking-runs/nope")
    assert r.status_code == 404 and r.json()["code"] == "run_not_found"
    assert api.get("/api/v1/no-such-route").json()["code"] == "route_not_found"
    run_id = _run(api)
    api.post(f"/api/v1/tracking-runs/{run_id}/log-batch", json={"params": {"lr": "0.1"}})
    r = api.post(f"/api/v1/tracking-runs/{run_id}/log-batch", json={"params": {"lr": "0.2"}})
    assert r.status_code == 409 and r.json()["code"] == "param_conflict"
    assert r.json()["errors"][0]["loc"] == ["params", "lr"]
    assert api.patch(f"/api/v1/tracking-runs/{run_id}", json={"status": "finished"}).status_code == 200
    r = api.post(f"/api/v1/tracking-runs/{run_id}/log-batch", json={"tags": {"a": "b"}})
    assert r.status_code == 409 and r.json()["code"] == "run_not_running"
    r = api.patch(f"/api/v1/tracking-runs/{run_id}", json={"status": "paused"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "status"]


def test_artifact_upload_digest_is_verified(api: httpx.Client) -> None:
    run_id = _run(api)
    r = api.put(f"/api/v1/tracking-runs/{run_id}/artifacts/a/b.txt", content=b"data",
                params={"digest": "0" * 64})
    assert r.status_code == 409 and r.json()["code"] == "integrity_error"
    assert api.get(f"/api/v1/tracking-runs/{run_id}/artifacts").json() == []
    r = api.put(f"/api/v1/tracking-runs/{run_id}/artifacts/../../etc/passwd", content=b"x")
    assert r.status_code in (404, 422)
    assert api.put(f"/api/v1/tracking-runs/{run_id}/artifacts/a/b.txt", content=b"data").status_code == 201
    assert api.get(f"/api/v1/tracking-runs/{run_id}/artifacts/a/b.txt").content == b"data"


def test_idempotency_key_makes_a_retried_write_happen_once(api: httpx.Client) -> None:
    exp = api.post("/api/v1/experiments", json={"name": "idem"}).json()
    body = {"experiment_id": exp["id"], "name": "once"}
    first = api.post("/api/v1/tracking-runs", json=body, headers={"Idempotency-Key": "k-123"})
    again = api.post("/api/v1/tracking-runs", json=body, headers={"Idempotency-Key": "k-123"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("idempotent-replay") == "true"
    runs = api.get("/api/v1/tracking-runs", params={"experiment_ids": exp["id"]}).json()["items"]
    assert [r["name"] for r in runs] == ["once"]
    batch = {"metrics": {"key": ["m"], "value": [1.0], "step": [0], "timestamp": [0.0]}}
    run_id = first.json()["id"]
    for _ in range(3):
        assert api.post(f"/api/v1/tracking-runs/{run_id}/log-batch", json=batch,
                        headers={"Idempotency-Key": "batch-1"}).status_code == 204
    assert api.get(f"/api/v1/tracking-runs/{run_id}/metrics/m").json()["step"] == [0]
    r = api.post("/api/v1/experiments", json={"name": "other"}, headers={"Idempotency-Key": "k-123"})
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
