"""The seeds' REST shape for the registry, as a plain HTTP client uses it."""

from __future__ import annotations

import hashlib

import httpx
import pytest


@pytest.fixture
def api(http_server):
    with httpx.Client(base_url=http_server.url, timeout=30) as c:
        yield c


def _upload(api: httpx.Client, data: bytes) -> tuple[str, str]:
    exp = api.post("/api/v1/experiments", json={"name": "e"}).json()
    run = api.post("/api/v1/tracking-runs", json={"experiment_id": exp["id"]}).json()
    digest = hashlib.sha256(data).hexdigest()
    r = api.put(f"/api/v1/tracking-runs/{run['id']}/artifacts/model/model.pkl", content=data, params={"digest": digest})
    assert r.status_code == 201
    return run["id"], digest


def test_seed_shape_register_then_move_stage(api: httpx.Client) -> None:
    run_id, digest = _upload(api, b"pickled model")
    r = api.post("/api/v1/models", json={"name": "churn", "framework": "sklearn", "metrics": {"accuracy": 0.91},
                                         "artifacts": {"model.pkl": digest}, "run_id": run_id})
    assert r.status_code == 201, r.text
    version = r.json()
    assert version["version"] == 1 and version["stage"] == "development"
    assert version["files"]["model.pkl"]["digest"] == digest
    r = api.put(f"/api/v1/models/{version['id']}/stage", json={"stage": "production"})
    assert r.status_code == 200 and r.json()["stage"] == "production"
    assert api.get("/api/v1/registered-models/churn/stages/production").json()["id"] == version["id"]
    assert api.get(f"/api/v1/models/{version['id']}/files/model.pkl").content == b"pickled model"

    r = api.put(f"/api/v1/models/{version['id']}/stage", json={"stage": "prod"})
    assert r.status_code == 422
    problem = r.json()
    assert problem["errors"][0]["loc"] == ["body", "stage"]
    for allowed in ("development", "staging", "production", "deprecated"):
        assert allowed in problem["errors"][0]["msg"]

    r = api.get("/api/v1/models/unknown-id")
    assert r.status_code == 404 and "unknown-id" in r.json()["detail"]
    r = api.get("/api/v1/registered-models/churn/aliases/champion")
    assert r.status_code == 404 and r.json()["detail"] == "alias 'churn@champion' not found"
    r = api.put("/api/v1/registered-models/churn/aliases/champion", json={"version": 7})
    assert r.status_code == 404 and "churn/7" in r.json()["detail"]
    r = api.post("/api/v1/models", json={"name": "churn", "framework": "sklearn",
                                         "artifacts": {"model.pkl": "0" * 64}})
    assert r.status_code == 422 and r.json()["code"] == "artifact_not_found"


def test_a_version_whose_files_are_elsewhere(api: httpx.Client) -> None:
    r = api.post("/api/v1/models", json={"name": "churn", "external_source": "gs://b/churn/3", "run_id": "r-1"})
    assert r.status_code == 201, r.text
    v = r.json()
    assert (v["source"], v["external_source"], v["external_run_id"], v["files"]) == ("gs://b/churn/3",
                                                                                      "gs://b/churn/3", "r-1", {})
    got = api.get(f"/api/v1/registered-models/churn/versions/{v['version']}").json()
    assert got["id"] == v["id"] and got["external_source"] == "gs://b/churn/3"
    r = api.get(f"/api/v1/models/{v['id']}/files/MLmodel")
    assert r.status_code == 404 and "gs://b/churn/3" in r.json()["detail"]
    r = api.post("/api/v1/models", json={"name": "churn", "external_source": "", "run_id": "r-1"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "external_source"]
    assert api.get("/api/v1/registered-models/churn").json()["latest_version"] == 1  # nothing more stored
