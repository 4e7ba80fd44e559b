"""Content-addressed artifact store on fsspec.

Blobs live at ``{root}/objects/{digest[:2]}/{digest[2:]}`` where ``digest`` is the hex SHA-256 of the
content. Writes are idempotent and atomic; reads re-hash and raise ``IntegrityError`` on a mismatch.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from mainsail.core.errors import (
    IntegrityError,
    InvalidInput,
    MainsailError,
    ServiceUnavailable,
    not_found,
    redact,
)

CHUNK = 1024 * 1024
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_S3_PROTOCOLS = ("s3", "s3a")


@dataclass(frozen=True)
class Blob:
    """A stored object: its hex SHA-256 ``digest`` and ``size`` in bytes."""

    digest: str
    size: int


def _chunks(fh: IO[bytes]) -> Iterator[bytes]:
    while chunk := fh.read(CHUNK):
        yield chunk


def hash_file(path: str | Path) -> Blob:
    """SHA-256 and size of a local file, read in 1 MiB chunks."""
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for chunk in _chunks(fh):
            h.update(chunk)
            size += len(chunk)
    return Blob(h.hexdigest(), size)


def hash_bytes(data: bytes) -> Blob:
    """SHA-256 and size of ``data``."""
    return Blob(hashlib.sha256(data).hexdigest(), len(data))


def check_digest(digest: object, field: str = "digest") -> str:
    """Return ``digest`` if it is 64 lowercase hex chars, else raise ``InvalidInput``."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        msg = "must be a SHA-256 digest: 64 lowercase hex characters"
        raise InvalidInput(f"invalid {field} {digest!r}: {msg}", errors=[{"loc": [field], "msg": msg}])
    return digest


