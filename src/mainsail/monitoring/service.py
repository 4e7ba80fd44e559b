"""Monitoring rules: monitors, their runs and their results. The only writer of the monitors,
monitor_runs and monitor_results tables. Deployments, model versions and datasets are read through
their domains' services.

A run reads the live data once (DuckDB over the deployment's log files, or the new dataset version),
splits it into windows, and per window computes drift (per feature, the prediction, the share of
drifted features, multivariate) and data quality against the reference. The heavy part runs under a
read transaction; the results, the run and the events (``monitor.completed`` per window,
``drift.detected`` when the share of drifted features reaches ``drift_share``) are committed together
in one short write transaction, replacing any earlier results of the same windows: a crash and a
rerun leave one result per window."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import OrderedDict
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field
from sqlalchemy import and_, delete, insert, select

from mainsail.core.db import new_id, utcnow
from mainsail.core.errors import Conflict, InvalidInput, NotFound, not_found
from mainsail.core.events import emit
from mainsail.core.pagination import Limit, Page, cursor_offset, offset_page
from mainsail.core.projects import project_of
from mainsail.core.runtime import Ctx
from mainsail.monitoring import windows as win
from mainsail.monitoring.checks import NOT_FEATURES
from mainsail.monitoring.models import MonitorResultRow, MonitorRow, MonitorRunRow
from mainsail.monitoring.schemas import (
    KINDS,
    Monitor,
    MonitorCreate,
    MonitorName,
    MonitorResult,
    MonitorRun,
    MonitorRunRequest,
)

RESULT_KEYS = ("kind", "feature", "test", "variant", "value", "threshold", "status", "estimated")
SPEC_FIELDS = ("reference", "window", "features", "target", "drift", "quality", "metrics", "by_variant")
# a dataset version's columns, its profile, and the references prepared from them (sorted columns, PCA
# fits), so a monitor's next run over the same reference starts from them
_REF_CACHE: OrderedDict[tuple[Any, ...], tuple[pa.Table, dict[str, Any] | None, dict[Any, Any]]] = OrderedDict()


# ---------------------------------------------------------------- monitors

def _row(ctx: Ctx, name: str, *, lock: bool = False) -> MonitorRow:
    q = select(MonitorRow).where(MonitorRow.project == project_of(ctx), MonitorRow.name == name)
    row = ctx.session.scalar(q.with_for_update() if lock else q)
    if row is None:
        raise not_found("monitor", name)
    return row


def _monitor(row: MonitorRow) -> Monitor:
    return Monitor(id=row.id, name=row.name, deployment=row.deployment, dataset=row.dataset,
                   description=row.description, schedule=row.schedule, enabled=row.enabled,
                   next_run_at=row.next_run_at, last_window_end=row.last_window_end, created_by=row.created_by,
                   created_at=row.created_at, updated_at=row.updated_at, **row.spec)


def _next_run(cron: str | None, after: dt.datetime) -> dt.datetime | None:
    if not cron:
        return None
    from croniter import croniter

    return croniter(cron, after).get_next(dt.datetime).astimezone(dt.UTC)


def _check_config(body: MonitorCreate) -> None:
    from mainsail.monitoring.drift import TESTS

    if body.features and "prediction" in body.features:
        raise InvalidInput("features: 'prediction' is watched on its own (drift.prediction); list input features "
                           "only", errors=[{"loc": ["body", "features", body.features.index("prediction")],
                                            "msg": "not an input feature"}])
    if body.schedule is not None:
        from croniter import croniter

        if not croniter.is_valid(body.schedule):
            raise InvalidInput(f"schedule {body.schedule!r} is not a cron expression (e.g. '*/5 * * * *')",
                               errors=[{"loc": ["body", "schedule"], "msg": "not a cron expression"}])
    if body.window.every is not None:
        win.parse_every(body.window.every, ["body", "window", "every"])
    for col, spec in body.drift.tests.items():
        for t in [spec] if isinstance(spec, str) else spec:
            if t not in TESTS:
                raise InvalidInput(f"drift.tests: unknown test {t!r} for column {col!r}; known: {', '.join(TESTS)}",
                                   code="invalid_drift_test",
                                   errors=[{"loc": ["body", "drift", "tests", col], "msg": "unknown test"}])
    if body.metrics:
        try:
            from mainsail.monitoring import performance  # noqa: F401  (m3's module, wired at merge)
        except ImportError:
            raise InvalidInput("metrics: performance monitoring is not available in this build",
                               errors=[{"loc": ["body", "metrics"], "msg": "not available"}]) from None


def create_monitor(ctx: Ctx, body: MonitorCreate) -> Monitor:
    """Create a monitor; its deployment or dataset, its reference and its features must exist (a 404 or
    422 naming what does not)."""
    if ctx.session.scalar(select(MonitorRow.id).where(MonitorRow.project == project_of(ctx),
                                                      MonitorRow.name == body.name)) is not None:
        raise Conflict(f"monitor {body.name!r} already exists", code="monitor_exists")
    _check_config(body)
    now = utcnow()
    draft = Monitor(id=new_id(), created_at=now, updated_at=now, created_by=ctx.actor, **body.model_dump())
    if draft.deployment:
        from mainsail.serving import service as serving

        serving.get_deployment(ctx, draft.deployment)
    else:
        from mainsail.data import service as data

        data.get_dataset(ctx, draft.dataset)  # type: ignore[arg-type]
    expected = _expected(ctx, draft)
    if draft.reference is not None and draft.reference.kind in ("training", "dataset"):
        ref_cols = _reference_columns(ctx, draft)
        features = draft.features or [n for n, _ in expected] or ref_cols
        _require_columns(features, ref_cols, f"the reference {_reference_label(ctx, draft)}", ["body", "features"])
        if draft.target:
            _require_columns([draft.target], ref_cols, f"the reference {_reference_label(ctx, draft)}",
                             ["body", "target"])
    known = set(draft.features or [n for n, _ in expected]) | {"prediction"}
    unknown = [c for c in draft.drift.tests if known - {"prediction"} and c not in known]
    if unknown:
        raise InvalidInput(f"drift.tests names unknown feature {unknown[0]!r}; known: {', '.join(sorted(known))}",
                           code="unknown_column", errors=[{"loc": ["body", "drift", "tests", unknown[0]],
                                                           "msg": "unknown feature"}])
    spec = body.model_dump(mode="json", include=set(SPEC_FIELDS))
    row = MonitorRow(id=draft.id, project=project_of(ctx), name=body.name, description=body.description, deployment=body.deployment,
                     dataset=body.dataset, spec=spec, schedule=body.schedule, enabled=body.enabled,
                     next_run_at=_next_run(body.schedule, now), created_by=ctx.actor, created_at=now, updated_at=now)
    ctx.session.add(row)
    emit(ctx.session, "monitor.created", body.name, {"monitor": body.name, "deployment": body.deployment,
                                                     "dataset": body.dataset}, ctx.actor)
    ctx.session.flush()
    return _monitor(row)


def get_monitor(ctx: Ctx, name: MonitorName) -> Monitor:
    """A monitor by name."""
    return _monitor(_row(ctx, name))


def list_monitors(ctx: Ctx, deployment: str | None = None, dataset: str | None = None, cursor: str | None = None,
                  limit: Limit = 100) -> Page[Monitor]:
    """Monitors by name (of one deployment or dataset when given)."""
    offset = cursor_offset(cursor)
    q = select(MonitorRow).where(MonitorRow.project == project_of(ctx)).order_by(MonitorRow.name)
    if deployment is not None:
        q = q.where(MonitorRow.deployment == deployment)
    if dataset is not None:
        q = q.where(MonitorRow.dataset == dataset)
    rows = list(ctx.session.scalars(q.offset(offset).limit(limit + 1)))
    page = offset_page(rows, offset, limit)
    return Page[Monitor](items=[_monitor(r) for r in page.items], next_cursor=page.next_cursor)


def delete_monitor(ctx: Ctx, name: MonitorName) -> None:
    """Delete a monitor with its runs and results."""
    row = _row(ctx, name, lock=True)
    for table in (MonitorResultRow, MonitorRunRow):
        ctx.session.execute(delete(table).where(table.monitor_id == row.id))
    ctx.session.delete(row)
    emit(ctx.session, "monitor.deleted", name, {"monitor": name}, ctx.actor)


# ---------------------------------------------------------------- references

def _primary_version(ctx: Ctx, deployment: str) -> Any:
    from mainsail.registry import service as registry
    from mainsail.serving import service as serving

    d = serving.get_deployment(ctx, deployment)
    primaries = [v for v in d.variants if v.role == "primary" and v.version_id]
    if not primaries:
        raise InvalidInput(f"deployment {deployment!r} has no primary variant resolving to a model version",
                           code="no_model_version", errors=[{"loc": ["deployment"], "msg": "no model version"}])
    return registry.get_version(ctx, max(primaries, key=lambda v: v.weight).version_id)


def _expected(ctx: Ctx, m: Monitor) -> list[tuple[str, str]]:
    """The model signature's input columns ``(name, type)`` of a deployment monitor (empty otherwise)."""
    if not m.deployment:
        return []
    sig = (_primary_version(ctx, m.deployment).signature or {}).get("inputs")
    if isinstance(sig, list):
        return [(str(c["name"]), str(c.get("type"))) for c in sig if isinstance(c, dict) and "name" in c]
    return []


