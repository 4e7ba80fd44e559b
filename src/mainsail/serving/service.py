"""Serving rules: deployments, traffic, canary rollouts, replica reports, inference log files.
The only writer of the serving tables. Models are resolved through ``registry.service``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import StringConstraints
from sqlalchemy import delete, select

from mainsail.core.artifacts import check_digest
from mainsail.core.db import new_id, utcnow
from mainsail.core.errors import Conflict, InvalidInput, NotFound, not_found
from mainsail.core.events import emit
from mainsail.core.pagination import Limit, Page, cursor_offset, offset_page
from mainsail.core.projects import project_of
from mainsail.core.runtime import Ctx
from mainsail.core.types import INT32_MAX, Digest
from mainsail.registry import service as registry
from mainsail.registry.schemas import MANIFEST, AliasSet, Stage, StageChange
from mainsail.serving.models import (
    DeploymentHistoryRow,
    DeploymentRow,
    InferenceLogRow,
    ReplicaRow,
    RolloutRow,
)
from mainsail.serving.rollout import decide, parse_threshold, step_stats
from mainsail.serving.schemas import (
    Deployment,
    DeploymentCreate,
    Guards,
    HistoryEntry,
    InferenceLogFile,
    Mode,
    QualityReading,
    Replica,
    ReplicaReport,
    Role,
    Rollout,
    RolloutAbort,
    RolloutStart,
    SamplingChange,
    Status,
    TrafficChange,
    Variant,
    merge_buckets,
    uri_parts,
)

REPLICA_TTL = dt.timedelta(seconds=30)  # a replica not heard from for this long no longer counts
CANARY = "canary"
ReplicaId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:\-]+$")]


# ---------------------------------------------------------------- resolving models

def resolve(ctx: Ctx, uri: str, loc: list[Any] | None = None) -> Any:
    """The model version a ``models:/`` URI points at now (``NotFound`` naming it otherwise)."""
    name, alias, ref = uri_parts(uri)
    if alias:
        return registry.get_version_by_alias(ctx, name, alias)
    if ref and ref.isdigit():
        return registry.get_version_by_number(ctx, name, int(ref))
    if ref and (stage := Stage.parse(ref)) is not None:
        return registry.get_latest_in_stage(ctx, name, stage)
    raise InvalidInput(f"model URI {uri!r}: {ref!r} is neither a version number nor a stage",
                       errors=[{"loc": loc or ["model"], "msg": "expected models:/NAME@ALIAS, /VERSION or /STAGE"}])


def _variant(ctx: Ctx, spec: dict[str, Any]) -> Variant:
    name = uri_parts(spec["model"])[0]
    try:
        v = resolve(ctx, spec["model"])
    except NotFound:
        return Variant(**spec, model_name=name)
    ref = v.files.get(MANIFEST)
    return Variant(**spec, model_name=name, version=v.version, version_id=v.id,
                   manifest_digest=ref.digest if ref else None, feature_views=list(v.lineage.feature_views))


# ---------------------------------------------------------------- reading

def _row(ctx: Ctx, name: str, *, lock: bool = False) -> DeploymentRow:
    q = select(DeploymentRow).where(DeploymentRow.project == project_of(ctx), DeploymentRow.name == name)
    row = ctx.session.scalar(q.with_for_update() if lock else q)
    if row is None:
        raise not_found("deployment", name)
    return row


def _running(ctx: Ctx, deployment_id: str, *, lock: bool = False) -> RolloutRow | None:
    q = select(RolloutRow).where(RolloutRow.deployment_id == deployment_id, RolloutRow.state == "running")
    return ctx.session.scalar(q.with_for_update() if lock else q)


def _rollout(r: RolloutRow) -> Rollout:
    return Rollout(id=r.id, state=r.state, candidate=r.candidate, candidate_version=r.candidate_version,
                   variant=r.variant, steps=r.steps, step_index=r.step_index, weight=r.steps[r.step_index],
                   step_seconds=r.step_seconds, guards=Guards.model_validate(r.guards), stats=step_stats(r.stats),
                   reason=r.reason, started_at=r.started_at, step_started_at=r.step_started_at,
                   finished_at=r.finished_at)


def _deployment(ctx: Ctx, row: DeploymentRow) -> Deployment:
    variants = [_variant(ctx, v) for v in row.variants]
    latest = ctx.session.scalar(select(RolloutRow).where(RolloutRow.deployment_id == row.id)
                                .order_by(RolloutRow.started_at.desc()).limit(1))
    replicas = [Replica(id=r.replica_id, status=Status(r.status), message=r.message, loaded=r.loaded, seen_at=r.seen_at)
                for r in ctx.session.scalars(select(ReplicaRow).where(ReplicaRow.deployment_id == row.id)
                                             .order_by(ReplicaRow.replica_id))]
    fresh = utcnow() - REPLICA_TTL
    degraded = any(r.status == Status.degraded and r.seen_at >= fresh for r in replicas) or any(
        v.version is None for v in variants)
    running = latest is not None and latest.state == "running"
    mode = Mode.canary if running else Mode.shadow if any(v.role == Role.shadow for v in variants) else Mode.split
    return Deployment(id=row.id, name=row.name, project=row.project, mode=mode, status=Status.degraded if degraded else Status.healthy,
                      variants=variants, description=row.description,
                      rollout=_rollout(latest) if latest is not None else None, replicas=replicas,
                      sampling_percentage=row.sampling_percentage if row.sampling_percentage is not None else 100.0,
                      created_at=row.created_at, updated_at=row.updated_at)


def deployment_projects(ctx: Ctx) -> list[str]:
    """The projects that hold deployments (for background loops that serve every project)."""
    return list(ctx.session.scalars(select(DeploymentRow.project).distinct().order_by(DeploymentRow.project)))


def get_deployment(ctx: Ctx, name: str) -> Deployment:
    """A deployment with its variants resolved to model versions, its rollout and its replicas."""
    return _deployment(ctx, _row(ctx, name))


def list_deployments(ctx: Ctx, cursor: str | None = None, limit: Limit = 100) -> Page[Deployment]:
    """Deployments by name."""
    offset = cursor_offset(cursor)
    rows = list(ctx.session.scalars(select(DeploymentRow).where(DeploymentRow.project == project_of(ctx))
                                    .order_by(DeploymentRow.name).offset(offset)
                                    .limit(limit + 1)))
    page = offset_page(rows, offset, limit)
    return Page[Deployment](items=[_deployment(ctx, r) for r in page.items], next_cursor=page.next_cursor)


def history(ctx: Ctx, name: str) -> list[HistoryEntry]:
    """Every traffic change of a deployment, oldest first."""
    row = _row(ctx, name)
    rows = ctx.session.scalars(select(DeploymentHistoryRow).where(DeploymentHistoryRow.deployment_id == row.id)
                               .order_by(DeploymentHistoryRow.id))
    return [HistoryEntry(kind=h.kind, weights=h.after, before=h.before, reason=h.reason, actor=h.actor, at=h.at)
            for h in rows]


# ---------------------------------------------------------------- writing

def _weights(variants: list[dict[str, Any]]) -> dict[str, float]:
    return {v["name"]: v["weight"] for v in variants}


def _change(ctx: Ctx, row: DeploymentRow, variants: list[dict[str, Any]], kind: str, reason: str | None,
            event: str | None = "traffic.changed", payload: dict[str, Any] | None = None) -> None:
    before = _weights(row.variants)
    row.variants = variants
    row.updated_at = utcnow()
    ctx.session.add(DeploymentHistoryRow(deployment_id=row.id, kind=kind, before=before, after=_weights(variants),
                                         variants=variants, reason=reason, actor=ctx.actor, at=row.updated_at))
    if event:
        emit(ctx.session, event, row.id, {"deployment": row.name, "before": before, "after": _weights(variants),
                                          "kind": kind, **(payload or {})}, ctx.actor)


def create_deployment(ctx: Ctx, body: DeploymentCreate) -> Deployment:
    """Create a deployment; every variant's model must resolve (404 naming it otherwise)."""
    if ctx.session.scalar(select(DeploymentRow.id).where(DeploymentRow.project == project_of(ctx),
                                                         DeploymentRow.name == body.name)) is not None:
        raise Conflict(f"deployment {body.name!r} already exists", code="deployment_exists")
    for i, v in enumerate(body.variants):
        resolve(ctx, v.model, ["body", "variants", i, "model"])
    now = utcnow()
    variants = [v.model_dump(mode="json", exclude_none=True) for v in body.variants]
    if body.feature_service:
        variants = [{"feature_service": body.feature_service, **v} for v in variants]
    row = DeploymentRow(id=new_id(), project=project_of(ctx), name=body.name, description=body.description,
                        variants=variants,
                        sampling_percentage=body.sampling_percentage, created_by=ctx.actor, created_at=now, updated_at=now)
    ctx.session.add(row)
    ctx.session.flush()
    ctx.session.add(DeploymentHistoryRow(deployment_id=row.id, kind="created", before=None, after=_weights(variants),
                                         variants=variants, reason=body.description, actor=ctx.actor, at=now))
    emit(ctx.session, "deployment.created", row.id, {"deployment": row.name, "variants": variants}, ctx.actor)
    ctx.session.flush()
    return _deployment(ctx, row)


