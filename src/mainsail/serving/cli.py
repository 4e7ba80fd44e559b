"""``mainsail deployments …``, ``mainsail serve``, ``mainsail predict`` and ``mainsail batch-predict``."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Group
from rich.table import Table

from mainsail.cli.common import (
    client,
    console,
    count,
    err_console,
    handle_errors,
    live,
    print_json,
    threshold,
)

deployments_app = typer.Typer(help="Deployments: variants, traffic splits, shadows, canary rollouts.",
                              no_args_is_help=True)
STATUS_STYLE = {"healthy": "bold green", "degraded": "bold red"}


def _variant(text: str) -> dict[str, object]:
    """``NAME=URI[:WEIGHT][:shadow]`` → a variant."""
    name, sep, rest = text.partition("=")
    if not sep or not rest.startswith("models:/"):
        raise typer.BadParameter(f"{text!r}: expected NAME=models:/MODEL@ALIAS[:WEIGHT][:shadow]")
    parts = rest.split(":")
    uri, extra = ":".join(parts[:2]), parts[2:]
    variant: dict[str, object] = {"name": name, "model": uri}
    for e in extra:
        if e == "shadow":
            variant["role"] = "shadow"
        else:
            try:
                variant["weight"] = float(e)
            except ValueError:
                raise typer.BadParameter(f"{text!r}: {e!r} is neither a weight nor 'shadow'") from None
    return variant


def _rollout_line(r: Any) -> str:
    quality = "".join(f"; {q.metric}{' (est.)' if q.source == 'estimated' else ''} candidate {_num(q.candidate)} "
                      f"vs champion {_num(q.champion)} ({q.candidate_n}/{q.champion_n})"
                      for q in getattr(r.stats, "quality", []))
    return (f"rollout [bold]{r.state}[/] of {r.candidate}: step {r.step_index + 1}/{len(r.steps)} "
            f"({r.weight:g}%), {count(r.stats.requests, 'request')}, {count(r.stats.errors, 'error')}, "
            f"p95 {r.stats.p95_ms if r.stats.p95_ms is not None else '—'} ms{quality}  {r.reason or ''}")


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"


def _view(d: Any) -> Group:
    """A deployment as the CLI shows it: header, variants, rollout and replicas."""
    lines: list[Any] = [f"[bold]{d.name}[/]  mode: {d.mode}  status: [{STATUS_STYLE[d.status]}]{d.status}[/]"]
    total = sum(v.weight for v in d.variants if v.role == "primary") or 1
    t = Table("variant", "model", "version", "role", "weight", "share", "features")
    for v in d.variants:
        share = f"{v.weight / total:.0%}" if v.role == "primary" else "copy"
        feats = v.feature_service or ", ".join(v.feature_views) or "—"
        t.add_row(v.name, v.model, str(v.version or "[red]unresolved[/]"), v.role, f"{v.weight:g}", share, feats)
    lines.append(t)
    if d.rollout:
        lines.append(_rollout_line(d.rollout))
    for rep in d.replicas:
        lines.append(f"replica {rep.id}: [{STATUS_STYLE[rep.status]}]{rep.status}[/] "
                     f"seen {rep.seen_at.astimezone():%H:%M:%S} {rep.message or ''}")
    return Group(*lines)


def _show(d: Any) -> None:
    console.print(_view(d))


def follow_rollout(c: Any, name: str, poll: float = 1.0) -> Any:
    """Show the deployment live until its rollout ends; print a line at each step, promotion or rollback.
    The rollout advances as replicas report and the server ticks it; following only watches."""
    d = c.get_deployment(name)
    seen: tuple[Any, ...] | None = None
    try:
        with live(_view(d)) as view:
            while True:
                r = d.rollout
                key = (r.id, r.state, r.step_index) if r else None
                if key != seen and r is not None:
                    view.console.print(f"{dt.datetime.now():%H:%M:%S} " + _rollout_line(r), soft_wrap=True)
                    seen = key
                if r is None or r.state != "running":
                    return d
                time.sleep(poll)
                d = c.get_deployment(name)
                view.update(_view(d))
    except KeyboardInterrupt:  # stop watching; the rollout goes on
        err_console.print(f"stopped following; the rollout goes on (follow again: mainsail deployments show {name} "
                          "--follow)")
        raise typer.Exit(130) from None


@deployments_app.command("create")
@handle_errors
def create(name: str,
           model: str = typer.Option(None, "--model", "-m", help="One model URI, e.g. models:/churn@champion."),
           variant: list[str] = typer.Option(None, "--variant", "-v",
                                             help="NAME=models:/…[:WEIGHT][:shadow] (repeatable)."),
           description: str = typer.Option(None, help="What this deployment is for."),
           feature_service: str = typer.Option(None, help="Feature service answering entity requests "
                                                          "({\"entity_id\": …}) from the online store."),
           sampling: float = typer.Option(100.0, "--sampling", min=0, max=100,
                                          help="Percentage of requests whose inputs and predictions are logged.")) -> None:
    """Create a deployment of one model or of several weighted/shadow variants."""
    if bool(model) == bool(variant):
        raise typer.BadParameter("give --model or one or more --variant")
    variants = model if model else [_variant(v) for v in variant]
    _show(client().create_deployment(name, variants, description=description, feature_service=feature_service,
                                     sampling_percentage=sampling))


@deployments_app.command("list")
@handle_errors
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List deployments with their mode, status and variants."""
    items = list(client().iter_deployments())
    if as_json:
        print_json(items)
        return
    t = Table("name", "mode", "status", "variants", "rollout", title=count(len(items), "deployment"))
    for d in items:
        t.add_row(d.name, d.mode, f"[{STATUS_STYLE[d.status]}]{d.status}[/]",
                  ", ".join(f"{v.name}→v{v.version or '?'} {v.weight:g}{' shadow' if v.role == 'shadow' else ''}"
                            for v in d.variants),
                  f"{d.rollout.state} {d.rollout.weight:g}%" if d.rollout else "—")
    console.print(t)