def _dataset_ref(ctx: Ctx, m: Monitor, current_version: str | None = None) -> tuple[str, str]:
    ref = m.reference
    assert ref is not None
    if ref.kind == "dataset":
        name, _, version = (ref.dataset or "").partition("@")
        return name, version
    if ref.kind == "previous":
        from mainsail.data import service as data

        versions = data.list_versions(ctx, m.dataset, limit=1000).items  # type: ignore[arg-type]
        ids = [v.id for v in versions]
        i = ids.index(current_version) if current_version in ids else 0
        if i + 1 >= len(ids):
            raise InvalidInput(f"dataset {m.dataset!r} has no version before {current_version or 'the latest'} to "
                               "compare with", code="no_reference", errors=[{"loc": ["reference"], "msg": "no previous"}])
        return m.dataset, ids[i + 1]  # type: ignore[return-value]
    v = _primary_version(ctx, m.deployment)  # type: ignore[arg-type]
    refs = v.lineage.dataset_versions
    if not refs:
        raise InvalidInput(f"model {v.name} v{v.version} served by deployment {m.deployment!r} records no training "
                           "dataset in its lineage; give reference {'kind': 'dataset', 'dataset': 'NAME@VERSION'}",
                           code="no_reference", errors=[{"loc": ["body", "reference"], "msg": "no training dataset"}])
    name, _, version = refs[0].partition("@")
    return name, version or "latest"


