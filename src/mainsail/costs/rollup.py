"""The hourly rollup of usage (``cost_usage_hourly``): what a cost report over whole hours reads.

Each usage record adds to one row per hour of its ``ended_at`` and subject (project, kind, pipeline,
task, deployment, model, spot, billable): the record count and the sums a report prices (wall seconds,
billed core-seconds, byte-seconds of memory and GPU-seconds, requests). The sums do not depend on the
prices, so a price change needs no rebuild. :func:`add` upserts them in the transaction that inserts the
records; :func:`rebuild` recomputes the hours of a period from the records (after records are deleted or
written around the service, and by the migration that creates the table).

A report over ``[since, until)`` reads the rollup for the whole hours inside and the records for the
partial hours at its edges (:func:`split`), so it reads at most two hours of records plus one row per
hour and subject. Reports by run or by model read the records (run ids are not rolled up)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, insert, literal_column, select
from sqlalchemy.orm import Session

from mainsail.costs.models import UsageHourRow, UsageRow

HOUR = dt.timedelta(hours=1)
SUBJECT = ("pipeline", "task", "deployment", "model")
ROLLED_UP = ("project", "team", "kind", "deployment", "pipeline", "task")  # report keys the rollup answers
SUMS = ("records", "wall", "cpu", "mem", "gpu", "requests")


def hour_of(t: dt.datetime) -> dt.datetime:
    """The UTC hour that holds ``t`` (a naive ``t`` is UTC)."""
    t = t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
    return t.replace(minute=0, second=0, microsecond=0)


def split(since: dt.datetime, until: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The whole hours ``[h0, h1)`` inside ``[since, until)``, or None when there is none."""
    h0 = hour_of(since)
    try:
        if h0 < since:
            h0 += HOUR
    except OverflowError:
        return None
    h1 = hour_of(until)
    return (h0, h1) if h0 < h1 else None


def _billed(r: dict[str, Any]) -> tuple[float, float, float]:
    """Billed core-seconds, byte-seconds of memory and GPU-seconds of a record: the reservation, or what
    was used when more (a record without a reservation: what was used)."""
    wall = float(r["wall_seconds"])
    cpu = max((r["cpu_request"] or 0.0) * wall, float(r["cpu_seconds"]))
    mem = max(r["memory_request"] or 0, r["peak_memory"]) * wall
    gpu = max((r.get("gpu_request") or 0.0) * wall, float(r["gpu_seconds"]))
    return float(cpu), float(mem), float(gpu)


def billed(session: Session) -> tuple[Any, Any, Any]:
    """:func:`_billed` as SQL expressions over ``cost_usage`` (for the session's database)."""
    u = UsageRow
    greatest = func.greatest if session.get_bind().dialect.name == "postgresql" else func.max  # SQLite: scalar max
    zero = literal_column("0")
    return (greatest(func.coalesce(u.cpu_request * u.wall_seconds, zero), u.cpu_seconds),
            greatest(func.coalesce(u.memory_request, zero), u.peak_memory) * u.wall_seconds,
            greatest(func.coalesce(u.gpu_request * u.wall_seconds, zero), u.gpu_seconds))


def add(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add inserted usage records (column dicts) to their hours, in the caller's transaction."""
    acc: dict[tuple[Any, ...], list[float]] = {}
    for r in rows:
        key = (r["project"], hour_of(r["ended_at"]), r["kind"], *(r[c] or "" for c in SUBJECT),
               bool(r["spot"]), bool(r["billable"]))
        cpu, mem, gpu = _billed(r)
        s = acc.setdefault(key, [0, 0.0, 0.0, 0.0, 0.0, 0])
        s[0] += 1
        s[1] += float(r["wall_seconds"])
        s[2] += cpu
        s[3] += mem
        s[4] += gpu
        s[5] += int(r["requests"])
    if not acc:
        return
    names = ("project", "hour", "kind", *SUBJECT, "spot", "billable")
    values = [{**dict(zip(names, k, strict=True)), **dict(zip(SUMS, s, strict=True))}
              for k, s in sorted(acc.items(), key=lambda kv: tuple(str(x) for x in kv[0]))]  # one lock order
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    stmt = upsert(UsageHourRow)
    t = UsageHourRow.__table__
    stmt = stmt.on_conflict_do_update(index_elements=[t.c[n] for n in names],
                                      set_={n: t.c[n] + stmt.excluded[n] for n in SUMS})
    session.execute(stmt, values)


def _hour_expr(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc(literal_column("'hour'"), UsageRow.ended_at)
    return func.strftime(literal_column("'%Y-%m-%d %H:00:00.000000'"), UsageRow.ended_at)  # SQLAlchemy's SQLite datetime text


def rebuild(session: Session, project: str | None = None, since: dt.datetime | None = None,
            until: dt.datetime | None = None) -> None:
    """Recompute the rollup of the hours that overlap ``[since, until)`` (default: all) from the records,
    for one project or all."""
    u, h = UsageRow, UsageHourRow
    lo = hour_of(since) if since is not None else None
    hi = None
    if until is not None:
        hi = hour_of(until)
        if hi < until:
            hi += HOUR
    d = delete(h)
    subject = [func.coalesce(getattr(u, c), literal_column("''")) for c in SUBJECT]
    cpu, mem, gpu = billed(session)
    q = select(u.project, _hour_expr(session), u.kind, *subject, u.spot, u.billable, func.count(),
               func.sum(u.wall_seconds), func.sum(cpu), func.sum(mem), func.sum(gpu), func.sum(u.requests))
    if project is not None:
        d, q = d.where(h.project == project), q.where(u.project == project)
    if lo is not None:
        d, q = d.where(h.hour >= lo), q.where(u.ended_at >= lo)
    if hi is not None:
        d, q = d.where(h.hour < hi), q.where(u.ended_at < hi)
    q = q.group_by(u.project, _hour_expr(session), u.kind, *subject, u.spot, u.billable)
    session.execute(d)
    session.execute(insert(h).from_select(["project", "hour", "kind", *SUBJECT, "spot", "billable", *SUMS], q))


def sums(session: Session, by: str, h0: dt.datetime, h1: dt.datetime,
         projects: list[str] | None) -> list[tuple[Any, ...]]:
    """``(project, key, spot, records, wall, cpu, mem, gpu, requests)`` per group over the hours
    ``[h0, h1)``, the same groups :func:`mainsail.costs.service.usage_sums` makes from the records."""
    h = UsageHourRow
    key: Any = {"project": h.project, "team": h.project, "kind": h.kind,
                "deployment": func.nullif(h.deployment, ""), "pipeline": func.nullif(h.pipeline, "")}.get(by)
    if by == "task":
        key = h.pipeline + "/" + h.task
    q = (select(h.project, key.label("key"), h.spot, *(func.sum(getattr(h, c)) for c in SUMS))
         .where(h.hour >= h0, h.hour < h1, h.billable.is_(True)))
    if projects is not None:
        q = q.where(h.project.in_(projects))
    if by in ("pipeline", "task"):
        q = q.where(h.kind == "task")
    elif by == "deployment":
        q = q.where(h.kind == "replica")
    q = q.group_by(h.project, key, h.spot)
    return [(p, k, s, int(n or 0), *(float(x or 0) for x in rest)) for p, k, s, n, *rest in session.execute(q)]
