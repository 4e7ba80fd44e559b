"""With auth on, MLflow clients authenticate the ways MLflow does (``MLFLOW_TRACKING_TOKEN``, or basic
auth with the token as the password) and a refused call answers in MLflow's error shape, not
problem+json, so the MLflow client reports it as MLflow does."""

from __future__ import annotations

import base64
import os

import httpx
import pytest
from _auth_support import AuthWorld

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
mlflow = pytest.importorskip("mlflow", reason="the mlflow test extra is not installed (pip install -e '.[mlflow]')")

CREDS = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch):
    for key in CREDS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")

    def use(**values: str) -> None:
        for key in CREDS:
            monkeypatch.delenv(key, raising=False)
        for key, value in values.items():
            monkeypatch.setenv(key, value)
    return use


@pytest.mark.parametrize("prefix", ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/2.0/mlflow-artifacts"])
def test_refusals_are_in_mlflow_shape(world: AuthWorld, prefix: str) -> None:
    path = prefix + ("/artifacts/0/x/artifacts/a.txt" if prefix.endswith("artifacts") else "/experiments/get?experiment_id=0")
    for headers, status, code in (({}, 401, "UNAUTHENTICATED"),
                                  ({"authorization": "Bearer msk_not-a-token"}, 401, "UNAUTHENTICATED"),
                                  ({"authorization": "Basic !!"}, 401, "UNAUTHENTICATED"),
                                  ({"authorization": f"Bearer {world.tokens['outsider']}"}, 403,
                                   "PERMISSION_DENIED")):
        r = httpx.get(world.url + path, headers=headers, timeout=60)
        assert r.status_code == status, (path, headers, r.text)
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert body["error_code"] == code and body["message"], body
    r = httpx.get(world.url + "/api/v1/experiments", timeout=60)  # Mainsail's own API keeps problem+json
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


def test_the_mlflow_client_with_a_token_or_basic_auth(world: AuthWorld, creds) -> None:
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(world.url)
    creds()
    with pytest.raises(MlflowException) as err:
        client.search_experiments()
    assert err.value.error_code == "UNAUTHENTICATED"
    creds(MLFLOW_TRACKING_TOKEN="msk_wrong")
    with pytest.raises(MlflowException) as err:
        client.search_experiments()
    assert err.value.error_code == "UNAUTHENTICATED"

    creds(MLFLOW_TRACKING_TOKEN=world.tokens["editor"])
    exp = client.create_experiment("mlflow-auth-token")
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "auc", 0.9)
    creds(MLFLOW_TRACKING_USERNAME="svc-editor", MLFLOW_TRACKING_PASSWORD=world.tokens["editor"])
    client.log_param(run.info.run_id, "depth", "3")
    seen = world.local.get_run(run.info.run_id)
    assert seen.metrics == {"auc": 0.9} and seen.params == {"depth": "3"}

    creds(MLFLOW_TRACKING_USERNAME="svc-viewer", MLFLOW_TRACKING_PASSWORD=world.tokens["viewer"])
    assert client.get_run(run.info.run_id).data.params == {"depth": "3"}
    with pytest.raises(MlflowException) as err:  # a viewer reads but does not write
        client.log_param(run.info.run_id, "lr", "0.1")
    assert err.value.error_code == "PERMISSION_DENIED"
    creds(MLFLOW_TRACKING_USERNAME="svc-viewer", MLFLOW_TRACKING_PASSWORD="not-the-token")
    with pytest.raises(MlflowException) as err:
        client.get_run(run.info.run_id)
    assert err.value.error_code == "UNAUTHENTICATED"
    basic = base64.b64encode(f"svc-admin:{world.tokens['admin']}".encode()).decode()
    r = httpx.get(world.url + "/api/2.0/mlflow/runs/get", params={"run_id": run.info.run_id},
                  headers={"authorization": f"Basic {basic}"}, timeout=60)
    assert r.status_code == 200 and r.json()["run"]["info"]["run_id"] == run.info.run_id
    assert "lr" not in world.local.get_run(run.info.run_id).params


def test_multipart_parts_carry_the_callers_credentials(world: AuthWorld, creds, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path) -> None:
    """The client sends parts without its credentials: the part URLs come with the caller's own header."""
    chunk = 64 * 1024
    for key, value in {"MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
                       "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(chunk),
                       "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(chunk)}.items():
        monkeypatch.setenv(key, value)
    creds(MLFLOW_TRACKING_TOKEN=world.tokens["editor"])
    client = mlflow.MlflowClient(world.url)
    run = client.create_run(client.create_experiment("mlflow-auth-mpu"))
    data = os.urandom(chunk * 2 + 7)
    (tmp_path / "big.bin").write_bytes(data)
    client.log_artifact(run.info.run_id, str(tmp_path / "big.bin"))
    assert world.local.read_artifact(run.info.run_id, "big.bin") == data

    base = f"{world.url}/api/2.0/mlflow-artifacts/mpu"
    where = f"{run.info.experiment_id}/{run.info.run_id}/artifacts"
    viewer = {"authorization": f"Bearer {world.tokens['viewer']}"}
    r = httpx.post(f"{base}/create/{where}", json={"path": "x.bin", "num_parts": 1}, headers=viewer, timeout=60)
    assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED"
    r = httpx.put(f"{base}/part/{'a' * 32}/1", content=b"x", headers=viewer, timeout=60)
    assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED"
    r = httpx.put(f"{base}/part/{'a' * 32}/1", content=b"x", timeout=60)
    assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHENTICATED"
