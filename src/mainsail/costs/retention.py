"""Retention rules per project and the ``mainsail gc`` operation (part of the costs service: the only
writer of ``cost_retention``; runs and inference logs are removed through their own domains' services)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from mainsail.core.db import utcnow
from mainsail.core.errors import Forbidden
from mainsail.core.events import emit
from mainsail.core.pagination import Limit
from mainsail.core.principal import LOCAL
from mainsail.core.runtime import Ctx
from mainsail.costs import gc
from mainsail.costs.models import RetentionRow
from mainsail.costs.schemas import GcReport, GcRequest, Retention, RetentionRules, StorageReport


def _rules(row: RetentionRow | None, project: str) -> RetentionRules:
    if row is None:
        return RetentionRules(project=project)
    return RetentionRules(project=project, runs_days=row.runs_days, inference_logs_days=row.inference_logs_days,
                          updated_at=row.updated_at)


def get_retention(ctx: Ctx) -> RetentionRules:
    """The call's project's retention rules (none: everything is kept)."""
    return _rules(ctx.session.get(RetentionRow, ctx.project), ctx.project)


def set_retention(ctx: Ctx, body: Retention) -> RetentionRules:
    """Replace the call's project's retention rules."""
    row = ctx.session.get(RetentionRow, ctx.project)
    if row is None:
        row = RetentionRow(project=ctx.project)
        ctx.session.add(row)
    row.runs_days, row.inference_logs_days, row.updated_at = body.runs_days, body.inference_logs_days, utcnow()
    emit(ctx.session, "costs.retention_changed", ctx.project, body.model_dump(), ctx.actor)
    ctx.session.flush()
    return _rules(row, ctx.project)


def apply_retention(ctx: Ctx, dry_run: bool, all_projects: bool = False) -> tuple[list[str], int]:
    """Delete runs and drop inference log files past their project's rules: the call's project's rules
    on its own runs and deployments (``all_projects``: each project's rules on its own)."""
    q = select(RetentionRow)
    if not all_projects:
        q = q.where(RetentionRow.project == ctx.project)
    runs: list[str] = []
    logs = 0
    for row in ctx.session.scalars(q.order_by(RetentionRow.project)).all():
        r, n = _apply(ctx, row, dry_run)
        runs += r
        logs += n
    return runs, logs


def _apply(ctx: Ctx, row: RetentionRow, dry_run: bool) -> tuple[list[str], int]:
    from mainsail.serving import service as serving
    from mainsail.tracking import service as tracking

    now = utcnow()
    runs: list[str] = []
    logs = 0
    if row.runs_days is not None:
        runs = tracking.runs_ended_before(ctx, now - dt.timedelta(days=row.runs_days), project=row.project)
        if not dry_run:
            for run_id in runs:
                tracking.delete_run(ctx, run_id)
    if row.inference_logs_days is not None:
        cutoff = now - dt.timedelta(days=row.inference_logs_days)
        if dry_run:
            with ctx.session.begin_nested() as sp:
                logs = serving.drop_inference_logs(ctx, cutoff, project=row.project)
                ctx.session.flush()
                sp.rollback()
        else:
            logs = serving.drop_inference_logs(ctx, cutoff, project=row.project)
            ctx.session.flush()
    return runs, logs


def run_gc(ctx: Ctx, body: GcRequest) -> GcReport:
    """Apply the retention rules (unless ``retention`` is false), then delete the blobs no object
    references, and those only runs deleted before the grace period reference, once older than the grace
    period. ``dry_run`` (the default) changes nothing and lists what would go. In the call's project
    (its rules, its runs; a blob another project's deleted runs still name stays), or with
    ``all_projects`` (an admin of every project) in all."""
    if body.all_projects:
        require_every_project_admin(ctx)
    runs, logs = apply_retention(ctx, body.dry_run, body.all_projects) if body.retention else ([], 0)
    if runs or logs:
        ctx.session.flush()
    found = gc.collect(ctx, dry_run=body.dry_run, grace_hours=body.grace_hours,
                       project=None if body.all_projects else ctx.project)
    emit(ctx.session, "costs.gc", "artifacts", {"dry_run": body.dry_run, "deleted": len(found["deleted"]),
                                                 "bytes": found["deleted_bytes"], "runs_deleted": len(runs),
                                                 "project": None if body.all_projects else ctx.project}, ctx.actor)
    return GcReport(dry_run=body.dry_run, grace_hours=body.grace_hours, runs_deleted=runs,
                    inference_logs_dropped=logs, all_projects=body.all_projects, **found)


def require_every_project_admin(ctx: Ctx) -> None:
    """Raise :class:`Forbidden` unless the acting principal is an admin of every project (role ``*``)."""
    principal = getattr(ctx, "principal", None) or LOCAL
    if principal.role("*") != "admin":
        raise Forbidden(f"{principal.name!r} needs the 'admin' role in every project ('*') to act on all projects; "
                        f"leave out all_projects to act on project {ctx.project!r}", code="role_required",
                        errors=[{"loc": ["body", "all_projects"], "msg": "needs admin of every project",
                                 "type": "role_required", "required": "admin"}])


def storage(ctx: Ctx, limit: Limit = 100) -> StorageReport:
    """Bytes stored in the artifact store per object (runs, model versions, datasets, inference logs,
    pipelines), the biggest first, with their monthly cost at the project's price."""
    return gc.storage_report(ctx, limit)
