"""Pipeline rules: definitions (validated, versioned on change), runs, cancel, logs, schedules and
event triggers. With :mod:`mainsail.pipelines.queue` (the executors' hot path) the only writer of
the pipeline tables."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from mainsail.core.artifacts import check_digest
from mainsail.core.db import new_id, utcnow
from mainsail.core.errors import Conflict, InvalidInput, NotFound, not_found
from mainsail.core.events import Event, emit
from mainsail.core.pagination import Limit, Page, cursor_offset, offset_page
from mainsail.core.runtime import Ctx
from mainsail.core.types import Digest
from mainsail.pipelines import dag, guard, operators, queue
from mainsail.pipelines.models import (
    PipelineRow,
    PipelineRunRow,
    PipelineTaskRow,
    PipelineVersionRow,
    ScheduleRow,
    TriggerFireRow,
)
from mainsail.pipelines.pool import task_log_path
from mainsail.pipelines.schemas import (
    MAX_CODE,
    TERMINAL_RUN,
    CodeRef,
    OperatorInfo,
    Pipeline,
    PipelineRun,
    PipelineSpec,
    PipelineVersion,
    RunCreate,
    RunStatus,
    Schedule,
    ScheduleCreate,
    TaskRun,
)

T = PipelineTaskRow

# ---------------------------------------------------------------- definitions


def _pipeline_row(ctx: Ctx, key: str, *, lock: bool = False) -> PipelineRow:
    q = select(PipelineRow).where((PipelineRow.name == key) | (PipelineRow.id == key))
    row = ctx.session.scalar(q.with_for_update() if lock else q)
    if row is None:
        raise not_found("pipeline", key)
    return row


def _version_row(ctx: Ctx, pipeline: PipelineRow, version: int | None = None) -> PipelineVersionRow:
    row = ctx.session.scalar(select(PipelineVersionRow).where(
        PipelineVersionRow.pipeline_id == pipeline.id,
        PipelineVersionRow.version == (version or pipeline.latest_version)))
    if row is None:
        raise not_found("pipeline version", f"{pipeline.name}/{version}")
    return row


def _version(row: PipelineVersionRow, name: str, created: bool) -> PipelineVersion:
    return PipelineVersion(id=row.id, pipeline_id=row.pipeline_id, name=name, version=row.version, digest=row.digest,
                           spec=PipelineSpec.model_validate(row.spec), created=created, created_by=row.created_by,
                           created_at=row.created_at)


def put_code(ctx: Ctx, digest: Digest, data: bytes) -> CodeRef:
    """Store the source of a module that ``python`` tasks run (shipped with a definition by its
    client), verified against ``digest``; a worker anywhere fetches it by that digest."""
    check_digest(digest, "digest")
    if len(data) > MAX_CODE:
        raise InvalidInput(f"module source is {len(data):,} bytes; at most {MAX_CODE:,}",
                           errors=[{"loc": ["body"], "msg": "too large"}])
    blob = ctx.store.put_bytes(data, expected_digest=digest)
    return CodeRef(digest=blob.digest, size=blob.size)


def get_code(ctx: Ctx, digest: Digest) -> bytes:
    """A shipped module's source, verified against its digest."""
    check_digest(digest, "digest")
    if not ctx.store.exists(digest):
        raise not_found("pipeline code", digest)
    return ctx.store.get_bytes(digest, name=f"pipeline code {digest[:12]}")


def _check_code(ctx: Ctx, body: PipelineSpec) -> None:
    """Every ``python`` task that names shipped code must find it stored (uploaded before the apply)."""
    missing = [{"loc": ["body", "tasks", i, "params", "code"], "msg": f"task {t.name!r}: no stored code {code}"}
               for i, t in enumerate(body.tasks)
               if t.operator == "python" and isinstance(code := t.params.get("code"), str)
               and _is_digest(code) and not ctx.store.exists(code)]
    if missing:
        raise InvalidInput("shipped code not found; upload it with PUT /pipeline-code/{digest} before applying",
                           code="code_not_found", errors=missing)


