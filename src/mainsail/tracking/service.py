"""Tracking rules. The only writer of the tracking tables."""

from __future__ import annotations

import datetime as dt
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import StringConstraints
from sqlalchemy import Float, Text, cast, delete, func, literal, null, select, union_all
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from mainsail.core.db import get_or_create, new_id, utcnow
from mainsail.core.errors import Conflict, InvalidInput, TooLarge, not_found
from mainsail.core.events import emit
from mainsail.core.pagination import Limit, Page, cursor_offset, offset_page
from mainsail.core.projects import owned, project_of
from mainsail.core.runtime import Ctx
from mainsail.core.types import ArtifactKey, Digest, artifact_key
from mainsail.tracking import bulk, series
from mainsail.tracking.models import (
    ArtifactRow,
    ExperimentRow,
    LatestMetricRow,
    ParamRow,
    RunRow,
    TagRow,
)
from mainsail.tracking.names import random_run_name
from mainsail.tracking.schemas import (
    ArtifactInfo,
    Experiment,
    ExperimentCreate,
    Heartbeat,
    LogBatch,
    MetricHistory,
    MetricSamples,
    Name,
    Run,
    RunComparison,
    RunCreate,
    RunStatus,
    RunUpdate,
)

ArtifactPath = Annotated[str, StringConstraints(min_length=1, max_length=1000)]  # a read: see _clean_path
HEARTBEAT_TIMEOUT = "heartbeat_timeout"  # status_reason of a run marked killed for want of heartbeats


# ---------------------------------------------------------------- experiments

def _experiment(row: ExperimentRow) -> Experiment:
    return Experiment.model_validate(row, from_attributes=True)


def create_experiment(ctx: Ctx, body: ExperimentCreate) -> Experiment:
    """Create an experiment in the call's project; its name must be unique there."""
    if ctx.session.scalar(select(ExperimentRow.id).where(ExperimentRow.project == project_of(ctx),
                                                         ExperimentRow.name == body.name)):
        raise Conflict(f"experiment {body.name!r} already exists", code="experiment_exists")
    now = utcnow()
    row = ExperimentRow(id=new_id(), project=project_of(ctx), name=body.name, description=body.description, tags=body.tags,
                        lifecycle="active", created_by=ctx.actor, created_at=now, updated_at=now)
    ctx.session.add(row)
    try:
        ctx.session.flush()
    except SAIntegrityError:
        raise Conflict(f"experiment {body.name!r} already exists", code="experiment_exists") from None
    emit(ctx.session, "experiment.created", row.id, {"name": row.name}, ctx.actor)
    return _experiment(row)


def _experiment_row(ctx: Ctx, experiment_id: str) -> ExperimentRow:
    return owned(ctx, ctx.session.get(ExperimentRow, experiment_id), "experiment", experiment_id)


def get_experiment(ctx: Ctx, experiment_id: str) -> Experiment:
    """Get an experiment by id."""
    return _experiment(_experiment_row(ctx, experiment_id))


def get_experiment_by_name(ctx: Ctx, name: str) -> Experiment:
    """Get an experiment by name."""
    row = ctx.session.scalar(select(ExperimentRow).where(ExperimentRow.project == project_of(ctx),
                                                         ExperimentRow.name == name))
    if row is None:
        raise not_found("experiment", name)
    return _experiment(row)


def ensure_experiment(ctx: Ctx, name: Name) -> Experiment:
    """Get the experiment with this name, creating it if there is none (idempotent)."""
    def get() -> Experiment | None:
        row = ctx.session.scalar(select(ExperimentRow).where(ExperimentRow.project == project_of(ctx),
                                                             ExperimentRow.name == name))
        return None if row is None else _experiment(row)

    return get_or_create(ctx.session, get, lambda: create_experiment(ctx, ExperimentCreate(name=name)))


def list_experiments(ctx: Ctx, cursor: str | None = None, limit: Limit = 100) -> Page[Experiment]:
    """List experiments by name."""
    offset = cursor_offset(cursor)
    rows = ctx.session.scalars(select(ExperimentRow).where(ExperimentRow.project == project_of(ctx),
                                                           ExperimentRow.lifecycle == "active")
                               .order_by(ExperimentRow.name).offset(offset).limit(limit + 1))
    return offset_page([_experiment(r) for r in rows], offset, limit)