def set_traffic(ctx: Ctx, name: str, body: TrafficChange) -> Deployment:
    """Change variant weights (weights are relative among primary variants)."""
    row = _row(ctx, name, lock=True)
    if _running(ctx, row.id) is not None:
        raise Conflict(f"deployment {name!r} has a rollout running; roll it back first", code="rollout_running")
    known = {v["name"] for v in row.variants}
    unknown = [k for k in body.weights if k not in known]
    if unknown:
        raise InvalidInput(f"unknown variant(s) {', '.join(map(repr, unknown))}; variants: {', '.join(sorted(known))}",
                           code="unknown_variant", errors=[{"loc": ["body", "weights", k], "msg": "no such variant"}
                                                           for k in unknown])
    variants = [{**v, "weight": body.weights.get(v["name"], v["weight"])} for v in row.variants]
    if sum(v["weight"] for v in variants if v["role"] == Role.primary) <= 0:
        raise InvalidInput("the primary variants' weights must add up to more than 0",
                           errors=[{"loc": ["body", "weights"], "msg": "all primary weights are 0"}])
    _change(ctx, row, variants, "traffic", body.reason)
    ctx.session.flush()
    return _deployment(ctx, row)


def set_sampling(ctx: Ctx, name: str, body: SamplingChange) -> Deployment:
    """Set the share of requests whose inputs and predictions are logged (0-100)."""
    row = _row(ctx, name, lock=True)
    before = row.sampling_percentage
    row.sampling_percentage = body.sampling_percentage
    row.updated_at = utcnow()
    emit(ctx.session, "deployment.sampling_changed", row.id, {"deployment": name, "before": before,
                                                              "after": body.sampling_percentage}, ctx.actor)
    ctx.session.flush()
    return _deployment(ctx, row)