def _is_digest(value: str) -> bool:
    try:
        check_digest(value)
    except InvalidInput:
        return False
    return True


def apply_pipeline(ctx: Ctx, body: PipelineSpec) -> PipelineVersion:
    """Register a pipeline definition; a changed definition becomes a new version, the same one is a no-op.
    A task given no params takes its operator's required ones from each run."""
    dag.validate(body, defer={t.name for t in body.tasks if "params" not in t.model_fields_set})
    guard.check(ctx, body)
    _check_code(ctx, body)
    digest = dag.spec_digest(body)
    now = utcnow()
    row = ctx.session.scalar(select(PipelineRow).where(PipelineRow.name == body.name).with_for_update())
    if row is None:
        row = PipelineRow(id=new_id(), name=body.name, latest_version=0, created_by=ctx.actor, created_at=now,
                          updated_at=now)
        ctx.session.add(row)
        ctx.session.flush()
    else:
        latest = _version_row(ctx, row)
        if latest.digest == digest:
            return _version(latest, row.name, False)
    row.latest_version += 1
    row.updated_at = now
    version = PipelineVersionRow(id=new_id(), pipeline_id=row.id, version=row.latest_version, digest=digest,
                                 spec=body.model_dump(mode="json"), created_by=ctx.actor, created_at=now)
    ctx.session.add(version)
    ctx.session.flush()
    emit(ctx.session, "pipeline.applied", row.id, {"name": row.name, "version": version.version}, ctx.actor)
    return _version(version, row.name, True)


def _pipeline(ctx: Ctx, row: PipelineRow) -> Pipeline:
    spec = PipelineSpec.model_validate(_version_row(ctx, row).spec)
    return Pipeline(id=row.id, name=row.name, latest_version=row.latest_version, description=spec.description,
                    tasks=len(spec.tasks), spec=spec, created_at=row.created_at, updated_at=row.updated_at)


def get_pipeline(ctx: Ctx, name: str) -> Pipeline:
    """A pipeline (by name or id) with its latest definition."""
    return _pipeline(ctx, _pipeline_row(ctx, name))


def list_pipelines(ctx: Ctx, cursor: str | None = None, limit: Limit = 100) -> Page[Pipeline]:
    """Pipelines by name."""
    offset = cursor_offset(cursor)
    rows = list(ctx.session.scalars(select(PipelineRow).order_by(PipelineRow.name).offset(offset).limit(limit + 1)))
    page = offset_page(rows, offset, limit)
    return Page[Pipeline](items=[_pipeline(ctx, r) for r in page.items], next_cursor=page.next_cursor)


def list_pipeline_versions(ctx: Ctx, name: str) -> list[PipelineVersion]:
    """Every version of a pipeline's definition, newest first."""
    row = _pipeline_row(ctx, name)
    rows = ctx.session.scalars(select(PipelineVersionRow).where(PipelineVersionRow.pipeline_id == row.id)
                               .order_by(PipelineVersionRow.version.desc()))
    return [_version(v, row.name, True) for v in rows]


def list_operators(ctx: Ctx) -> list[OperatorInfo]:
    """The built-in operators, their params schemas, and whether each can run here."""
    return [OperatorInfo(name=op.name, description=op.description, deterministic=op.deterministic,
                         available=op.unavailable() is None, unavailable_reason=op.unavailable(),
                         params_schema=op.params.model_json_schema()) for op in operators.all_operators().values()]


# ---------------------------------------------------------------- runs

