"""Loop rules: policies, their runs (episodes) and steps. The only writer of the loop tables; the
pipeline run, the model version and the rollout are made and read through their domains' services.

An episode moves forward from events (``drift.detected`` or ``alert.fired`` starts it; a finished
pipeline run or rollout moves it on) and from a periodic :func:`tick` that reconciles every running
episode with the state of its pipeline run or rollout (so a lost event or a server restart loses
nothing, and a retrain that takes too long is stopped). Every decision is taken under a row lock:
the policy's row when a detection arrives (one active episode per policy; a ``(policy, event)``
primary key, inserted in a savepoint, makes a redelivered or doubly delivered event a no-op) and
the run's row when it advances, so several servers never double-fire."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from mainsail.core.db import new_id, utcnow
from mainsail.core.errors import Conflict, InvalidInput, MainsailError, NotFound, not_found
from mainsail.core.events import Event, emit
from mainsail.core.pagination import Limit, Page, cursor_offset, offset_page
from mainsail.core.projects import project_of
from mainsail.core.runtime import Ctx
from mainsail.loops.models import LoopPolicyRow, LoopRunRow, LoopStepRow, LoopTriggerRow
from mainsail.loops.schemas import LoopPolicy, LoopPolicyCreate, LoopRun, LoopStep

log = logging.getLogger("mainsail.loops")
TRIGGER_EVENTS = {"drift": "drift.detected", "alert": "alert.fired"}
SPEC_FIELDS = ("params", "candidate_task", "gate", "canary", "retrain_timeout_seconds")
MIN_PREFIX = 4


# ---------------------------------------------------------------- policies

def _in(ctx: Ctx, project: str) -> Ctx:
    """``ctx`` acting in ``project`` (the same transaction): background work on a policy or run looks up
    its deployment, pipeline, registry and rollout in the policy's project, never in the caller's."""
    return ctx if project_of(ctx) == project else dataclasses.replace(ctx, project=project)


def _emit(ctx: Ctx, type: str, subject: str, payload: dict[str, Any]) -> None:
    emit(ctx.session, type, subject, {**payload, "project": project_of(ctx)}, ctx.actor)


def _policy_row(ctx: Ctx, name: str, *, lock: bool = False) -> LoopPolicyRow:
    q = select(LoopPolicyRow).where(LoopPolicyRow.project == project_of(ctx), LoopPolicyRow.name == name)
    row = ctx.session.scalar(q.with_for_update() if lock else q)
    if row is None:
        raise not_found("loop policy", name)
    return row


def _policy(row: LoopPolicyRow) -> LoopPolicy:
    return LoopPolicy(id=row.id, name=row.name, description=row.description, deployment=row.deployment,
                      pipeline=row.pipeline, trigger=row.trigger, alert_rule=row.alert_rule,
                      cooldown_seconds=row.cooldown_seconds, enabled=row.enabled, active_run_id=row.active_run_id,
                      cooldown_until=row.cooldown_until, created_by=row.created_by, created_at=row.created_at,
                      updated_at=row.updated_at, **row.spec)


def _check(ctx: Ctx, body: LoopPolicyCreate) -> None:
    """The deployment, pipeline (with the params), candidate task, alert rule and gate must make sense;
    each problem is a 422 naming its field."""
    from mainsail.pipelines import service as pipelines
    from mainsail.registry.gate import parse_threshold
    from mainsail.serving import service as serving

    try:
        serving.get_deployment(ctx, body.deployment)
    except NotFound:
        raise InvalidInput(f"deployment {body.deployment!r} does not exist", code="unknown_deployment",
                           errors=[{"loc": ["body", "deployment"], "msg": "no such deployment"}]) from None
    try:
        pipeline = pipelines.check_params(ctx, body.pipeline, body.params, ["body", "params"])
    except NotFound:
        raise InvalidInput(f"pipeline {body.pipeline!r} does not exist (apply it first: mainsail pipelines apply)",
                           code="unknown_pipeline", errors=[{"loc": ["body", "pipeline"], "msg": "no such pipeline"}]) \
            from None
    tasks = [t.name for t in pipeline.spec.tasks]
    if body.candidate_task is not None and body.candidate_task not in tasks:
        raise InvalidInput(f"candidate_task {body.candidate_task!r} is not a task of pipeline {body.pipeline!r} "
                           f"(its tasks: {', '.join(tasks)})", code="unknown_task",
                           errors=[{"loc": ["body", "candidate_task"], "msg": "not a task of the pipeline"}])
    if body.alert_rule is not None:
        from mainsail.alerts import service as alerts

        try:
            alerts.get_rule(ctx, body.alert_rule)
        except NotFound:
            raise InvalidInput(f"alert rule {body.alert_rule!r} does not exist", code="unknown_alert_rule",
                               errors=[{"loc": ["body", "alert_rule"], "msg": "no such alert rule"}]) from None
    for metric, rule in body.gate.items():
        try:
            parse_threshold(metric, rule)
        except InvalidInput as exc:
            raise InvalidInput(exc.detail, code="invalid_gate",
                               errors=[{"loc": ["body", "gate", metric], "msg": "expected '<op> <number>'"}]) from None


def create_policy(ctx: Ctx, body: LoopPolicyCreate) -> LoopPolicy:
    """Create a loop policy (see :class:`LoopPolicyCreate`)."""
    if ctx.session.scalar(select(LoopPolicyRow.id).where(LoopPolicyRow.project == project_of(ctx),
                                                         LoopPolicyRow.name == body.name)) is not None:
        raise Conflict(f"loop policy {body.name!r} already exists", code="loop_policy_exists")
    _check(ctx, body)
    now = utcnow()
    row = LoopPolicyRow(id=new_id(), project=project_of(ctx), name=body.name, description=body.description, deployment=body.deployment,
                        trigger=body.trigger, alert_rule=body.alert_rule, pipeline=body.pipeline,
                        spec=body.model_dump(mode="json", include=set(SPEC_FIELDS)),
                        cooldown_seconds=body.cooldown_seconds, enabled=body.enabled, created_by=ctx.actor,
                        created_at=now, updated_at=now)
    ctx.session.add(row)
    _emit(ctx, "loop_policy.created", body.name, {"policy": body.name, "deployment": body.deployment,
                                                  "pipeline": body.pipeline})
    ctx.session.flush()
    return _policy(row)


def update_policy(ctx: Ctx, name: str, body: LoopPolicyCreate) -> LoopPolicy:
    """Replace a policy's definition (its name stays; an episode in progress goes on as it started)."""
    row = _policy_row(ctx, name, lock=True)
    if body.name != name:
        raise InvalidInput(f"name {body.name!r} differs from the policy's name {name!r}",
                           errors=[{"loc": ["body", "name"], "msg": "must equal the path's name"}])
    _check(ctx, body)
    row.description, row.deployment, row.trigger = body.description, body.deployment, body.trigger
    row.alert_rule, row.pipeline, row.enabled = body.alert_rule, body.pipeline, body.enabled
    row.spec, row.cooldown_seconds = body.model_dump(mode="json", include=set(SPEC_FIELDS)), body.cooldown_seconds
    last = ctx.session.scalar(select(LoopRunRow.finished_at).where(LoopRunRow.policy_id == row.id)
                              .order_by(LoopRunRow.detected_at.desc()).limit(1))
    row.cooldown_until = last + dt.timedelta(seconds=body.cooldown_seconds) if last is not None else None
    row.updated_at = utcnow()
    _emit(ctx, "loop_policy.updated", name, {"policy": name})
    ctx.session.flush()
    return _policy(row)