def _reference_label(ctx: Ctx, m: Monitor) -> str:
    name, version = _dataset_ref(ctx, m)
    return f"{name}@{version}"


def _reference_columns(ctx: Ctx, m: Monitor) -> list[str]:
    from mainsail.data import service as data

    name, version = _dataset_ref(ctx, m)
    return [c.name for c in data.get_version(ctx, name, version).columns]


def _require_columns(wanted: list[str], available: list[str], where: str, loc: list[str]) -> None:
    missing = [c for c in wanted if c not in available]
    if missing:
        raise InvalidInput(f"{where} has no column {', '.join(map(repr, missing))} (it has: {', '.join(available)})",
                           code="unknown_column", errors=[{"loc": [*loc, c], "msg": f"not in {where}"} for c in missing])


def _load_dataset(ctx: Ctx, name: str, version: str, columns: list[str]
                  ) -> tuple[pa.Table, dict[str, Any] | None, str, dict[Any, Any]]:
    """Columns of a dataset version (cached by digest), its stored profile, its label, and the cache of
    references prepared from them."""
    from mainsail.data import service as data

    v = data.get_version(ctx, name, version)
    label = f"{name}@{v.id}"
    have = [c.name for c in v.columns]
    cols = [c for c in columns if c in have]
    key = (v.digest, tuple(cols))
    hit = _REF_CACHE.get(key)
    if hit is None:
        table = pq.read_table(data.version_file(ctx, v.digest), columns=cols)
        try:
            profile = data.get_profile(ctx, name, v.id).model_dump(mode="json")
        except NotFound:
            profile = None
        hit = _REF_CACHE[key] = (table, profile, {})
        while len(_REF_CACHE) > 8:
            _REF_CACHE.popitem(last=False)
    _REF_CACHE.move_to_end(key)
    return hit[0], hit[1], label, hit[2]


