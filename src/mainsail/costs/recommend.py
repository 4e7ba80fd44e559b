"""Recommendations from measured usage, each with its evidence and an estimated monthly saving:

- ``right_size``: a pipeline task whose peak memory and CPU stay far below what it reserves;
- ``spot``: a long task that declares retries (retry-safe) and does not run on spot capacity yet;
  (a task's reservation is what its ``resources`` declare, else the price sheet's ``task_cpus`` and
  ``task_memory_gb``; spot tasks are right-sized too)
- ``batch``: an endpoint with low, bursty traffic (few requests, idle most intervals);
- ``archive``: artifacts only deleted runs reference (``mainsail gc``), and artifacts of old runs;
- ``dedupe``: dataset versions in several datasets with identical content (same digest)."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import case, func, select

from mainsail.core.db import utcnow
from mainsail.core.runtime import Ctx
from mainsail.costs.models import UsageRow
from mainsail.costs.schemas import Prices, Recommendation
from mainsail.costs.service import GiB, prices_of

HEADROOM = 1.25  # a right-sized request keeps 25% above the measured peak
MiB = 1 << 20


def _round_up(x: float, step: float) -> float:
    return max(step, math.ceil(x / step) * step)


def _right_size_and_spot(ctx: Ctx, p: Prices, since: dt.datetime, month: float, spot_minutes: float
                         ) -> list[Recommendation]:
    u = UsageRow
    q = (select(u.pipeline, u.task, func.count(), func.max(u.peak_memory), func.max(u.cpu_seconds / u.wall_seconds),
                func.max(u.cpu_request), func.max(u.memory_request), func.sum(u.wall_seconds), func.max(u.retries),
                func.avg(u.wall_seconds), func.sum(u.cpu_request * u.wall_seconds),
                func.sum(func.coalesce(u.memory_request, 0) * u.wall_seconds),
                func.sum(case((u.spot.is_(True), 1), else_=0)))
         .where(u.project == ctx.project, u.kind == "task", u.ended_at >= since, u.wall_seconds > 0,
                u.billable.is_(True))
         .group_by(u.pipeline, u.task))
    out = []
    for (pipeline, task, n, peak, cpu_max, cpus, mem_req, wall, retries, avg_wall, cpu_s, mem_bs,
         on_spot) in ctx.session.execute(q):
        target = f"{pipeline}/{task}"
        if cpus and mem_req and n >= 1:
            new_mem = _round_up(peak * HEADROOM / MiB, 128) * MiB
            new_cpus = min(cpus, _round_up((cpu_max or 0.0) * HEADROOM, 0.25))
            if new_mem <= 0.5 * mem_req and new_cpus <= 0.5 * cpus:
                spot_share = (on_spot or 0) / n  # attempts on spot cost (1 - discount)
                saving = ((cpus - new_cpus) * wall / 3600 * p.cpu_hour
                          + (mem_req - new_mem) / GiB * wall / 3600 * p.memory_gb_hour) * month \
                    * (1 - p.spot_discount * spot_share)
                out.append(Recommendation(
                    kind="right_size", target=target, currency=p.currency, estimated_saving=round(saving, 4),
                    summary=f"task {task} of pipeline {pipeline} peaked at {peak / MiB:,.0f} MiB and "
                            f"{cpu_max or 0:.2f} cores of the {mem_req / MiB:,.0f} MiB and {cpus:g} cores it reserves: "
                            f"reserve {new_mem / MiB:,.0f} MiB and {new_cpus:g} cores",
                    evidence={"attempts": n, "peak_memory": peak, "memory_request": mem_req, "max_cpu_cores": cpu_max,
                              "cpu_request": cpus, "wall_hours": wall / 3600, "suggested_memory": int(new_mem),
                              "suggested_cpus": new_cpus}))
        if retries and not on_spot and avg_wall >= spot_minutes * 60:
            compute = (cpu_s or 0.0) / 3600 * p.cpu_hour + (mem_bs or 0.0) / GiB / 3600 * p.memory_gb_hour
            out.append(Recommendation(
                kind="spot", target=target, currency=p.currency,
                estimated_saving=round(compute * p.spot_discount * month, 4),
                summary=f"task {task} of pipeline {pipeline} runs {avg_wall / 60:,.0f} min on average and is "
                        f"retry-safe ({retries} retries): run it on spot capacity ({p.spot_discount:.0%} off)",
                evidence={"attempts": n, "average_minutes": avg_wall / 60, "retries": retries,
                          "compute_cost": compute}))
    return out


def _batch(ctx: Ctx, p: Prices, since: dt.datetime, month: float, max_per_hour: float,
           max_active: float) -> list[Recommendation]:
    u = UsageRow
    q = (select(u.deployment, u.requests, u.wall_seconds, u.cpu_seconds, u.peak_memory, u.gpu_seconds)
         .where(u.project == ctx.project, u.kind == "replica", u.ended_at >= since))
    per: dict[str, list[tuple[int, float, float, int, float]]] = defaultdict(list)
    for dep, req, wall, cpu, peak, gpu in ctx.session.execute(q):
        per[dep].append((req, wall, cpu, peak, gpu))
    out = []
    for dep, rows in per.items():
        hours = sum(r[1] for r in rows) / 3600
        if hours <= 0 or len(rows) < 3:
            continue
        requests = sum(r[0] for r in rows)
        active = sum(1 for r in rows if r[0] > 0) / len(rows)
        rate = requests / hours
        if rate <= max_per_hour and active <= max_active:
            cost = sum(r[2] / 3600 * p.cpu_hour + r[3] * r[1] / GiB / 3600 * p.memory_gb_hour
                       + r[4] / 3600 * p.gpu_hour for r in rows)
            out.append(Recommendation(
                kind="batch", target=dep, currency=p.currency, estimated_saving=round(cost * (1 - active) * month, 4),
                summary=f"deployment {dep} served {rate:,.1f} requests per hour and was idle in "
                        f"{1 - active:.0%} of its intervals: score these requests with batch inference",
                evidence={"requests": requests, "replica_hours": hours, "requests_per_hour": rate,
                          "active_share": active, "intervals": len(rows), "serving_cost": cost}))
    return out


def _archive(ctx: Ctx, p: Prices, old_days: float) -> list[Recommendation]:
    from mainsail.costs import gc
    from mainsail.tracking import service as tracking

    deleted = gc.deleted_runs(ctx, utcnow() + dt.timedelta(days=1))
    mine = tracking.run_projects(ctx, sorted(deleted))
    deleted = {r for r in deleted if mine.get(r) == ctx.project}  # the call's project's runs only
    old = set(tracking.runs_ended_before(ctx, utcnow() - dt.timedelta(days=old_days), project=ctx.project))
    referenced, only_deleted, who = gc.scan(ctx, deleted | old, owners=True)
    sizes = {b.digest: b.size for b in ctx.store.iter_blobs()}
    out = []
    for label, runs in (("deleted", deleted), ("old", old)):
        digests = {d for d in only_deleted if {i for k, i in who.get(d, ()) if k == "run"} & runs}
        size = sum(sizes.get(d, 0) for d in digests)
        if not size:
            continue
        saving = size / GiB * p.storage_gb_month
        what = ("run `mainsail gc` (artifacts of deleted runs)" if label == "deleted"
                else f"set a retention rule (`mainsail costs retention --runs-days {old_days:g}`) or archive them")
        out.append(Recommendation(
            kind="archive", target=f"{label} runs", currency=p.currency, estimated_saving=round(saving, 6),
            summary=f"{len(digests)} artifacts ({size / MiB:,.1f} MiB) belong only to {label} runs: {what}",
            evidence={"runs": len(runs), "artifacts": len(digests), "bytes": size,
                      **({"older_than_days": old_days} if label == "old" else {})}))
    return out


def _dedupe(ctx: Ctx, p: Prices) -> list[Recommendation]:
    from mainsail.data import service as data

    out = []
    for digest, versions in data.duplicate_versions(ctx).items():
        names = [f"{n}@{v}" for n, v, _ in versions]
        out.append(Recommendation(
            kind="dedupe", target=names[0], currency=p.currency, estimated_saving=0.0,
            summary=f"{len(versions)} dataset versions hold identical content ({', '.join(names[:5])}): keep one "
                    "(the artifact store already keeps a single copy; the saving is in what is profiled, validated "
                    "and exported twice)",
            evidence={"digest": digest, "versions": names, "bytes": versions[0][2]}))
    return out


Days = Annotated[float, Field(gt=0, le=36500, allow_inf_nan=False)]


def recommend(ctx: Ctx, days: Days = 30, spot_minutes: Days = 10, batch_requests_per_hour: Days = 60,
              batch_active_share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.3,
              old_run_days: Days = 90) -> list[Recommendation]:
    """Recommendations for the call's project from the last ``days`` of usage, biggest saving first."""
    p = prices_of(ctx)
    since = utcnow() - dt.timedelta(days=days)
    month = 30 / days
    recs: list[Any] = [*_right_size_and_spot(ctx, p, since, month, spot_minutes),
                       *_batch(ctx, p, since, month, batch_requests_per_hour, batch_active_share)]
    if ctx.project == "default":  # runs and datasets live in the default project until objects carry one
        recs += [*_archive(ctx, p, old_run_days), *_dedupe(ctx, p)]
    return sorted(recs, key=lambda r: (-r.estimated_saving, r.kind, r.target))