# ---------------------------------------------------------------- runs

def _load_runs(ctx: Ctx, rows: Sequence[RunRow]) -> list[Run]:
    """Runs with their params, tags and latest metrics, in one query whatever the count."""
    ids = [r.id for r in rows]
    params: dict[str, dict[str, str]] = {i: {} for i in ids}
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    metrics: dict[str, dict[str, float | None]] = {i: {} for i in ids}
    if ids:
        no_text, no_number = cast(null(), Text), cast(null(), Float)
        q = union_all(
            select(literal(0), ParamRow.run_id, ParamRow.key, ParamRow.value, no_number)
            .where(ParamRow.run_id.in_(ids)),
            select(literal(1), TagRow.run_id, TagRow.key, TagRow.value, no_number).where(TagRow.run_id.in_(ids)),
            select(literal(2), LatestMetricRow.run_id, LatestMetricRow.key, no_text, LatestMetricRow.value)
            .where(LatestMetricRow.run_id.in_(ids)))
        for kind, run_id, k, text, v in ctx.session.execute(q):
            if kind == 2:
                metrics[run_id][k] = None if v is None or math.isnan(v) else v
            else:
                (params if kind == 0 else tags)[run_id][k] = text
    cutoff = _stale_cutoff(ctx)
    runs = []
    for r in rows:
        status, end_time, reason = RunStatus(r.status), r.end_time, r.status_reason
        if cutoff is not None and _is_stale(r, cutoff):  # not marked yet: shown as what it is
            status, end_time, reason = RunStatus.killed, r.last_heartbeat, HEARTBEAT_TIMEOUT
        runs.append(Run(id=r.id, experiment_id=r.experiment_id, name=r.name, status=status,
                        start_time=r.start_time, end_time=end_time, parent_run_id=r.parent_run_id,
                        created_by=r.created_by, params=dict(sorted(params[r.id].items())),
                        tags=dict(sorted(tags[r.id].items())), metrics=dict(sorted(metrics[r.id].items())),
                        last_heartbeat=r.last_heartbeat, status_reason=reason))
    return runs


# ---------------------------------------------------------------- heartbeats

def _stale_cutoff(ctx: Ctx) -> dt.datetime | None:
    """Runs silent since before this are dead (None: heartbeat timeouts are switched off)."""
    timeout = ctx.settings.run_heartbeat_timeout
    return utcnow() - dt.timedelta(seconds=timeout) if timeout > 0 else None


def _is_stale(row: RunRow, cutoff: dt.datetime) -> bool:
    return row.status == RunStatus.running and row.last_heartbeat is not None and row.last_heartbeat < cutoff


def _alive(ctx: Ctx, row: RunRow) -> None:
    """Record a sign of life; a run that was marked killed only for want of heartbeats is running
    again (its process was paused or cut off, not dead: what it sends now is not refused)."""
    now = utcnow()
    if row.status == RunStatus.killed and row.status_reason == HEARTBEAT_TIMEOUT:
        row.status, row.end_time, row.status_reason = RunStatus.running.value, None, None
        emit(ctx.session, "run.resumed", row.id, {"experiment_id": row.experiment_id, "name": row.name},
             ctx.actor)
    if row.last_heartbeat is None or (now - row.last_heartbeat).total_seconds() >= 1:  # at most 1 UPDATE/s
        row.last_heartbeat = now


def heartbeat(ctx: Ctx, run_id: str) -> Heartbeat:
    """Tell the store that the run's process is alive. A running run with no heartbeat (or other
    write) for ``MAINSAIL_RUN_HEARTBEAT_TIMEOUT`` seconds is marked killed."""
    row = _running(ctx, run_id)
    ctx.session.flush()
    return Heartbeat(run_id=row.id, status=RunStatus(row.status), last_heartbeat=row.last_heartbeat or utcnow(),
                     timeout=ctx.settings.run_heartbeat_timeout)