def delete_deployment(ctx: Ctx, name: str) -> None:
    """Delete a deployment, its history, rollouts and replica records (inference log files stay stored)."""
    row = _row(ctx, name, lock=True)
    for table in (DeploymentHistoryRow, RolloutRow, ReplicaRow, InferenceLogRow):
        ctx.session.execute(delete(table).where(table.deployment_id == row.id))
    ctx.session.delete(row)
    emit(ctx.session, "deployment.deleted", row.id, {"deployment": name}, ctx.actor)


# ---------------------------------------------------------------- rollouts

def _baseline(variants: list[dict[str, Any]]) -> dict[str, Any]:
    primaries = [v for v in variants if v["role"] == Role.primary]
    return max(primaries, key=lambda v: v["weight"])


def _canary_variants(previous: list[dict[str, Any]], candidate: str, pct: float) -> list[dict[str, Any]]:
    """``previous`` with the candidate at ``pct`` % and the other primaries scaled into the rest."""
    total = sum(v["weight"] for v in previous if v["role"] == Role.primary) or 1.0
    out = [{**v, "weight": round(v["weight"] / total * (100 - pct), 6)} if v["role"] == Role.primary else dict(v)
           for v in previous]
    canary = {"name": CANARY, "model": candidate, "weight": pct, "role": Role.primary.value}
    if fs := _baseline(previous).get("feature_service"):  # the candidate reads the same features
        canary["feature_service"] = fs
    return [*out, canary]