def get_policy(ctx: Ctx, name: str) -> LoopPolicy:
    """A loop policy by name."""
    return _policy(_policy_row(ctx, name))


def list_policies(ctx: Ctx, deployment: str | None = None) -> list[LoopPolicy]:
    """The project's loop policies by name (of one deployment when given)."""
    q = select(LoopPolicyRow).where(LoopPolicyRow.project == project_of(ctx)).order_by(LoopPolicyRow.name)
    if deployment is not None:
        q = q.where(LoopPolicyRow.deployment == deployment)
    return [_policy(r) for r in ctx.session.scalars(q.limit(1000))]


def delete_policy(ctx: Ctx, name: str) -> None:
    """Delete a policy with its runs' records (a pipeline run or rollout it started goes on)."""
    row = _policy_row(ctx, name, lock=True)
    runs = select(LoopRunRow.id).where(LoopRunRow.policy_id == row.id)
    ctx.session.execute(delete(LoopStepRow).where(LoopStepRow.run_id.in_(runs)))
    ctx.session.execute(delete(LoopRunRow).where(LoopRunRow.policy_id == row.id))
    ctx.session.execute(delete(LoopTriggerRow).where(LoopTriggerRow.policy_id == row.id))
    ctx.session.delete(row)
    _emit(ctx, "loop_policy.deleted", name, {"policy": name})