def _s3_options_from_env() -> dict[str, Any]:
    """s3fs options: the endpoint, and bounded retries and connect timeout so that an unreachable store
    answers 503 within seconds (``MAINSAIL_S3_CONNECT_TIMEOUT``, default 3 s; ``MAINSAIL_S3_RETRIES``, default
    2) instead of holding a request through botocore's and s3fs' default retry chains (over a minute)."""
    endpoint = os.environ.get("MAINSAIL_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    retries = int(os.environ.get("MAINSAIL_S3_RETRIES") or 2)
    options: dict[str, Any] = {
        "config_kwargs": {"connect_timeout": float(os.environ.get("MAINSAIL_S3_CONNECT_TIMEOUT") or 3),
                          "retries": {"max_attempts": retries, "mode": "standard"}},
    }
    if endpoint:
        options["client_kwargs"] = {"endpoint_url": endpoint}
    return options


class ArtifactStore:
    """Content-addressed blobs under ``root``: a local folder, ``file://...`` or ``s3://bucket/prefix``."""

    def __init__(self, root: str, storage_options: dict | None = None):
        self.root = root.rstrip("/") or root
        protocol = fsspec.core.split_protocol(self.root)[0] or "file"
        if protocol in _S3_PROTOCOLS:
            try:
                import s3fs  # noqa: F401
            except ImportError as exc:
                raise ServiceUnavailable(
                    f"artifact root {root!r} needs s3fs, which is not installed; "
                    f"pip install 'mainsail[s3]' ({exc})"
                ) from exc
            if storage_options is None:
                storage_options = _s3_options_from_env()
        self.fs, self._base = fsspec.core.url_to_fs(self.root, **(storage_options or {}))
        self._base = self._base.rstrip("/")
        self._local = isinstance(self.fs, LocalFileSystem)
        if protocol in _S3_PROTOCOLS:  # s3fs' own retry loop (5 by default) on top of botocore's
            self.fs.retries = int(os.environ.get("MAINSAIL_S3_RETRIES") or 2)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root!r})"

    # -- paths ---------------------------------------------------------------------------------------
    def path(self, digest: str) -> str:
        """The object's path as the underlying filesystem (``self.fs``) names it."""
        check_digest(digest)
        return f"{self._base}/objects/{digest[:2]}/{digest[2:]}"

    def url(self, digest: str) -> str:
        """Full fsspec URL (or local path, for a plain local root) of the object."""
        path = self.path(digest)
        if self._local and "://" not in self.root:
            return path
        return self.fs.unstrip_protocol(path)

    def exists(self, digest: str) -> bool:
        """Whether the object is stored (bypassing any cached directory listing)."""
        path = self.path(digest)
        if self._local:
            return os.path.isfile(path)
        self.fs.invalidate_cache(path)
        with self._reachable():
            return self.fs.exists(path)

    def iter_blobs(self) -> Iterator[Blob]:
        """Every stored object (its digest and size), ordered by digest: the store's manifest."""
        base = f"{self._base}/objects"
        if self._local:
            if not os.path.isdir(base):
                return
            for prefix in sorted(os.listdir(base)):
                folder = os.path.join(base, prefix)
                for rest in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
                    if _DIGEST_RE.fullmatch(prefix + rest):
                        yield Blob(prefix + rest, os.path.getsize(os.path.join(folder, rest)))
            return
        with self._reachable():
            found = self.fs.find(base, detail=True) if self.fs.exists(base) else {}
        for path, info in sorted(found.items()):
            head, prefix, rest = path.rsplit("/", 2)
            if _DIGEST_RE.fullmatch(prefix + rest):
                yield Blob(prefix + rest, int(info.get("size") or 0))

    # -- writes --------------------------------------------------------------------------------------
    @staticmethod
    def _check_expected(blob: Blob, expected_digest: str | None) -> None:
        if expected_digest is not None and check_digest(expected_digest, "expected_digest") != blob.digest:
            raise IntegrityError(
                f"content digest {blob.digest} does not match expected digest {expected_digest}"
            )

    def _local_tmp(self) -> str:
        tmp_dir = f"{self._base}/tmp"
        os.makedirs(tmp_dir, exist_ok=True)
        return f"{tmp_dir}/{uuid.uuid4().hex}"

    def _local_commit(self, tmp: str, blob: Blob) -> Blob:
        """Rename ``tmp`` into place (or drop it if the object already exists)."""
        final = self.path(blob.digest)
        if os.path.isfile(final):
            os.unlink(tmp)
        else:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(tmp, final)
        return blob

    def put_bytes(self, data: bytes, expected_digest: str | None = None) -> Blob:
        """Store ``data``; return its ``Blob``. Raise ``IntegrityError`` if it does not hash to
        ``expected_digest``."""
        blob = hash_bytes(data)
        self._check_expected(blob, expected_digest)
        if self.exists(blob.digest):
            return blob
        if not self._local:  # a single PUT of the final key is atomic on object stores
            try:
                with self._reachable():
                    self.fs.pipe_file(self.path(blob.digest), data)
            except FileNotFoundError:
                raise self._missing_bucket() from None
            return blob
        tmp = self._local_tmp()
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            return self._local_commit(tmp, blob)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def put_file(self, path: str | Path, expected_digest: str | None = None) -> Blob:
        """Store a local file, streaming it; same checks as ``put_bytes``."""
        if not self._local:
            blob = hash_file(path)
            self._check_expected(blob, expected_digest)
            if not self.exists(blob.digest):
                try:
                    with self._reachable():
                        self.fs.put_file(str(path), self.path(blob.digest))
                except FileNotFoundError:
                    raise self._missing_bucket() from None
            return blob
        tmp = self._local_tmp()
        try:
            h, size = hashlib.sha256(), 0
            with open(path, "rb") as src, open(tmp, "wb") as dst:
                for chunk in _chunks(src):
                    h.update(chunk)
                    size += len(chunk)
                    dst.write(chunk)
            blob = Blob(h.hexdigest(), size)
            self._check_expected(blob, expected_digest)
            return self._local_commit(tmp, blob)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def adopt_file(self, path: str | Path, digest: str) -> Blob:
        """Store a local file whose SHA-256 this process has just computed, consuming the file: a local
        store renames it into place (no copy) when it is on the same filesystem; otherwise it is copied
        or uploaded and verified as by ``put_file``."""
        if self._local:
            final = self.path(check_digest(digest))
            size = os.path.getsize(path)
            if os.path.isfile(final):
                os.unlink(path)
                return Blob(digest, size)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            try:
                os.replace(path, final)
                return Blob(digest, size)
            except OSError:  # another filesystem: copy and verify
                pass
        blob = self.put_file(path, expected_digest=digest)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return blob

    @contextlib.contextmanager
    def _reachable(self) -> Iterator[None]:
        """Turn an object store's connection failure (botocore's ``EndpointConnectionError`` and kin) into
        one ``artifact_store_unreachable`` line naming the store."""
        try:
            yield
        except (FileNotFoundError, MainsailError):
            raise
        except Exception as exc:
            names = {c.__name__ for c in type(exc).__mro__}
            if names & {"ConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "TimeoutError"}:
                raise ServiceUnavailable(f"cannot reach the artifact store {redact(self.root)}: {exc}",
                                         code="artifact_store_unreachable") from None
            raise

    def _missing_bucket(self) -> MainsailError:
        """``bucket_missing`` naming the bucket when the object store's bucket does not exist."""
        bucket = self._base.split("/", 1)[0]
        return ServiceUnavailable(
            f"the artifact store's bucket {bucket!r} does not exist ({redact(self.root)}); create it, or point "
            "MAINSAIL_ARTIFACT_ROOT at an existing bucket", code="bucket_missing")

    def _missing(self, name: str) -> MainsailError:
        """``NotFound`` for a missing object, or ``bucket_missing`` when its whole bucket is missing."""
        if not self._local:
            bucket = self._base.split("/", 1)[0]
            with contextlib.suppress(Exception):
                if not self.fs.exists(bucket):
                    return self._missing_bucket()
        return not_found("artifact", name)

    # -- reads ---------------------------------------------------------------------------------------
    def _open(self, digest: str, name: str | None) -> IO[bytes]:
        path = self.path(digest)
        if not self._local:
            self.fs.invalidate_cache(path)
        try:
            with self._reachable():
                return self.fs.open(path, "rb")
        except FileNotFoundError:
            raise self._missing(name or digest) from None

    @staticmethod
    def _verify(actual: str, digest: str, name: str | None) -> None:
        if actual != digest:
            raise IntegrityError(
                f"artifact {name or digest!r} is corrupt: the stored object's SHA-256 digest {actual} "
                f"does not match its recorded digest {digest}"
            )

    def get_bytes(self, digest: str, name: str | None = None) -> bytes:
        """The object's content, verified against ``digest``. ``name`` labels errors."""
        path = self.path(digest)
        try:
            with self._reachable():
                data = self.fs.cat_file(path)
        except FileNotFoundError:
            raise self._missing(name or digest) from None
        self._verify(hashlib.sha256(data).hexdigest(), digest, name)
        return data

    def get_file(self, digest: str, dest: str | Path, name: str | None = None) -> Path:
        """Stream the object to local ``dest`` (parents created) via a temp file, verified before it is
        renamed into place; a partial or corrupt copy is deleted."""
        dest = Path(dest)
        with self._open(digest, name) as src:
            dest.parent.mkdir(parents=True, exist_ok=True)
            part = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
            try:
                h = hashlib.sha256()
                with open(part, "wb") as dst:
                    for chunk in _chunks(src):
                        h.update(chunk)
                        dst.write(chunk)
                self._verify(h.hexdigest(), digest, name)
                os.replace(part, dest)
            finally:
                part.unlink(missing_ok=True)
        return dest
