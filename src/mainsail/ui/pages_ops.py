"""Pages of pipelines and deployments: the DAG of a pipeline run with its task states kept live by
htmx polling, logs per task, schedules and runs; deployments with their variants and traffic split,
rollout progress step by step, request rate, latency and errors from the inference logs, and a
sample of the logged requests."""

from __future__ import annotations

import io
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mainsail.core.errors import not_found
from mainsail.ui import charts as ch
from mainsail.ui.web import client, form, page_router, render, seg

router = page_router()
LOG_FILES = 20  # inference-log files read for a deployment's charts (the newest)
SAMPLE_ROWS = 25


def layers(tasks: list[Any]) -> list[list[Any]]:
    """Tasks grouped by depth in the DAG (a task sits one layer after its deepest dependency)."""
    depth: dict[str, int] = {}
    by_name = {t.name: t for t in tasks}

    def level(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name not in depth:
            deps = [d for d in by_name[name].depends_on if d in by_name and d not in seen]
            depth[name] = 1 + max((level(d, seen | {name}) for d in deps), default=-1)
        return depth[name]

    out: dict[int, list[Any]] = {}
    for t in tasks:
        out.setdefault(level(t.name), []).append(t)
    return [out[k] for k in sorted(out)]


@router.get("/pipelines", response_class=HTMLResponse)
def pipelines(request: Request) -> Response:
    """Pipelines, their schedules and the latest runs."""
    c = client(request)
    return render(request, "pipelines.html", pipelines=c.list_pipelines(limit=200).items,
                  runs=c.list_pipeline_runs(limit=30).items, schedules=c.list_pipeline_schedules())


@router.get("/pipelines/{name}", response_class=HTMLResponse)
def pipeline(request: Request, name: str) -> Response:
    """A pipeline: its DAG, parameters, versions, schedules and runs."""
    c = client(request)
    p = c.get_pipeline(name)
    return render(request, "pipeline.html", p=p, dag=layers(p.spec.tasks), versions=c.list_pipeline_versions(name),
                  schedules=c.list_pipeline_schedules(name), runs=c.list_pipeline_runs(name, limit=50).items)


@router.post("/pipelines/{name}/run")
async def run_pipeline(request: Request, name: str) -> Response:
    """The "run now" button: start a run with the default params; the executor picks it up."""
    await form(request)
    run = await run_in_threadpool(client(request).run_pipeline, name, {}, wait=False)
    return RedirectResponse(f"/pipeline-runs/{seg(run.id)}", status_code=303)


@router.get("/pipeline-runs/{run_id}", response_class=HTMLResponse)
def pipeline_run(request: Request, run_id: str) -> Response:
    """A run: its DAG with live task states (polled while the run is not done)."""
    run = client(request).get_pipeline_run(run_id)
    return render(request, "pipeline_run.html", run=run, dag=layers(run.tasks), done=_done(run))


@router.get("/pipeline-runs/{run_id}/dag", response_class=HTMLResponse)
def pipeline_run_dag(request: Request, run_id: str) -> Response:
    """The htmx fragment: the run's DAG and status; it stops polling once the run is done."""
    run = client(request).get_pipeline_run(run_id)
    return render(request, "_run_dag.html", run=run, dag=layers(run.tasks), done=_done(run))


@router.post("/pipeline-runs/{run_id}/cancel")
async def cancel_pipeline_run(request: Request, run_id: str) -> Response:
    await form(request)
    await run_in_threadpool(client(request).cancel_pipeline_run, run_id)
    return RedirectResponse(f"/pipeline-runs/{seg(run_id)}", status_code=303)


def _done(run: Any) -> bool:
    return run.status in ("succeeded", "failed", "cancelled")


@router.get("/pipeline-runs/{run_id}/logs/{task}", response_class=HTMLResponse)
def task_log(request: Request, run_id: str, task: str) -> Response:
    """One task's log (its latest attempt)."""
    c = client(request)
    run = c.get_pipeline_run(run_id)
    t = next((t for t in run.tasks if t.name == task), None)
    if t is None:
        raise not_found("task", f"{run_id}/{task}")
    text = c.pipeline_task_log(run_id, task) if t.has_log else ""
    return render(request, "task_log.html", run=run, task=t, name=task, text=text)


@router.get("/serving", response_class=HTMLResponse)
def deployments(request: Request) -> Response:
    page = client(request).list_deployments(limit=200)
    return render(request, "deployments.html", deployments=page.items)


def _traffic(c: Any, name: str, charts: ch.Charts) -> tuple[list[Any], list[dict[str, Any]], Any]:
    """(the sample of logged requests, the charts of rate, latency and errors per variant, totals)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mainsail.serving.ops import ops

    files = c.list_inference_logs(name)[-LOG_FILES:]
    if not files:
        return [], [], None
    tables = [pq.read_table(io.BytesIO(c.call(ops.read_inference_log, name=name, digest=f.digest))) for f in files]
    df: pd.DataFrame = pa.concat_tables(tables, promote_options="permissive").to_pandas().sort_values("time")
    sample = df.tail(SAMPLE_ROWS).iloc[::-1]
    span = (df["time"].iloc[-1] - df["time"].iloc[0]).total_seconds()
    seconds = max(1, int(span / 60) + 1)  # about 60 buckets over the logged span
    df["bucket"] = df["time"].dt.floor(f"{seconds}s")
    df["error"] = df["status"] >= 500
    g = df.groupby(["variant", "bucket"])
    agg = g.agg(requests=("request_id", "size"), errors=("error", "sum"),
                p95=("latency_ms", lambda s: float(s.quantile(0.95)))).reset_index()
    out = []
    for metric, title, unit in (("requests", f"requests per {seconds} s", "requests"),
                                ("p95", "latency p95 (ms)", "ms"), ("error_rate", "error rate", "share")):
        series = []
        for variant, part in agg.groupby("variant"):
            y = part["errors"] / part["requests"] if metric == "error_rate" else part[metric]
            series.append((str(variant), [t.isoformat() for t in part["bucket"]], [float(v) for v in y]))
        data, layout = ch.lines(series, "time (UTC)", unit)
        out.append({"title": title, "chart": charts.add(data, title={"text": title}, height=280, **layout)})
    totals = {"requests": len(df), "errors": int(df["error"].sum()),
              "p95": float(df["latency_ms"].quantile(0.95)), "files": len(files)}
    rows = [{"time": r["time"], "variant": r["variant"], "version": r["version"], "latency": r["latency_ms"],
             "status": r["status"], "shadow": r["shadow"], "inputs": _logged(r, "inputs", TYPED_META),
             "outputs": _logged(r, "outputs", ("prediction",), "proba_")} for r in sample.to_dict("records")]
    return rows, out, totals


TYPED_META = {"request_id", "row", "time", "deployment", "variant", "model", "version", "latency_ms", "shadow",
              "status", "prediction", "inputs", "outputs", "bucket", "error"}


def _logged(row: dict[str, Any], raw: str, columns: Any, prefix: str | None = None) -> str:
    """A logged request's inputs or outputs: the JSON text of an old-format file, else the typed columns
    (the features; the prediction and class probabilities) as JSON."""
    import json

    text = row.get(raw)
    if isinstance(text, str):
        return text
    if prefix is None:
        picked = {k: v for k, v in row.items() if k not in columns}
    else:
        picked = {k: v for k, v in row.items() if k in columns or k.startswith(prefix)}
    return json.dumps({k: v for k, v in picked.items() if v is not None and v == v}, default=str)


@router.get("/serving/{name}", response_class=HTMLResponse)
def deployment(request: Request, name: str) -> Response:
    """A deployment: variants and traffic split, rollout progress, traffic charts and logged requests."""
    c = client(request)
    d = c.get_deployment(name)
    charts = ch.Charts()
    split = charts.add(ch.bars([v.name for v in d.variants], [v.weight for v in d.variants], "traffic", True),
                       title={"text": "traffic split (%)"}, height=60 + 40 * len(d.variants),
                       xaxis={"range": [0, 100]}, margin={"l": 100, "r": 20, "t": 40, "b": 30})
    sample, traffic, totals = _traffic(c, name, charts)
    history = list(reversed(c.deployment_history(name)))
    return render(request, "deployment.html", d=d, charts=charts, split=split, traffic=traffic, totals=totals,
                  sample=sample, history=history)


@router.get("/serving/{name}/rollout", response_class=HTMLResponse)
def rollout_fragment(request: Request, name: str) -> Response:
    """The htmx fragment: the rollout's steps and stats; it stops polling once the rollout is over."""
    return render(request, "_rollout.html", d=client(request).get_deployment(name))
