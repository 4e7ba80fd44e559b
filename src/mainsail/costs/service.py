"""Costs: usage records, price sheets, cost reports and budgets. The only writer of the ``cost_*`` tables
(with :mod:`mainsail.costs.hooks`, which the other domains call to record what they measured).

Compute is billed per usage record on what was reserved when that is known (``cpu_request`` cores,
``memory_request`` bytes and ``gpu_request`` GPUs for the wall time: a pipeline task), or on what was
measured when that is more, and else on what was measured (CPU seconds, peak memory for the wall time,
GPU seconds: a run, a replica). Reports sum those quantities in SQL, grouped by project, the chosen key
and spot, and apply each project's prices to the few sums; whole days and hours are read from the rollup
(:mod:`mainsail.costs.rollup`), so a report over a million records reads a few thousand rows."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections import defaultdict
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from mainsail.core.db import new_id, utcnow
from mainsail.core.errors import Conflict, InvalidInput, NotFound, not_found
from mainsail.core.events import emit
from mainsail.core.pagination import Limit
from mainsail.core.principal import require
from mainsail.core.runtime import Ctx
from mainsail.core.types import UtcDatetime
from mainsail.costs import rollup
from mainsail.costs.models import BudgetRow, PriceSheetRow, UsageRow
from mainsail.costs.schemas import (
    Budget,
    BudgetSpec,
    BudgetStatus,
    CostLine,
    CostReport,
    Prices,
    PriceSheet,
    ReportBy,
    Usage,
    UsageBatch,
    UsageKind,
    UsageWritten,
)

GiB = float(1 << 30)
USAGE_COLUMNS = tuple(c.name for c in UsageRow.__table__.columns if c.name != "id")
KEYS = {"project": UsageRow.project, "team": UsageRow.project, "kind": UsageRow.kind,
        "deployment": UsageRow.deployment, "pipeline": UsageRow.pipeline, "run": UsageRow.run_id,
        "model": UsageRow.model, "task": UsageRow.task}


# ---------------------------------------------------------------- prices

def prices_of(ctx: Ctx, project: str | None = None) -> Prices:
    """The project's prices (the defaults when it has no sheet)."""
    row = ctx.session.get(PriceSheetRow, project or ctx.project)
    return Prices.model_validate(row.prices) if row else Prices()


def get_prices(ctx: Ctx) -> PriceSheet:
    """The price sheet of the call's project (the defaults until one is set)."""
    row = ctx.session.get(PriceSheetRow, ctx.project)
    prices = Prices.model_validate(row.prices) if row else Prices()
    return PriceSheet(**prices.model_dump(), project=ctx.project, default=row is None,
                      updated_by=row.updated_by if row else None, updated_at=row.updated_at if row else None)


def set_prices(ctx: Ctx, body: Prices) -> PriceSheet:
    """Replace the price sheet of the call's project (fields left out take their defaults)."""
    row = ctx.session.get(PriceSheetRow, ctx.project)
    if row is None:
        row = PriceSheetRow(project=ctx.project)
        ctx.session.add(row)
    row.prices, row.updated_by, row.updated_at = body.model_dump(mode="json"), ctx.actor, utcnow()
    emit(ctx.session, "costs.prices_changed", ctx.project, body.model_dump(mode="json"), ctx.actor)
    ctx.session.flush()
    return get_prices(ctx)


# ---------------------------------------------------------------- usage

def write_usage(ctx: Ctx, records: list[dict[str, Any]], project: str | None = None) -> int:
    """Insert usage records (dicts of :class:`UsageRecord` fields) in one statement; pipeline tasks
    without a request get the project's reservation (``task_cpus``, ``task_memory_gb``)."""
    if not records:
        return 0
    project = project or ctx.project
    prices: Prices | None = None
    rows = []
    for r in records:
        row = {c: r.get(c) for c in USAGE_COLUMNS}
        row["project"] = project
        if row["kind"] == "task" and (row["cpu_request"] is None or row["memory_request"] is None):
            prices = prices or prices_of(ctx, project)
            if row["cpu_request"] is None:
                row["cpu_request"] = prices.task_cpus
            if row["memory_request"] is None:
                row["memory_request"] = int(prices.task_memory_gb * GiB)
        for c, default in (("wall_seconds", 0.0), ("cpu_seconds", 0.0), ("peak_memory", 0), ("gpu_seconds", 0.0),
                           ("requests", 0), ("attempt", 1), ("retries", 0), ("spot", False), ("billable", True)):
            if row[c] is None:
                row[c] = default
        rows.append(row)
    ctx.session.connection().execute(insert(UsageRow.__table__), rows)  # Core: no ORM bulk-insert bookkeeping
    rollup.add(ctx.session, rows)
    return len(rows)


