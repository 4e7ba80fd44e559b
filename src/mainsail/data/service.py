"""Data-layer rules. The only writer of the datasets, dataset_versions and validation_results tables.

A version is recorded only after its Parquet object is in the artifact store, in one transaction with
its event, so a failed ingest leaves no version behind (at worst an unreferenced object, which a later
ingest of the same data reuses)."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from mainsail.core.artifacts import hash_bytes, hash_file
from mainsail.core.db import get_or_create, new_id, utcnow
from mainsail.core.errors import Conflict, IntegrityError, InvalidInput, not_found
from mainsail.core.events import emit
from mainsail.core.pagination import Limit, Page, cursor_offset, offset_page
from mainsail.core.projects import project_of
from mainsail.core.runtime import Ctx, Runtime
from mainsail.core.types import INT64_MAX, Digest
from mainsail.core.types import check_name as core_check_name
from mainsail.data.models import DatasetRow, DatasetVersionRow, ValidationResultRow
from mainsail.data.schemas import (
    VERSION_ID_LENGTH,
    Dataset,
    DatasetCreate,
    DatasetDiff,
    DatasetName,
    DatasetVersion,
    Profile,
    ValidationResult,
    VersionRef,
)
from mainsail.data.suites import Suite

# ---------------------------------------------------------------- transactions

@contextmanager
def writer(ctx: Ctx) -> Iterator[Ctx]:
    """A short write transaction for what was computed under ``ctx``. Ingest, profile and validate
    operations run under a read transaction (declared ``write=False``): the seconds spent hashing,
    profiling or scanning hold no write lock (SQLite's is database-wide); the result and its event are
    then committed together here. Without a runtime (a bare ``Ctx``) it is ``ctx`` itself."""
    if ctx.runtime is None:
        yield ctx
        return
    with ctx.runtime.transaction(write=True, actor=ctx.actor, principal=ctx.principal, project=ctx.project) as w:
        yield w


# ---------------------------------------------------------------- datasets

def check_name(name: object) -> str:
    """``name`` if it is a valid dataset name (the one name rule), else ``InvalidInput`` naming ``name``."""
    return core_check_name(name, "dataset")


def _latest_id(ctx: Ctx, row: DatasetRow) -> str | None:
    """The id of the dataset's latest version: the one most recently ingested (``latest_version_id``,
    which an ingest of bytes equal to an older version moves back to it), else the highest number."""
    if row.latest_version_id:
        return row.latest_version_id
    return ctx.session.scalar(select(DatasetVersionRow.id).where(DatasetVersionRow.dataset_id == row.id)
                              .order_by(DatasetVersionRow.number.desc()).limit(1))


def _dataset(ctx: Ctx, row: DatasetRow) -> Dataset:
    count = ctx.session.scalar(select(func.count()).where(DatasetVersionRow.dataset_id == row.id))
    latest_id = _latest_id(ctx, row) if count else None
    return Dataset(id=row.id, name=row.name, project=row.project, description=row.description, tags=row.tags or {},
                   created_by=row.created_by, created_at=row.created_at, updated_at=row.updated_at,
                   version_count=count or 0, latest_version=latest_id)


def _dataset_row(ctx: Ctx, name: str, *, lock: bool = False) -> DatasetRow:
    q = select(DatasetRow).where(DatasetRow.project == project_of(ctx), DatasetRow.name == name)
    row = ctx.session.scalar(q.with_for_update() if lock else q)
    if row is None:
        raise not_found("dataset", name)
    return row


def create_dataset(ctx: Ctx, body: DatasetCreate) -> Dataset:
    """Create an empty dataset; its name must be unique in the project. (Ingesting creates the dataset if needed.)"""
    if ctx.session.scalar(select(DatasetRow.id).where(DatasetRow.project == project_of(ctx), DatasetRow.name == body.name)):
        raise Conflict(f"dataset {body.name!r} already exists", code="dataset_exists")
    return _dataset(ctx, _insert_dataset(ctx, body.name, body.description, body.tags))


def _insert_dataset(ctx: Ctx, name: str, description: str | None = None, tags: dict[str, str] | None = None
                    ) -> DatasetRow:
    now = utcnow()
    row = DatasetRow(id=new_id(), project=project_of(ctx), name=name, description=description, tags=tags or {}, created_by=ctx.actor,
                     created_at=now, updated_at=now)
    ctx.session.add(row)
    try:
        ctx.session.flush()
    except SAIntegrityError:
        raise Conflict(f"dataset {name!r} already exists", code="dataset_exists") from None
    emit(ctx.session, "dataset.created", row.id, {"name": name}, ctx.actor)
    return row


def get_dataset(ctx: Ctx, name: DatasetName) -> Dataset:
    """Get a dataset by name, with its version count and latest version."""
    return _dataset(ctx, _dataset_row(ctx, name))


def list_datasets(ctx: Ctx, cursor: str | None = None, limit: Limit = 100) -> Page[Dataset]:
    """List datasets by name."""
    offset = cursor_offset(cursor)
    rows = list(ctx.session.scalars(select(DatasetRow).where(DatasetRow.project == project_of(ctx))
                                    .order_by(DatasetRow.name).offset(offset).limit(limit + 1)))
    page = offset_page(rows, offset, limit)
    return Page[Dataset](items=[_dataset(ctx, r) for r in page.items], next_cursor=page.next_cursor)


# ---------------------------------------------------------------- versions

def _version(row: DatasetVersionRow, name: str, deduplicated: bool = False) -> DatasetVersion:
    return DatasetVersion(id=row.id, dataset=name, number=row.number, digest=row.digest, size=row.size,
                          row_count=row.row_count, columns=row.schema, source=row.source or {},
                          description=row.description, created_by=row.created_by, created_at=row.created_at,
                          has_profile=row.profile is not None, deduplicated=deduplicated)


def _version_row(ctx: Ctx, ds: DatasetRow, ref: str) -> DatasetVersionRow:
    """``latest``, a version id, a unique prefix of one (4+ hex chars), or a full SHA-256 digest."""
    ref = ref.lower()
    q = select(DatasetVersionRow).where(DatasetVersionRow.dataset_id == ds.id)
    if ref == "latest":
        latest = _latest_id(ctx, ds)
        row = None if latest is None else ctx.session.scalar(q.where(DatasetVersionRow.id == latest))
        if row is None:
            raise not_found("dataset version", f"{ds.name}@latest")
        return row
    if len(ref) >= VERSION_ID_LENGTH:
        rows = list(ctx.session.scalars(q.where(DatasetVersionRow.id == ref[:VERSION_ID_LENGTH])))
    else:
        rows = list(ctx.session.scalars(q.where(DatasetVersionRow.id.startswith(ref)).limit(2)))
    if not rows:
        raise not_found("dataset version", f"{ds.name}@{ref}")
    if len(rows) > 1:
        raise InvalidInput(f"version prefix {ref!r} of dataset {ds.name!r} is ambiguous: give more characters",
                           code="ambiguous_version", errors=[{"loc": ["version"], "msg": "ambiguous prefix"}])
    return rows[0]


def get_version(ctx: Ctx, name: DatasetName, version: VersionRef) -> DatasetVersion:
    """Get a version by id (or unique prefix), or ``latest``."""
    ds = _dataset_row(ctx, name)
    return _version(_version_row(ctx, ds, version), ds.name)


def list_versions(ctx: Ctx, name: DatasetName, cursor: str | None = None, limit: Limit = 100) -> Page[DatasetVersion]:
    """A dataset's versions, newest first."""
    ds = _dataset_row(ctx, name)
    offset = cursor_offset(cursor)
    rows = list(ctx.session.scalars(select(DatasetVersionRow).where(DatasetVersionRow.dataset_id == ds.id)
                                    .order_by(DatasetVersionRow.number.desc()).offset(offset).limit(limit + 1)))
    page = offset_page(rows, offset, limit)
    return Page[DatasetVersion](items=[_version(r, ds.name) for r in page.items], next_cursor=page.next_cursor)


