"""Pages of tracking: home, experiments, the runs table (filter, sort, columns, paging), a run with
its charts, artifacts and lineage, and the comparison of runs."""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from mainsail.core.errors import InvalidInput, MainsailError, not_found
from mainsail.ui import charts as ch
from mainsail.ui.web import SECURITY_HEADERS, bad, client, me, page_router, read, render

router = page_router()
DEFAULT_LIMIT = 50
PREVIEW_BYTES = 200_000
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}  # not SVG: it can carry script
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")
TEXT_SUFFIXES = (".txt", ".log", ".json", ".yaml", ".yml", ".md", ".py", ".cfg", ".toml", ".ini", ".html",
                 ".xml", ".svg", "MLmodel", ".jsonl")


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    """What happened lately in the project and what needs attention (the caller's reviews among it)."""
    c = client(request)
    feed = c.activity(limit=40)
    who = me(request)
    reviews = [r for r in c.list_reviews(reviewer=who, limit=50).items if waiting_for(r, who)] if who else []
    failed = c.list_pipeline_runs(status="failed", limit=10).items
    running = c.list_pipeline_runs(status="running", limit=10).items
    rollouts = [d for d in c.list_deployments(limit=100).items if d.rollout and d.rollout.state == "running"]
    alerts = c.list_alerts("open", limit=10)
    counts = {"experiments": len(c.list_experiments(limit=1000).items),
              "models": len(c.list_registered_models(limit=1000).items),
              "datasets": len(c.list_datasets(limit=1000).items),
              "deployments": len(c.list_deployments(limit=1000).items)}
    return render(request, "home.html", events=feed.items, more_events=feed.next_cursor, failed=failed,
                  running=running, rollouts=rollouts, counts=counts, alerts=alerts.items, reviews=reviews, me=who,
                  more_alerts=alerts.next_cursor is not None)


def waiting_for(review: Any, who: str) -> bool:
    """Whether ``review`` still waits for ``who``'s answer (open, and no verdict of theirs yet)."""
    return review.status != "closed" and who in review.reviewers and \
        who not in review.approved_by and who not in review.changes_requested_by


@router.get("/experiments", response_class=HTMLResponse)
def experiments(request: Request, cursor: str | None = None) -> Response:
    page = client(request).list_experiments(cursor=cursor, limit=100)
    return render(request, "experiments.html", experiments=page.items, next_cursor=page.next_cursor)


def _columns(runs: list[Any], chosen: list[str]) -> tuple[list[str], list[str]]:
    """(every param/metric column the page's runs have, the chosen ones; by default up to 6 metrics
    and 4 params)."""
    metrics = sorted({f"metrics.{k}" for r in runs for k in r.metrics})
    params = sorted({f"params.{k}" for r in runs for k in r.params})
    available = metrics + params
    if chosen:
        return sorted(set(available) | set(chosen)), [c for c in chosen if c.startswith(("metrics.", "params."))]
    return available, metrics[:6] + params[:4]