def record_usage(ctx: Ctx, body: UsageBatch) -> UsageWritten:
    """Store usage a client measured itself (the SDK at a run's end, a model-server replica)."""
    return UsageWritten(written=write_usage(ctx, [r.model_dump() for r in body.records]))


# ---------------------------------------------------------------- reports

def _since(since: dt.datetime | None, until: dt.datetime) -> dt.datetime:
    if since is not None:
        return since
    try:
        return until - dt.timedelta(days=30)
    except OverflowError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)


def _line(key: str | None, sums: dict[str, float], prices: dict[str, Prices]) -> CostLine:
    return CostLine(key=key, records=int(sums["records"]), wall_hours=sums["wall"] / 3600,
                    cpu_hours=sums["cpu"] / 3600, memory_gb_hours=sums["mem"] / GiB / 3600,
                    gpu_hours=sums["gpu"] / 3600, requests=int(sums["requests"]),
                    compute_cost=round(sums["cost"], 6), cost=round(sums["cost"], 6))


def usage_sums(ctx: Ctx, by: ReportBy, since: dt.datetime, until: dt.datetime,
               projects: list[str] | None) -> list[tuple[Any, ...]]:
    """``(project, key, spot, records, wall, cpu, mem, gpu, requests)`` per group (a key may come more
    than once: from the rollup's days and hours and from the records at the edges)."""
    rolled = by in rollup.ROLLED_UP or by == "model"
    pieces = rollup.plan(since, until) if rolled else [(0, since, until)]
    out: list[tuple[Any, ...]] = []
    for span, lo, hi in pieces:  # by model: the replicas' part here, the runs' below
        out += (rollup.sums(ctx.session, by, span, lo, hi, projects) if span
                else raw_sums(ctx, by, lo, hi, projects, replicas=True))
    if by == "model":
        out += raw_sums(ctx, by, since, until, projects, replicas=False)
    return out


def raw_sums(ctx: Ctx, by: ReportBy, since: dt.datetime, until: dt.datetime,
             projects: list[str] | None, replicas: bool = True) -> list[tuple[Any, ...]]:
    """:func:`usage_sums` from the usage records alone, in one aggregate query (by model: the replicas'
    records, or the runs' when ``replicas`` is false)."""
    u = UsageRow
    cpu, mem, gpu = rollup.billed(ctx.session)
    key = KEYS[by]
    if by == "task":
        key = func.coalesce(u.pipeline, "") + "/" + func.coalesce(u.task, "")
    elif by == "model":  # a replica's model, else the run (mapped to the model it registered)
        key = func.coalesce(u.model, "run:" + u.run_id)
    q = (select(u.project, key.label("key"), u.spot, func.count(), func.sum(u.wall_seconds), func.sum(cpu),
                func.sum(mem), func.sum(gpu), func.sum(u.requests))
         .where(u.ended_at >= since, u.ended_at < until))
    if projects is not None:
        q = q.where(u.project.in_(projects))
    if by in ("run", "model"):  # what each run used, inside a pipeline task or not
        q = q.where(u.kind == "replica" if by == "model" and replicas else u.kind == "run")
    else:
        q = q.where(u.billable.is_(True))
        if by in ("pipeline", "task"):
            q = q.where(u.kind == "task")
        elif by == "deployment":
            q = q.where(u.kind == "replica")
    q = q.group_by(u.project, key, u.spot)
    return [tuple(r) for r in ctx.session.execute(q)]