def find_by_digest(ctx: Ctx, name: str, digest: str) -> DatasetVersion | None:
    """The dataset's version holding exactly these bytes, if any."""
    ds = ctx.session.scalar(select(DatasetRow).where(DatasetRow.project == project_of(ctx), DatasetRow.name == name))
    if ds is None:
        return None
    row = ctx.session.scalar(select(DatasetVersionRow).where(DatasetVersionRow.dataset_id == ds.id,
                                                             DatasetVersionRow.digest == digest))
    return None if row is None else _version(row, ds.name, deduplicated=True)


@dataclass
class Prepared:
    """A canonical Parquet file ready to be recorded: its digest, size, schema, rows and profile."""

    path: Path
    digest: str
    size: int
    columns: list[dict[str, Any]]
    row_count: int
    profile: dict[str, Any] | None = None


def prepare(path: Path, digest: str | None = None, profile: bool = True, size: int | None = None) -> Prepared:
    """Describe a canonical Parquet file (and profile it); no database or store access."""
    import pyarrow.parquet as pq

    from mainsail.data import canonical, profiles

    meta = pq.read_metadata(str(path))
    if digest is None:
        blob = hash_file(path)
        digest, size = blob.digest, blob.size
    prep = Prepared(path=path, digest=digest, size=size if size is not None else path.stat().st_size,
                    columns=canonical.columns_of(meta.schema.to_arrow_schema()), row_count=meta.num_rows)
    if profile:
        prep.profile = _profile_dict(profiles.compute(str(path)))
    return prep