def _cell(run: Any, column: str) -> Any:
    kind, _, key = column.partition(".")
    return (run.metrics if kind == "metrics" else run.params).get(key)


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
def runs_table(request: Request, experiment_id: str, filter: str = Query("", max_length=4000),
               order: str = Query("", max_length=1000), col: list[str] = Query([]),
               cursor: str | None = Query(None, max_length=200), hist: list[str] = Query([]),
               limit: int = Query(DEFAULT_LIMIT, ge=1, le=1000)) -> Response:
    """The runs of one experiment: filter (the API's filter language), sort, choose columns, page."""
    c = client(request)
    experiment = c.get_experiment(experiment_id)
    if len(col) > 100 or len(hist) > 50:
        raise bad("col", "at most 100 columns and 50 pages of history")
    order_by = [o.strip() for o in order.split(",") if o.strip()] or None
    error = None
    try:
        page = c.search_runs([experiment_id], filter=filter or None, order_by=order_by, cursor=cursor, limit=limit)
        runs, next_cursor = page.items, page.next_cursor
    except InvalidInput as exc:  # a bad filter or sort is shown next to the form, not as an error page
        runs, next_cursor, error = [], None, exc.detail
    available, chosen = _columns(runs, col)
    base = {"filter": filter, "order": order, "col": col, "limit": limit}
    here = f"/experiments/{experiment_id}"
    next_url = f"{here}?{urlencode({**base, 'cursor': next_cursor, 'hist': [*hist, cursor or '']}, doseq=True)}" \
        if next_cursor else None
    prev_url = None
    if hist:
        prev = {**base, "hist": hist[:-1]} | ({"cursor": hist[-1]} if hist[-1] else {})
        prev_url = f"{here}?{urlencode(prev, doseq=True)}"

    def sort_url(column: str) -> str:
        direction = "DESC" if order.strip() == f"{column} ASC" else "ASC"
        return f"{here}?{urlencode({**base, 'order': f'{column} {direction}'}, doseq=True)}"

    rows = [{"run": r, "cells": [_cell(r, k) for k in chosen]} for r in runs]
    return render(request, "runs.html", status=422 if error else 200, experiment=experiment, rows=rows,
                  chosen=chosen, available=available, filter=filter, order=order, limit=limit, error=error,
                  next_url=next_url, prev_url=prev_url, sort_url=sort_url, page_number=len(hist) + 1)


def _metric_chart(request: Request, charts: ch.Charts, run_ids: list[tuple[str, str]], key: str,
                  points: int = 1000) -> dict[str, Any] | None:
    """One chart of metric ``key`` over the runs ``(id, label)``; None when no run has two points."""
    c = client(request)
    series, total = [], 0
    for run_id, label in run_ids:
        try:
            s = c.sample_metric(run_id, key, points)
        except MainsailError:
            continue
        series.append((label, s.step, s.value))
        total += s.total
    if not series or max(len(s[1]) for s in series) < 2:
        return None
    data, layout = ch.lines(series, "step", key)
    chart = charts.add(data, title={"text": key}, **layout)
    chart["points"] = total
    return chart


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str) -> Response:
    """A run: params, metrics with their curves, tags, artifacts and lineage."""
    from mainsail.registry import service as registry

    c = client(request)
    run = c.get_run(run_id)
    experiment = c.get_experiment(run.experiment_id)
    charts = ch.Charts()
    curves = [(k, chart) for k in sorted(run.metrics)[:20]
              if (chart := _metric_chart(request, charts, [(run.id, run.name)], k))]
    artifacts = c.list_artifacts(run.id)
    children = c.search_runs([run.experiment_id], filter=f"parent_run_id = '{run.id}'", limit=100).items
    models = read(request, lambda ctx: registry.find_versions(ctx, run_id=run.id, limit=100))
    user_tags = {k: v for k, v in run.tags.items() if not k.startswith("mainsail.")}
    system_tags = {k: v for k, v in run.tags.items() if k.startswith("mainsail.")}
    return render(request, "run.html", run=run, experiment=experiment, charts=charts, curves=curves,
                  artifacts=artifacts, children=children, models=models, user_tags=user_tags,
                  system_tags=system_tags, dataset_ref=_dataset_ref(run.tags.get("mainsail.dataset_version")))


def _dataset_ref(ref: str | None) -> tuple[str, str] | None:
    if not ref or "@" not in ref:
        return None
    name, _, version = ref.rpartition("@")
    return name, version


def _kind(path: str) -> str:
    lower = path.lower()
    if any(lower.endswith(s) for s in IMAGE_TYPES):
        return "image"
    if lower.endswith(TABLE_SUFFIXES):
        return "table"
    if lower.endswith(tuple(s.lower() for s in TEXT_SUFFIXES)):
        return "text"
    return "binary"