def mark_stale_runs(ctx: Ctx) -> list[str]:
    """Mark every running run silent for longer than the heartbeat timeout as killed (its end time is
    its last heartbeat); return their ids. Run by the server's background loop and, embedded, lazily
    before runs are read."""
    cutoff = _stale_cutoff(ctx)
    if cutoff is None:
        return []
    rows = list(ctx.session.scalars(select(RunRow).where(
        RunRow.status == RunStatus.running.value, RunRow.last_heartbeat < cutoff).with_for_update()))
    for row in rows:
        row.status, row.end_time, row.status_reason = RunStatus.killed.value, row.last_heartbeat, HEARTBEAT_TIMEOUT
        emit(ctx.session, "run.killed", row.id, {"experiment_id": row.experiment_id, "status": row.status,
                                                 "name": row.name, "reason": HEARTBEAT_TIMEOUT}, ctx.actor)
    return [r.id for r in rows]


def has_stale_runs(ctx: Ctx) -> bool:
    """True when some running run has outlived the heartbeat timeout (a cheap read)."""
    cutoff = _stale_cutoff(ctx)
    return cutoff is not None and ctx.session.scalar(select(RunRow.id).where(
        RunRow.status == RunStatus.running.value, RunRow.last_heartbeat < cutoff).limit(1)) is not None


def _in_project(ctx: Ctx, q: Any) -> Any:
    """``q`` over runs narrowed to the runs of the call's project (a run belongs to its experiment's)."""
    return q.where(RunRow.experiment_id.in_(select(ExperimentRow.id).where(ExperimentRow.project == project_of(ctx))))


_EXPERIMENT_PROJECT: dict[str, str] = {}  # experiment id -> its project (fixed for life: no operation moves one)


def _project_of_experiment(ctx: Ctx, experiment_id: str) -> str | None:
    project = _EXPERIMENT_PROJECT.get(experiment_id)
    if project is None:
        project = ctx.session.scalar(select(ExperimentRow.project).where(ExperimentRow.id == experiment_id))
        if project is not None:
            if len(_EXPERIMENT_PROJECT) > 100_000:
                _EXPERIMENT_PROJECT.clear()
            _EXPERIMENT_PROJECT[experiment_id] = project
    return project


def _run_row(ctx: Ctx, run_id: str, *, lock: bool = False, active: bool = True) -> RunRow:
    """The run (of the call's project: its experiment's, known in memory after the first look)."""
    q = select(RunRow).where(RunRow.id == run_id)
    if active:
        q = q.where(RunRow.lifecycle == "active")
    row = ctx.session.scalar(q.with_for_update() if lock else q)
    if row is not None and _project_of_experiment(ctx, row.experiment_id) != project_of(ctx):
        row = None  # another project's run: not found here
    if row is None:
        raise not_found("run", run_id)
    return row


def _running(ctx: Ctx, run_id: str) -> RunRow:
    """The run, locked for the rest of the transaction; 409 unless it is still running. A write is
    the run's heartbeat."""
    row = _run_row(ctx, run_id, lock=True)
    _alive(ctx, row)
    if row.status != RunStatus.running:
        raise Conflict(f"run {run_id!r} is {row.status}; it no longer accepts writes", code="run_not_running")
    return row


def create_run(ctx: Ctx, body: RunCreate) -> Run:
    """Start a run in an experiment, optionally with initial params and tags."""
    _experiment_row(ctx, body.experiment_id)
    if body.parent_run_id:
        _run_row(ctx, body.parent_run_id)
    row = RunRow(id=new_id(), experiment_id=body.experiment_id, name=body.name or random_run_name(),
                 status=RunStatus.running.value, start_time=body.start_time or utcnow(),
                 parent_run_id=body.parent_run_id, created_by=ctx.actor, lifecycle="active",
                 last_heartbeat=utcnow())
    ctx.session.add(row)
    ctx.session.flush()
    _write_params(ctx, row.id, body.params)
    _write_tags(ctx, row.id, body.tags)
    emit(ctx.session, "run.started", row.id, {"experiment_id": row.experiment_id, "name": row.name}, ctx.actor)
    return _load_runs(ctx, [row])[0]


def get_run(ctx: Ctx, run_id: str) -> Run:
    """Get a run with its params, tags and latest metrics."""
    return _load_runs(ctx, [_run_row(ctx, run_id)])[0]