def _reference(ctx: Ctx, m: Monitor, features: list[str], current_version: str | None = None) -> Any:
    """The loaded reference of a monitor for ``features`` (a :class:`checks.Reference`)."""
    from mainsail.monitoring import checks, quality

    ref = m.reference
    assert ref is not None
    if ref.kind == "window":
        from mainsail.monitoring.logs import available_columns, read_logs
        from mainsail.serving.inference_log import feature_column

        have = available_columns(ctx, m.deployment, ref.start, ref.end)  # type: ignore[arg-type]
        cols = [c for c in [*(feature_column(f) for f in features), "prediction"] if c in have]
        logs = read_logs(ctx, m.deployment, ref.start, ref.end, columns=cols or None)  # type: ignore[arg-type]
        table = checks.current_features(logs, features, True)
        if "prediction" in logs.column_names:
            table = table.append_column("prediction", logs["prediction"])
        label, profile = f"window {ref.start.isoformat()}..{ref.end.isoformat()}", None  # type: ignore[union-attr]
    else:
        name, version = _dataset_ref(ctx, m, current_version)
        wanted = [*features, "prediction", *([m.target] if m.target else [])]
        table, profile, label, prepared = _load_dataset(ctx, name, version, wanted)
        hit = prepared.get((tuple(features), m.target))
        if hit is not None:
            return hit
    missing = [f for f in features if f not in table.column_names]
    if missing:
        raise InvalidInput(f"the reference {label} has no column {', '.join(map(repr, missing))} that the monitored "
                           f"data has (reference columns: {', '.join(table.column_names)})", code="reference_mismatch",
                           errors=[{"loc": ["reference", c], "msg": "not in the reference"} for c in missing])
    pred = "prediction" if "prediction" in table.column_names else (m.target if m.target in table.column_names else None)
    out = checks.Reference(table, quality.profile_reference(table, features, profile), pred, label)
    if ref.kind != "window":
        prepared[(tuple(features), m.target)] = out
    return out


def _features(ctx: Ctx, m: Monitor, available: list[str]) -> list[str]:
    from mainsail.serving.inference_log import feature_column

    if m.features:
        return list(m.features)
    expected = [n for n, _ in _expected(ctx, m)]
    if expected:
        return expected
    log_to_feature = {feature_column(c): c for c in available}
    return [log_to_feature[c] for c in available if c not in NOT_FEATURES and not c.startswith(("proba_", "input_"))]


def _deployment_windows(ctx: Ctx, m: Monitor, body: MonitorRunRequest, now: dt.datetime
                        ) -> tuple[list[str], list[tuple[win.Window, pa.Table]], int]:
    from mainsail.monitoring.logs import available_columns, read_logs

    end = body.end or now
    if m.window.rows is not None:
        start = body.start
    else:
        every = win.parse_every(m.window.every or "1h")
        start = body.start or m.last_window_end or win.floor(end, every) - every * m.window.backfill
    if start is not None and start >= end:
        raise InvalidInput(f"start {start.isoformat()} is not before end {end.isoformat()}",
                           errors=[{"loc": ["body", "start"], "msg": "must be before end"}])
    available = available_columns(ctx, m.deployment, start, end)  # type: ignore[arg-type]
    features = _features(ctx, m, available)
    wanted = ["time", *(["variant"] if m.by_variant else []),
              *(c for c in available if c not in NOT_FEATURES - {"prediction"} and not c.startswith("proba_"))]
    if m.window.rows is not None:
        table = win.sort_by_time(read_logs(ctx, m.deployment, start, end, columns=wanted))  # type: ignore[arg-type]
        w, part = win.last_rows(table, m.window.rows, end)
        return features, [(w, part)], table.num_rows
    every = win.parse_every(m.window.every or "1h")
    spans = win.buckets(start, end, every)  # type: ignore[arg-type]
    if not spans:
        return features, [], 0
    table = win.sort_by_time(read_logs(ctx, m.deployment, spans[0].start, spans[-1].end, columns=wanted))  # type: ignore[arg-type]
    return features, list(zip(spans, win.split(table, spans), strict=True)), table.num_rows


def _dataset_windows(ctx: Ctx, m: Monitor, body: MonitorRunRequest
                     ) -> list[tuple[str, win.Window, pa.Table]]:
    from mainsail.data import service as data

    if body.version:
        versions = [data.get_version(ctx, m.dataset, body.version)]  # type: ignore[arg-type]
    else:
        page = data.list_versions(ctx, m.dataset, limit=1000).items  # type: ignore[arg-type]
        after = m.last_window_end
        versions = [v for v in reversed(page) if after is None or v.created_at > after]
        if after is None:
            versions = versions[-1:]  # a first run checks the latest version
    out = []
    for v in versions:
        table = pq.read_table(data.version_file(ctx, v.digest))
        out.append((v.id, win.Window(v.created_at, v.created_at), table))
    return out