def _run_params(spec: PipelineSpec, given: dict[str, Any], loc: list[Any]) -> dict[str, Any]:
    """The run's params: the declared ones with their defaults, and per task name its operator params."""
    tasks = {t.name for t in spec.tasks}
    unknown = [k for k in given if k not in spec.params and k not in tasks]
    if unknown:
        raise InvalidInput(f"pipeline {spec.name!r} has no param {unknown[0]!r}; declared: "
                           f"{', '.join(spec.params) or 'none'} (or a task name with its operator's params: "
                           f"{', '.join(sorted(tasks)[:20])})", code="unknown_param",
                           errors=[{"loc": [*loc, k], "msg": "not a declared param of the pipeline"} for k in unknown])
    bad = [k for k in given if k not in spec.params and not isinstance(given[k], dict)]
    if bad:
        raise InvalidInput(f"params for task {bad[0]!r} must be an object of its operator's params",
                           errors=[{"loc": [*loc, k], "msg": "expected an object"} for k in bad])
    values = {**spec.params, **given}
    dag.check_run(spec, values, loc)
    return values


def start_run(ctx: Ctx, pipeline: PipelineRow, version: PipelineVersionRow, params: dict[str, Any],
              trigger: dict[str, Any], loc: list[Any]) -> str:
    spec = PipelineSpec.model_validate(version.spec)
    d = dag.validate(spec, defer=True)
    values = _run_params(spec, params, loc)
    if trigger.get("kind") == "api":  # schedules and triggers were checked when they were made
        guard.check(ctx, spec, params, loc)
    now = utcnow()
    run_id = new_id()
    ctx.session.execute(insert(PipelineRunRow).values(
        id=run_id, pipeline_id=pipeline.id, version_id=version.id, status="queued", params=values, trigger=trigger,
        cancel_requested=False, created_by=ctx.actor, created_at=now))
    ctx.session.execute(insert(T), [
        {"run_id": run_id, "name": t.name, "position": i, "operator": t.operator,
         "status": "pending" if d.upstream[t.name] else "queued", "remaining": len(d.upstream[t.name]),
         "downstream": d.downstream[t.name], "available_at": now, "attempt": 0, "failures": 0, "lost": 0,
         "cached": False}
        for i, t in enumerate(spec.tasks)])
    emit(ctx.session, "pipeline_run.created", run_id, {"pipeline": pipeline.name, "version": version.version,
                                                       "trigger": trigger}, ctx.actor)
    return run_id


def create_run(ctx: Ctx, body: RunCreate) -> PipelineRun:
    """Start a run of a pipeline (its latest version unless ``version`` is given); executors pick it up."""
    pipeline = _pipeline_row(ctx, body.pipeline_id)
    version = _version_row(ctx, pipeline, body.version)
    run_id = start_run(ctx, pipeline, version, body.params, {"kind": "api", "actor": ctx.actor},
                       ["body", "params"])
    return get_run(ctx, run_id)


MIN_PREFIX = 4


def _run_row(ctx: Ctx, id: str, *, lock: bool = False) -> PipelineRunRow:
    """A run by its id or a unique prefix of it (at least 4 characters, as ``pipelines runs`` shows them)."""
    q = select(PipelineRunRow).where(PipelineRunRow.id == id)
    row = ctx.session.scalar(q.with_for_update() if lock else q)
    if row is None and MIN_PREFIX <= len(id) < 32 and id.isalnum():
        ids = list(ctx.session.scalars(select(PipelineRunRow.id).where(PipelineRunRow.id.startswith(id)).limit(3)))
        if len(ids) > 1:
            raise InvalidInput(f"pipeline run id prefix {id!r} is ambiguous ({', '.join(ids[:2])}, …); give more "
                               "characters", code="ambiguous_run_id", errors=[{"loc": ["path", "id"], "msg": "ambiguous"}])
        if ids:
            q = select(PipelineRunRow).where(PipelineRunRow.id == ids[0])
            row = ctx.session.scalar(q.with_for_update() if lock else q)
    if row is None:
        raise not_found("pipeline run", id)
    return row