def cost_report(ctx: Ctx, by: ReportBy = "project", since: UtcDatetime | None = None,
                until: UtcDatetime | None = None, all_projects: bool = False, storage: bool = False) -> CostReport:
    """Cost over ``[since, until)`` (default: the last 30 days) grouped ``by`` project, team, model,
    deployment, pipeline, run, task or kind, in the call's project (``all_projects``: every project,
    for an admin). ``storage`` adds what the artifact store holds (project and team reports)."""
    until = until or utcnow()
    since = _since(since, until)
    if since >= until:
        raise InvalidInput("since must be before until", errors=[{"loc": ["query", "since"], "msg": "after until"}])
    if all_projects:
        require(ctx, "admin")
    groups = usage_sums(ctx, by, since, until, None if all_projects else [ctx.project])
    prices: dict[str, Prices] = {}
    sums: dict[Any, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    run_models: dict[str, str] = {}
    if by == "model":
        from mainsail.registry import service as registry

        run_models = registry.model_names_for_runs(ctx, [g[1][4:] for g in groups if str(g[1]).startswith("run:")])
    for project, key, spot, n, wall, cpu, mem, gpu, requests in groups:
        n = int(n)
        p = prices.get(project) or prices.setdefault(project, prices_of(ctx, project))
        if by == "team":
            key = p.team or f"(project {project})"
        elif by == "model" and str(key).startswith("run:"):
            key = run_models.get(key[4:])  # None: a run that registered no model
        factor = (1 - p.spot_discount) if spot else 1.0
        wall, cpu, mem, gpu, requests = (float(x or 0) for x in (wall, cpu, mem, gpu, requests))  # PG: Decimal sums
        s = sums[key]
        s["records"] += n
        s["wall"] += wall or 0.0
        s["cpu"] += cpu or 0.0
        s["mem"] += mem or 0.0
        s["gpu"] += gpu or 0.0
        s["requests"] += requests or 0
        s["cost"] += factor * ((cpu or 0.0) / 3600 * p.cpu_hour + (mem or 0.0) / GiB / 3600 * p.memory_gb_hour
                               + (gpu or 0.0) / 3600 * p.gpu_hour)
    currency = prices_of(ctx).currency
    lines = {k: _line(None if k is None else str(k), s, prices) for k, s in sums.items()}
    if storage and by in ("project", "team"):
        from mainsail.costs import gc
        from mainsail.costs.retention import require_every_project_admin

        require_every_project_admin(ctx)  # the store's bytes are every project's
        stored = gc.storage_bytes(ctx)
        p = prices_of(ctx)
        months = (until - since).total_seconds() / (30 * 86400)
        key = ctx.project if by == "project" else (p.team or f"(project {ctx.project})")
        line = lines.get(key) or CostLine(key=key, records=0, wall_hours=0, cpu_hours=0, memory_gb_hours=0,
                                          gpu_hours=0, requests=0, compute_cost=0, cost=0)
        line.storage_gb = stored / GiB
        line.storage_cost = round(line.storage_gb * p.storage_gb_month * months, 6)
        line.cost = round(line.compute_cost + line.storage_cost, 6)
        lines[key] = line
    ordered = sorted(lines.values(), key=lambda ln: (-ln.cost, ln.key or ""))
    return CostReport(by=by, since=since, until=until, currency=currency, lines=ordered,
                      total=round(sum(ln.cost for ln in ordered), 6))


def list_usage(ctx: Ctx, kind: UsageKind | None = None, run_id: str | None = None, pipeline: str | None = None,
               deployment: str | None = None, limit: Limit = 100) -> list[Usage]:
    """The newest usage records of the call's project, optionally of one kind, run, pipeline or deployment."""
    q = select(UsageRow).where(UsageRow.project == ctx.project).order_by(UsageRow.id.desc()).limit(limit)
    for col, v in ((UsageRow.kind, kind), (UsageRow.run_id, run_id), (UsageRow.pipeline, pipeline),
                   (UsageRow.deployment, deployment)):
        if v is not None:
            q = q.where(col == v)
    return [Usage.model_validate({c: getattr(r, c) for c in ("id", *USAGE_COLUMNS)}) for r in ctx.session.scalars(q)]


# ---------------------------------------------------------------- budgets

def rule_name(project: str, budget: str) -> str:
    """The alert rule a budget raises its alerts through (unique per project and budget)."""
    name = f"budget-{project}-{budget}"
    return name if len(name) <= 200 else f"budget-{hashlib.sha256(name.encode()).hexdigest()[:32]}"


def _budget(row: BudgetRow) -> Budget:
    return Budget(id=row.id, project=row.project, name=row.name, amount=row.amount, period=row.period,  # type: ignore[arg-type]
                  thresholds=row.thresholds, severity=row.severity, channels=row.channels,  # type: ignore[arg-type]
                  rule=rule_name(row.project, row.name), spent=row.last_spent, last_checked_at=row.last_checked_at,
                  created_at=row.created_at)


def _budget_row(ctx: Ctx, name: str) -> BudgetRow:
    row = ctx.session.scalar(select(BudgetRow).where(BudgetRow.project == ctx.project, BudgetRow.name == name))
    if row is None:
        raise not_found("budget", name)
    return row


def _rule_spec(ctx: Ctx, row: BudgetRow) -> Any:
    from mainsail.alerts.schemas import RuleSpec

    return RuleSpec(name=rule_name(row.project, row.name), condition="status == breach", severity=row.severity,  # type: ignore[arg-type]
                    selector={"kind": "budget", "monitor": rule_name(row.project, row.name)},  # type: ignore[arg-type]
                    labels={"project": row.project, "budget": row.name}, channels=row.channels,
                    description=f"Budget {row.name!r} of project {row.project!r}: {row.amount:g} per {row.period}")


def create_budget(ctx: Ctx, body: BudgetSpec) -> Budget:
    """A budget for the call's project, and the alert rule its thresholds fire through."""
    from mainsail.alerts import service as alerts

    row = BudgetRow(id=new_id(), project=ctx.project, name=body.name, amount=body.amount, period=body.period,
                    thresholds=sorted(set(body.thresholds)), severity=body.severity, channels=body.channels,
                    created_by=ctx.actor, created_at=utcnow())
    try:
        with ctx.session.begin_nested():
            ctx.session.add(row)
    except SAIntegrityError:
        raise Conflict(f"budget {body.name!r} already exists in project {ctx.project!r}",
                       code="budget_exists") from None
    spec = _rule_spec(ctx, row)
    try:
        alerts.update_rule(ctx, spec.name, spec)  # left behind by a budget of the same name
    except NotFound:
        alerts.create_rule(ctx, spec)
    emit(ctx.session, "costs.budget_created", body.name, {"project": ctx.project, "amount": body.amount}, ctx.actor)
    return _budget(row)


def list_budgets(ctx: Ctx) -> list[Budget]:
    """The call's project's budgets."""
    rows = ctx.session.scalars(select(BudgetRow).where(BudgetRow.project == ctx.project).order_by(BudgetRow.name))
    return [_budget(r) for r in rows]


def get_budget(ctx: Ctx, name: str) -> Budget:
    return _budget(_budget_row(ctx, name))


def delete_budget(ctx: Ctx, name: str) -> None:
    """Delete a budget and its alert rule."""
    from mainsail.alerts import service as alerts

    row = _budget_row(ctx, name)
    with contextlib.suppress(NotFound):
        alerts.delete_rule(ctx, rule_name(row.project, row.name))
    ctx.session.delete(row)


def period_start(period: str, now: dt.datetime) -> dt.datetime:
    """The start (UTC) of the day, ISO week or calendar month that holds ``now``."""
    day = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def check_budgets(ctx: Ctx, evaluate: bool = True) -> list[BudgetStatus]:
    """Compare each budget of the call's project with its period's cost so far; the thresholds go to
    the alert rules as one ``monitor.completed`` result each (``status: breach`` once reached), and with
    ``evaluate`` the rules are evaluated at once (the server's subscriber does it otherwise)."""
    from mainsail.alerts import service as alerts

    now = utcnow()
    out = []
    for row in ctx.session.scalars(select(BudgetRow).where(BudgetRow.project == ctx.project).order_by(BudgetRow.name)):
        start = period_start(row.period, now)
        spent = cost_report(ctx, "project", since=start, until=now + dt.timedelta(microseconds=1)).total
        fraction = spent / row.amount
        reached = [t for t in row.thresholds if fraction >= t]
        rule = rule_name(row.project, row.name)
        results = [{"kind": "budget", "test": f"{t:.0%}", "value": round(fraction, 6), "threshold": t,
                    "status": "breach" if fraction >= t else "ok"} for t in row.thresholds]
        emit(ctx.session, "monitor.completed", rule, {"monitor": rule, "project": row.project, "budget": row.name,
                                                      "spent": spent, "amount": row.amount, "results": results},
             actor="costs")
        row.last_spent, row.last_checked_at = spent, now
        out.append(BudgetStatus(budget=row.name, project=row.project, period_start=start, spent=round(spent, 6),
                                amount=row.amount, fraction=round(fraction, 6), reached=reached))
    if evaluate and out:
        ctx.session.flush()
        fired = [alerts.get_alert(ctx, i) for i in alerts.evaluate_pending(ctx).fired]
        for st in out:
            st.alerts_fired = [a.id for a in fired if a.rule == rule_name(st.project, st.budget)]
    return out
