"""The task queue: claim ready tasks under a lease, record outcomes, move the DAG forward.

This is the hot path of every run, so it skips the ORM and keeps each step to one transaction:
the worker records a batch of finished tasks and claims the next ones together. A task row carries
``remaining`` (upstream tasks not yet succeeded) and ``downstream``, so finishing a task is two
updates, never a graph walk in SQL. Claims take ``queued`` rows whose backoff has passed and
``running`` rows whose lease expired (their worker died); PostgreSQL adds ``FOR UPDATE SKIP LOCKED``
so workers never wait on each other, SQLite serializes claims with ``BEGIN IMMEDIATE``. Completion
is fenced by ``(lease_owner, attempt)``: a worker that lost its lease cannot overwrite a newer attempt.

The statements of the hot path (claim, record a success, move dependents) are built once with bind
parameters and only executed per turn: building SQLAlchemy expressions cost more than running them.
A worker also keeps what cannot change (a run's version and params, a succeeded task's output) in a
:class:`Memo`, so a turn of a long fan-out or chain is a claim and two updates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from mainsail.core.db import utcnow
from mainsail.core.events import emit
from mainsail.pipelines.models import PipelineRow, PipelineRunRow, PipelineTaskRow, TaskCacheRow

T = PipelineTaskRow.__table__
R = PipelineRunRow.__table__
C = TaskCacheRow.__table__
MAX_LOST = 3  # a task whose worker vanished this many times fails instead of being retaken


@dataclass
class Claimed:
    id: int
    run_id: str
    name: str
    operator: str
    attempt: int
    lost: int
    version_id: str = ""
    params: dict[str, Any] = field(default_factory=dict)  # the run's params
    inputs: dict[str, Any] = field(default_factory=dict)  # upstream outputs
    project: str = "default"  # the run's project
    starter: dict[str, Any] | None = None  # the principal the task acts as (principal_record; None: local admin)


@dataclass
class Outcome:
    """What became of one claimed attempt."""

    task: Claimed
    status: str  # succeeded | failed | cancelled
    output: Any = None
    error: str | None = None
    log_digest: str | None = None
    seconds: float | None = None
    cache_key: str | None = None
    cached: bool = False
    retries: int = 0
    backoff: float = 1.0
    downstream: list[str] = field(default_factory=list)
    closure: list[str] = field(default_factory=list)  # every task downstream, to skip on failure


@dataclass
class Memo:
    """What a worker may remember between turns because it never changes: each run's version and params
    (and that the run was marked running), and the outputs of succeeded tasks (final once recorded)."""

    runs: dict[str, tuple[str, dict[str, Any], str, dict[str, Any] | None]] = field(default_factory=dict)
    outputs: dict[tuple[str, str], Any] = field(default_factory=dict)
    limit: int = 100_000

    def forget(self, run_ids: Iterable[str]) -> None:
        """Drop what belongs to finished runs (and everything, past ``limit`` entries)."""
        gone = set(run_ids)
        for run_id in gone:
            self.runs.pop(run_id, None)
        if gone and self.outputs:
            self.outputs = {k: v for k, v in self.outputs.items() if k[0] not in gone}
        if len(self.outputs) > self.limit or len(self.runs) > self.limit:
            self.outputs.clear()
            self.runs.clear()


_STATEMENTS: dict[Any, Executable] = {}


def _stmt(key: Any, build: Any) -> Any:
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    return stmt


def _claim_stmt(pg: bool, by_run: bool) -> Any:
    now = bindparam("now", type_=T.c.available_at.type)
    ready = or_(and_(T.c.status == "queued", T.c.available_at <= now),
                and_(T.c.status == "running", T.c.lease_expires_at < now))
    pick = select(T.c.id).where(ready)
    if by_run:
        pick = pick.where(T.c.run_id == bindparam("b_run"))
    pick = pick.order_by(T.c.id).limit(bindparam("n", type_=Integer))
    if pg:
        pick = pick.with_for_update(skip_locked=True)
    return (update(T).where(T.c.id.in_(pick.scalar_subquery()))
            .values(status="running", lease_owner=bindparam("owner", type_=T.c.lease_owner.type),
                    lease_expires_at=bindparam("expires", type_=T.c.lease_expires_at.type),
                    attempt=T.c.attempt + 1, lost=T.c.lost + case((T.c.status == "running", 1), else_=0),
                    started_at=now, error=None)
            .returning(T.c.id, T.c.run_id, T.c.name, T.c.operator, T.c.attempt, T.c.lost))


def claim(session: Session, owner: str, n: int, lease: float, run_id: str | None = None,
          memo: Memo | None = None) -> list[Claimed]:
    """Take up to ``n`` ready tasks (and tasks whose lease expired) for ``owner``."""
    if n <= 0:
        return []
    now = utcnow()
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    stmt = _stmt(("claim", pg, run_id is not None), lambda: _claim_stmt(pg, run_id is not None))
    args = {"now": now, "expires": now + dt.timedelta(seconds=lease), "owner": owner, "n": n}
    if run_id is not None:
        args["b_run"] = run_id
    claimed = [Claimed(*row) for row in conn.execute(stmt, args)]
    if not claimed:
        return []
    memo = memo if memo is not None else Memo()
    new = {c.run_id for c in claimed if c.run_id not in memo.runs}
    if new:
        for r in session.execute(select(R.c.id, R.c.version_id, R.c.params, R.c.project, R.c.started_by)
                                 .where(R.c.id.in_(new))):
            memo.runs[r.id] = (r.version_id, r.params or {}, r.project, r.started_by)
        session.execute(update(R).where(R.c.id.in_(new), R.c.status == "queued")
                        .values(status="running", started_at=now))
    for c in claimed:
        c.version_id, c.params, c.project, c.starter = memo.runs[c.run_id]
    return claimed


def fill_inputs(session: Session, claimed: list[Claimed], upstream: dict[str, dict[str, list[str]]],
                memo: Memo | None = None) -> None:
    """Load each claimed task's upstream outputs; ``upstream`` is version id -> task -> upstream names."""
    known = memo.outputs if memo is not None else {}
    wanted: dict[str, set[str]] = {}
    for c in claimed:
        missing = [u for u in upstream[c.version_id][c.name] if (c.run_id, u) not in known]
        if missing:
            wanted.setdefault(c.run_id, set()).update(missing)
    outputs: dict[tuple[str, str], Any] = {}
    stmt = _stmt("inputs", lambda: select(T.c.name, T.c.output, T.c.status).where(
        T.c.run_id == bindparam("run_id"), T.c.name.in_(bindparam("names", expanding=True))))
    conn = session.connection()
    for run_id, names in wanted.items():
        for name, output, status in conn.execute(stmt, {"run_id": run_id, "names": sorted(names)}):
            outputs[(run_id, name)] = output
            if memo is not None and status == "succeeded":
                known[(run_id, name)] = output
    for c in claimed:
        c.inputs = {u: known[(c.run_id, u)] if (c.run_id, u) in known else outputs.get((c.run_id, u))
                    for u in upstream[c.version_id][c.name]}