def run_monitor(ctx: Ctx, name: MonitorName, body: MonitorRunRequest) -> MonitorRun:
    """Run a monitor now over its complete windows (see :class:`MonitorRunRequest`); stores one result
    per window, feature, test and variant (replacing an earlier run's of the same windows), emits
    ``monitor.completed`` per window and ``drift.detected`` for a window whose share of drifted
    features reaches the monitor's ``drift_share``."""
    return execute(ctx, name, body, "manual")


def execute(ctx: Ctx, name: str, body: MonitorRunRequest, trigger: str) -> MonitorRun:
    """:func:`run_monitor` with the trigger recorded (``manual``, ``schedule`` or ``event``)."""
    from mainsail.monitoring import checks

    started, t0 = utcnow(), time.perf_counter()
    m = get_monitor(ctx, name)
    computed: list[tuple[win.Window, list[dict[str, Any]]]] = []
    total_rows = 0
    with checks.one_blas_thread():
        if m.deployment:
            features, parts, total_rows = _deployment_windows(ctx, m, body, started)
            ref = _reference(ctx, m, features) if parts else None

            def one(part: pa.Table) -> list[dict[str, Any]]:
                res = checks.window_results(ref, part, features, m.drift, m.quality)
                if m.by_variant and part.num_rows:
                    import pyarrow.compute as pc

                    for variant in sorted(v for v in pc.unique(part["variant"]).to_pylist() if v):
                        sub = part.filter(pc.equal(part["variant"], variant))
                        res += checks.window_results(ref, sub, features, m.drift, m.quality, variant=variant)
                return res

            for (w, _), res in zip(parts, _map_windows(one, [p for _, p in parts]), strict=True):
                computed.append((w, res + _performance(ctx, m, w)))  # labels: the session, this thread
        else:
            for version, w, table in _dataset_windows(ctx, m, body):
                if m.features:
                    features = list(m.features)
                    _require_columns(features, table.column_names, f"dataset version {m.dataset}@{version}",
                                     ["features"])
                else:  # the reference's columns: the version's others are extra, those it lacks missing
                    from mainsail.data import service as data

                    features = [c.name for c in data.get_version(ctx, *_dataset_ref(ctx, m, version)).columns
                                if c.name != m.target]
                ref = _reference(ctx, m, features, version)
                total_rows += table.num_rows
                computed.append((w, checks.window_results(ref, table, features, m.drift, m.quality, log_names=False,
                                                          extra_ok=frozenset([m.target] if m.target else []))))
    return _save(ctx, m, computed, trigger, started, t0, total_rows)


def _map_windows(fn: Any, parts: list[pa.Table]) -> list[list[dict[str, Any]]]:
    """``fn`` over the windows: the first here (it prepares what the reference caches: sorted columns,
    the PCA fit), the others on up to two threads (the numpy kernels release the GIL)."""
    if not parts:
        return []
    first = fn(parts[0])
    workers = min(2, os.cpu_count() or 1, len(parts) - 1)
    if workers <= 1:
        return [first, *(fn(p) for p in parts[1:])]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers, thread_name_prefix="mainsail-monitor") as pool:
        return [first, *pool.map(fn, parts[1:])]


def _performance(ctx: Ctx, m: Monitor, w: win.Window) -> list[dict[str, Any]]:
    """The window's metrics the monitor asks for: measured from labels (kind ``performance``) and, for
    classifiers that log probabilities, estimated by CBPE before any label arrives (kind
    ``estimated_performance``, ``estimated: true``)."""
    if not m.metrics or not m.deployment:
        return []
    from mainsail.labels import service as labels

    out = []
    for r in labels.performance(ctx, m.deployment, w.start, w.end, estimate=True):
        if r.get("test") not in m.metrics:
            continue
        r = {**r, "kind": r.get("kind", "performance"), "estimated": bool(r.get("estimated", False)),
             "rows": int(r.get("rows") or 0)}
        out.append({**r, **{k: r.get(k) or "" for k in ("feature", "test", "variant")}})
    return out