def _profile_dict(p: dict[str, Any]) -> dict[str, Any]:
    return {**p, "computed_at": utcnow().isoformat()}


def record(ctx: Ctx, name: str, prep: Prepared, source: dict[str, Any] | None = None,
           description: str | None = None) -> DatasetVersion:
    """Record a version whose object is already in the store (one transaction: dataset, version, event).
    The same bytes again give back the existing version."""
    ds = get_or_create(ctx.session, lambda: ctx.session.scalar(
        select(DatasetRow).where(DatasetRow.project == project_of(ctx), DatasetRow.name == name).with_for_update()),
        lambda: _insert_dataset(ctx, name))
    existing = ctx.session.scalar(select(DatasetVersionRow).where(DatasetVersionRow.dataset_id == ds.id,
                                                                  DatasetVersionRow.digest == prep.digest))
    if existing is not None:
        if existing.profile is None and prep.profile is not None:
            existing.profile = prep.profile
        _move_latest(ctx, ds, existing)
        return _version(existing, ds.name, deduplicated=True)
    number = (ctx.session.scalar(select(func.max(DatasetVersionRow.number))
                                 .where(DatasetVersionRow.dataset_id == ds.id)) or 0) + 1
    now = utcnow()
    row = DatasetVersionRow(dataset_id=ds.id, id=prep.digest[:VERSION_ID_LENGTH], number=number, digest=prep.digest,
                            size=prep.size, row_count=prep.row_count, schema=prep.columns, source=source or {},
                            description=description, profile=prep.profile, created_by=ctx.actor, created_at=now)
    ctx.session.add(row)
    ds.updated_at = now
    ds.latest_version_id = row.id
    try:
        ctx.session.flush()
    except SAIntegrityError:
        raise Conflict(f"another version of dataset {name!r} was recorded at the same time; retry",
                       code="version_conflict") from None
    emit(ctx.session, "dataset.version_created", f"{ds.name}@{row.id}",
         {"dataset": ds.name, "version": row.id, "number": number, "digest": row.digest,
          "row_count": row.row_count, "project": ds.project}, ctx.actor)
    return _version(row, ds.name)


def _move_latest(ctx: Ctx, ds: DatasetRow, row: DatasetVersionRow) -> None:
    """Make ``row`` (an existing version whose bytes were ingested again) the dataset's latest: version
    numbers never change, ``latest`` means the version most recently ingested."""
    previous = _latest_id(ctx, ds)
    if previous == row.id:
        return
    ds.latest_version_id, ds.updated_at = row.id, utcnow()
    emit(ctx.session, "dataset.latest_moved", f"{ds.name}@{row.id}",
         {"dataset": ds.name, "version": row.id, "number": row.number, "previous": previous}, ctx.actor)


