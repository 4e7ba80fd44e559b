"""Labels rules: ground truth upserted by (deployment, request id), and performance measured by joining
labels to the inference logs. The only writer of the ``labels`` table."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import StringConstraints
from sqlalchemy import func, select

from mainsail.core.db import utcnow
from mainsail.core.errors import InvalidInput
from mainsail.core.runtime import Ctx
from mainsail.labels.logs import logs as read_logs
from mainsail.labels.models import LabelRow
from mainsail.labels.schemas import (
    DeploymentName,
    LabelPush,
    LabelPushResult,
    PerformanceReport,
    PerformanceResult,
    Task,
)
from mainsail.serving import service as serving
from mainsail.serving.schemas import VariantName

CHUNK = 5000  # ids per IN (...) lookup and rows per executemany batch
MAX_WINDOWS = 10_000
Duration = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=r"^\s*\d+(\.\d+)?\s*[smhdw]?\s*$")]


# ---------------------------------------------------------------- pushing labels

def encode(value: Any) -> tuple[str, float | None]:
    """A label as stored: its text and, when it is a number (or a bool), its value as a float."""
    if isinstance(value, bool):
        return ("true" if value else "false"), float(value)
    if isinstance(value, int):
        return str(value), float(value)
    if isinstance(value, float):
        return (str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)), value
    return str(value), None


def _from_dataset(ctx: Ctx, body: LabelPush) -> list[tuple[str, Any]]:
    import pyarrow.parquet as pq

    from mainsail.data import service as data

    assert body.dataset is not None
    v = data.get_version(ctx, body.dataset, body.version)
    names = [c.name for c in v.columns]
    for field, col in (("request_id_column", body.request_id_column), ("label_column", body.label_column)):
        if col not in names:
            raise InvalidInput(f"dataset {body.dataset}@{v.id} has no column {col!r} (columns: {', '.join(names)})",
                               code="unknown_column", errors=[{"loc": ["body", field], "msg": "no such column"}])
    t = pq.read_table(data.version_file(ctx, v.digest), columns=[body.request_id_column, body.label_column])
    ids, labels = t.column(0).to_pylist(), t.column(1).to_pylist()
    where = f"dataset {body.dataset}@{v.id}"
    for i, (rid, label) in enumerate(zip(ids, labels, strict=True)):
        if rid is None or str(rid) == "" or len(str(rid)) > 200:
            raise InvalidInput(f"{where}, row {i}: request id {rid!r} must be 1 to 200 characters",
                               errors=[{"loc": ["dataset", body.dataset, "rows", i, body.request_id_column],
                                        "msg": "missing or too long"}])
        if label is None or (isinstance(label, float) and not math.isfinite(label)) or \
                (isinstance(label, str) and not 0 < len(label) <= 200):
            raise InvalidInput(f"{where}, row {i}: label {label!r} of request {rid!r} is missing or not a finite "
                               "number, a bool or a text of 1 to 200 characters",
                               errors=[{"loc": ["dataset", body.dataset, "rows", i, body.label_column],
                                        "msg": "invalid label"}])
    return [(str(r), x) for r, x in zip(ids, labels, strict=True)]


def _chunks(items: list[Any], n: int = CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def logged_ids(ctx: Ctx, deployment: str, request_ids: list[str] | None = None) -> set[str]:
    """The request ids (of ``request_ids``, or all) that the deployment's inference logs hold."""
    ids = read_logs(ctx, deployment, columns=["request_id"]).column("request_id").to_pylist()
    found = set(ids)
    return found if request_ids is None else found.intersection(request_ids)


def push_labels(ctx: Ctx, body: LabelPush) -> LabelPushResult:
    """Store ground truth for a deployment's requests (replacing labels pushed before for the same
    request ids); reports how many name a request id no inference log holds."""
    from mainsail.data.service import writer

    dep = serving.get_deployment(ctx, body.deployment)
    pairs = [(x.request_id, x.label) for x in body.labels] if body.labels is not None else _from_dataset(ctx, body)
    seen: dict[str, int] = {}
    for i, (rid, _) in enumerate(pairs):
        if rid in seen:
            loc = ["body", "labels", i, "request_id"] if body.labels is not None else ["dataset", body.dataset, "rows", i]
            raise InvalidInput(f"request id {rid!r} is given twice (rows {seen[rid]} and {i}); one label per request",
                               code="duplicate_request_id", errors=[{"loc": loc, "msg": "duplicate request id"}])
        seen[rid] = i
    ids = list(seen)
    logged = logged_ids(ctx, body.deployment, ids)
    unknown = [r for r in ids if r not in logged]
    with writer(ctx) as w:
        existing = 0
        for part in _chunks(ids):
            existing += w.session.scalar(select(func.count()).select_from(LabelRow).where(
                LabelRow.deployment_id == dep.id, LabelRow.request_id.in_(part))) or 0
        _upsert(w, dep.id, pairs)
    return LabelPushResult(deployment=body.deployment, received=len(ids), inserted=len(ids) - existing,
                           updated=existing, unknown=len(unknown), unknown_sample=unknown[:20])


