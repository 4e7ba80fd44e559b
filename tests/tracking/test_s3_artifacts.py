"""Tracking with the artifact store on S3 (a real moto server), embedded and through a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from mainsail import Client
from mainsail.core.errors import IntegrityError


def _log_and_read(client: Client, tmp_path: Path) -> None:
    run = client.create_run(client.create_experiment("s3").id)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(b"\x00\x01" * 50_000)
    (tmp_path / "model" / "meta.json").write_text("{}")
    client.log_artifact(run.id, tmp_path / "model")
    assert [a.path for a in client.list_artifacts(run.id)] == ["model/meta.json", "model/w.bin"]
    assert client.read_artifact(run.id, "model/w.bin") == b"\x00\x01" * 50_000


def test_embedded_client_with_s3_artifact_root(s3_artifact_root: str, tmp_path: Path) -> None:
    client = Client(f"sqlite:///{tmp_path / 'm.db'}", artifact_root=s3_artifact_root)
    _log_and_read(client, tmp_path)
    run = client.create_run(client.create_experiment("tamper").id)
    (tmp_path / "a.txt").write_text("original")
    [info] = client.log_artifact(run.id, tmp_path / "a.txt")
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True,
                           client_kwargs={"endpoint_url": __import__("os").environ["MAINSAIL_S3_ENDPOINT_URL"]})
    key = f"{s3_artifact_root.removeprefix('s3://')}/objects/{info.digest[:2]}/{info.digest[2:]}"
    fs.pipe_file(key, b"tampered")
    with pytest.raises(IntegrityError, match="a.txt"):
        client.read_artifact(run.id, "a.txt")


def test_server_with_s3_artifact_root(s3_artifact_root: str, tmp_path: Path) -> None:
    from _services import ServerProcess

    srv = ServerProcess(f"sqlite:///{tmp_path / 'srv.db'}", s3_artifact_root, tmp_path).start()
    try:
        _log_and_read(Client(srv.url), tmp_path)
    finally:
        srv.stop()
