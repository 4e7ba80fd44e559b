"""The rollup of usage (``cost_usage_rollup``): what a cost report over whole days and hours reads.

Each usage record adds to one row per hour and one per day (UTC, of its ``ended_at``) and subject
(project, kind, pipeline, task, deployment, model, spot, billable): the record count and the sums a
report prices (wall seconds, billed core-seconds, byte-seconds of memory and GPU-seconds, requests). The
sums do not depend on the prices, so a price change needs no rebuild. :func:`add` upserts them in the
transaction that inserts the records; :func:`rebuild` recomputes the days of a period from the records
(after records are deleted or written around the service; the migration that creates the table
backfills it the same way).

A report over ``[since, until)`` (:func:`plan`) reads the day rows for the whole days inside, the hour
rows for the whole hours around them, and the records for the partial hours at its edges: at most two
hours of records, 46 hours of hour rows and one row per day and subject. Reports by run read the records
(run ids are not rolled up); by model, the replicas' part comes from the rollup and the runs' from the
records."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import delete, func, insert, literal_column, select
from sqlalchemy.orm import Session

from mainsail.costs.models import UsageRollupRow, UsageRow

HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
SPANS = (1, 24)  # hours
SUBJECT = ("pipeline", "task", "deployment", "model")
KEY = ("project", "span_hours", "start", "kind", *SUBJECT, "spot", "billable")
ROLLED_UP = ("project", "team", "kind", "deployment", "pipeline", "task")  # report keys the rollup answers whole
# by model, the rollup answers the replicas' part (a model column); runs map to models through their run ids
SUMS = ("records", "wall", "cpu", "mem", "gpu", "requests")
Piece = tuple[int, dt.datetime, dt.datetime]  # (span_hours: 0 for the records, lo, hi)


def floor(t: dt.datetime, span_hours: int = 1) -> dt.datetime:
    """The start of the UTC hour (``span_hours`` 1) or day (24) that holds ``t`` (a naive ``t`` is UTC)."""
    t = t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
    t = t.replace(minute=0, second=0, microsecond=0)
    return t.replace(hour=0) if span_hours == 24 else t


def ceil(t: dt.datetime, span_hours: int = 1) -> dt.datetime:
    f = floor(t, span_hours)
    return f if f == t else f + (DAY if span_hours == 24 else HOUR)


def plan(since: dt.datetime, until: dt.datetime) -> list[Piece]:
    """``[since, until)`` cut into day rows, hour rows and records (``span_hours`` 0), none empty."""
    try:
        h0, h1 = ceil(since), floor(until)
        d0, d1 = ceil(since, 24), floor(until, 24)
    except OverflowError:
        return [(0, since, until)]
    if h0 >= h1:
        return [(0, since, until)]
    pieces: list[Piece] = [(0, since, h0), (0, h1, until)]
    if d0 < d1:
        pieces += [(24, d0, d1), (1, h0, d0), (1, d1, h1)]
    else:
        pieces.append((1, h0, h1))
    return [p for p in pieces if p[1] < p[2]]


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
    """Add inserted usage records (column dicts) to their hours and days, in the caller's transaction."""
    acc: dict[tuple[Any, ...], list[float]] = {}
    for r in rows:
        subject = (r["kind"], *(r[c] or "" for c in SUBJECT), bool(r["spot"]), bool(r["billable"]))
        cpu, mem, gpu = _billed(r)
        for span in SPANS:
            s = acc.setdefault((r["project"], span, floor(r["ended_at"], span), *subject), [0, 0.0, 0.0, 0.0, 0.0, 0])
            s[0] += 1
            s[1] += float(r["wall_seconds"])
            s[2] += cpu
            s[3] += mem
            s[4] += gpu
            s[5] += int(r["requests"])
    if not acc:
        return
    values = [{**dict(zip(KEY, k, strict=True)), **dict(zip(SUMS, s, strict=True))}
              for k, s in sorted(acc.items(), key=lambda kv: tuple(str(x) for x in kv[0]))]  # one lock order
    session.connection().execute(_upsert(session.get_bind().dialect.name), values)