# ---------------------------------------------------------------- runs (episodes) and their steps

def _steps(ctx: Ctx, ids: list[str]) -> dict[str, list[LoopStep]]:
    out: dict[str, list[LoopStep]] = {i: [] for i in ids}
    if ids:
        for s in ctx.session.scalars(select(LoopStepRow).where(LoopStepRow.run_id.in_(ids)).order_by(LoopStepRow.id)):
            out[s.run_id].append(LoopStep(step=s.step, outcome=s.outcome, detail=s.detail, data=s.data or {}, at=s.at))
    return out


def _runs(ctx: Ctx, rows: list[LoopRunRow]) -> list[LoopRun]:
    steps = _steps(ctx, [r.id for r in rows])
    suppressed = dict(ctx.session.execute(
        select(LoopTriggerRow.run_id, func.count()).where(LoopTriggerRow.run_id.in_([r.id for r in rows]),
                                                          LoopTriggerRow.outcome == "suppressed")
        .group_by(LoopTriggerRow.run_id)).all()) if rows else {}
    return [LoopRun(id=r.id, policy=r.policy, deployment=r.deployment, state=r.state, stage=r.stage, trigger=r.trigger,
                    pipeline_run_id=r.pipeline_run_id, candidate=r.candidate, candidate_version=r.candidate_version,
                    champion_version=r.champion_version, rollout_id=r.rollout_id, suppressed=int(suppressed.get(r.id, 0)),
                    reason=r.reason, detected_at=r.detected_at, started_at=r.started_at, finished_at=r.finished_at,
                    seconds=(r.finished_at - r.detected_at).total_seconds() if r.finished_at else None,
                    steps=steps[r.id]) for r in rows]


def _run_row(ctx: Ctx, id: str, *, lock: bool = False) -> LoopRunRow:
    q = select(LoopRunRow).where(LoopRunRow.project == project_of(ctx), LoopRunRow.id == id)
    row = ctx.session.scalar(q.with_for_update() if lock else q)
    if row is None and MIN_PREFIX <= len(id) < 32 and id.isalnum():
        ids = list(ctx.session.scalars(select(LoopRunRow.id).where(LoopRunRow.project == project_of(ctx),
                                                                   LoopRunRow.id.startswith(id)).limit(2)))
        if len(ids) > 1:
            raise InvalidInput(f"loop run id prefix {id!r} is ambiguous; give more characters", code="ambiguous_id",
                               errors=[{"loc": ["path", "id"], "msg": "ambiguous"}])
        if ids:
            return _run_row(ctx, ids[0], lock=lock)
    if row is None:
        raise not_found("loop run", id)
    return row


def get_run(ctx: Ctx, id: str) -> LoopRun:
    """A loop run (by id or a unique prefix of at least 4 characters) with every step."""
    return _runs(ctx, [_run_row(ctx, id)])[0]


def list_runs(ctx: Ctx, policy: str | None = None, deployment: str | None = None, state: str | None = None,
              cursor: str | None = None, limit: Limit = 100) -> Page[LoopRun]:
    """The project's loop runs newest first, with their steps (of one policy, deployment or state when given)."""
    q = select(LoopRunRow).where(LoopRunRow.project == project_of(ctx))
    for col, v in ((LoopRunRow.policy, policy), (LoopRunRow.deployment, deployment), (LoopRunRow.state, state)):
        if v is not None:
            q = q.where(col == v)
    offset = cursor_offset(cursor)
    rows = list(ctx.session.scalars(q.order_by(LoopRunRow.detected_at.desc(), LoopRunRow.id)
                                    .offset(offset).limit(limit + 1)))
    page = offset_page(rows, offset, limit)
    return Page[LoopRun](items=_runs(ctx, page.items), next_cursor=page.next_cursor)


def _step(ctx: Ctx, run: LoopRunRow, step: str, detail: str, outcome: str = "ok", at: dt.datetime | None = None,
          **data: Any) -> None:
    ctx.session.add(LoopStepRow(run_id=run.id, step=step, outcome=outcome, detail=detail[:4000],
                                data={k: v for k, v in data.items() if v is not None}, at=at or utcnow()))
    log.info("loop %s run %s: %s: %s", run.policy, run.id[:12], step, detail)


