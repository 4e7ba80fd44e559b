"""The seeds' HTTP calls as written, against a real server: ``curl -d '{…}'`` and ``curl -d @file.json``
(JSON labelled form-urlencoded), and the seeds' request shapes for models, stages, feature sets,
pipelines and runs."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from mainsail import Client
from mainsail.features.schemas import FeatureSetSpec

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def api(http_server):
    with httpx.Client(base_url=http_server.url + "/api/v1", timeout=60) as c:
        yield c


def curl(url: str, method: str, *args: str) -> tuple[int, dict[str, Any]]:
    """Run the real curl as the seeds do (``-d`` sends Content-Type application/x-www-form-urlencoded)."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    out = subprocess.run(["curl", "-sS", "-X", method, url, *args, "-w", "\n%{http_code}"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    body, _, status = out.rpartition("\n")
    return int(status), json.loads(body) if body else {}


def test_curl_d_json_is_read_as_json_whatever_its_content_type(http_server, tmp_path: Path) -> None:
    status, body = curl(f"{http_server.url}/api/v1/experiments", "POST", "-d", '{"name": "from-curl"}')
    assert status == 201 and body["name"] == "from-curl"
    f = tmp_path / "experiment.json"  # pretty-printed: curl -d @file strips the newlines
    f.write_text(json.dumps({"name": "from-file", "description": "made by curl -d @file"}, indent=2))
    status, body = curl(f"{http_server.url}/api/v1/experiments", "POST", "-d", f"@{f}")
    assert status == 201 and body["description"] == "made by curl -d @file"


def test_a_body_that_is_not_json_is_a_415_naming_the_header(api: httpx.Client) -> None:
    r = api.post("/experiments", content=b"name=x&description=y", headers=FORM)
    assert r.status_code == 415 and r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "unsupported_media_type"
    assert "Content-Type" in problem["detail"] and "application/x-www-form-urlencoded" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["header", "content-type"]
    assert "valid dictionary" not in r.text
    r = api.post("/feature-sets/online", content=b"entity_rows=1", headers=FORM)  # the hot path says the same
    assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"
    # a JSON body with a wrong shape is still a 422 naming the field, whatever the declared type
    r = api.post("/experiments", content=b'{"name": 5}', headers=FORM)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "name"]
    doc = httpx.get(str(api.base_url).removesuffix("/api/v1/") + "/openapi.json").json()
    assert "415" in doc["paths"]["/api/v1/experiments"]["post"]["responses"]


def test_seed_model_registration_and_stage(api: httpx.Client, http_server) -> None:
    files = {"model.pkl": base64.b64encode(b"pickled model").decode(),
             "preprocessor.pkl": base64.b64encode(b"pickled scaler").decode()}
    seed = {"name": "fraud-detector", "framework": "sklearn", "metrics": {"auc": 0.93},
            "artifacts": ["model.pkl", "preprocessor.pkl"]}
    # nowhere to find the files: the error names them
    r = api.post("/models", content=json.dumps(seed), headers=FORM)
    assert r.status_code == 422 and r.json()["code"] == "artifact_not_found"
    assert "'model.pkl'" in r.json()["detail"] and "'preprocessor.pkl'" in r.json()["detail"]
    # uploaded in the same call
    r = api.post("/models", content=json.dumps({**seed, "files": files}), headers=FORM)
    assert r.status_code == 201, r.text
    version = r.json()
    assert sorted(version["files"]) == ["model.pkl", "preprocessor.pkl"] and version["metrics"] == {"auc": 0.93}
    status, moved = curl(f"{http_server.url}/api/v1/models/{version['id']}/stage", "PUT",
                         "-d", '{"stage": "production"}')
    assert status == 200 and moved["stage"] == "production"
    for name, ours in (("Staging", "staging"), ("ARCHIVED", "deprecated"), ("Production", "production")):
        r = api.put(f"/models/{version['id']}/stage", json={"stage": name})
        assert r.status_code == 200 and r.json()["stage"] == ours
    assert api.get("/registered-models/fraud-detector/stages/Production").json()["id"] == version["id"]
    with Client(http_server.url) as c:
        assert c.resolve_model("models:/fraud-detector/Production").id == version["id"]


def test_seed_registration_from_a_run_names_the_missing_file(api: httpx.Client, http_server, tmp_path: Path) -> None:
    with Client(http_server.url) as c:
        run = c.create_run(c.ensure_experiment("ci").id)
        (tmp_path / "model.pkl").write_bytes(b"model")
        c.log_artifact(run.id, tmp_path / "model.pkl")
    seed = {"name": "churn", "framework": "sklearn", "metrics": {"auc": 0.9}, "run_id": run.id,
            "artifacts": ["model.pkl", "preprocessor.pkl"]}
    r = api.post("/models", json=seed)
    assert r.status_code == 404 and r.json()["code"] == "artifact_not_found"
    assert "'preprocessor.pkl'" in r.json()["detail"] and "model.pkl" in r.json()["detail"]
    assert r.json()["errors"] == [{"loc": ["body", "artifacts", 1], "msg": "file 'preprocessor.pkl' not found"}]
    r = api.post("/models", json={**seed, "artifacts": ["model.pkl"]})
    assert r.status_code == 201 and r.json()["run_id"] == run.id and list(r.json()["files"]) == ["model.pkl"]
    r = api.post("/models", json={**seed, "run_id": None, "artifact_uri": f"runs:/{run.id}", "artifacts": ["model.pkl"]})
    assert r.status_code == 201 and r.json()["version"] == 2