@router.get("/runs/{run_id}/artifacts/{path:path}", response_class=HTMLResponse)
def artifact_page(request: Request, run_id: str, path: str) -> Response:
    """A preview of one artifact: text, an image or the head of a table."""
    c = client(request)
    run = c.get_run(run_id)
    info = next((a for a in c.list_artifacts(run_id) if a.path == path), None)
    if info is None:
        raise not_found("artifact", f"{run_id}/{path}")
    kind = _kind(path)
    text, table = None, None
    if kind in ("text", "binary") and info.size <= PREVIEW_BYTES:
        data = c.read_artifact(run_id, path)
        try:
            text, kind = data.decode("utf-8"), "text"
        except UnicodeDecodeError:
            kind = "binary"
    elif kind == "text":
        text = c.read_artifact(run_id, path)[:PREVIEW_BYTES].decode("utf-8", errors="replace") + "\n…"
    elif kind == "table":
        table = _table_head(c.read_artifact(run_id, path), path)
    return render(request, "artifact.html", run=run, info=info, kind=kind, text=text, table=table)


def _table_head(data: bytes, path: str, rows: int = 50) -> dict[str, Any]:
    import io

    import pandas as pd

    try:
        if path.lower().endswith(".parquet"):
            frame = pd.read_parquet(io.BytesIO(data))
        else:
            frame = pd.read_csv(io.BytesIO(data), sep="\t" if path.lower().endswith(".tsv") else ",", nrows=rows)
    except Exception as exc:  # noqa: BLE001 - any unreadable table is shown as such, not a 500
        return {"error": f"cannot read the table: {exc}"}
    head = frame.head(rows)
    return {"columns": [str(c) for c in head.columns], "rows": head.astype(object).where(head.notna(), None)
            .values.tolist(), "total": len(frame)}


@router.get("/runs/{run_id}/raw/{path:path}")
def artifact_raw(request: Request, run_id: str, path: str) -> Response:
    """An artifact's bytes: images inline (their type fixed by the extension), anything else as a
    download, so a stored HTML or SVG file can never run script in the UI's origin."""
    data = client(request).read_artifact(run_id, path)
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    headers = {**SECURITY_HEADERS, "content-security-policy": "default-src 'none'; sandbox"}
    if suffix in IMAGE_TYPES:
        return Response(data, media_type=IMAGE_TYPES[suffix], headers=headers)
    name = path.rsplit("/", 1)[-1].replace('"', "")
    headers["content-disposition"] = f"attachment; filename=\"{name.encode('ascii', 'replace').decode()}\""
    return Response(data, media_type=mimetypes.types_map.get(suffix, "application/octet-stream")
                    if suffix not in (".html", ".htm", ".svg", ".xml", ".js") else "application/octet-stream",
                    headers=headers)


@router.get("/compare", response_class=HTMLResponse)
def compare(request: Request, run: list[str] = Query([]), color: str = Query("", max_length=300)) -> Response:
    """Runs side by side: metric curves overlaid, params against a metric in parallel coordinates, and
    the params and metrics that differ."""
    if not 2 <= len(run) <= 20:
        raise bad("run", f"choose between 2 and 20 runs to compare (got {len(run)})")
    c = client(request)
    cmp = c.compare_runs(run)
    labels = [(r.id, f"{r.name} ({r.id[:8]})") for r in cmp.runs]
    charts = ch.Charts()
    curves = [(k, chart) for k in list(cmp.metrics)[:12] if (chart := _metric_chart(request, charts, labels, k))]
    metric_keys = list(cmp.metrics)
    color = color if color in cmp.metrics else (metric_keys[0] if metric_keys else "")
    varying = cmp.differing_params or list(cmp.params)
    parallel = None
    if varying or metric_keys:
        dims = [(k, [cmp.params[k][r.id] for r in cmp.runs]) for k in varying[:12]]
        if color:
            dims.append((color, [cmp.metrics[color][r.id] for r in cmp.runs]))
        values = [cmp.metrics[color][r.id] for r in cmp.runs] if color else None
        data, layout = ch.parallel(dims, [r.name for r in cmp.runs], values, color)
        parallel = charts.add(data, title={"text": f"params against {color}"}, **layout)
    metric_rows = []
    for key, by_run in cmp.metrics.items():
        vals = [by_run.get(r.id) for r in cmp.runs]
        nums = [v for v in vals if v is not None]
        differs = len(set(nums)) > 1
        metric_rows.append({"key": key, "vals": vals, "top": max(nums) if differs else None})
    return render(request, "compare.html", cmp=cmp, charts=charts, curves=curves, parallel=parallel,
                  color=color, metric_rows=metric_rows, run_ids=run)