def _finish(ctx: Ctx, run: LoopRunRow, state: str, reason: str) -> None:
    now = utcnow()
    run.state, run.stage, run.reason, run.finished_at = state, "done", reason[:4000], now
    policy = ctx.session.get(LoopPolicyRow, run.policy_id, with_for_update=True)
    if policy is not None:
        if policy.active_run_id == run.id:
            policy.active_run_id = None
        policy.cooldown_until = now + dt.timedelta(seconds=policy.cooldown_seconds)
    if state == "failed":
        _step(ctx, run, "failed", reason, "failed", at=now)
    _emit(ctx, "loop.finished", run.policy, {"policy": run.policy, "deployment": run.deployment, "run": run.id,
                                             "state": state, "reason": reason[:1000], "candidate": run.candidate})


# ---------------------------------------------------------------- detection

def _hms(iso: Any) -> str:
    """``HH:MM:SS`` (UTC) of an ISO time, for a one-line account."""
    try:
        return dt.datetime.fromisoformat(str(iso)).astimezone(dt.UTC).strftime("%H:%M:%S UTC")
    except ValueError:
        return str(iso)


def _describe(ev: Event) -> tuple[str | None, str]:
    """The deployment an event is about and a one-line account of it."""
    p = ev.payload or {}
    if ev.type == "drift.detected":
        feats = list(p.get("features") or [])
        share = p.get("share_drifted")
        what = (f"drift detected by monitor {p.get('monitor')} in window {_hms(p.get('window_start'))} → "
                f"{_hms(p.get('window_end'))}"
                + (f": {share:.0%} of features drifted" if isinstance(share, int | float) else "")
                + (f" ({', '.join(feats[:8])}{', …' if len(feats) > 8 else ''})" if feats else ""))
        return p.get("deployment"), what
    labels = p.get("labels") or {}
    return labels.get("deployment"), f"alert {ev.subject} fired: {p.get('summary') or ''}".strip()


def _event_project(ev: Event) -> str:
    """The project an event happened in (its ``project``, else its payload's, else the default)."""
    return str(getattr(ev, "project", None) or (ev.payload or {}).get("project") or "default")


def handle_event(ctx: Ctx, ev: Event) -> list[str]:
    """Start an episode for each enabled policy the event triggers, unless that policy has one running,
    is cooling down, or already handled this event (then it is counted as suppressed); returns the ids
    of the runs started. Idempotent on the event id, also across servers."""
    if ev.type not in TRIGGER_EVENTS.values():
        return []
    deployment, what = _describe(ev)
    project = _event_project(ev)  # the monitor's (or alert rule's) project: only its policies act
    q = select(LoopPolicyRow.id).where(LoopPolicyRow.project == project, LoopPolicyRow.enabled.is_(True))
    if ev.type == "drift.detected":
        q = q.where(LoopPolicyRow.trigger == "drift", LoopPolicyRow.deployment == deployment)
    else:
        q = q.where(LoopPolicyRow.trigger == "alert", LoopPolicyRow.alert_rule == ev.subject)
        if deployment:
            q = q.where(LoopPolicyRow.deployment == deployment)
    started = []
    for policy_id in list(ctx.session.scalars(q.order_by(LoopPolicyRow.name))):
        policy = ctx.session.get(LoopPolicyRow, policy_id, with_for_update=True)  # one decision at a time
        if policy is None or ev.created_at < policy.created_at:
            continue  # an event from before the policy existed is history, not a trigger
        run_id = _detected(_in(ctx, policy.project), policy, ev, what)
        if run_id:
            started.append(run_id)
    return started