def _save(ctx: Ctx, m: Monitor, computed: list[tuple[win.Window, list[dict[str, Any]]]], trigger: str,
          started: dt.datetime, t0: float, total_rows: int) -> MonitorRun:
    from mainsail.data.service import writer

    run_id = new_id()
    drifted = 0
    items: list[MonitorResult] = []
    with writer(ctx) as w:
        row = w.session.get(MonitorRow, m.id)
        if row is None:
            raise not_found("monitor", m.name)
        for win_, results in computed:
            w.session.execute(delete(MonitorResultRow).where(and_(
                MonitorResultRow.monitor_id == m.id, MonitorResultRow.window_start == win_.start,
                MonitorResultRow.window_end == win_.end)))
            if results:
                w.session.execute(insert(MonitorResultRow), [
                    {**{k: r[k] for k in RESULT_KEYS}, "rows": r.get("rows", 0), "monitor_id": m.id,
                     "run_id": run_id, "window_start": win_.start, "window_end": win_.end} for r in results])
            payload = {"monitor": m.name, "project": project_of(ctx), "deployment": m.deployment, "dataset": m.dataset,
                       "window_start": win_.start.isoformat(), "window_end": win_.end.isoformat(),
                       "results": [{k: (r[k] or None) if k in ("feature", "test", "variant") else r[k]
                                    for k in RESULT_KEYS} for r in results]}  # "" (none) travels as null
            emit(w.session, "monitor.completed", m.name, payload, ctx.actor)
            share = next((r for r in results if r["test"] == "share_drifted" and r["variant"] == ""), None)
            if share is not None and share["status"] == "drift":
                drifted += 1
                names = sorted({r["feature"] for r in results if r["kind"] == "drift" and r["status"] == "drift"
                                and r["variant"] == "" and r["feature"]})
                emit(w.session, "drift.detected", m.name, {
                    "monitor": m.name, "project": project_of(ctx), "deployment": m.deployment, "window_start": win_.start.isoformat(),
                    "window_end": win_.end.isoformat(), "share_drifted": share["value"], "features": names},
                    ctx.actor)
            items += [_result(r, win_, run_id) for r in results]
        if computed and m.window.rows is None:
            last = max(wn.end for wn, _ in computed)
            if row.last_window_end is None or last > row.last_window_end:
                row.last_window_end = last
        finished = utcnow()
        run = MonitorRunRow(id=run_id, monitor_id=m.id, status="succeeded", trigger=trigger,
                            window_start=min((wn.start for wn, _ in computed), default=None),
                            window_end=max((wn.end for wn, _ in computed), default=None), windows=len(computed),
                            results=sum(len(r) for _, r in computed), drifted_windows=drifted, rows=total_rows,
                            seconds=time.perf_counter() - t0, started_at=started, finished_at=finished)
        w.session.add(run)
        w.session.flush()
        out = _run(run, m.name)
    out.items = items[:5000]
    return out


def _result(r: dict[str, Any], w: win.Window, run_id: str) -> MonitorResult:
    return MonitorResult(window_start=w.start, window_end=w.end, kind=r["kind"], feature=r["feature"] or None,
                         test=r["test"] or None, variant=r["variant"] or None, value=r["value"],
                         threshold=r["threshold"], status=r["status"], estimated=r["estimated"], rows=r["rows"],
                         run_id=run_id)


def _run(r: MonitorRunRow, monitor: str) -> MonitorRun:
    return MonitorRun(id=r.id, monitor=monitor, status=r.status, trigger=r.trigger, window_start=r.window_start,
                      window_end=r.window_end, windows=r.windows, results=r.results, drifted_windows=r.drifted_windows,
                      rows=r.rows, seconds=r.seconds, error=r.error, started_at=r.started_at,
                      finished_at=r.finished_at)


def record_failure(ctx: Ctx, name: str, error: str, trigger: str, started: dt.datetime) -> None:
    """Record a run that failed (a scheduled run's error stays visible in the run list)."""
    row = _row(ctx, name)
    ctx.session.add(MonitorRunRow(id=new_id(), monitor_id=row.id, status="failed", trigger=trigger, windows=0,
                                  results=0, drifted_windows=0, rows=0, seconds=0.0, error=error[:4000],
                                  started_at=started, finished_at=utcnow()))
    emit(ctx.session, "monitor.failed", name, {"monitor": name, "error": error[:1000]}, ctx.actor)


# ---------------------------------------------------------------- reading results