def update_run(ctx: Ctx, run_id: str, body: RunUpdate) -> Run:
    """Rename a run or end it (finished, failed, killed). An ended run cannot be reopened."""
    row = _run_row(ctx, run_id, lock=True)
    if body.name is not None:
        row.name = body.name
    if body.status is not None and body.status != row.status:
        if row.status == RunStatus.killed and row.status_reason == HEARTBEAT_TIMEOUT:
            _alive(ctx, row)  # its owner ends it: the end it reports is the true one
        if row.status != RunStatus.running:
            raise Conflict(f"run {run_id!r} already ended as {row.status}", code="run_not_running")
        if not body.status.terminal:
            raise InvalidInput("status: an ended run cannot be set back to running",
                               errors=[{"loc": ["body", "status"], "msg": "cannot reopen a run"}])
        row.status = body.status.value
        row.end_time = body.end_time or utcnow()
        row.status_reason = None
        emit(ctx.session, f"run.{body.status.value}", row.id,
             {"experiment_id": row.experiment_id, "status": row.status, "name": row.name}, ctx.actor)
        from mainsail.costs.hooks import run_ended

        run_ended(ctx, row.id, row.experiment_id, row.start_time, row.end_time, row.status, body.usage)
    ctx.session.flush()
    return _load_runs(ctx, [row])[0]


def delete_run(ctx: Ctx, run_id: str) -> None:
    """Delete a run (it disappears from searches; its artifacts' blobs stay content-addressed)."""
    row = _run_row(ctx, run_id, lock=True)
    row.lifecycle = "deleted"
    emit(ctx.session, "run.deleted", row.id, {"experiment_id": row.experiment_id, "name": row.name}, ctx.actor)


def _write_params(ctx: Ctx, run_id: str, params: dict[str, str]) -> None:
    if not params:
        return
    existing = {k: v for k, v in ctx.session.execute(select(ParamRow.key, ParamRow.value).where(
        ParamRow.run_id == run_id, ParamRow.key.in_(list(params))))}
    for key, value in params.items():
        if key in existing and existing[key] != value:
            raise Conflict(f"param {key!r} of run {run_id!r} is already {existing[key]!r}; "
                           f"it cannot be changed to {value!r}", code="param_conflict",
                           errors=[{"loc": ["params", key], "msg": "param already logged with another value"}])
    ctx.session.add_all(ParamRow(run_id=run_id, key=k, value=v) for k, v in params.items() if k not in existing)


def _write_tags(ctx: Ctx, run_id: str, tags: dict[str, str]) -> None:
    if tags:
        bulk.upsert_tags(ctx.session, [(run_id, k, v) for k, v in tags.items()])


def log_batch(ctx: Ctx, run_id: str, body: LogBatch) -> None:
    """Log metrics (in columns), params and tags to a running run in one transaction. At most
    ``MAINSAIL_MAX_BATCH_POINTS`` metric points (10,000 by default) per call: a bigger batch would hold
    the write lock for seconds; the SDK splits it (413 ``batch_too_large`` otherwise)."""
    limit = ctx.settings.max_batch_points
    if body.metrics is not None and len(body.metrics.key) > limit:
        raise TooLarge(f"metrics: {len(body.metrics.key):,} points in one batch; at most {limit:,} per call "
                       "(server setting MAINSAIL_MAX_BATCH_POINTS): split the batch", code="batch_too_large",
                       errors=[{"loc": ["body", "metrics", "key"], "msg": f"at most {limit} points per batch"}])
    _running(ctx, run_id)
    _write_params(ctx, run_id, body.params)
    _write_tags(ctx, run_id, body.tags)
    ctx.session.flush()
    if body.metrics is not None and body.metrics.key:
        bulk.insert_metrics(ctx.session, run_id, body.metrics.rows(run_id))


def log_metric_rows(ctx: Ctx, run_id: str, rows: list[tuple[str, str, float, int, float]],
                    meanwhile: Callable[[], Any] | None = None) -> Any:
    """In-process fast path for already-validated rows ``(run_id, key, value, step, timestamp)``;
    ``meanwhile`` runs while the store takes them (see :func:`bulk.insert_metrics`), its result returned."""
    _running(ctx, run_id)
    return bulk.insert_metrics(ctx.session, run_id, rows, meanwhile)