def _detected(ctx: Ctx, policy: LoopPolicyRow, ev: Event, what: str) -> str | None:
    now = utcnow()
    last = ctx.session.scalar(select(LoopRunRow).where(LoopRunRow.policy_id == policy.id)
                              .order_by(LoopRunRow.detected_at.desc()).limit(1))
    busy = policy.active_run_id is not None or (policy.cooldown_until is not None and policy.cooldown_until > now) \
        or (last is not None and last.finished_at is not None and ev.created_at <= last.finished_at)
    run_id = None if busy else new_id()
    try:
        with ctx.session.begin_nested():  # another server (or a redelivery) handling the event first undoes this
            ctx.session.add(LoopTriggerRow(policy_id=policy.id, event_id=ev.id, run_id=run_id or
                                           (last.id if last is not None else None),
                                           outcome="suppressed" if busy else "started", at=now))
            ctx.session.flush()
    except IntegrityError:
        return None
    if busy:  # counted by its trigger row on the last episode (no write to that run's row: no lock order)
        return None
    assert run_id is not None
    trigger = {"event_id": ev.id, "type": ev.type, "subject": ev.subject, "what": what,
               **{k: ev.payload.get(k) for k in ("monitor", "window_start", "window_end", "share_drifted", "features",
                                                 "rule", "severity") if k in (ev.payload or {})}}
    run = LoopRunRow(id=run_id, project=policy.project, policy_id=policy.id, policy=policy.name, deployment=policy.deployment, state="running",
                     stage="retraining", trigger_event_id=ev.id, trigger=trigger, canary_step=0,
                     detected_at=ev.created_at, started_at=now)
    ctx.session.add(run)
    policy.active_run_id = run_id
    ctx.session.flush()
    _step(ctx, run, "detected", what, "info", at=ev.created_at, event_id=ev.id)
    _emit(ctx, "loop.started", policy.name, {"policy": policy.name, "deployment": policy.deployment,
                                             "run": run_id, "trigger": ev.type})
    _start_retrain(ctx, policy, run, ev)
    return run_id


def _start_retrain(ctx: Ctx, policy: LoopPolicyRow, run: LoopRunRow, ev: Event) -> None:
    from mainsail.pipelines import service as pipelines

    spec = policy.spec
    event = {**(ev.payload or {}), "id": ev.id, "type": ev.type, "subject": ev.subject}
    try:
        with ctx.session.begin_nested():
            run.pipeline_run_id = pipelines.start_triggered(
                ctx, policy.pipeline, spec.get("params") or {},
                {"kind": "loop", "policy": policy.name, "loop_run": run.id, "event_id": ev.id}, event)
    except MainsailError as exc:
        _finish(ctx, run, "failed", f"the retrain pipeline {policy.pipeline!r} could not start: {exc}")
        return
    _step(ctx, run, "retrain_started", f"pipeline {policy.pipeline} run {run.pipeline_run_id} started",
          pipeline=policy.pipeline, pipeline_run=run.pipeline_run_id)


# ---------------------------------------------------------------- moving episodes on

def tick(ctx: Ctx, project: str | None = None) -> int:
    """Move every running episode (of every project, or of ``project``) on as far as its pipeline run or
    rollout allows, each in its own project; returns how many changed. With PostgreSQL, runs another
    server is advancing are skipped."""
    q = select(LoopRunRow).where(LoopRunRow.state == "running").order_by(LoopRunRow.started_at).limit(100)
    if project is not None:
        q = q.where(LoopRunRow.project == project)
    if ctx.dialect == "postgresql":
        q = q.with_for_update(skip_locked=True)
    changed = 0
    for run in list(ctx.session.scalars(q)):
        try:
            with ctx.session.begin_nested():
                changed += advance(_in(ctx, run.project), run)
        except Exception:  # noqa: BLE001 - one episode's trouble never stops the others; the next tick retries
            log.exception("advancing loop run %s failed", run.id)
    return changed


def advance(ctx: Ctx, run: LoopRunRow) -> bool:
    """One step of the episode's state machine (the caller holds the run's row)."""
    policy = ctx.session.get(LoopPolicyRow, run.policy_id)
    if policy is None or policy.project != run.project:
        return False
    ctx = _in(ctx, run.project)
    if run.stage == "retraining":
        return _after_retrain(ctx, policy, run)
    if run.stage == "canary":
        return _follow_canary(ctx, run)
    return False


def _champion(ctx: Ctx, deployment: str) -> Any:
    from mainsail.serving import service as serving

    d = serving.get_deployment(ctx, deployment)
    primaries = [v for v in d.variants if v.role == "primary"]
    if not primaries:
        raise InvalidInput(f"deployment {deployment!r} has no primary variant", code="no_model_version")
    return max(primaries, key=lambda v: v.weight)


