"""The content-addressed artifact store over a local folder and over a real (moto) S3 server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import fsspec
import pytest

from mainsail.core.artifacts import ArtifactStore, Blob, hash_bytes, hash_file
from mainsail.core.errors import IntegrityError, InvalidInput, NotFound


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "store" / "not-yet-created"))
    return ArtifactStore(request.getfixturevalue("s3_artifact_root"))


def _independent_fs(store: ArtifactStore, url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """A filesystem that shares no instance or listing cache with the store's own."""
    opts: dict = {}
    if url.startswith("s3://"):
        opts = {"client_kwargs": {"endpoint_url": os.environ["MAINSAIL_S3_ENDPOINT_URL"]},
                "skip_instance_cache": True}
    return fsspec.core.url_to_fs(url, **opts)


def _stored_files(store: ArtifactStore) -> list[str]:
    fs, root = _independent_fs(store, store.root)
    return sorted(fs.find(root)) if fs.exists(root) else []


def test_bytes_round_trip_and_dedup(store: ArtifactStore) -> None:
    data = b"hello mainsail\n"
    blob = store.put_bytes(data)
    assert blob == Blob(hashlib.sha256(data).hexdigest(), len(data)) == hash_bytes(data)
    assert store.exists(blob.digest)
    assert store.get_bytes(blob.digest) == data

    assert store.put_bytes(data, expected_digest=blob.digest) == blob
    files = _stored_files(store)
    assert len(files) == 1
    assert files[0].endswith(f"/objects/{blob.digest[:2]}/{blob.digest[2:]}")
    assert store.url(blob.digest).endswith(f"/objects/{blob.digest[:2]}/{blob.digest[2:]}")


def test_file_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(5 * 1024 * 1024))
    blob = store.put_file(src)
    assert blob == hash_file(src)
    assert blob.size == 5 * 1024 * 1024

    out = store.get_file(blob.digest, tmp_path / "out" / "copy.bin")
    assert out.read_bytes() == src.read_bytes()
    assert store.put_file(src) == blob
    assert len(_stored_files(store)) == 1


def test_expected_digest_mismatch_stores_nothing(store: ArtifactStore, tmp_path: Path) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()
    actual = hashlib.sha256(b"payload").hexdigest()
    with pytest.raises(IntegrityError) as info:
        store.put_bytes(b"payload", expected_digest=wrong)
    assert wrong in str(info.value) and actual in str(info.value)

    src = tmp_path / "payload.txt"
    src.write_bytes(b"payload")
    with pytest.raises(IntegrityError):
        store.put_file(src, expected_digest=wrong)
    assert not store.exists(actual)
    assert _stored_files(store) == []


def test_tampered_object_is_detected(store: ArtifactStore, tmp_path: Path) -> None:
    blob = store.put_bytes(b"the real model weights")
    fs, path = _independent_fs(store, store.url(blob.digest))
    fs.pipe_file(path, b"the tampered weights!!")

    with pytest.raises(IntegrityError) as info:
        store.get_bytes(blob.digest, name="run-1/model.pkl")
    msg = str(info.value)
    assert "run-1/model.pkl" in msg and "does not match" in msg

    dest = tmp_path / "dl" / "model.pkl"
    with pytest.raises(IntegrityError, match="run-1/model.pkl"):
        store.get_file(blob.digest, dest, name="run-1/model.pkl")
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_missing_and_malformed_digests(store: ArtifactStore, tmp_path: Path) -> None:
    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(missing)
    with pytest.raises(NotFound, match="run-1/absent.txt"):
        store.get_bytes(missing, name="run-1/absent.txt")
    with pytest.raises(NotFound, match=missing):
        store.get_file(missing, tmp_path / "absent.txt")
    assert not (tmp_path / "absent.txt").exists()

    for bad in ("../../etc", "../../etc/passwd" + "0" * 48, missing.upper(), missing[:-1]):
        with pytest.raises(InvalidInput):
            store.get_bytes(bad)
        with pytest.raises(InvalidInput):
            store.exists(bad)
        with pytest.raises(InvalidInput):
            store.url(bad)