def test_seed_feature_set(api: httpx.Client, http_server) -> None:
    import pandas as pd

    with Client(http_server.url) as c:
        c.ingest_dataset(pd.DataFrame({"user_id": ["u1"], "event_timestamp": [pd.Timestamp("2026-01-01", tz="UTC")],
                                       "age": [30], "total_purchases": [2.0]}), "users")
        c.apply_features(FeatureSetSpec.model_validate({"entities": [{"name": "user_id"}], "views": [{
            "name": "user_stats", "entities": ["user_id"], "features": {"age": "int64", "total_purchases": "float64"},
            "source": "dataset:users"}]}))
    r = api.post("/feature-sets", content=json.dumps({"name": "user_features", "features": ["age", "total_purchases"]}),
                 headers=FORM)
    assert r.status_code == 201, r.text
    assert r.json()["changes"] == [{"kind": "service", "name": "user_features", "action": "created", "version": 1,
                                    "breaking": []}]
    stored = api.get("/feature-sets/services/user_features").json()["spec"]
    assert stored["features"] == ["user_stats:age", "user_stats:total_purchases"]
    r = api.post("/feature-sets", json={"name": "typo", "features": ["age", "purchases"]})
    assert r.status_code == 404 and r.json()["code"] == "feature_not_found"
    assert "'purchases'" in r.json()["detail"] and "user_stats:total_purchases" in r.json()["detail"]


SEED_PIPELINE = {"name": "training-pipeline", "tasks": [
    {"name": "fetch-data", "operator": "data_ingestion"},
    {"name": "validate", "operator": "data_validation"},
    {"name": "train", "operator": "model_training"},
    {"name": "register", "operator": "model_registration"},
]}


def test_seed_pipelines_and_runs(api: httpx.Client, http_server) -> None:
    bare = [{"name": "extract", "operator": "sql_query", "query": "SELECT 1 AS x"},
            {"name": "materialize", "operator": "feature_materialization", "feature_set": "user_features",
             "depends_on": ["extract"]}]
    r = api.post("/pipelines", content=json.dumps(bare), headers=FORM)
    assert r.status_code == 201, r.text
    spec = r.json()["spec"]
    assert r.json()["name"].startswith("pipeline-")
    assert spec["tasks"][0]["params"] == {"query": "SELECT 1 AS x"}
    assert spec["tasks"][1]["params"] == {"feature_set": "user_features"}
    status, applied = curl(f"{http_server.url}/api/v1/pipelines", "POST", "-d", json.dumps(SEED_PIPELINE))
    assert status == 201 and applied["version"] == 1
    steps = [(t["name"], t["depends_on"]) for t in applied["spec"]["tasks"]]  # the seeds' steps run in order
    assert steps == [("fetch-data", []), ("validate", ["fetch-data"]), ("train", ["validate"]),
                     ("register", ["train"])]
    status, problem = curl(f"{http_server.url}/api/v1/runs", "POST", "-d",
                           json.dumps({"pipeline_id": applied["pipeline_id"], "params": {}}))
    assert status == 422 and problem["code"] == "missing_task_param"
    assert "task 'fetch-data' needs 'source', 'name'" in problem["detail"]
    assert ["body", "params", "fetch-data", "source"] in [e["loc"] for e in problem["errors"]]
    params = {"fetch-data": {"source": "/data/users.csv", "name": "users"},
              "validate": {"dataset": "${tasks.fetch-data.dataset_version}", "suite": {"expectations": []}},
              "train": {"data": "${tasks.fetch-data.dataset_version}", "target": "churned",
                        "estimator": "sklearn.linear_model.LogisticRegression"},
              "register": {"name": "churn", "source": "${tasks.train.model_uri}"}}
    r = api.post("/runs", json={"pipeline_id": applied["pipeline_id"], "params": params})
    assert r.status_code == 201 and r.json()["status"] == "queued", r.text
    r = api.post("/runs", json={"pipeline_id": "training-pipeline", "params": {**params, "train": {"data": "x"}}})
    assert r.status_code == 422 and "task 'train' needs 'target', 'estimator'" in r.json()["detail"]
    # tracked training runs keep their own noun
    assert api.get("/tracking-runs").status_code == 200