def cached_outputs(session: Session, keys: Iterable[str]) -> dict[str, Any]:
    keys = list(keys)
    if not keys:
        return {}
    return dict(session.execute(select(C.c.key, C.c.output).where(C.c.key.in_(keys))).all())


def _success_stmt() -> Any:
    fence = and_(T.c.id == bindparam("b_id"), T.c.lease_owner == bindparam("b_owner", type_=T.c.lease_owner.type),
                 T.c.attempt == bindparam("b_attempt", type_=Integer), T.c.status == "running")
    return update(T).where(fence).values(
        status="succeeded", output=bindparam("b_output", type_=T.c.output.type), error=None,
        cached=bindparam("b_cached", type_=T.c.cached.type), cache_key=bindparam("b_key", type_=T.c.cache_key.type),
        finished_at=bindparam("b_now", type_=T.c.finished_at.type), seconds=bindparam("b_seconds", type_=T.c.seconds.type),
        log_digest=bindparam("b_log", type_=T.c.log_digest.type), lease_owner=None, lease_expires_at=None)


def _advance_stmt() -> Any:
    """One upstream of these tasks succeeded: count it down, and queue the ones with none left."""
    ready = and_(T.c.status == "pending", T.c.remaining <= 1)
    return (update(T).where(T.c.run_id == bindparam("b_run"), T.c.name.in_(bindparam("b_names", expanding=True)))
            .values(remaining=T.c.remaining - 1,
                    status=case((ready, "queued"), else_=T.c.status),
                    available_at=case((ready, bindparam("b_now", type_=T.c.available_at.type)), else_=T.c.available_at))
            .returning(T.c.status))


def record(session: Session, owner: str, outcomes: list[Outcome], memo: Memo | None = None) -> set[str]:
    """Store outcomes, move dependents forward, and finish runs that are done; return finished run ids."""
    now = utcnow()
    conn = session.connection()
    touched: set[str] = set()  # runs that may have ended: a task with nothing downstream, or a failure
    for o in outcomes:
        t = o.task
        fence = and_(T.c.id == t.id, T.c.lease_owner == owner, T.c.attempt == t.attempt, T.c.status == "running")
        common = {"finished_at": now, "seconds": o.seconds, "log_digest": o.log_digest, "lease_owner": None,
                  "lease_expires_at": None}
        if o.status == "succeeded":
            done = conn.execute(_stmt("success", _success_stmt), {
                "b_id": t.id, "b_owner": owner, "b_attempt": t.attempt, "b_output": o.output, "b_cached": o.cached,
                "b_key": o.cache_key, "b_now": now, "b_seconds": o.seconds, "b_log": o.log_digest})
            if not done.rowcount:
                continue  # the lease was lost and the task retaken: the newer attempt decides
            if memo is not None:
                memo.outputs[(t.run_id, t.name)] = o.output
            if o.cache_key and not o.cached:
                _remember(session, o, now)
            if o.downstream:
                states = conn.execute(_stmt("advance", _advance_stmt),
                                      {"b_run": t.run_id, "b_names": o.downstream, "b_now": now}).scalars().all()
                if "queued" in states:
                    continue  # the run goes on
        elif o.status == "failed":
            row = session.execute(select(T.c.failures).where(fence)).first()
            if row is None:
                continue
            failures = row.failures + 1
            if failures <= o.retries:
                delay = o.backoff * 2 ** (failures - 1)
                session.execute(update(T).where(fence).values(
                    status="queued", failures=failures, error=o.error, available_at=now + dt.timedelta(seconds=delay),
                    **{**common, "finished_at": None}))
                continue
            session.execute(update(T).where(fence).values(status="failed", failures=failures, error=o.error,
                                                           **common))
            if o.closure:
                session.execute(update(T).where(T.c.run_id == t.run_id, T.c.name.in_(o.closure),
                                                T.c.status.in_(("pending", "queued")))
                                .values(status="skipped", error=f"upstream task {t.name!r} failed",
                                        finished_at=now))
        else:  # cancelled
            done = session.execute(update(T).where(fence).values(status="cancelled", error=o.error, **common))
            if not done.rowcount:
                continue
        touched.add(t.run_id)
    return {run_id for run_id in touched if finish_if_done(session, run_id, now)}


