"""Retention and garbage collection of the artifact store.

A blob is *referenced* when its digest appears in any text or JSON column of any table of the metadata
database (reflected, so a domain added later is covered without a change here): run artifacts, model
version files and package manifests, dataset versions, inference log files, pipeline code and task logs,
feature snapshots, monitor results. The exceptions are the artifact rows of runs deleted more than the
grace period ago (when nothing else names the same digest), so ``mainsail gc`` removes the artifacts of
deleted runs. Skipped: tables that hold no digest (metrics, usage) and history, which records what was
done rather than being an object (events, the audit trail, idempotent replays, alert deliveries, token
hashes); an undelivered event naming a blob is delivered well within the grace period.

An unreferenced blob is deleted only once it is older than the grace period (a blob being uploaded is
stored before the row that names it is committed; a local store also re-dates a blob stored again), and
the references are scanned a second time just before deleting, so a reference committed during the
collection keeps its blob."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import JSON, MetaData, String, Table, Text, select
from sqlalchemy import inspect as sa_inspect

from mainsail.core.runtime import Ctx

DIGEST = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
SKIP = {"run_metrics", "run_latest_metrics", "cost_usage", "alembic_version", "event_cursors", "labels",  # no digests
        # history, not objects: what was done (and the responses replayed) does not keep a blob alive
        "events", "audit_log", "audit_head", "idempotency_keys", "alert_deliveries", "secrets", "auth_tokens"}
RUN_ARTIFACTS, RUNS = "run_artifacts", "tracking_runs"
OWNERS = {  # table -> (object kind, id column) for the storage report
    "run_artifacts": ("run", "run_id"), "model_versions": ("model_version", "id"),
    "dataset_versions": ("dataset_version", "id"), "inference_logs": ("inference_logs", "deployment_id"),
    "pipeline_versions": ("pipeline_version", "id"), "pipeline_tasks": ("pipeline_task_log", "run_id"),
}


def _tables(ctx: Ctx) -> list[Table]:
    conn = ctx.session.connection()
    md = MetaData()
    names = [n for n in sa_inspect(conn).get_table_names() if n not in SKIP]
    md.reflect(conn, only=names)
    return [md.tables[n] for n in names]


def _text_columns(table: Table) -> list[Any]:
    out = []
    for c in table.columns:
        t = c.type
        if isinstance(t, String | Text | JSON) or type(t).__name__.upper() in ("JSONB", "JSON", "NULLTYPE"):
            out.append(c)
    return out


def _digests(value: Any) -> Iterable[str]:
    if value is None:
        return ()
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return DIGEST.findall(text) if len(text) >= 64 else ()


def deleted_runs(ctx: Ctx, cutoff: dt.datetime) -> set[str]:
    """Runs deleted (``run.deleted``, still deleted) before ``cutoff``."""
    from mainsail.core.events import EventRow
    from mainsail.tracking.service import deleted_run_ids

    ids = deleted_run_ids(ctx)
    if not ids:
        return set()
    out: set[str] = set()
    chunk = list(ids)
    for i in range(0, len(chunk), 500):
        q = (select(EventRow.subject, EventRow.created_at)
             .where(EventRow.type == "run.deleted", EventRow.subject.in_(chunk[i:i + 500])))
        last: dict[str, dt.datetime] = {}
        for subject, at in ctx.session.execute(q):
            last[subject] = max(at, last.get(subject, at))
        out |= {s for s, at in last.items() if at < cutoff}
    return out


def scan(ctx: Ctx, collectible_runs: set[str] = frozenset(), owners: bool = False
         ) -> tuple[set[str], dict[str, set[str]], dict[str, set[tuple[str, str]]]]:
    """``(referenced, only_by_collectible_runs, owners)``: every digest named anywhere, those named only
    by artifact rows of ``collectible_runs`` (with those runs), and (with ``owners``) which objects name
    each digest."""
    referenced: set[str] = set()
    by_runs: dict[str, set[str]] = {}
    who: dict[str, set[tuple[str, str]]] = {}
    for table in _tables(ctx):
        names = [c.name for c in _text_columns(table)]
        if not names:
            continue
        owner = OWNERS.get(table.name) if owners else None
        id_name = owner[1] if owner and owner[1] in table.c else None
        extra = [id_name] if id_name is not None and id_name not in names else []
        select_names = names + extra
        run_at = names.index("run_id") if table.name == RUN_ARTIFACTS and collectible_runs and "run_id" in names \
            else None
        id_at = select_names.index(id_name) if id_name is not None else None
        q = select(*(table.c[n] for n in select_names)).execution_options(yield_per=5000)
        for row in ctx.session.execute(q):
            found = [d for v in row[:len(names)] for d in _digests(v)]
            if not found:
                continue
            if run_at is not None and row[run_at] in collectible_runs:
                for d in found:
                    by_runs.setdefault(d, set()).add(row[run_at])
            else:
                referenced.update(found)
            if owner and id_at is not None:
                key = (owner[0], str(row[id_at]))
                for d in found:
                    who.setdefault(d, set()).add(key)
    return referenced, {d: runs for d, runs in by_runs.items() if d not in referenced}, who


def storage_bytes(ctx: Ctx) -> int:
    """Bytes of the artifact store's referenced blobs."""
    referenced, _, _ = scan(ctx)
    return sum(b.size for b in ctx.store.iter_blobs() if b.digest in referenced)