def make_latest(ctx: Ctx, name: str, version: DatasetVersion) -> DatasetVersion:
    """Make a found (deduplicated) version the dataset's latest; returns it."""
    ds = ctx.session.scalar(select(DatasetRow).where(DatasetRow.project == project_of(ctx), DatasetRow.name == name)
                            .with_for_update())
    row = None if ds is None else ctx.session.scalar(select(DatasetVersionRow).where(
        DatasetVersionRow.dataset_id == ds.id, DatasetVersionRow.id == version.id))
    if ds is not None and row is not None:
        _move_latest(ctx, ds, row)
    return version


def is_latest(ctx: Ctx, name: str, version_id: str) -> bool:
    ds = ctx.session.scalar(select(DatasetRow).where(DatasetRow.project == project_of(ctx), DatasetRow.name == name))
    return ds is not None and _latest_id(ctx, ds) == version_id


def ingest_file(runtime: Runtime, actor: str | None, name: str, path: Path, source: dict[str, Any] | None = None,
                description: str | None = None, profile: bool = True, project: str | None = None) -> DatasetVersion:
    """In-process ingest of a canonical Parquet file, which it consumes: hash it, return the existing
    version if these bytes are stored already; else profile it, move it into the store and record it.
    Nothing is stored before the profile succeeds, and the version row is written last, so a failure
    at any step leaves no version. No database transaction is open while the file is hashed, profiled
    or moved."""
    check_name(name)
    blob = hash_file(path)
    with runtime.transaction(write=False, actor=actor, project=project) as ctx:
        found = find_by_digest(ctx, name, blob.digest)
        latest = found is not None and is_latest(ctx, name, found.id)
    if found is not None and (found.has_profile or not profile):
        if latest:
            return found
        with runtime.transaction(actor=actor, project=project) as ctx:
            return make_latest(ctx, name, found)
    prep = prepare(path, blob.digest, profile, size=blob.size)
    runtime.store.adopt_file(path, blob.digest)
    with runtime.transaction(actor=actor, project=project) as ctx:
        return record(ctx, name, prep, source, description)


def upload_version(ctx: Ctx, name: DatasetName, data: bytes, source: str | None = None,
                   description: str | None = None, digest: Digest | None = None, profile: bool = True) -> DatasetVersion:
    """Add a version from Parquet bytes (the remote client converts every source to Parquet). ``source``
    is a JSON object describing where the data came from; ``digest`` (SHA-256 of the body) is verified."""
    src = _parse_source(source)
    if not data:
        raise InvalidInput("the body is empty: send the data as Parquet bytes", code="invalid_parquet",
                           errors=[{"loc": ["body"], "msg": "empty body"}])
    if digest is not None and hash_bytes(data).digest != digest:
        raise IntegrityError(f"the body's SHA-256 digest does not match the declared digest {digest}")
    with tempfile.TemporaryDirectory(prefix="mainsail-upload-") as tmp:
        path = _canonical_file(data, Path(tmp))
        fdigest = hash_file(path).digest
        found = find_by_digest(ctx, name, fdigest)
        if found is not None and (found.has_profile or not profile):
            if is_latest(ctx, name, found.id):
                return found
            with writer(ctx) as w:
                return make_latest(w, name, found)
        try:
            prep = prepare(path, fdigest, profile)
        except Exception as exc:  # noqa: BLE001 - a file pyarrow accepted but DuckDB cannot read
            raise InvalidInput(f"the Parquet data cannot be read: {exc}", code="invalid_parquet",
                               errors=[{"loc": ["body"], "msg": str(exc)[:500]}]) from None
        ctx.store.put_file(path, expected_digest=fdigest)
        with writer(ctx) as w:
            return record(w, name, prep, src, description)


def _parse_source(source: str | None) -> dict[str, Any]:
    if source is None:
        return {}
    try:
        value = json.loads(source)
        if not isinstance(value, dict):
            raise ValueError("not an object")
    except ValueError:
        raise InvalidInput("source must be a JSON object such as {\"kind\": \"csv\", \"uri\": \"...\"}",
                           errors=[{"loc": ["query", "source"], "msg": "must be a JSON object"}]) from None
    return value