def list_runs(ctx: Ctx, name: MonitorName, cursor: str | None = None, limit: Limit = 100) -> Page[MonitorRun]:
    """A monitor's runs, newest first."""
    row = _row(ctx, name)
    offset = cursor_offset(cursor)
    rows = list(ctx.session.scalars(select(MonitorRunRow).where(MonitorRunRow.monitor_id == row.id)
                                    .order_by(MonitorRunRow.started_at.desc(), MonitorRunRow.id)
                                    .offset(offset).limit(limit + 1)))
    page = offset_page(rows, offset, limit)
    return Page[MonitorRun](items=[_run(r, name) for r in page.items], next_cursor=page.next_cursor)


def get_results(ctx: Ctx, name: MonitorName, start: dt.datetime | None = None, end: dt.datetime | None = None,
                kind: str | None = None, feature: Annotated[str, Field(max_length=200)] | None = None,
                test: Annotated[str, Field(max_length=60)] | None = None,
                variant: Annotated[str, Field(max_length=60)] | None = None,
                limit: Annotated[int, Field(ge=1, le=100_000)] = 10_000) -> list[MonitorResult]:
    """A monitor's results (time series) with windows ending after ``start`` and starting before
    ``end``, oldest first; filtered by kind, feature, test and variant (``""`` asks for the rows
    without one, e.g. the share of drifted features)."""
    row = _row(ctx, name)
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind {kind!r} is not one of {', '.join(KINDS)}",
                           errors=[{"loc": ["query", "kind"], "msg": "unknown kind"}])
    q = select(MonitorResultRow).where(MonitorResultRow.monitor_id == row.id)
    if feature:
        known = set(ctx.session.scalars(select(MonitorResultRow.feature).where(
            MonitorResultRow.monitor_id == row.id).distinct()))
        if known and feature not in known:
            raise InvalidInput(f"monitor {name!r} has no results for feature {feature!r}; known: "
                               f"{', '.join(sorted(k for k in known if k))}", code="unknown_column",
                               errors=[{"loc": ["query", "feature"], "msg": "unknown feature"}])
    for col, v in ((MonitorResultRow.kind, kind), (MonitorResultRow.feature, feature),
                   (MonitorResultRow.test, test), (MonitorResultRow.variant, variant)):
        if v is not None:
            q = q.where(col == v)
    if start is not None:
        q = q.where(MonitorResultRow.window_end > start)
    if end is not None:
        q = q.where(MonitorResultRow.window_start < end)
    rows = ctx.session.scalars(q.order_by(MonitorResultRow.window_start, MonitorResultRow.kind,
                                          MonitorResultRow.feature, MonitorResultRow.test,
                                          MonitorResultRow.variant).limit(limit))
    return [MonitorResult(window_start=r.window_start, window_end=r.window_end, kind=r.kind, feature=r.feature or None,
                          test=r.test or None, variant=r.variant or None, value=r.value, threshold=r.threshold,
                          status=r.status, estimated=r.estimated, rows=r.rows, run_id=r.run_id) for r in rows]


# ---------------------------------------------------------------- the schedule

def claim_due(ctx: Ctx, now: dt.datetime | None = None) -> list[str]:
    """Names of the enabled monitors whose cron time has come (of every project: see :func:`claim_due_in`)."""
    return [name for _, name in claim_due_in(ctx, now)]


def claim_due_in(ctx: Ctx, now: dt.datetime | None = None) -> list[tuple[str, str]]:
    """``(project, name)`` of the enabled monitors whose cron time has come, in every project; their next
    time is moved on (so two servers never both run one: PostgreSQL skips rows another transaction holds)."""
    now = now or utcnow()
    q = select(MonitorRow).where(MonitorRow.enabled.is_(True), MonitorRow.next_run_at.is_not(None),
                                 MonitorRow.next_run_at <= now).order_by(MonitorRow.next_run_at).limit(100)
    if ctx.dialect == "postgresql":
        q = q.with_for_update(skip_locked=True)
    names = []
    for row in ctx.session.scalars(q):
        row.next_run_at = _next_run(row.schedule, now)
        names.append((row.project, row.name))
    return names


def monitors_of_dataset(ctx: Ctx, dataset: str) -> list[str]:
    """The enabled monitors of the call's project watching ``dataset`` (run on each new version)."""
    return list(ctx.session.scalars(select(MonitorRow.name).where(MonitorRow.project == project_of(ctx),
                                                                  MonitorRow.dataset == dataset,
                                                                  MonitorRow.enabled.is_(True))))