@functools.cache
def _upsert(dialect: str) -> Any:
    """The rollup's upsert statement, built once per dialect (building it cost ~1 ms per run end)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    t = UsageRollupRow.__table__
    stmt = upsert(t)
    return stmt.on_conflict_do_update(index_elements=[t.c[n] for n in KEY],
                                      set_={n: t.c[n] + stmt.excluded[n] for n in SUMS})


def _start_expr(session: Session, span_hours: int) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc(literal_column("'hour'" if span_hours == 1 else "'day'"), UsageRow.ended_at)
    fmt = "'%Y-%m-%d %H:00:00.000000'" if span_hours == 1 else "'%Y-%m-%d 00:00:00.000000'"
    return func.strftime(literal_column(fmt), UsageRow.ended_at)  # SQLAlchemy's SQLite datetime text


def rebuild(session: Session, project: str | None = None, since: dt.datetime | None = None,
            until: dt.datetime | None = None) -> None:
    """Recompute the rollup of the days that overlap ``[since, until)`` (default: all) from the records,
    for one project or all."""
    u, r = UsageRow, UsageRollupRow
    lo = floor(since, 24) if since is not None else None
    hi = ceil(until, 24) if until is not None else None
    d = delete(r)
    if project is not None:
        d = d.where(r.project == project)
    if lo is not None:
        d = d.where(r.start >= lo)
    if hi is not None:
        d = d.where(r.start < hi)
    session.execute(d)
    subject = [func.coalesce(getattr(u, c), literal_column("''")) for c in SUBJECT]
    cpu, mem, gpu = billed(session)
    for span in SPANS:
        start = _start_expr(session, span)
        q = select(u.project, literal_column(str(span)), start, u.kind, *subject, u.spot, u.billable, func.count(),
                   func.sum(u.wall_seconds), func.sum(cpu), func.sum(mem), func.sum(gpu), func.sum(u.requests))
        if project is not None:
            q = q.where(u.project == project)
        if lo is not None:
            q = q.where(u.ended_at >= lo)
        if hi is not None:
            q = q.where(u.ended_at < hi)
        q = q.group_by(u.project, start, u.kind, *subject, u.spot, u.billable)
        session.execute(insert(r).from_select([*KEY, *SUMS], q))


def sums(session: Session, by: str, span_hours: int, lo: dt.datetime, hi: dt.datetime,
         projects: list[str] | None) -> list[tuple[Any, ...]]:
    """``(project, key, spot, records, wall, cpu, mem, gpu, requests)`` per group over the spans starting
    in ``[lo, hi)``: the groups :func:`mainsail.costs.service.raw_sums` makes from the records."""
    r = UsageRollupRow
    key: Any = {"project": r.project, "team": r.project, "kind": r.kind,
                "deployment": func.nullif(r.deployment, ""), "pipeline": func.nullif(r.pipeline, ""),
                "model": func.nullif(r.model, "")}.get(by)
    if by == "task":
        key = r.pipeline + "/" + r.task
    q = (select(r.project, key.label("key"), r.spot, *(func.sum(getattr(r, c)) for c in SUMS))
         .where(r.span_hours == span_hours, r.start >= lo, r.start < hi))
    # by model: what each model's replicas used, billable or not (as the records' report by model)
    q = q.where(r.kind == "replica" if by == "model" else r.billable.is_(True))
    if projects is not None:
        q = q.where(r.project.in_(projects) if len(projects) != 1 else r.project == projects[0])
    if by in ("pipeline", "task"):
        q = q.where(r.kind == "task")
    elif by == "deployment":
        q = q.where(r.kind == "replica")
    q = q.group_by(r.project, key, r.spot)
    return [(p, k, s, int(n or 0), *(float(x or 0) for x in rest)) for p, k, s, n, *rest in session.execute(q)]