@deployments_app.command("show")
@handle_errors
def show(name: str, as_json: bool = typer.Option(False, "--json", help="Print JSON."),
         history: bool = typer.Option(False, "--history", help="Also print every traffic change."),
         follow: bool = typer.Option(False, "--follow", "-f", help="Follow a running rollout live until it ends "
                                     "(exit 1 on a rollback).")) -> None:
    """Show a deployment: variants, resolved versions, rollout and replicas."""
    c = client()
    d = c.get_deployment(name)
    if as_json:
        print_json(d)
        return
    if follow and d.rollout is not None and d.rollout.state == "running":
        _finish_rollout(follow_rollout(c, name))
        return
    _show(d)
    if history:
        t = Table("when", "what", "weights", "who", "reason", title="history")
        for h in c.deployment_history(name):
            t.add_row(h.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"), h.kind,
                      ", ".join(f"{k}={v:g}" for k, v in h.weights.items()), h.actor or "—", h.reason or "")
        console.print(t)


@deployments_app.command("set-traffic")
@handle_errors
def set_traffic(name: str, weights: list[str] = typer.Argument(..., help="VARIANT=WEIGHT …"),
                reason: str = typer.Option(None, help="Why (kept in the history).")) -> None:
    """Change the traffic split, e.g. ``set-traffic churn a=50 b=50``."""
    parsed: dict[str, float] = {}
    for w in weights:
        k, sep, v = w.partition("=")
        try:
            parsed[k] = float(v)
        except ValueError:
            raise typer.BadParameter(f"{w!r}: expected VARIANT=WEIGHT") from None
        if not sep:
            raise typer.BadParameter(f"{w!r}: expected VARIANT=WEIGHT")
    _show(client().set_traffic(name, parsed, reason=reason))


@deployments_app.command("rollout")
@handle_errors
def rollout(name: str, candidate: str = typer.Argument(..., help="models:/NAME/VERSION to canary."),
            steps: str = typer.Option("10,50,100", help="Traffic percent per step."),
            step_seconds: float = typer.Option(30.0, help="Minimum seconds per step."),
            max_error_rate: float = typer.Option(0.05, help="Roll back above this error rate."),
            max_p95_ms: float = typer.Option(None, help="Roll back above this p95 latency (ms)."),
            min_requests: int = typer.Option(20, help="Requests a step needs before it passes."),
            metric: list[str] = typer.Option(None, "--metric", help="Monitoring guard, e.g. 'drift<=0.2'."),
            quality: list[str] = typer.Option(None, "--quality", help="Quality guard METRIC[:MARGIN[:SOURCE[:MIN]]]: "
                                              "the candidate's live metric no worse than the champion's by MARGIN, "
                                              "from labels or estimated, e.g. 'accuracy:0.02'."),
            reason: str = typer.Option(None, help="Why (kept in the history)."),
            follow: bool = typer.Option(False, "--follow", "-f", help="Show its progress live until it is promoted "
                                        "or rolled back (exit 1 on a rollback)."),
            poll: float = typer.Option(1.0, help="Seconds between updates with --follow.")) -> None:
    """Start a canary rollout; guards breached → automatic rollback, all steps passed → promote."""
    try:
        pcts = [float(s) for s in steps.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"--steps {steps!r}: expected numbers such as 10,50,100") from None
    metrics = dict(threshold(m) for m in metric) if metric else None
    c = client()
    d = c.start_rollout(name, candidate, steps=pcts, step_seconds=step_seconds, max_error_rate=max_error_rate,
                        max_p95_ms=max_p95_ms, min_requests=min_requests, metrics=metrics,
                        quality=[_quality(q) for q in quality or []], reason=reason)
    if not follow:
        _show(d)
        return
    _finish_rollout(follow_rollout(c, name, poll))