def start_rollout(ctx: Ctx, name: str, body: RolloutStart) -> Deployment:
    """Start a canary: the candidate gets the first step's share of traffic while the guards hold."""
    row = _row(ctx, name, lock=True)
    if _running(ctx, row.id) is not None:
        raise Conflict(f"deployment {name!r} already has a rollout running", code="rollout_running")
    if any(v["name"] == CANARY for v in row.variants):
        raise Conflict(f"deployment {name!r} already has a variant named {CANARY!r}", code="variant_exists")
    for metric, threshold in body.guards.metrics.items():
        try:
            parse_threshold(threshold)
        except ValueError as exc:
            raise InvalidInput(str(exc), errors=[{"loc": ["body", "guards", "metrics", metric], "msg": str(exc)}]) from None
    version = resolve(ctx, body.candidate, ["body", "candidate"])
    base = _baseline(row.variants)
    if uri_parts(base["model"])[0] != version.name:
        raise InvalidInput(f"candidate {body.candidate!r} is not a version of {uri_parts(base['model'])[0]!r}, "
                           f"the model of variant {base['name']!r}",
                           errors=[{"loc": ["body", "candidate"], "msg": "must be a version of the primary's model"}])
    now = utcnow()
    previous = [dict(v) for v in row.variants]
    candidate = f"models:/{version.name}/{version.version}"
    rollout = RolloutRow(id=new_id(), deployment_id=row.id, state="running", candidate=candidate,
                         candidate_version=version.version, variant=CANARY, steps=body.steps, step_index=0,
                         step_seconds=body.step_seconds, guards=body.guards.model_dump(), stats={}, previous=previous,
                         reason=body.reason, started_at=now, step_started_at=now)
    ctx.session.add(rollout)
    _change(ctx, row, _canary_variants(previous, candidate, body.steps[0]), "rollout_started", body.reason,
            payload={"rollout": rollout.id, "candidate": candidate})
    emit(ctx.session, "rollout.started", row.id, {"deployment": name, "rollout": rollout.id, "candidate": candidate,
                                                  "steps": body.steps}, ctx.actor)
    ctx.session.flush()
    return _deployment(ctx, row)


def _finish(ctx: Ctx, row: DeploymentRow, r: RolloutRow, state: str, reason: str) -> None:
    r.state, r.reason, r.finished_at = state, reason, utcnow()
    payload = {"deployment": row.name, "rollout": r.id, "candidate": r.candidate, "reason": reason,
               "step": r.steps[r.step_index]}
    if state == "rolled_back":
        _change(ctx, row, [dict(v) for v in r.previous], "rolled_back", reason)
        emit(ctx.session, "rollout.rolled_back", row.id, payload, ctx.actor)
        return
    base = _baseline(r.previous)
    name, alias, ref = uri_parts(base["model"])
    why = f"rollout {r.id} of deployment {row.name} promoted"
    _promote_in_registry(ctx, base["model"], r.candidate, why, payload)
    if alias:  # the alias moves; every deployment serving it follows
        registry.set_alias(ctx, name, alias, AliasSet(version=r.candidate_version, reason=why))
        payload["alias"] = f"{name}@{alias}"
    if alias or (ref and not ref.isdigit()):  # an alias or a stage: it now resolves to the candidate
        variants = [dict(v) for v in r.previous]
    else:
        variants = [{**v, "model": r.candidate} if v["name"] == base["name"] else dict(v) for v in r.previous]
    _change(ctx, row, variants, "promoted", reason)
    emit(ctx.session, "rollout.promoted", row.id, payload, ctx.actor)