def _after_retrain(ctx: Ctx, policy: LoopPolicyRow, run: LoopRunRow) -> bool:
    from mainsail.pipelines import service as pipelines
    from mainsail.pipelines.schemas import TERMINAL_RUN

    if run.pipeline_run_id is None:
        return False
    prun = pipelines.get_run(ctx, run.pipeline_run_id)
    timeout = float(policy.spec.get("retrain_timeout_seconds") or 3600)
    if prun.status not in TERMINAL_RUN:
        if (utcnow() - run.started_at).total_seconds() > timeout:
            with contextlib.suppress(MainsailError):
                pipelines.cancel_run(ctx, prun.id)
            _finish(ctx, run, "failed", f"retrain pipeline run {prun.id} took longer than {timeout:g} s; cancelled")
            return True
        return False
    took = (prun.finished_at - prun.started_at).total_seconds() if prun.finished_at and prun.started_at else None
    if prun.status != "succeeded":
        failed = next((t for t in prun.tasks if t.status == "failed"), None)
        if failed is not None and failed.operator == "quality_gate":
            _step(ctx, run, "gate_failed", f"pipeline gate task {failed.name}: {failed.error}", "failed",
                  task=failed.name)
            _finish(ctx, run, "failed", f"gate failed: {failed.error}")
        else:
            where = f" at task {failed.name}: {failed.error}" if failed is not None else f": {prun.error or prun.status}"
            _step(ctx, run, "retrain_failed", f"pipeline run {prun.id} {prun.status}{where}", "failed",
                  pipeline_run=prun.id, task=failed.name if failed else None)
            _finish(ctx, run, "failed", f"retrain pipeline run {prun.id} {prun.status}{where}")
        return True
    for t in prun.tasks:  # the pipeline's own gate passed before the run finished
        if t.operator == "quality_gate":
            _step(ctx, run, "gate_passed", f"pipeline gate task {t.name} passed", output=t.output, at=t.finished_at)
    _step(ctx, run, "retrain_finished", f"pipeline run {prun.id} succeeded" + (f" in {took:.1f} s" if took else ""),
          pipeline_run=prun.id, seconds=took, at=prun.finished_at)
    try:
        champion = _champion(ctx, run.deployment)
        version = _candidate(ctx, policy, prun, champion.model_name)
    except MainsailError as exc:
        _finish(ctx, run, "failed", str(exc))
        return True
    run.candidate, run.candidate_version = f"models:/{version.name}/{version.version}", version.version
    run.champion_version = champion.version
    _step(ctx, run, "registered", f"registered {version.name} v{version.version}", version=version.version,
          metrics={k: v for k, v in (version.metrics or {}).items() if v is not None})
    if not _gate(ctx, policy, run, version, prun):
        return True
    if champion.version == version.version:
        _finish(ctx, run, "failed", f"the retrain registered no new version: v{version.version} is what "
                                    f"{run.deployment} serves")
        return True
    _start_canary(ctx, policy, run, champion)
    return True


def _candidate(ctx: Ctx, policy: LoopPolicyRow, prun: Any, model: str) -> Any:
    """The version of ``model`` the retrain registered: from the candidate task's output (``uri`` or
    ``model_uri`` as ``models:/M/N``, or ``name``/``version``), else the last task output naming one."""
    from mainsail.serving import service as serving

    named = policy.spec.get("candidate_task")
    tasks = [t for t in prun.tasks if t.name == named] if named else list(reversed(prun.tasks))
    for t in tasks:
        out = t.output if isinstance(t.output, dict) else {}
        for key in ("uri", "model_uri"):
            uri = out.get(key)
            if isinstance(uri, str) and uri.startswith(f"models:/{model}/") and uri.rsplit("/", 1)[1].isdigit():
                return serving.resolve(ctx, uri)
        if out.get("name", model) == model and isinstance(out.get("version"), int):
            return serving.resolve(ctx, f"models:/{model}/{out['version']}")
    where = f"task {named!r}'s output" if named else "any task output"
    raise InvalidInput(f"the retrain pipeline run {prun.id} registered no version of model {model!r} that {where} "
                       "names (an output with uri 'models:/NAME/VERSION', or name and version)", code="no_candidate")