def _quality(text: str) -> dict[str, object]:
    """``METRIC[:MARGIN[:SOURCE[:MIN_LABELS]]]`` → a quality guard."""
    parts = text.split(":")
    guard: dict[str, object] = {"metric": parts[0].strip()}
    try:
        if len(parts) > 1 and parts[1]:
            guard["margin"] = float(parts[1])
        if len(parts) > 2 and parts[2]:
            guard["source"] = parts[2].strip()
        if len(parts) > 3 and parts[3]:
            guard["min_labels"] = int(parts[3])
    except ValueError:
        raise typer.BadParameter(f"--quality {text!r}: expected METRIC[:MARGIN[:SOURCE[:MIN_LABELS]]], "
                                 "e.g. accuracy:0.02:labels:50") from None
    if len(parts) > 4:
        raise typer.BadParameter(f"--quality {text!r}: expected METRIC[:MARGIN[:SOURCE[:MIN_LABELS]]]")
    return guard


def _finish_rollout(d: Any) -> None:
    r = d.rollout
    if r is not None and r.state == "promoted":
        console.print(f"[bold green]promoted[/] {r.candidate} on {d.name}")
        return
    err_console.print(f"[bold red]rolled back[/] {r.candidate if r else ''} on {d.name}: {r.reason if r else ''}",
                      soft_wrap=True)
    raise typer.Exit(1)


@deployments_app.command("rollback")
@handle_errors
def rollback(name: str, reason: str = typer.Option(None, help="Why (kept in the history).")) -> None:
    """Roll back the running rollout now, or restore the previous traffic split."""
    _show(client().rollback_deployment(name, reason=reason))


@deployments_app.command("delete")
@handle_errors
def delete(name: str) -> None:
    """Delete a deployment (its inference log files stay in the artifact store)."""
    client().delete_deployment(name)
    console.print(f"deleted {name}")


@handle_errors
def serve(deployment: str = typer.Argument(..., help="Deployment to serve."),
          host: str = typer.Option("127.0.0.1", help="Interface to bind."),
          port: int = typer.Option(8000, help="Port to listen on."),
          poll_interval: float = typer.Option(2.0, help="Seconds between syncs with the control plane."),
          max_batch: int = typer.Option(256, help="Rows per micro-batch (1 turns batching off)."),
          max_wait_ms: float = typer.Option(1.5, help="Longest wait for a batch to fill (ms)."),
          log_inferences: bool = typer.Option(True, "--log-inferences/--no-log-inferences",
                                              help="Write inference logs (Parquet) to the artifact store."),
          replica_id: str = typer.Option(None, help="Stable replica id (default: host-pid-random)."),
          log_level: str = typer.Option("warning", help="uvicorn log level."),
          auth: bool = typer.Option(None, "--auth/--no-auth",
                                    help="Predictions need a token with 'predict' (default: MAINSAIL_AUTH)."),
          insecure: bool = typer.Option(False, "--insecure", help="Allow a non-loopback address without auth.")
          ) -> None:
    """Serve a deployment: /predict, Open Inference Protocol v2 (/v2/…), /health, /ready, /metrics."""
    import uvicorn

    from mainsail.cli.server import check_exposure
    from mainsail.core.settings import Settings
    from mainsail.serving.app import create_replica_app
    from mainsail.serving.replica import ReplicaState

    settings = Settings.from_env()
    auth = settings.auth if auth is None else auth
    check_exposure(host, auth=auth, insecure=insecure)
    c = client()
    state = ReplicaState(c, deployment, replica_id=replica_id, poll_interval=poll_interval,
                         max_batch=max_batch, max_wait=max_wait_ms / 1000, log_inferences=log_inferences).start()
    app = create_replica_app(state)
    from mainsail.monitoring.prometheus import replica_metrics_text

    # drift, model-metric and quality gauges of this deployment's monitors, asked of the control plane
    ttl = float(os.environ.get("MAINSAIL_MONITOR_METRICS_TTL", "15"))
    app.state.extra_metrics.append(replica_metrics_text(c, deployment, ttl))
    if auth:
        from mainsail.api.auth import AuthMiddleware
        from mainsail.auth.cache import Authenticator, via_server

        backend = c._backend
        authenticator = (via_server(c.uri, settings.auth_cache_ttl) if c.is_remote
                         else Authenticator(backend.runtime))
        app.add_middleware(AuthMiddleware, authenticator=authenticator, metrics_auth=settings.metrics_auth,
                           deployment=deployment, project=c.project)
    from mainsail.core.heap import settle

    settle()  # imports, app and models out of the full collections' way (see core/heap.py)
    console.print(f"serving [bold]{deployment}[/] on http://{host}:{port}  replica {state.replica_id}  "
                  f"variants: {', '.join(f'{n}→{v.model_name} v{v.version}' for n, v in state.routing.variants.items())}")
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        state.stop()