def _runs(ctx: Ctx, rows: list[PipelineRunRow], with_tasks: bool) -> list[PipelineRun]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    names = dict(ctx.session.execute(select(PipelineRow.id, PipelineRow.name)
                                     .where(PipelineRow.id.in_({r.pipeline_id for r in rows}))).all())
    versions = dict(ctx.session.execute(select(PipelineVersionRow.id, PipelineVersionRow.version)
                                        .where(PipelineVersionRow.id.in_({r.version_id for r in rows}))).all())
    counts: dict[str, dict[str, int]] = {}
    for run_id, status, n in ctx.session.execute(select(T.run_id, T.status, func.count()).where(T.run_id.in_(ids))
                                                 .group_by(T.run_id, T.status)):
        counts.setdefault(run_id, {})[status] = n
    tasks: dict[str, list[TaskRun]] = {}
    if with_tasks:
        specs = {r.version_id: PipelineSpec.model_validate(ctx.session.get(PipelineVersionRow, r.version_id).spec)
                 for r in rows}
        ups = {v: dag.validate(s, defer=True).upstream for v, s in specs.items()}
        vid = {r.id: r.version_id for r in rows}
        for t in ctx.session.scalars(select(T).where(T.run_id.in_(ids)).order_by(T.position)):
            tasks.setdefault(t.run_id, []).append(TaskRun(
                name=t.name, operator=t.operator, status=t.status, depends_on=ups[vid[t.run_id]].get(t.name, []),
                attempt=t.attempt, failures=t.failures, cached=t.cached, output=t.output, error=t.error,
                has_log=t.log_digest is not None, started_at=t.started_at, finished_at=t.finished_at,
                seconds=t.seconds))
    return [PipelineRun(id=r.id, pipeline_id=r.pipeline_id, pipeline=names.get(r.pipeline_id, ""),
                        version=versions.get(r.version_id, 0), status=r.status, params=r.params or {},
                        trigger=r.trigger or {}, error=r.error, cancel_requested=r.cancel_requested,
                        counts=counts.get(r.id, {}), tasks=tasks.get(r.id, []), created_by=r.created_by,
                        created_at=r.created_at, started_at=r.started_at, finished_at=r.finished_at) for r in rows]


def get_run(ctx: Ctx, id: str) -> PipelineRun:
    """A pipeline run with every task's state, attempts, output reference, error and timing."""
    return _runs(ctx, [_run_row(ctx, id)], True)[0]


def list_runs(ctx: Ctx, pipeline: str | None = None, status: RunStatus | None = None, cursor: str | None = None,
              limit: Limit = 100) -> Page[PipelineRun]:
    """Pipeline runs, newest first (task details only when reading one run)."""
    q = select(PipelineRunRow)
    if pipeline:  # a filter: an unknown pipeline has no runs
        q = q.where(PipelineRunRow.pipeline_id.in_(select(PipelineRow.id).where(
            (PipelineRow.name == pipeline) | (PipelineRow.id == pipeline))))
    if status:
        q = q.where(PipelineRunRow.status == status.value)
    offset = cursor_offset(cursor)
    rows = list(ctx.session.scalars(q.order_by(PipelineRunRow.created_at.desc(), PipelineRunRow.id)
                                    .offset(offset).limit(limit + 1)))
    page = offset_page(rows, offset, limit)
    return Page[PipelineRun](items=_runs(ctx, page.items, False), next_cursor=page.next_cursor)


def cancel_run(ctx: Ctx, id: str) -> PipelineRun:
    """Cancel a run: tasks not started are cancelled, running ones are killed by their worker."""
    run = _run_row(ctx, id, lock=True)
    id = run.id
    if run.status in TERMINAL_RUN:
        raise Conflict(f"pipeline run {id} already {run.status}", code="run_finished")
    run.cancel_requested = True
    ctx.session.execute(update(T).where(T.run_id == id, T.status.in_(("pending", "queued")))
                        .values(status="cancelled", error="cancelled", finished_at=utcnow()))
    ctx.session.flush()
    queue.finish_if_done(ctx.session, id)
    emit(ctx.session, "pipeline_run.cancel_requested", id, {}, ctx.actor)
    ctx.session.expire_all()
    return get_run(ctx, id)