def storage_report(ctx: Ctx, limit: int = 100) -> Any:
    """Bytes stored per object (a blob shared by several objects counts for each) and their monthly cost."""
    from mainsail.costs.schemas import StorageReport, StoredObject
    from mainsail.costs.service import GiB, prices_of

    referenced, _, who = scan(ctx, owners=True)
    sizes = {b.digest: b.size for b in ctx.store.iter_blobs()}
    per: dict[tuple[str, str], list[int]] = {}
    for digest, owners in who.items():
        for key in owners:
            acc = per.setdefault(key, [0, 0])
            acc[0] += sizes.get(digest, 0)
            acc[1] += 1 if digest in sizes else 0
    price = prices_of(ctx)
    objects = [StoredObject(kind=k, id=i, bytes=b, blobs=n, monthly_cost=round(b / GiB * price.storage_gb_month, 6))
               for (k, i), (b, n) in sorted(per.items(), key=lambda kv: -kv[1][0])[:limit]]
    ref_bytes = sum(s for d, s in sizes.items() if d in referenced)
    total = sum(sizes.values())
    return StorageReport(currency=price.currency, total_bytes=total, referenced_bytes=ref_bytes,
                         unreferenced_bytes=total - ref_bytes, objects=objects)


def collect(ctx: Ctx, *, dry_run: bool, grace_hours: float, project: str | None = None) -> dict[str, Any]:
    """Delete (or, on a dry run, list) unreferenced blobs older than the grace period. With ``project``,
    a blob that deleted runs still name goes only when every one of those runs is the project's (the
    others wait for their own project's gc, or one over all projects)."""
    from mainsail.tracking.service import run_projects

    now = time.time()
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(hours=grace_hours)
    runs = deleted_runs(ctx, cutoff)
    referenced, by_runs, _ = scan(ctx, runs)
    others: set[str] = set()  # named by another project's deleted runs
    if project is not None and by_runs:
        owner = run_projects(ctx, sorted({r for rs in by_runs.values() for r in rs}))
        others = {d for d, rs in by_runs.items() if any(owner.get(r) != project for r in rs)}
    blobs = list(ctx.store.iter_blobs())
    candidates, in_grace = [], 0
    for b in blobs:
        if b.digest in referenced or b.digest in others:
            continue
        mtime = ctx.store.modified(b.digest)
        if mtime is None:
            continue
        if now - mtime < grace_hours * 3600:
            in_grace += 1
            continue
        candidates.append(b)
    if candidates and not dry_run:  # a reference committed meanwhile keeps its blob (a fresh snapshot)
        if ctx.runtime is not None:
            with ctx.runtime.transaction(write=False) as fresh:
                again, _, _ = scan(fresh, runs)
        else:
            again, _, _ = scan(ctx, runs)
        candidates = [b for b in candidates if b.digest not in again]
    deleted = []
    for b in candidates:
        if dry_run or ctx.store.delete(b.digest):
            deleted.append(b)
    return {"blobs_scanned": len(blobs), "referenced": sum(1 for b in blobs if b.digest in referenced),
            "deleted": [b.digest for b in deleted], "deleted_bytes": sum(b.size for b in deleted),
            "of_deleted_runs": sum(1 for b in deleted if b.digest in by_runs), "kept_in_grace": in_grace,
            "kept_other_projects": sum(1 for b in blobs if b.digest in others)}