def _upsert(ctx: Ctx, deployment_id: str, pairs: list[tuple[str, Any]]) -> None:
    """Insert or replace labels: PostgreSQL COPY into a scratch table and one ``INSERT … ON CONFLICT``;
    SQLite the driver's executemany. No ORM objects and no per-row type processing (the one timestamp
    is bound once)."""
    conn = ctx.session.connection()
    dialect = conn.dialect
    col = LabelRow.__table__.c.created_at
    bind = col.type.dialect_impl(dialect).bind_processor(dialect)
    now = bind(utcnow()) if bind else utcnow()
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO labels (deployment_id, request_id, value, number, created_at, updated_at) "
           f"VALUES ({', '.join([mark] * 6)}) ON CONFLICT (deployment_id, request_id) DO UPDATE SET "
           "value = excluded.value, number = excluded.number, updated_at = excluded.updated_at")
    rows = [(deployment_id, rid, *encode(label), now, now) for rid, label in pairs]
    if dialect.name == "postgresql":  # COPY into a scratch table, then one INSERT … ON CONFLICT
        cols = "deployment_id, request_id, value, number, created_at, updated_at"
        with conn.connection.driver_connection.cursor() as cur:
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS labels_in (LIKE labels) ON COMMIT DROP")
            cur.execute("TRUNCATE labels_in")
            with cur.copy(f"COPY labels_in ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(f"INSERT INTO labels ({cols}) SELECT {cols} FROM labels_in ON CONFLICT (deployment_id, "
                        "request_id) DO UPDATE SET value = excluded.value, number = excluded.number, "
                        "updated_at = excluded.updated_at")
        return
    for part in _chunks(rows, 20_000):
        conn.exec_driver_sql(sql, part)


def labels_table(ctx: Ctx, deployment_id: str) -> pa.Table:
    """A deployment's labels as Arrow columns request_id, value, number."""
    res = ctx.session.execute(select(LabelRow.request_id, LabelRow.value, LabelRow.number)
                              .where(LabelRow.deployment_id == deployment_id)).all()
    cols = list(zip(*res, strict=True)) if res else [[], [], []]
    return pa.table({"request_id": pa.array(cols[0], pa.string()), "value": pa.array(cols[1], pa.string()),
                     "number": pa.array(cols[2], pa.float64())})


# ---------------------------------------------------------------- performance

def _bounds(start: dt.datetime | None, end: dt.datetime | None, window: str | None
            ) -> tuple[dt.datetime, dt.datetime, float]:
    from mainsail.data.suites import parse_duration

    end = (end or utcnow()).astimezone(dt.UTC)
    start = (start or end - dt.timedelta(days=1)).astimezone(dt.UTC)
    if start >= end:
        raise InvalidInput(f"start {start.isoformat()} must be before end {end.isoformat()}",
                           errors=[{"loc": ["query", "start"], "msg": "not before end"}])
    span = (end - start).total_seconds()
    try:
        size = parse_duration(window) if window else span
    except ValueError as exc:
        raise InvalidInput(f"window: {exc}", errors=[{"loc": ["query", "window"], "msg": str(exc)}]) from None
    if span / size > MAX_WINDOWS:
        raise InvalidInput(f"window {window!r} splits {span:g} s into more than {MAX_WINDOWS} windows",
                           errors=[{"loc": ["query", "window"], "msg": "too many windows"}])
    return start, end, size


def joined(ctx: Ctx, deployment: str, start: dt.datetime | None, end: dt.datetime | None,
           variant: str | None = None, count_unmatched: bool = True) -> tuple[pa.Table, int, int, list[str]]:
    """Logged predictions in [start, end) with their labels (``value``, ``number``; null when
    unlabeled), the number of labels stored, the number matching no logged prediction, and the
    deployment's variants now."""
    import duckdb

    dep = serving.get_deployment(ctx, deployment)
    logs = read_logs(ctx, deployment, start, end, variant=variant)
    labels = labels_table(ctx, dep.id)
    con = duckdb.connect(config={"threads": 2})
    try:
        con.register("logs", logs)
        con.register("labels", labels)
        out = con.sql("SELECT logs.*, labels.value AS label_value, labels.number AS label_number "
                      "FROM logs LEFT JOIN labels USING (request_id) WHERE logs.status = 200").to_arrow_table()
        n_labels = labels.num_rows
        if n_labels and count_unmatched:
            con.register("all_ids", read_logs(ctx, deployment, columns=["request_id"]))
            unmatched = con.execute("SELECT count(*) FROM labels ANTI JOIN all_ids USING (request_id)").fetchone()[0]
        else:
            unmatched = 0
    finally:
        con.close()
    return out, n_labels, int(unmatched), [v.name for v in dep.variants]


def _numeric(text: np.ndarray) -> np.ndarray | None:
    import pandas as pd

    num = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(dtype=float)
    return None if np.isnan(num).any() else num


def prepare(table: pa.Table, task: Task | None = None) -> tuple[Task, np.ndarray, np.ndarray, np.ndarray | None,
                                                                  list[Any] | None]:
    """From labeled rows: (task, y_true, y_pred, proba or None, classes of proba's columns)."""
    pred_col = table.column("prediction")
    proba_cols = sorted(c for c in table.column_names if c.startswith("proba_"))
    numbers = table.column("label_number").to_numpy(zero_copy_only=False)
    if pa.types.is_integer(pred_col.type) or pa.types.is_floating(pred_col.type) or pa.types.is_boolean(pred_col.type):
        pred_num: np.ndarray | None = np.asarray(pred_col.to_numpy(zero_copy_only=False), dtype=float)
        pred_text = None
    else:
        pred_text = np.asarray(pred_col.to_pylist(), dtype=object)
        pred_num = _numeric(pred_text)
    label_num = None if np.isnan(numbers).any() else numbers
    numeric = pred_num is not None and label_num is not None
    if task is None:
        integral = numeric and bool(np.all(np.mod(label_num, 1) == 0) and np.all(np.mod(pred_num, 1) == 0))
        few = numeric and np.unique(label_num).size <= 50
        task = "classification" if proba_cols or not numeric or (integral and few) else "regression"
    if task == "regression":
        if not numeric:
            raise InvalidInput("task regression needs numeric labels and predictions",
                               errors=[{"loc": ["query", "task"], "msg": "labels or predictions are not numbers"}])
        return task, label_num, pred_num, None, None  # type: ignore[return-value]
    if numeric:
        y_true, y_pred = label_num, pred_num
    else:
        y_true = np.asarray(table.column("label_value").to_pylist(), dtype=object).astype(str)
        y_pred = (pred_text if pred_text is not None else np.asarray(pred_col.to_pylist(), dtype=object)).astype(str)
    proba, classes = None, None
    if proba_cols:
        names = [c.removeprefix("proba_") for c in proba_cols]
        try:
            classes = [float(n) for n in names] if numeric else names
        except ValueError:
            classes = names
            y_true, y_pred = y_true.astype(str), y_pred.astype(str)
        proba = np.column_stack([table.column(c).to_numpy(zero_copy_only=False) for c in proba_cols]).astype(float)
    return task, y_true, y_pred, proba, classes  # type: ignore[return-value]


def get_performance(ctx: Ctx, name: DeploymentName, start: dt.datetime | None = None,
                    end: dt.datetime | None = None, window: Duration | None = None, variant: VariantName | None = None,
                    task: Task | None = None, estimate: bool = False) -> PerformanceReport:
    """A deployment's performance from its labels, per window (``window`` like ``"1h"``; one window
    from ``start`` to ``end`` by default, the last 24 hours by default) and per variant. ``estimate``:
    also CBPE estimates from the logged class probabilities (labeled or not; kind
    ``estimated_performance``, ``estimated: true``), calibrated on labeled predictions logged before
    ``start``."""
    from mainsail.monitoring.performance import measure

    start, end, size = _bounds(start, end, window)
    table, n_labels, unmatched, current = joined(ctx, name, start, end, variant)
    labeled = table.filter(pc.is_valid(table.column("label_value")))
    if labeled.num_rows:
        task, y_true, y_pred, proba, classes = prepare(labeled, task)
        metrics = list(measure(y_true, y_pred, proba, task, classes))
    else:
        task = task or "classification"
        metrics = ["accuracy", "f1"] if task == "classification" else ["rmse", "mae", "r2"]
        y_true = y_pred = proba = classes = None
    t0 = start.timestamp()
    bucket = lambda t: ((np.asarray(t.cast(pa.int64()), dtype=np.int64) / 1e6 - t0) // size).astype(int)  # noqa: E731
    all_b, all_v = bucket(table.column("time")), np.asarray(table.column("variant").to_pylist(), dtype=object)
    lab_b = bucket(labeled.column("time"))
    lab_v = np.asarray(labeled.column("variant").to_pylist(), dtype=object)
    variants = [variant] if variant else sorted(set(all_v.tolist()) | set(current))
    results = []
    for b in range(math.ceil((end - start).total_seconds() / size)):
        w0 = start + dt.timedelta(seconds=b * size)
        w1 = min(end, w0 + dt.timedelta(seconds=size))
        for v in variants:
            rows = int(np.count_nonzero((all_b == b) & (all_v == v)))
            sel = (lab_b == b) & (lab_v == v)
            n = int(np.count_nonzero(sel))
            values = measure(y_true[sel], y_pred[sel], None if proba is None else proba[sel], task, classes) \
                if n else {}
            for m in metrics:
                x = values.get(m)
                ok = x is not None and not math.isnan(x)
                results.append(PerformanceResult(test=m, variant=v, value=x if ok else None,
                                                 status="ok" if ok else "insufficient_data",
                                                 window_start=w0, window_end=w1, rows=rows, labeled=n))
    notes = []
    if estimate:
        cbpe, note = reference_cbpe(ctx, name, start, proba_columns(table))
        if cbpe is None:
            notes.append(note)
        else:
            results += _estimates(cbpe, table, all_b, all_v, variants, labeled_mask(table),
                                  [(start + dt.timedelta(seconds=b * size), min(end, start + dt.timedelta(
                                      seconds=(b + 1) * size))) for b in range(math.ceil((end - start).total_seconds()
                                                                                        / size))])
    return PerformanceReport(deployment=name, task=task, start=start, end=end, window_seconds=size, labels=n_labels,
                             unmatched_labels=unmatched, results=results, notes=notes)


def labeled_mask(table: pa.Table) -> np.ndarray:
    return np.asarray(pc.is_valid(table.column("label_value")).to_numpy(zero_copy_only=False), dtype=bool)


def _estimates(cbpe: Any, table: pa.Table, buckets: np.ndarray, var: np.ndarray, variants: list[str],
               labeled: np.ndarray, windows: list[tuple[dt.datetime, dt.datetime]]) -> list[PerformanceResult]:
    from mainsail.monitoring.cbpe import BINARY_METRICS, MULTICLASS_METRICS

    proba = np.column_stack([table.column(c).to_numpy(zero_copy_only=False) for c in proba_columns(table)]
                            ).astype(float) if table.num_rows else np.empty((0, 0))
    metrics = BINARY_METRICS if cbpe.binary else MULTICLASS_METRICS
    out = []
    for b, (w0, w1) in enumerate(windows):
        for v in variants:
            sel = (buckets == b) & (var == v) & ~np.isnan(proba).any(axis=1) if proba.size else np.zeros(0, bool)
            n = int(np.count_nonzero(sel))
            values = cbpe.estimate(proba[sel]) if n else {}
            for m in metrics:
                x = values.get(m)
                ok = x is not None and not math.isnan(x)
                out.append(PerformanceResult(kind="estimated_performance", test=m, variant=v, value=x if ok else None,
                                             status="ok" if ok else "insufficient_data", estimated=True,
                                             window_start=w0, window_end=w1, rows=n,
                                             labeled=int(np.count_nonzero(sel & labeled))))
    return out


def performance(ctx: Ctx, deployment: str, start: dt.datetime | None, end: dt.datetime | None,
                variant: str | None = None, window: str | None = None, estimate: bool = False) -> list[dict[str, Any]]:
    """Monitor results (kind ``performance``, and ``estimated_performance`` with ``estimate``) per window
    and variant: the contract monitors consume."""
    report = get_performance(ctx, deployment, start, end, window, variant, estimate=estimate)
    return [r.model_dump(mode="json") | {"unmatched_labels": report.unmatched_labels} for r in report.results]


# ---------------------------------------------------------------- rollout quality guards

def _variant_metric(table: pa.Table, metric: str, variants: list[str]) -> tuple[dict[str, tuple[float | None, int]],
                                                                                 str | None]:
    """``metric`` of each variant's labeled rows: {variant: (value or None, labeled rows)}, and a note
    saying why a value is missing."""
    from mainsail.monitoring.performance import REGRESSION, measure

    labeled = table.filter(pc.is_valid(table.column("label_value")))
    counts = {v: 0 for v in variants}
    if not labeled.num_rows:
        return {v: (None, 0) for v in variants}, None
    var = np.asarray(labeled.column("variant").to_pylist(), dtype=object)
    try:
        task, y_true, y_pred, proba, classes = prepare(labeled, "regression" if metric in REGRESSION else
                                                       "classification")
    except InvalidInput as exc:
        return {v: (None, int(np.count_nonzero(var == v))) for v in variants}, str(exc)
    out, note = {}, None
    for v in variants:
        sel = var == v
        counts[v] = int(np.count_nonzero(sel))
        value = measure(y_true[sel], y_pred[sel], None if proba is None else proba[sel], task, classes).get(metric) \
            if counts[v] else None
        if counts[v] and value is None:
            note = f"{metric} needs class probabilities (proba_<class> columns) in the inference logs"
        elif value is not None and math.isnan(value):
            value, note = None, f"{metric} is undefined on these labels (one class only?)"
        out[v] = (value, counts[v])
    return out, note


def quality_readings(ctx: Ctx, deployment: str, guards: list[Any], *, candidate: str, champion: str,
                     since: dt.datetime) -> list[Any]:
    """Each quality guard's reading: the candidate's and the champion's metric over the requests they
    served since ``since`` — from labels, or estimated by CBPE from predicted probabilities."""
    from mainsail.serving.schemas import QualityReading

    table, *_ = joined(ctx, deployment, since, None, count_unmatched=False)
    out = []
    for g in guards:
        if g.source == "estimated":
            got, note = _estimated_metric(ctx, deployment, table, g.metric, [candidate, champion], since)
        else:
            got, note = _variant_metric(table, g.metric, [candidate, champion])
        (cv, cn), (hv, hn) = got[candidate], got[champion]
        out.append(QualityReading(metric=g.metric, source=g.source, candidate=cv, champion=hv, candidate_n=cn,
                                  champion_n=hn, note=note))
    return out


MIN_REFERENCE = 100  # labeled predictions with probabilities an estimate needs to calibrate on


def proba_columns(table: pa.Table) -> list[str]:
    """The ``proba_<class>`` columns of a logs table, in the order their classes sort as text."""
    return sorted(c for c in table.column_names if c.startswith("proba_"))


def reference_cbpe(ctx: Ctx, deployment: str, before: dt.datetime, cols: list[str]) -> tuple[Any, str]:
    """CBPE fitted on the labeled predictions (with probabilities ``cols``) logged before ``before``, or
    None and why not."""
    from mainsail.monitoring.cbpe import CBPE

    if not cols:
        return None, "estimating needs class probabilities (proba_<class> columns) in the inference logs"
    ref, *_ = joined(ctx, deployment, None, before, count_unmatched=False)
    ref = ref.filter(pc.is_valid(ref.column("label_value")))
    ref = ref.filter(pc.is_valid(ref.column(cols[0]))) if cols[0] in ref.column_names else ref.slice(0, 0)
    if ref.num_rows < MIN_REFERENCE:
        return None, (f"estimating needs a reference of {MIN_REFERENCE} labeled predictions with probabilities "
                      f"logged before {before.isoformat(timespec='seconds')}; there are {ref.num_rows}")
    _, y_ref, _, p_ref, classes = prepare(ref, "classification")
    return CBPE(classes=classes).fit(p_ref, y_ref), ""


def _estimated_metric(ctx: Ctx, deployment: str, table: pa.Table, metric: str, variants: list[str],
                      since: dt.datetime) -> tuple[dict[str, tuple[float | None, int]], str | None]:
    """``metric`` of each variant estimated by CBPE from its logged probabilities since ``since``,
    calibrated on the labeled predictions logged before ``since`` (the reference)."""
    var = np.asarray(table.column("variant").to_pylist(), dtype=object) if table.num_rows else np.array([])
    counts = {v: int(np.count_nonzero(var == v)) for v in variants}
    cols = proba_columns(table)
    cbpe, why = reference_cbpe(ctx, deployment, since, cols)
    if cbpe is None:
        return {v: (None, counts[v]) for v in variants}, why
    out, note = {}, None
    for v in variants:
        part = table.filter(pc.equal(table.column("variant"), v))
        if not part.num_rows:
            out[v] = (None, 0)
            continue
        proba = np.column_stack([part.column(c).to_numpy(zero_copy_only=False) for c in cols]).astype(float)
        value = cbpe.estimate(proba).get(metric)
        if value is None:
            note = f"{metric} cannot be estimated without labels (estimable: accuracy, precision, recall, f1, roc_auc)"
        out[v] = (None if value is None or math.isnan(value) else value, part.num_rows)
    return out, note