def get_task_log(ctx: Ctx, id: str, task: str) -> bytes:
    """A task's captured stdout and stderr: while an attempt runs, what it has written so far (read live
    from its log file when its worker shares this host's ``MAINSAIL_HOME``); else its latest finished
    attempt's, verified against its digest."""
    id = _run_row(ctx, id).id
    row = ctx.session.scalar(select(T).where(T.run_id == id, T.name == task))
    if row is None:
        raise not_found("pipeline task", f"{id}/{task}")
    if row.status == "running":
        with contextlib.suppress(FileNotFoundError):  # the attempt ended (and its file was stored) meanwhile
            return task_log_path(ctx.settings.home, row.id, row.attempt).read_bytes()
    if row.log_digest is None:
        where = ("its worker runs elsewhere; the log is stored when the attempt ends"
                 if row.status == "running" else "logs are stored when an attempt ends, and empty logs are not")
        raise NotFound(f"task {task!r} has no log yet (status {row.status}; {where})", code="task_log_not_found")
    return ctx.store.get_bytes(row.log_digest, name=f"{task}.log")


# ---------------------------------------------------------------- schedules and event triggers

def _next_fire(cron: str, after: dt.datetime) -> dt.datetime:
    from croniter import croniter

    return croniter(cron, after).get_next(dt.datetime).astimezone(dt.UTC)


def _schedule(row: ScheduleRow, name: str) -> Schedule:
    return Schedule(id=row.id, pipeline_id=row.pipeline_id, pipeline=name, kind=row.kind, cron=row.cron,
                    event=row.event_type, filter=row.filter or {}, params=row.params or {}, enabled=row.enabled,
                    next_fire_at=row.next_fire_at, last_fired_at=row.last_fired_at, created_at=row.created_at)


def create_schedule(ctx: Ctx, name: str, body: ScheduleCreate) -> Schedule:
    """Run a pipeline on a cron schedule, or whenever a matching event happens (at most once per event)."""
    pipeline = _pipeline_row(ctx, name)
    spec = PipelineSpec.model_validate(_version_row(ctx, pipeline).spec)
    _run_params(spec, body.params, ["body", "params"])
    guard.check(ctx, spec, body.params, ["body", "params"])
    now = utcnow()
    next_fire = None
    if body.cron is not None:
        from croniter import croniter

        if not croniter.is_valid(body.cron):
            raise InvalidInput(f"{body.cron!r} is not a cron expression", code="invalid_cron",
                               errors=[{"loc": ["body", "cron"], "msg": "not a valid cron expression"}])
        next_fire = _next_fire(body.cron, now)
    row = ScheduleRow(id=new_id(), pipeline_id=pipeline.id, kind="cron" if body.cron else "event", cron=body.cron,
                      event_type=body.event, filter=body.filter, params=body.params, enabled=True,
                      next_fire_at=next_fire, created_by=ctx.actor, created_at=now)
    ctx.session.add(row)
    ctx.session.flush()
    return _schedule(row, pipeline.name)


def list_schedules(ctx: Ctx, pipeline: str | None = None) -> list[Schedule]:
    """Schedules and triggers, optionally of one pipeline."""
    q = select(ScheduleRow, PipelineRow.name).join(PipelineRow, PipelineRow.id == ScheduleRow.pipeline_id)
    if pipeline:  # a filter: an unknown pipeline has no schedules (a list read never answers 404)
        q = q.where((PipelineRow.name == pipeline) | (PipelineRow.id == pipeline))
    return [_schedule(r, n) for r, n in ctx.session.execute(q.order_by(ScheduleRow.created_at))]


def delete_schedule(ctx: Ctx, id: str) -> None:
    """Remove a schedule or trigger."""
    row = ctx.session.get(ScheduleRow, id)
    if row is None:
        raise not_found("schedule", id)
    ctx.session.execute(TriggerFireRow.__table__.delete().where(TriggerFireRow.schedule_id == id))
    ctx.session.delete(row)


