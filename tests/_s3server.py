"""A real S3 endpoint for tests: moto's standalone server on a loopback port, one per session (per
xdist worker), and a fresh bucket per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from _services import free_port, require_service

_DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _clear_s3fs_instances() -> None:
    """Drop cached s3fs instances so a test never sees another test's stale listings."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="session")
def moto_s3_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server (dummy AWS credentials are set if none are)."""
    try:
        import boto3  # noqa: F401
        import s3fs  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        require_service("moto S3 server", f"moto[server], boto3 or s3fs not importable ({exc})")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in _DUMMY_AWS_ENV.items():
            if key not in os.environ:
                mp.setenv(key, value)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        try:
            server.start()
        except Exception as exc:  # noqa: BLE001
            require_service("moto S3 server", f"could not start on 127.0.0.1:{port} ({exc})")
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()
            _clear_s3fs_instances()


@pytest.fixture
def s3_artifact_root(moto_s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``s3://<fresh bucket>/artifacts`` with MAINSAIL_S3_ENDPOINT_URL pointing at the moto server."""
    import boto3

    bucket = f"mainsail-test-{uuid.uuid4().hex[:16]}"
    client = boto3.client("s3", endpoint_url=moto_s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("MAINSAIL_S3_ENDPOINT_URL", moto_s3_server)
    _clear_s3fs_instances()
    yield f"s3://{bucket}/artifacts"
    _clear_s3fs_instances()
    try:  # best effort: keep the in-memory server small over a long session
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        client.delete_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001
        pass