@handle_errors
def predict(deployment: str = typer.Argument(..., help="Deployment name or a replica URL (http://…)."),
            input: Path = typer.Option(..., "--input", "-i", exists=True, dir_okay=False,
                                       help="JSON records, JSON-lines, CSV or Parquet."),
            url: str = typer.Option(None, help="Replica URL; without it the model is loaded here."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Predict on a file of records with a deployment's replica (--url) or its primary model in-process."""
    import httpx
    import orjson
    import pandas as pd

    suffix = input.suffix.lower()
    if suffix == ".parquet":
        frame = pd.read_parquet(input)
    elif suffix == ".csv":
        frame = pd.read_csv(input)
    elif suffix in (".jsonl", ".ndjson"):
        frame = pd.read_json(input, lines=True)
    else:
        frame = pd.DataFrame(orjson.loads(input.read_bytes()))
    records = frame.to_dict("records")
    if url:
        resp = httpx.post(url.rstrip("/") + "/predict", json={"records": records}, timeout=60)
        body = resp.json()
        if resp.status_code >= 400:
            from mainsail.core.errors import from_problem

            raise from_problem(resp.status_code, body)
        preds, label = body["predictions"], f"{body['variant']} ({body['model']} v{body['version']})"
    else:
        from mainsail.serving.batch import _resolve_model

        c = client()
        v = _resolve_model(c, deployment)
        preds = list(c.load_model(f"models:/{v.name}/{v.version}").predict(records))
        label = f"{v.name} v{v.version}"
    if as_json:
        print_json([p.item() if hasattr(p, "item") else p for p in preds])
        return
    t = Table("row", "prediction", title=f"{count(len(preds), 'prediction')} by {label}")
    for i, p in enumerate(preds[:50]):
        t.add_row(str(i), str(p))
    console.print(t)


@handle_errors
def batch_predict(model: str = typer.Argument(..., help="models:/NAME@ALIAS|/VERSION or a deployment name."),
                  source: str = typer.Argument(..., help="Parquet file/folder, or dataset:NAME[@VERSION]."),
                  output: Path = typer.Option(..., "--output", "-o", help="Parquet file to write."),
                  chunk_rows: int = typer.Option(50_000, help="Rows per chunk."),
                  workers: int = typer.Option(None, help="Worker processes (default: CPUs; 0: in this process); "
                                              "with --executor ray, half the chunks in flight (default: the "
                                              "cluster's CPUs)."),
                  proba: bool = typer.Option(False, help="Also write the positive-class probability."),
                  output_dataset: str = typer.Option(None, help="Also store the output as a version of this dataset."),
                  executor: str = typer.Option("local", help="Where chunks are scored: 'local' processes or 'ray' "
                                               "(one Ray task per chunk)."),
                  ray_address: str = typer.Option(None, help="The Ray cluster for --executor ray (default "
                                                  "MAINSAIL_RAY_ADDRESS, else a local one).")
                  ) -> None:
    """Score a Parquet path or a dataset version in chunks on a local process pool or on Ray."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from mainsail.serving.batch import batch_predict as run

    with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task("rows", total=None)
        result = run(client(), model, source, output, chunk_rows=chunk_rows, workers=workers, proba=proba,
                     output_dataset=output_dataset, executor=executor, ray_address=ray_address,
                     progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"wrote {count(result.rows, 'row')} in {count(result.chunks, 'chunk')} to {result.output} "
                  f"with {result.model} v{result.version}"
                  + (f"; dataset version {result.dataset_version}" if result.dataset_version else ""))