def _fire(ctx: Ctx, sched: ScheduleRow, key: str, trigger: dict[str, Any], event: dict[str, Any] | None) -> str | None:
    """Start one run for ``(schedule, key)`` unless that key already fired (same transaction)."""
    if ctx.session.get(TriggerFireRow, (sched.id, key)) is not None:
        return None
    pipeline = ctx.session.get(PipelineRow, sched.pipeline_id)
    assert pipeline is not None
    params = dag.render(sched.params or {}, {}, {}, "", event) if event else dict(sched.params or {})
    try:
        with ctx.session.begin_nested():  # another server firing the same key first undoes only this
            run_id = start_run(ctx, pipeline, _version_row(ctx, pipeline), params, trigger, ["params"])
            ctx.session.add(TriggerFireRow(schedule_id=sched.id, key=key, run_id=run_id, fired_at=utcnow()))
            ctx.session.flush()  # the primary key refuses a second run for the same key
    except SAIntegrityError:
        return None
    sched.last_fired_at = utcnow()
    return run_id


def fire_due_schedules(ctx: Ctx, now: dt.datetime | None = None) -> list[str]:
    """Start a run for every cron schedule that is due (one run per tick, even with several servers)."""
    now = now or utcnow()
    q = select(ScheduleRow).where(ScheduleRow.kind == "cron", ScheduleRow.enabled.is_(True),
                                  ScheduleRow.next_fire_at <= now)
    if ctx.dialect == "postgresql":
        q = q.with_for_update(skip_locked=True)
    started = []
    for sched in ctx.session.scalars(q):
        assert sched.cron and sched.next_fire_at
        due = sched.next_fire_at
        run_id = _fire(ctx, sched, f"cron:{due.isoformat()}", {"kind": "cron", "schedule_id": sched.id,
                                                                "at": due.isoformat()}, None)
        sched.next_fire_at = _next_fire(sched.cron, now)  # missed ticks while down fire once, not many times
        if run_id:
            started.append(run_id)
    return started


def _matches(sched: ScheduleRow, ev: Event) -> bool:
    t = sched.event_type or ""
    if not (ev.type == t or (t.endswith(".*") and ev.type.startswith(t[:-1])) or t == "*"):
        return False
    data = {**ev.payload, "subject": ev.subject}
    return all(data.get(k) == v for k, v in (sched.filter or {}).items())


def handle_event(ctx: Ctx, ev: Event) -> list[str]:
    """Start the runs an event triggers; redelivering the same event starts nothing new."""
    started = []
    for sched in ctx.session.scalars(select(ScheduleRow).where(ScheduleRow.kind == "event",
                                                               ScheduleRow.enabled.is_(True))):
        if _matches(sched, ev):
            payload = {**ev.payload, "id": ev.id, "type": ev.type, "subject": ev.subject}
            run_id = _fire(ctx, sched, f"event:{ev.id}", {"kind": "event", "schedule_id": sched.id,
                                                          "event_id": ev.id, "event_type": ev.type}, payload)
            if run_id:
                started.append(run_id)
    return started


# ---------------------------------------------------------------- runs started by other domains (loops)

def check_params(ctx: Ctx, name: str, params: dict[str, Any], loc: list[Any]) -> Pipeline:
    """Check that ``params`` would start a run of pipeline ``name`` (as a schedule's are, when made)."""
    pipeline = _pipeline_row(ctx, name)
    spec = PipelineSpec.model_validate(_version_row(ctx, pipeline).spec)
    _run_params(spec, {k: v for k, v in params.items() if not _templated(v)}, loc)
    guard.check(ctx, spec, params, loc)
    return _pipeline(ctx, pipeline)


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def start_triggered(ctx: Ctx, name: str, params: dict[str, Any], trigger: dict[str, Any],
                    event: dict[str, Any] | None = None) -> str:
    """Start a run of pipeline ``name`` for another domain's trigger (``${event.…}`` in ``params`` takes
    the event's values); returns the run id. In the caller's transaction."""
    pipeline = _pipeline_row(ctx, name)
    values = dag.render(params, {}, {}, "", event) if event else dict(params)
    return start_run(ctx, pipeline, _version_row(ctx, pipeline), values, trigger, ["params"])