def _canonical_file(data: bytes, tmp: Path) -> Path:
    """The uploaded bytes as a canonical Parquet file (rewritten unless our writer made them)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mainsail.data import canonical

    raw = tmp / "upload.parquet"
    raw.write_bytes(data)
    out = tmp / "canonical.parquet"
    try:
        pf = pq.ParquetFile(str(raw))
        groups = (pf.read_row_group(i) for i in range(pf.num_row_groups))  # every page must decode
        if canonical.is_canonical(raw):
            for _ in groups:
                pass
            return raw
        canonical.write_batches(pf.schema_arrow, (b for g in groups for b in g.to_batches()), out)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"the body is not a readable Parquet file: {exc}", code="invalid_parquet",
                           errors=[{"loc": ["body"], "msg": "not a readable Parquet file"}]) from None
    return out


def download_version(ctx: Ctx, name: DatasetName, version: VersionRef) -> bytes:
    """The version's Parquet bytes, verified against their SHA-256 digest."""
    v = get_version(ctx, name, version)
    return ctx.store.get_bytes(v.digest, name=f"{name}@{v.id}")


def select_rows(ctx: Ctx, name: DatasetName, version: VersionRef, columns: str | None = None,
                where: str | None = None, limit: Annotated[int, Field(ge=0, le=INT64_MAX)] | None = None) -> bytes:
    """Parquet bytes of a selection of the version: ``columns`` (comma-separated), rows matching ``where``
    (a SQL condition over the version's columns) and at most ``limit`` rows, pushed down into the scan,
    so a remote reader moves only what it asked for. The condition runs in a DuckDB connection with
    file access switched off and locked, so it can read nothing but this version."""
    import io

    import duckdb
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    from mainsail.core.sandbox import duckdb_sandbox
    from mainsail.data import storage

    ds = _dataset_row(ctx, name)
    row = _version_row(ctx, ds, version)
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    con = duckdb_sandbox()
    try:
        source = pads.dataset(version_file(ctx, row.digest), format="parquet")
        rel = storage.relation(con, source, [c["name"] for c in row.schema], cols, where, limit)
        try:
            table = storage.to_arrow(rel)
        except duckdb.Error as exc:
            msg = str(exc).strip().splitlines()[0]
            raise InvalidInput(f"where: {msg}", code="invalid_filter", errors=[{"loc": ["where"], "msg": msg}]) from None
    finally:
        con.close()
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def version_file(ctx: Ctx, digest: str) -> str:
    """A local path to the object (the store's own file, or a verified copy in the cache)."""
    from mainsail.data.storage import cached_file

    return cached_file(ctx.store, digest, ctx.settings.home / "cache")