def _gate(ctx: Ctx, policy: LoopPolicyRow, run: LoopRunRow, version: Any, prun: Any) -> bool:
    from mainsail.registry.gate import evaluate_gate

    gate = policy.spec.get("gate") or {}
    if not gate:
        if not any(t.operator == "quality_gate" for t in prun.tasks):
            _step(ctx, run, "gate_passed", "no gate: the policy sets none and the pipeline has no quality_gate task",
                  "info")
        return True
    result = evaluate_gate(version.metrics or {}, gate)
    shown = ", ".join(f"{m} {version.metrics.get(m)!s} {rule}" for m, rule in gate.items())
    if result.passed:
        _step(ctx, run, "gate_passed", f"gate passed: {shown}", gate=gate)
        return True
    why = "; ".join(f"{f.metric} = {'missing' if f.actual is None else f'{f.actual:.4g}'} is not {f.op} "
                    f"{f.threshold:g}" for f in result.failures)
    _step(ctx, run, "gate_failed", f"gate failed for v{version.version}: {why}", "failed", gate=gate)
    _finish(ctx, run, "failed", f"gate failed for {version.name} v{version.version}: {why}")
    return False


def _start_canary(ctx: Ctx, policy: LoopPolicyRow, run: LoopRunRow, champion: Any) -> None:
    from mainsail.serving import service as serving
    from mainsail.serving.schemas import RolloutStart

    canary = policy.spec["canary"]
    body = RolloutStart(candidate=run.candidate, steps=canary["steps"], step_seconds=canary["step_seconds"],
                        guards=canary["guards"], reason=f"loop {policy.name}: retrained after {run.trigger.get('type')}"
                                                        f" (loop run {run.id})")
    try:
        with ctx.session.begin_nested():
            d = serving.start_rollout(ctx, run.deployment, body)
    except MainsailError as exc:
        _finish(ctx, run, "failed", f"the canary of {run.candidate} could not start: {exc}")
        return
    assert d.rollout is not None
    run.rollout_id, run.stage, run.canary_step = d.rollout.id, "canary", 1
    guards = "; ".join(f"{g.metric} ({'estimated' if g.source == 'estimated' else 'labels'}) no worse than the "
                       f"champion's by more than {g.margin:g}" for g in body.guards.quality)
    _step(ctx, run, "canary_started", f"canary of {run.candidate} against v{champion.version} through "
          f"{' → '.join(f'{s:g}%' for s in body.steps)}; quality: {guards}", rollout=d.rollout.id,
          champion=champion.version, steps=body.steps)
    _step(ctx, run, "canary_step", f"step 1/{len(body.steps)}: {body.steps[0]:g}% of traffic", index=1,
          weight=body.steps[0])


def _follow_canary(ctx: Ctx, run: LoopRunRow) -> bool:
    from mainsail.serving import service as serving

    try:
        d = serving.get_deployment(ctx, run.deployment)
    except NotFound:
        _finish(ctx, run, "failed", f"deployment {run.deployment!r} was deleted during the canary")
        return True
    r = d.rollout
    if r is None or r.id != run.rollout_id:
        _finish(ctx, run, "failed", f"rollout {run.rollout_id} of {run.deployment} was replaced by another")
        return True
    changed = False
    if run.canary_step < r.step_index + 1:  # the rollout advanced: each step at the time it did
        moves = [h for h in serving.history(ctx, run.deployment) if h.kind == "rollout_step" and h.at >= r.started_at]
        while run.canary_step < r.step_index + 1:
            run.canary_step += 1
            pct = r.steps[run.canary_step - 1]
            h = moves[run.canary_step - 2] if len(moves) >= run.canary_step - 1 else None
            _step(ctx, run, "canary_step", f"step {run.canary_step}/{len(r.steps)}: {pct:g}% of traffic"
                  + (f" ({h.reason})" if h is not None and h.reason else ""), at=h.at if h is not None else None,
                  index=run.canary_step, weight=pct)
            changed = True
    quality = [q.model_dump() for q in r.stats.quality]
    if r.state == "promoted":
        _step(ctx, run, "promoted", f"{run.candidate} promoted: {r.reason}", at=r.finished_at, quality=quality)
        _finish(ctx, run, "promoted", r.reason or "promoted")
        return True
    if r.state == "rolled_back":
        _step(ctx, run, "rolled_back", f"{run.candidate} rolled back: {r.reason}", "failed", at=r.finished_at,
              quality=quality)
        _finish(ctx, run, "rolled_back", r.reason or "rolled back")
        return True
    return changed


def active_count(ctx: Ctx) -> int:
    """Episodes running now (all policies)."""
    return int(ctx.session.scalar(select(func.count()).select_from(LoopRunRow).where(LoopRunRow.state == "running"))
               or 0)


def tick_now(ctx: Ctx) -> int:
    """Move the project's running episodes on now (a server does it every second): how many changed."""
    return tick(ctx, project_of(ctx))
