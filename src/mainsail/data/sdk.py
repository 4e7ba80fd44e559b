"""Data-layer methods of :class:`mainsail.Client` (mixed into it), the same embedded or remote.

Connectors run here, on the client: every source becomes one canonical Parquet file, which is put into
the artifact store directly in-process or uploaded as bytes to a server. Reads go to the store object
directly in-process, or to a verified local cache (``$MAINSAIL_HOME/cache/<digest>.parquet``) remotely,
and push column projection, row filter and limit down into the Parquet scan."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mainsail.client.backends import Backend, LocalBackend
from mainsail.core.errors import IntegrityError, InvalidInput, NotFound
from mainsail.core.ops import LazyOpSet
from mainsail.core.pagination import Page
from mainsail.core.sandbox import contained
from mainsail.core.settings import Settings

if TYPE_CHECKING:  # annotations only: importing the Client does not build these models
    from mainsail.data.schemas import Dataset, DatasetDiff, DatasetVersion, Profile, ValidationResult
    from mainsail.data.suites import Suite

ops = LazyOpSet("mainsail.data.ops")  # imported on first call: composing the Client stays cheap

# progress(stage, done, total): stage is "load", then "profile" or "store" (in-process) or "upload"
IngestProgress = Callable[[str, int, "int | None"], None]


def split_ref(name: str, version: str | None = None) -> tuple[str, str]:
    """``("churn", "latest")`` from ``"churn"``; ``("churn", "3f2a…")`` from ``"churn@3f2a…"``."""
    if "@" in name:
        name, _, at = name.partition("@")
        if version is not None and version != at:
            raise InvalidInput(f"version given twice: {at!r} in the name and {version!r}",
                               errors=[{"loc": ["version"], "msg": "given twice"}])
        version = at
    return name, (version or "latest")


class DataMethods:
    """Datasets, versions, profiles, validation and diffs (mixed into ``Client``)."""
    _backend: Backend

    # ------------------------------------------------------------ datasets
    def create_dataset(self, name: str, description: str | None = None,
                       tags: Mapping[str, str] | None = None) -> Dataset:
        """Create an empty dataset (409 if the name is taken). Ingesting creates it when missing."""
        return self._backend.call(ops.create_dataset, {"body": {"name": name, "description": description,
                                                                "tags": dict(tags or {})}})

    def get_dataset(self, name: str) -> Dataset:
        """A dataset by name (``NotFound`` if there is none)."""
        return self._backend.call(ops.get_dataset, {"name": name})

    def list_datasets(self, cursor: str | None = None, limit: int = 100) -> Page[Dataset]:
        """One page of datasets, by name."""
        return self._backend.call(ops.list_datasets, {"cursor": cursor, "limit": limit})

    def iter_datasets(self) -> Iterator[Dataset]:
        """Every dataset, page by page."""
        cursor = None
        while True:
            page = self.list_datasets(cursor=cursor, limit=1000)
            yield from page.items
            if not (cursor := page.next_cursor):
                return

    # ------------------------------------------------------------ versions
    def ingest_dataset(self, source: Any, name: str, *, query: str | None = None, format: str | None = None,
                       schema: Mapping[str, str] | None = None, description: str | None = None,
                       profile: bool = True, delimiter: str | None = None,
                       progress: IngestProgress | None = None) -> DatasetVersion:
        """Load ``source`` (a CSV/Parquet/JSON-lines path or ``s3://`` URL, a SQLAlchemy URL with ``query``,
        a pandas DataFrame or an Arrow table) as a new version of dataset ``name``. The same data again
        returns the existing version (``deduplicated=True``). ``schema`` casts columns (``{"age": "int64"}``).

        Files stream: a reader thread decodes the source batch by batch while this thread writes the
        canonical Parquet row group by row group, so memory holds a few batches, not the source.
        ``progress(stage, done, total)`` is called with stage ``load`` (bytes of a file, else rows),
        then ``profile`` (in-process) or ``upload`` (remote)."""
        from mainsail.data import connectors
        from mainsail.data.canonical import write_batches
        from mainsail.data.service import check_name, ingest_file

        check_name(name)
        source_reported = False

        def on_read(done: int, total: int | None) -> None:
            nonlocal source_reported
            source_reported = True
            if progress:
                progress("load", done, total)

        stream = connectors.open_secret_source(
            source, self.resolve_secret, format=format, query=query,  # type: ignore[attr-defined]
            schema=dict(schema) if schema else None, progress=on_read, delimiter=delimiter)
        local = isinstance(self._backend, LocalBackend)
        home = self._backend.runtime.settings.home if local else Settings.from_env().home  # type: ignore[attr-defined]
        tmp_root = home / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="ingest-", dir=tmp_root) as tmp:
            path = Path(tmp) / "data.parquet"

            def on_rows(rows: int) -> None:
                if progress and not source_reported:
                    progress("load", rows, stream.rows)

            files = stream.info.get("kind") in ("csv", "parquet")  # decoding overlaps with writing
            batches = connectors.prefetch(stream.batches) if files else stream.batches
            write_batches(stream.schema, batches, path, on_rows)
            if local:
                if progress:
                    progress("profile" if profile else "store", 0, None)
                actor = self._backend.actor  # type: ignore[attr-defined]  (the OS user by default)
                runtime = self._backend.runtime  # type: ignore[attr-defined]
                version = ingest_file(runtime, actor, name, path, stream.info, description, profile,
                                      project=self._backend.project)  # type: ignore[attr-defined]
                from mainsail.audit.service import record

                with runtime.transaction(actor=actor, project=self._backend.project) as ctx:  # type: ignore[attr-defined]
                    # the version committed above: now its audit row
                    record(ctx, "datasets.upload_version", {"name": name, "source": stream.info,
                                                        "description": description, "profile": profile},
                           version, f"name={name}/version={version.id}")
                return version
            import orjson

            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            try:  # the server has these bytes already: nothing to send
                found = self._backend.call(ops.get_version, {"name": name, "version": digest})
                if found.digest == digest and (found.has_profile or not profile) and found.id == \
                        self._backend.call(ops.get_dataset, {"name": name}).latest_version:
                    return found.model_copy(update={"deduplicated": True})
            except NotFound:
                pass
            if progress:
                progress("upload", 0, len(data))
            out = self._backend.call(ops.upload_version, {
                "name": name, "data": data, "source": orjson.dumps(stream.info).decode(), "description": description,
                "digest": digest, "profile": profile})
            if progress:
                progress("upload", len(data), len(data))
            return out

    def list_dataset_versions(self, name: str, cursor: str | None = None, limit: int = 100) -> Page[DatasetVersion]:
        """Versions, newest first."""
        return self._backend.call(ops.list_versions, {"name": name, "cursor": cursor, "limit": limit})

    def get_dataset_version(self, name: str, version: str | None = None) -> DatasetVersion:
        """A version by id or unique prefix (default: latest); ``name`` may be ``"name@version"``."""
        name, version = split_ref(name, version)
        return self._backend.call(ops.get_version, {"name": name, "version": version})

    def dataset_path(self, name: str, version: str | None = None) -> Any:
        """Where the version's Parquet can be read locally: a path (store file or verified cache copy), or a
        pyarrow dataset on the store's remote filesystem."""
        v = self.get_dataset_version(name, version)
        if isinstance(self._backend, LocalBackend):
            from mainsail.data.storage import fs_dataset, local_path

            store = self._backend.runtime.store
            return local_path(store, v.digest) or fs_dataset(store, v.digest)
        return self._download(v)

    @staticmethod
    def _cache_path(v: DatasetVersion) -> Path:
        return contained(Settings.from_env().home / "cache", f"{v.digest}.parquet", "dataset digest")

    def _cached(self, v: DatasetVersion) -> bool:
        path = self._cache_path(v)
        return path.is_file() and path.stat().st_size == v.size

    def _download(self, v: DatasetVersion) -> str:
        dest = self._cache_path(v)
        cache = dest.parent
        if self._cached(v):
            return str(dest)
        data = self._backend.call(ops.download_version, {"name": v.dataset, "version": v.id})
        if hashlib.sha256(data).hexdigest() != v.digest:
            raise IntegrityError(f"downloaded data of {v.ref} does not match its SHA-256 digest {v.digest}")
        cache.mkdir(parents=True, exist_ok=True)
        part = cache / f".{v.digest}.{uuid.uuid4().hex[:8]}.part"
        part.write_bytes(data)
        os.replace(part, dest)
        return str(dest)

    def load_dataset(self, name: str, version: str | None = None, *, columns: list[str] | None = None,
                     where: str | None = None, limit: int | None = None, as_: str = "pandas", con: Any = None) -> Any:
        """Read a version as ``pandas`` (default), ``arrow`` or a ``duckdb`` relation (on ``con``, or a new
        connection). ``columns``, ``where`` (a SQL condition over the version's columns) and ``limit`` are
        pushed into the Parquet scan: in-process it reads only those columns and row groups; against a
        server, the server runs the selection and sends only its result (unless the whole version is in
        the local cache already, which is then read the same way)."""
        from mainsail.data import storage

        if as_ not in storage.OUTPUTS:
            raise InvalidInput(f"as_ must be one of {', '.join(storage.OUTPUTS)}, not {as_!r}",
                               errors=[{"loc": ["as_"], "msg": "unknown output"}])
        v = self.get_dataset_version(name, version)
        available = [c.name for c in v.columns]
        storage.check_selection(available, columns, limit)
        selective = columns is not None or where is not None or limit is not None
        if selective and not isinstance(self._backend, LocalBackend) and not self._cached(v):
            import io

            import pyarrow.parquet as pq

            data = self._backend.call(ops.select_rows, {"name": v.dataset, "version": v.id, "where": where,
                                                        "columns": ",".join(columns) if columns else None,
                                                        "limit": limit})
            table = pq.read_table(io.BytesIO(data))
            if as_ == "duckdb":
                return (con if con is not None else storage.connect()).from_arrow(table)
            return table if as_ == "arrow" else table.to_pandas()
        src = self.dataset_path(v.dataset, v.id)
        if as_ == "duckdb":
            return storage.relation(con if con is not None else storage.connect(), src, available, columns, where, limit)
        table = storage.read_table(src, available, columns, where, limit)
        return table if as_ == "arrow" else table.to_pandas()

    # ------------------------------------------------------------ profiles, validation, diff
    def profile_dataset(self, name: str, version: str | None = None, *, refresh: bool = False) -> Profile:
        """The version's profile, computed and stored on first use."""
        name, version = split_ref(name, version)
        return self._backend.call(ops.profile_version, {"name": name, "version": version, "refresh": refresh})

    def validate_dataset(self, name: str, suite: Suite | dict[str, Any] | str | Path,
                         version: str | None = None) -> ValidationResult:
        """Run a suite (a ``Suite``, a mapping, YAML text or a YAML file path) on a version; the result is
        stored and ``dataset.validated`` is emitted."""
        from mainsail.data.suites import as_suite

        name, version = split_ref(name, version)
        s = as_suite(suite)
        return self._backend.call(ops.validate_version, {"name": name, "version": version,
                                                         "body": s.model_dump(mode="json")})

    def list_dataset_validations(self, name: str, version: str | None = None) -> list[ValidationResult]:
        """The validation results stored for a version, newest first."""
        name, version = split_ref(name, version)
        return self._backend.call(ops.list_validations, {"name": name, "version": version})

    def diff_dataset_versions(self, name: str, base: str, other: str) -> DatasetDiff:
        """Schema, row count and per-column distribution changes from ``base`` to ``other``."""
        return self._backend.call(ops.diff_versions, {"name": name, "base": base, "other": other})