def _types(path: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    return {f.name: f.type for f in pq.read_schema(path)}


# ---------------------------------------------------------------- profiles

def _profile(ds: DatasetRow, row: DatasetVersionRow) -> Profile:
    assert row.profile is not None
    return Profile(dataset=ds.name, version=row.id, **row.profile)


def get_profile(ctx: Ctx, name: DatasetName, version: VersionRef) -> Profile:
    """The stored profile of a version (404 if it was never profiled)."""
    ds = _dataset_row(ctx, name)
    row = _version_row(ctx, ds, version)
    if row.profile is None:
        raise not_found("profile", f"{ds.name}@{row.id}")
    return _profile(ds, row)


def profile_version(ctx: Ctx, name: DatasetName, version: VersionRef, refresh: bool = False) -> Profile:
    """Compute and store a version's profile (kept unless ``refresh``)."""
    from mainsail.data import profiles

    ds = _dataset_row(ctx, name)
    row = _version_row(ctx, ds, version)
    if row.profile is not None and not refresh:
        return _profile(ds, row)
    computed = _profile_dict(profiles.compute(version_file(ctx, row.digest)))
    with writer(ctx) as w:
        stored = w.session.get(DatasetVersionRow, (ds.id, row.id))
        if stored is None:
            raise not_found("dataset version", f"{ds.name}@{row.id}")
        stored.profile = computed
    return Profile(dataset=ds.name, version=row.id, **computed)


# ---------------------------------------------------------------- validation

def _validation(row: ValidationResultRow, name: str) -> ValidationResult:
    return ValidationResult(id=row.id, dataset=name, version=row.version_id, suite=row.suite, passed=row.passed,
                            row_count=row.row_count, checks=row.results, created_by=row.created_by,
                            created_at=row.created_at, seconds=row.seconds or 0.0)


def validate_version(ctx: Ctx, name: DatasetName, version: VersionRef, body: Suite) -> ValidationResult:
    """Run a validation suite on a version; store the result and emit ``dataset.validated``."""
    from mainsail.data import validation

    started = time.perf_counter()
    ds = _dataset_row(ctx, name)
    row = _version_row(ctx, ds, version)
    path = version_file(ctx, row.digest)

    def reference(ref: str) -> validation.Reference:
        if ref == "previous":
            prev = ctx.session.scalar(select(DatasetVersionRow).where(
                DatasetVersionRow.dataset_id == ds.id, DatasetVersionRow.number < row.number)
                .order_by(DatasetVersionRow.number.desc()).limit(1))
            if prev is None:
                return None
        else:
            prev = _version_row(ctx, ds, ref)
        ref_path = version_file(ctx, prev.digest)
        return ref_path, _types(ref_path), prev.row_count

    checks = validation.run(path, body, _types(path), row.row_count, reference)
    passed = all(c["passed"] for c in checks)
    res = ValidationResultRow(id=new_id(), dataset_id=ds.id, version_id=row.id, suite=body.name, passed=passed,
                              results=checks, row_count=row.row_count, seconds=time.perf_counter() - started,
                              created_by=ctx.actor, created_at=utcnow())
    with writer(ctx) as w:
        w.session.add(res)
        emit(w.session, "dataset.validated", f"{ds.name}@{row.id}",
             {"dataset": ds.name, "version": row.id, "number": row.number, "suite": body.name, "passed": passed, "validation_id": res.id,
              "failed_checks": [c["name"] for c in checks if not c["passed"]]}, ctx.actor)
        return _validation(res, ds.name)


def list_validations(ctx: Ctx, name: DatasetName, version: VersionRef) -> list[ValidationResult]:
    """The validation results stored for a version, newest first."""
    ds = _dataset_row(ctx, name)
    row = _version_row(ctx, ds, version)
    rows = ctx.session.scalars(select(ValidationResultRow).where(
        ValidationResultRow.dataset_id == ds.id, ValidationResultRow.version_id == row.id)
        .order_by(ValidationResultRow.created_at.desc(), ValidationResultRow.id))
    return [_validation(r, ds.name) for r in rows]


# ---------------------------------------------------------------- diff

def diff_versions(ctx: Ctx, name: DatasetName, base: VersionRef, other: VersionRef) -> DatasetDiff:
    """What changed from ``base`` to ``other``: columns added, removed or retyped, the row count, and
    each common column's distribution shift."""
    from mainsail.data import diff, profiles

    ds = _dataset_row(ctx, name)
    b, o = _version_row(ctx, ds, base), _version_row(ctx, ds, other)
    bpath, opath = version_file(ctx, b.digest), version_file(ctx, o.digest)
    bprof = b.profile or profiles.compute(bpath)
    oprof = o.profile or profiles.compute(opath)
    body = diff.compute(bpath, opath, _types(bpath), _types(opath), b.row_count, o.row_count, bprof, oprof)
    return DatasetDiff(dataset=ds.name, base=b.id, other=o.id, same_data=b.digest == o.digest, **body)


def duplicate_versions(ctx: Ctx) -> dict[str, list[tuple[str, int, int]]]:
    """``{digest: [(dataset, version number, size), …]}`` for content held by more than one version
    (costs recommendations)."""
    dup = select(DatasetVersionRow.digest).group_by(DatasetVersionRow.digest).having(func.count() > 1)
    q = (select(DatasetVersionRow.digest, DatasetRow.name, DatasetVersionRow.number, DatasetVersionRow.size)
         .join(DatasetRow, DatasetRow.id == DatasetVersionRow.dataset_id)
         .where(DatasetVersionRow.digest.in_(dup)).order_by(DatasetVersionRow.digest, DatasetRow.name))
    out: dict[str, list[tuple[str, int, int]]] = {}
    for digest, name, number, size in ctx.session.execute(q):
        out.setdefault(digest, []).append((name, number, size))
    return out