def _remember(session: Session, o: Outcome, now: dt.datetime) -> None:
    if session.execute(select(C.c.key).where(C.c.key == o.cache_key)).first() is None:
        session.execute(insert(C).values(key=o.cache_key, output=o.output, run_id=o.task.run_id,
                                         task=o.task.name, created_at=now))


def finish_if_done(session: Session, run_id: str, now: dt.datetime | None = None) -> bool:
    """Close the run when none of its tasks can still move; True if it was closed now."""
    open_task = _stmt("open", lambda: select(T.c.id).where(
        T.c.run_id == bindparam("run_id"), T.c.status.in_(("pending", "queued", "running"))).limit(1))
    if session.connection().execute(open_task, {"run_id": run_id}).first() is not None:
        return False
    counts = dict(session.execute(select(T.c.status, func.count()).where(T.c.run_id == run_id)
                                  .group_by(T.c.status)).all())
    run = session.execute(select(R.c.status, R.c.cancel_requested, R.c.pipeline_id, R.c.project, R.c.started_by)
                          .where(R.c.id == run_id)).one()
    if run.status in ("succeeded", "failed", "cancelled"):
        return False
    error = None
    if counts.get("failed"):
        status = "failed"
        failed = session.execute(select(T.c.name, T.c.error).where(T.c.run_id == run_id, T.c.status == "failed")
                                 .order_by(T.c.finished_at, T.c.id).limit(1)).one()
        error = f"task {failed.name!r} failed: {_last_line(failed.error)}"
    elif run.cancel_requested or counts.get("cancelled"):
        status = "cancelled"
    else:
        status = "succeeded"
    session.execute(update(R).where(R.c.id == run_id).values(status=status, error=error, finished_at=now or utcnow()))
    pipeline = session.execute(select(PipelineRow.name).where(PipelineRow.id == run.pipeline_id)).scalar()
    emit(session, "pipeline_run.finished", run_id, {"status": status, "pipeline_id": run.pipeline_id,
                                                    "pipeline": pipeline, "error": error},
         (run.started_by or {}).get("name") or None, project=run.project)
    return True


def _last_line(text: str | None) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "error"


def heartbeat(session: Session, owner: str, task_ids: list[int], lease: float) -> tuple[set[int], set[int]]:
    """Extend ``owner``'s leases. Return (tasks whose run was cancelled, tasks no longer ours)."""
    if not task_ids:
        return set(), set()
    now = utcnow()
    session.execute(update(T).where(T.c.lease_owner == owner, T.c.status == "running", T.c.id.in_(task_ids))
                    .values(lease_expires_at=now + dt.timedelta(seconds=lease)))
    rows = session.execute(select(T.c.id, T.c.lease_owner, T.c.status, R.c.cancel_requested)
                           .join(R, R.c.id == T.c.run_id).where(T.c.id.in_(task_ids))).all()
    cancel = {r.id for r in rows if r.cancel_requested and r.lease_owner == owner and r.status == "running"}
    lost = {r.id for r in rows if r.lease_owner != owner or r.status != "running"}
    return cancel, lost


def expire_leases(session: Session, run_id: str, owners: Iterable[str]) -> int:
    """Make tasks held by ``owners`` (known dead) claimable now instead of at lease expiry."""
    owners = list(owners)
    if not owners:
        return 0
    res = session.execute(update(T).where(T.c.run_id == run_id, T.c.status == "running",
                                          T.c.lease_owner.in_(owners))
                          .values(lease_expires_at=utcnow() - dt.timedelta(seconds=1)))
    return res.rowcount or 0


def release(session: Session, owner: str, task_ids: list[int]) -> None:
    """A stopping worker's tasks become claimable now."""
    session.execute(update(T).where(T.c.lease_owner == owner, T.c.status == "running", T.c.id.in_(task_ids))
                    .values(lease_expires_at=utcnow()))


def running_owners(session: Session, run_id: str) -> set[str]:
    return {o for (o,) in session.execute(select(T.c.lease_owner).where(T.c.run_id == run_id,
                                                                         T.c.status == "running")) if o}