def _promote_in_registry(ctx: Ctx, baseline_uri: str, candidate_uri: str, why: str,
                         payload: dict[str, Any]) -> None:
    """The promoted candidate takes the stage of the version the deployment served (production or
    staging), and that version is archived, so ``models:/M/<stage>`` and an alias agree afterwards."""
    try:
        previous = resolve(ctx, baseline_uri)
    except NotFound:  # the baseline no longer resolves: nothing to hand over
        return
    candidate = resolve(ctx, candidate_uri)
    if previous.stage not in (Stage.production, Stage.staging) or previous.id == candidate.id:
        return
    registry.set_stage(ctx, candidate.id, StageChange(stage=previous.stage, archive_existing=True, reason=why))
    payload["stage"] = previous.stage.value
    payload["archived"] = previous.version


def _quality(ctx: Ctx, row: DeploymentRow, r: RolloutRow, guards: Guards) -> list[QualityReading]:
    """The quality guards' readings now: the candidate's and the champion's live metrics since the
    rollout started (from labels, or estimated), kept in the step's stats for the API to show."""
    from mainsail.labels import service as labels  # labels reads this domain's logs through its services

    readings = labels.quality_readings(ctx, row.name, guards.quality, candidate=r.variant,
                                       champion=_baseline(r.previous)["name"], since=r.started_at)
    r.stats = {**r.stats, "quality": [q.model_dump() for q in readings]}
    return readings


def _apply(ctx: Ctx, row: DeploymentRow, r: RolloutRow, now: dt.datetime) -> None:
    guards = Guards.model_validate(r.guards)
    quality = _quality(ctx, row, r, guards) if guards.quality else None
    d = decide(steps=r.steps, step_index=r.step_index, step_started_at=r.step_started_at,
               step_seconds=r.step_seconds, guards=guards, stats=r.stats, now=now, quality=quality)
    if d.action == "rollback":
        _finish(ctx, row, r, "rolled_back", d.reason)
    elif d.action == "promote":
        _finish(ctx, row, r, "promoted", d.reason)
    elif d.action == "advance":
        r.step_index += 1
        r.step_started_at, r.stats = now, {}
        _change(ctx, row, _canary_variants(r.previous, r.candidate, r.steps[r.step_index]), "rollout_step", d.reason,
                payload={"rollout": r.id})


def tick_rollout(ctx: Ctx, name: str) -> Deployment:
    """Evaluate the running rollout now: hold, advance a step, promote, or roll back on a breach."""
    row = _row(ctx, name, lock=True)
    r = _running(ctx, row.id, lock=True)
    if r is not None:
        _apply(ctx, row, r, utcnow())
        ctx.session.flush()
    return _deployment(ctx, row)


def rollback(ctx: Ctx, name: str, body: RolloutAbort) -> Deployment:
    """Roll back the running rollout at once; with none running, restore the previous traffic split."""
    row = _row(ctx, name, lock=True)
    r = _running(ctx, row.id, lock=True)
    reason = body.reason or "rolled back by hand"
    if r is not None:
        _finish(ctx, row, r, "rolled_back", reason)
    else:
        entries = list(ctx.session.scalars(select(DeploymentHistoryRow).where(
            DeploymentHistoryRow.deployment_id == row.id).order_by(DeploymentHistoryRow.id.desc()).limit(50)))
        earlier = next((h for h in entries[1:] if h.kind not in ("rollout_started", "rollout_step")
                        and h.variants != row.variants), None)
        if earlier is None:
            raise Conflict(f"deployment {name!r} has no earlier traffic split to go back to", code="nothing_to_roll_back")
        _change(ctx, row, [dict(v) for v in earlier.variants], "rolled_back", reason,
                event="rollout.rolled_back", payload={"rollout": None, "reason": reason})
    ctx.session.flush()
    return _deployment(ctx, row)


# ---------------------------------------------------------------- replicas and inference logs