def get_metric_history(ctx: Ctx, run_id: str, key: str) -> MetricHistory:
    """Every point of one metric, ordered by step then time."""
    _run_row(ctx, run_id)
    steps, values, stamps = bulk.metric_history(ctx.session, run_id, key)
    if not steps and ctx.session.get(LatestMetricRow, (run_id, key)) is None:
        raise not_found("metric", f"{run_id}/{key}")
    return MetricHistory.model_construct(run_id=run_id, key=key, step=steps, value=values, timestamp=stamps)


SamplePoints = Annotated[int, Ge(2), Le(20000)]
_samples: OrderedDict[tuple[str, ...], MetricSamples] = OrderedDict()  # finished runs only
_SAMPLES_KEPT = 64


def sample_metric(ctx: Ctx, run_id: str, key: str, points: SamplePoints = 1000) -> MetricSamples:
    """One metric reduced to about ``points`` points for a chart (min and max per x bucket, first and
    last kept). A finished run's series cannot change, so its samples are kept in memory."""
    from mainsail.tracking.downsample import minmax

    row = _run_row(ctx, run_id)
    cache_key = (ctx.settings.uri, run_id, key, str(points), row.status, str(row.end_time))
    if (hit := _samples.get(cache_key)) is not None:
        _samples.move_to_end(cache_key)
        return hit
    sqlite = ctx.session.get_bind().dialect.name == "sqlite"
    if sqlite:  # the kept series plus the points committed since (see tracking/series.py)
        steps, values = series.arrays(ctx.session, ctx.settings.uri, run_id, key)
    else:
        table = bulk.metric_table(ctx.session, run_id, key)
        steps, values = table["step"], table["value"]
    if not len(steps) and ctx.session.get(LatestMetricRow, (run_id, key)) is None:
        raise not_found("metric", f"{run_id}/{key}")
    x, y = minmax(steps, values, max(1, points // 2))
    result = MetricSamples.model_construct(run_id=run_id, key=key, total=len(steps), step=x.tolist(),
                                           value=y.tolist())
    if RunStatus(row.status).terminal:
        if sqlite:
            series.forget(ctx.settings.uri, run_id)  # its samples are kept whole from now on
        _samples[cache_key] = result
        while len(_samples) > _SAMPLES_KEPT:
            _samples.popitem(last=False)
    return result


def search_runs(ctx: Ctx, experiment_ids: list[str] | None = None, filter: str | None = None,
                order_by: list[str] | None = None, cursor: str | None = None, limit: Limit = 100) -> Page[Run]:
    """Search runs with a filter expression (``metrics.auc > 0.8 and params.model = 'rf'``)."""
    from mainsail.tracking import search  # the parser is built on first use, not at start-up

    q = _in_project(ctx, select(RunRow).where(RunRow.lifecycle == "active"))
    if experiment_ids:
        q = q.where(RunRow.experiment_id.in_(experiment_ids))
    clause = search.compile_filter(filter)
    if clause is not None:
        q = q.where(clause)
    offset = cursor_offset(cursor)
    rows = search.fetch_ordered(ctx.session, q, order_by, offset, limit + 1)
    page = offset_page(rows, offset, limit)
    return Page[Run](items=_load_runs(ctx, page.items), next_cursor=page.next_cursor)


def compare_runs(ctx: Ctx, run_ids: list[str]) -> RunComparison:
    """Runs side by side: every param and latest metric of each, and the params that differ."""
    if not run_ids:
        raise InvalidInput("run_ids: give at least one run id",
                           errors=[{"loc": ["query", "run_ids"], "msg": "at least one run id"}])
    rows = {r.id: r for r in ctx.session.scalars(_in_project(ctx, select(RunRow).where(
        RunRow.id.in_(run_ids), RunRow.lifecycle == "active")))}
    missing = [i for i in run_ids if i not in rows]
    if missing:
        raise not_found("run", missing[0])
    runs = _load_runs(ctx, [rows[i] for i in dict.fromkeys(run_ids)])
    pkeys = sorted({k for r in runs for k in r.params})
    mkeys = sorted({k for r in runs for k in r.metrics})
    params = {k: {r.id: r.params.get(k) for r in runs} for k in pkeys}
    metrics = {k: {r.id: r.metrics.get(k) for r in runs} for k in mkeys}
    differing = [k for k, by_run in params.items() if len(set(by_run.values())) > 1]
    return RunComparison(runs=runs, params=params, metrics=metrics, differing_params=differing)


# ---------------------------------------------------------------- artifacts

def clean_artifact_path(path: str, read: bool = False) -> str:
    """``path`` as a stored key (:func:`~mainsail.core.types.artifact_key`); a read also finds ``/a.txt``."""
    try:
        return artifact_key(path.lstrip("/") if read else path)
    except ValueError as exc:
        raise InvalidInput(f"artifact path {path!r}: {exc}", errors=[{"loc": ["path"], "msg": str(exc)}]) from None


def upload_artifact(ctx: Ctx, run_id: str, path: ArtifactKey, data: bytes,
                    digest: Digest | None = None) -> ArtifactInfo:
    """Store a file's bytes as a run artifact at ``path``; ``digest`` (SHA-256) is verified if given."""
    path = clean_artifact_path(path)
    _running(ctx, run_id)
    blob = ctx.store.put_bytes(data, expected_digest=digest)
    return _record_artifact(ctx, run_id, path, blob.digest, blob.size)


def _record_artifact(ctx: Ctx, run_id: str, path: str, digest: str, size: int) -> ArtifactInfo:
    now = utcnow()
    ctx.session.execute(delete(ArtifactRow).where(ArtifactRow.run_id == run_id, ArtifactRow.path == path))
    ctx.session.add(ArtifactRow(run_id=run_id, path=path, digest=digest, size=size, created_at=now))
    return ArtifactInfo(path=path, size=size, digest=digest, created_at=now)


def record_artifact(ctx: Ctx, run_id: str, path: str, digest: str, size: int) -> ArtifactInfo:
    """In-process path: link a blob already in the artifact store to a run."""
    path = clean_artifact_path(path)
    _running(ctx, run_id)
    if not ctx.store.exists(digest):
        raise not_found("artifact blob", digest)
    return _record_artifact(ctx, run_id, path, digest, size)


def list_artifacts(ctx: Ctx, run_id: str, prefix: str | None = None) -> list[ArtifactInfo]:
    """The run's artifacts, optionally under a folder prefix."""
    _run_row(ctx, run_id)
    q = select(ArtifactRow).where(ArtifactRow.run_id == run_id).order_by(ArtifactRow.path)
    if prefix:
        p = prefix.strip("/")
        q = q.where((ArtifactRow.path == p) | ArtifactRow.path.startswith(p + "/"))
    return [ArtifactInfo.model_validate(r, from_attributes=True) for r in ctx.session.scalars(q)]


def artifact_info(ctx: Ctx, run_id: str, path: str) -> ArtifactInfo:
    _run_row(ctx, run_id)
    row = ctx.session.get(ArtifactRow, (run_id, clean_artifact_path(path, read=True)))
    if row is None:
        raise not_found("artifact", f"{run_id}/{path}")
    return ArtifactInfo.model_validate(row, from_attributes=True)


def download_artifact(ctx: Ctx, run_id: str, path: ArtifactPath) -> bytes:
    """A run artifact's bytes, verified against its SHA-256 digest."""
    info = artifact_info(ctx, run_id, path)
    return ctx.store.get_bytes(info.digest, name=f"{run_id}/{info.path}")


def run_count(ctx: Ctx, experiment_id: str) -> int:
    return ctx.session.scalar(select(func.count()).select_from(RunRow)
                              .where(RunRow.experiment_id == experiment_id)) or 0




# ---------------------------------------------------------------- lifecycle and tag edits (MLflow API)

def rename_experiment(ctx: Ctx, experiment_id: str, name: Name) -> Experiment:
    """Give an experiment a new name, unique in its project."""
    row = _experiment_row(ctx, experiment_id)
    if row.name != name:
        if ctx.session.scalar(select(ExperimentRow.id).where(ExperimentRow.project == row.project,
                                                             ExperimentRow.name == name)):
            raise Conflict(f"experiment {name!r} already exists", code="experiment_exists")
        row.name, row.updated_at = name, utcnow()
        ctx.session.flush()
    return _experiment(row)


def set_experiment_lifecycle(ctx: Ctx, experiment_id: str, lifecycle: str) -> Experiment:
    """Delete (``deleted``) or restore (``active``) an experiment; deleted experiments leave listings."""
    if lifecycle not in ("active", "deleted"):
        raise InvalidInput(f"lifecycle must be 'active' or 'deleted', not {lifecycle!r}",
                           errors=[{"loc": ["lifecycle"], "msg": "expected active or deleted"}])
    row = _experiment_row(ctx, experiment_id)
    if row.lifecycle != lifecycle:
        row.lifecycle, row.updated_at = lifecycle, utcnow()
        emit(ctx.session, f"experiment.{'restored' if lifecycle == 'active' else 'deleted'}", row.id,
             {"name": row.name}, ctx.actor)
    return _experiment(row)


def set_experiment_tag(ctx: Ctx, experiment_id: str, key: str, value: str | None) -> Experiment:
    """Set an experiment tag, or remove it when ``value`` is None."""
    row = _experiment_row(ctx, experiment_id)
    tags = dict(row.tags or {})
    if value is None:
        tags.pop(key, None)
    else:
        tags[key] = value
    row.tags, row.updated_at = tags, utcnow()
    return _experiment(row)


def all_experiments(ctx: Ctx, lifecycle: str | None = "active") -> list[Experiment]:
    """Every experiment of the call's project in a lifecycle (None: all), by name."""
    q = select(ExperimentRow).where(ExperimentRow.project == project_of(ctx)).order_by(ExperimentRow.name)
    if lifecycle:
        q = q.where(ExperimentRow.lifecycle == lifecycle)
    return [_experiment(r) for r in ctx.session.scalars(q)]


def restore_run(ctx: Ctx, run_id: str) -> Run:
    """Bring a deleted run back."""
    row = _run_row(ctx, run_id, lock=True, active=False)
    if row.lifecycle != "active":
        row.lifecycle = "active"
        emit(ctx.session, "run.restored", row.id, {"experiment_id": row.experiment_id, "name": row.name},
             ctx.actor)
    return _load_runs(ctx, [row])[0]


def delete_tag(ctx: Ctx, run_id: str, key: str) -> None:
    """Remove a tag from a running run."""
    _running(ctx, run_id)
    gone = ctx.session.execute(delete(TagRow).where(TagRow.run_id == run_id, TagRow.key == key))
    if not gone.rowcount:
        raise not_found("tag", f"{run_id}/{key}")


def set_bookkeeping_tag(ctx: Ctx, run_id: str, key: str, value: str | None) -> None:
    """Set (or, with None, remove) a tag that records bookkeeping about the run rather than what it
    measured (e.g. the MLflow API's logged-model records); allowed after the run ended."""
    _run_row(ctx, run_id, lock=True)
    if value is None:
        ctx.session.execute(delete(TagRow).where(TagRow.run_id == run_id, TagRow.key == key))
    else:
        _write_tags(ctx, run_id, {key: value})


def deleted_run_ids(ctx: Ctx) -> list[str]:
    """Ids of the runs that are deleted (their artifacts may be collected; see ``mainsail gc``)."""
    return list(ctx.session.scalars(select(RunRow.id).where(RunRow.lifecycle == "deleted")))


def run_projects(ctx: Ctx, run_ids: list[str]) -> dict[str, str]:
    """The project of each run (of its experiment)."""
    out: dict[str, str] = {}
    for i in range(0, len(run_ids), 500):
        q = (select(RunRow.id, ExperimentRow.project).join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id)
             .where(RunRow.id.in_(run_ids[i:i + 500])))
        out.update({r: p for r, p in ctx.session.execute(q)})
    return out


def runs_ended_before(ctx: Ctx, before: dt.datetime, limit: int = 10_000, project: str | None = None) -> list[str]:
    """Ids of active runs that ended before ``before`` (retention rules delete them), of one project or all."""
    q = select(RunRow.id).where(RunRow.lifecycle == "active", RunRow.end_time.is_not(None), RunRow.end_time < before)
    if project is not None:
        q = q.join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id).where(ExperimentRow.project == project)
    return list(ctx.session.scalars(q.order_by(RunRow.end_time).limit(limit)))
