"""MLflow's multipart upload through ``mainsail server`` (``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true``):
the real client splits a file bigger than the chunk size into parts, sends them, and completes; the run
artifact's bytes are the file's, on SQLite, PostgreSQL and an S3 (moto) artifact store."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest
from _services import ServerProcess

from mainsail import Client

CHUNK = 256 * 1024


@pytest.fixture(params=["sqlite", "postgres", "s3"])
def server(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    uri = request.getfixturevalue("pg_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 's.db'}"
    root = request.getfixturevalue("s3_artifact_root") if request.param == "s3" else str(tmp_path / "art")
    srv = ServerProcess(uri, root, tmp_path).start(timeout=120)
    for key, value in {"MLFLOW_TRACKING_URI": srv.url, "MLFLOW_DISABLE_TELEMETRY": "true",
                       "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
                       "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(CHUNK),
                       "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(CHUNK), "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    import mlflow

    mlflow.set_tracking_uri(srv.url)
    yield srv
    srv.stop()


def test_a_large_artifact_goes_up_in_parts(server: ServerProcess, tmp_path: Path) -> None:
    import mlflow

    big = tmp_path / "weights.bin"
    data = os.urandom(CHUNK * 3 + 12345)  # four parts, the last one short
    big.write_bytes(data)
    (tmp_path / "small.txt").write_text("small")
    exp = mlflow.MlflowClient().create_experiment("multipart")
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_artifact(str(big), artifact_path="model")
        mlflow.log_artifact(str(tmp_path / "small.txt"))  # under the minimum size: one plain PUT
    rid = run.info.run_id
    ms = Client(server.url)
    arts = {a.path: a for a in ms.list_artifacts(rid)}
    assert arts["model/weights.bin"].size == len(data)
    assert arts["model/weights.bin"].digest == hashlib.sha256(data).hexdigest()
    assert ms.read_artifact(rid, "model/weights.bin") == data
    assert ms.read_artifact(rid, "small.txt") == b"small"
    got = Path(mlflow.artifacts.download_artifacts(run_id=rid, artifact_path="model/weights.bin",
                                                   dst_path=str(tmp_path / "dl")))
    assert got.read_bytes() == data


def test_multipart_calls_check_their_input(server: ServerProcess) -> None:
    import mlflow

    exp = mlflow.MlflowClient().create_experiment("mpu-bad")
    run = mlflow.MlflowClient().create_run(exp)
    base = f"{server.url}/api/2.0/mlflow-artifacts/mpu"
    where = f"{exp}/{run.info.run_id}/artifacts/m"
    r = httpx.post(f"{base}/create/{where}", json={"path": "/tmp/x.bin", "num_parts": 3}, timeout=60)
    assert r.status_code == 200, r.text
    created = r.json()
    assert [c["part_number"] for c in created["credentials"]] == [1, 2, 3]
    parts = []
    for i, cred in enumerate(created["credentials"][:2]):
        put = httpx.put(cred["url"], content=b"ab"[i:i + 1] * 10, headers=cred["headers"], timeout=60)
        assert put.status_code == 200
        parts.append({"part_number": cred["part_number"], "etag": put.headers["etag"]})
    for bad, named in (({"parts": [parts[1]]}, "1..n"),  # a gap
                       ({"parts": [parts[0], {**parts[1], "part_number": 1}]}, "part_number"),
                       ({"parts": [{"part_number": 1, "etag": "0" * 64}]}, "not uploaded"),
                       ({"parts": "all"}, "parts"),
                       ({"parts": parts, "upload_id": "../../x"}, "upload_id")):
        body = {"path": "/tmp/x.bin", "upload_id": created["upload_id"], **bad}
        r = httpx.post(f"{base}/complete/{where}", json=body, timeout=60)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text
        assert named in r.json()["message"], r.text
    assert [a.path for a in Client(server.url).list_artifacts(run.info.run_id)] == []  # nothing recorded
    for path, args in ((f"{exp}/{run.info.run_id}/artifacts/../../etc", {"path": "x", "num_parts": 1}),
                       (where, {"path": "x", "num_parts": 0}), (where, {"path": "x", "num_parts": 10**6}),
                       (f"{exp}/{'0' * 32}/artifacts/m", {"path": "x", "num_parts": 1})):
        r = httpx.post(f"{base}/create/{path}", json=args, timeout=60)
        assert 400 <= r.status_code < 500 and r.json()["error_code"], r.text
    r = httpx.put(f"{base}/part/nope/1", content=b"x", timeout=60)
    assert r.status_code == 400 and "part URL" in r.json()["message"]
    r = httpx.post(f"{base}/complete/{where}", json={"path": "/tmp/x.bin", "upload_id": created["upload_id"],
                                                     "parts": parts}, timeout=60)
    assert r.status_code == 200, r.text
    assert Client(server.url).read_artifact(run.info.run_id, "m/x.bin") == b"a" * 10 + b"b" * 10
    r = httpx.post(f"{base}/abort/{where}", json={"path": "/tmp/y.bin", "upload_id": created["upload_id"]},
                   timeout=60)
    assert r.status_code == 200 and r.json() == {}