def report_replica(ctx: Ctx, name: str, replica_id: ReplicaId, body: ReplicaReport) -> Deployment:
    """A replica's heartbeat: stores its health, feeds its measurements to a running rollout (which is
    then evaluated), and returns the deployment as the replica should now serve it."""
    row = _row(ctx, name, lock=True)
    now = utcnow()
    rep = ctx.session.get(ReplicaRow, (row.id, replica_id))
    if rep is None:
        rep = ReplicaRow(deployment_id=row.id, replica_id=replica_id, status=body.status.value)
        ctx.session.add(rep)
    elif rep.status != body.status.value:
        emit(ctx.session, "deployment.status_changed", row.id, {"deployment": name, "replica": replica_id,
                                                                "status": body.status.value, "message": body.message})
    rep.status, rep.message, rep.loaded, rep.seen_at = body.status.value, body.message, body.loaded, now
    r = _running(ctx, row.id, lock=True)
    if r is not None:
        s = body.stats.get(r.variant)
        if s is not None:
            acc = dict(r.stats)
            acc["requests"] = acc.get("requests", 0) + s.requests
            acc["errors"] = acc.get("errors", 0) + s.errors
            acc["client_errors"] = acc.get("client_errors", 0) + s.client_errors
            acc["latency_buckets"] = merge_buckets(acc.get("latency_buckets", []), s.latency_buckets)
            acc["metrics"] = {**acc.get("metrics", {}), **s.metrics}
            r.stats = acc
        _apply(ctx, row, r, now)
    ctx.session.flush()
    return _deployment(ctx, row)


def add_inference_log(ctx: Ctx, name: str, data: bytes, digest: Digest, rows: Annotated[int, Ge(0), Le(INT32_MAX)],
                      first_at: dt.datetime, last_at: dt.datetime, replica: ReplicaId | None = None) -> InferenceLogFile:
    """Store one Parquet file of inference logs (verified against ``digest``) and index it."""
    row = _row(ctx, name)
    check_digest(digest, "digest")
    blob = ctx.store.put_bytes(data, expected_digest=digest)
    log = InferenceLogRow(deployment_id=row.id, digest=blob.digest, rows=rows, size=blob.size, first_at=first_at,
                          last_at=last_at, replica=replica, created_at=utcnow())
    ctx.session.add(log)
    ctx.session.flush()
    return _log(log)


def _log(r: InferenceLogRow) -> InferenceLogFile:
    return InferenceLogFile(digest=r.digest, rows=r.rows, size=r.size, first_at=r.first_at, last_at=r.last_at,
                            replica=r.replica, created_at=r.created_at)


def list_inference_logs(ctx: Ctx, name: str, since: dt.datetime | None = None) -> list[InferenceLogFile]:
    """A deployment's inference log files, oldest first (``since``: files with rows at or after it)."""
    row = _row(ctx, name)
    q = select(InferenceLogRow).where(InferenceLogRow.deployment_id == row.id)
    if since is not None:
        q = q.where(InferenceLogRow.last_at >= since)
    return [_log(r) for r in ctx.session.scalars(q.order_by(InferenceLogRow.id))]


def read_inference_log(ctx: Ctx, name: str, digest: Digest) -> bytes:
    """One inference log file's Parquet bytes, verified against its digest."""
    row = _row(ctx, name)
    check_digest(digest, "digest")
    if ctx.session.scalar(select(InferenceLogRow.id).where(InferenceLogRow.deployment_id == row.id,
                                                           InferenceLogRow.digest == digest).limit(1)) is None:
        raise not_found("inference log", f"{name}/{digest}")
    return ctx.store.get_bytes(digest, name=f"inference log {digest[:12]}")


def drop_inference_logs(ctx: Ctx, before: dt.datetime, project: str | None = None) -> int:
    """Forget inference log files whose rows all precede ``before`` (retention), of one project's
    deployments or all; their blobs go at the next gc."""
    q = select(InferenceLogRow).where(InferenceLogRow.last_at < before)
    if project is not None:
        q = q.join(DeploymentRow, DeploymentRow.id == InferenceLogRow.deployment_id).where(
            DeploymentRow.project == project)
    rows = list(ctx.session.scalars(q))
    for r in rows:
        ctx.session.delete(r)
    return len(rows)
