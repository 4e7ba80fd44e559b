"""``mainsail quickstart``: the whole loop that exists so far, embedded, on generated churn data."""

from __future__ import annotations

import threading
import time
from typing import Any

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from mainsail.cli.common import console, count, err_console, handle_errors

LOOP_POLICY = "churn-retrain"


def _run_pipeline(client: Any, name: str, params: dict[str, Any]) -> Any:
    """Start a run and follow its DAG live; embedded, this process executes it on local processes."""
    from mainsail.pipelines.cli import dag_table

    run = client.run_pipeline(name, params, wait=False)
    failure: list[BaseException] = []
    executing: threading.Thread | None = None
    if not client.is_remote:
        def execute() -> None:
            try:
                client.wait_pipeline_run(run.id)
            except BaseException as exc:  # noqa: BLE001 - reported after the live view ends
                failure.append(exc)

        executing = threading.Thread(target=execute, daemon=True, name="quickstart-pipeline")
        executing.start()
    with Live(dag_table(run), console=console, refresh_per_second=4) as live:
        while not run.done and (executing is None or executing.is_alive()):
            time.sleep(0.25)
            run = client.get_pipeline_run(run.id)
            live.update(dag_table(run))
        if executing is not None:
            executing.join()
        run = client.get_pipeline_run(run.id)
        live.update(dag_table(run))
    if not console.is_terminal:
        console.line()  # rich leaves the last render of a non-terminal Live without a line end
    if failure:
        raise failure[0]
    return run


def _models_table(out: dict[str, Any], best_run: str) -> Table:
    trains = sorted((o for k, o in out.items() if k.startswith("train_")), key=lambda o: -o["metrics"]["auc"])
    table = Table("model", "run", "auc", "accuracy", "f1", "log_loss", title="churn models (test split)")
    for o in trains:
        m = o["metrics"]
        table.add_row(o["model"], o["run_id"][:12], f"{m['auc']:.4f}", f"{m['accuracy']:.4f}", f"{m['f1']:.4f}",
                      f"{m['log_loss']:.4f}",
                      style="bold green" if o["run_id"] == best_run else None)
    return table


def _serve(client: Any, registered: dict[str, Any], best: dict[str, Any], auc: str, loop: bool) -> tuple[Any, Any]:
    """Serve the champion with labeled traffic, canary the candidate with a quality guard, then (``loop``)
    inject drift and follow the closed loop; returns the canary's and the loop's results."""
    from mainsail.quickstart.loop import LOOP_QUALITY, close_the_loop, prepare, records_of
    from mainsail.quickstart.serving import GUARDS, QUALITY, STEPS, Service, serve_and_canary

    q = QUALITY
    console.print(f"\n[bold]serving[/]: deployment churn → models:/churn@champion (v{registered['champion']}, "
                  f"auc {registered['champion_auc']:.4f}); canary of the best candidate [bold]{best['model']}[/] "
                  f"as churn v{registered['version']} ({auc}) through {' → '.join(f'{s:g}%' for s in STEPS)}; "
                  f"guards: error rate ≤ {GUARDS['max_error_rate']:g}, p95 ≤ {GUARDS['max_p95_ms']:g} ms, ≥ "
                  f"{GUARDS['min_requests']} requests per step, and quality: its live {q['metric']} from the labels "
                  f"pushed for the traffic no worse than the champion's by more than {q['margin']:g} (≥ "
                  f"{q['min_labels']} labeled predictions each); promotion moves stage production and alias "
                  "champion to it")
    records, labels = records_of(0)
    service = Service(client, records, labels).start()
    looped = None
    try:
        served = serve_and_canary(client, registered["version"], service, console)
        _canary_outcome(served)
        if loop:
            era = prepare(client)
            lq = LOOP_QUALITY
            console.print(f"\n[bold]closed loop[/]: monitor [bold]churn-drift[/] compares the last 300 requests with "
                          "the champion's training data every 2 s; loop [bold]churn-retrain[/]: on drift → pipeline "
                          f"churn-retrain (fresh data, train, evaluate, gate auc ≥ 0.7, register) → canary with "
                          f"{lq['metric']} from labels (margin {lq['margin']:g}) → promote or roll back. Now the "
                          f"market changes: the traffic switches to customers of era {era} (drift)…")
            looped = close_the_loop(client, service, console, era)
            _loop_outcome(client, looped)
    finally:
        service.stop()
    served.log_files, served.log_rows = service.logs()
    console.print(f"{count(served.log_rows, 'inference log')} written ({count(served.log_files, 'Parquet file')}), "
                  f"{count(service.traffic.labeled if service.traffic else 0, 'label')} pushed")
    return served, looped


def _canary_outcome(served: Any) -> None:
    style = "bold green" if served.state == "promoted" else "bold red"
    quality = "".join(f"; {q['metric']} from labels: candidate {q['candidate']:.4f} ({q['candidate_n']} labeled) vs "
                      f"champion {q['champion']:.4f} ({q['champion_n']})" for q in served.quality
                      if q.get("candidate") is not None and q.get("champion") is not None)
    console.print(f"rollout [{style}]{served.state}[/]: {count(served.requests, 'request')} ({count(served.errors, 'error')}) "
                  f"in {served.seconds:.1f}s; champion now churn v{served.champion_now}{quality}"
                  + (f" — {escape(served.reason)}" if served.state != "promoted" and served.reason else ""))


def _loop_outcome(client: Any, looped: Any) -> None:
    from mainsail.loops.cli import STATE_STYLE

    run = looped.run
    if run is None:
        console.print("[bold red]no drift detected in time[/]: mainsail monitors show churn")
        return
    if run.state == "running":
        d = client.get_deployment("churn")
        if d.rollout is not None and d.rollout.state == "running":
            client.rollback_deployment("churn", reason="quickstart: the loop did not finish in time")
        console.print(f"[bold yellow]loop run {run.id[:12]} still running[/] at the quickstart's timeout")
        return
    inj = looped.injected_at
    marks: dict[str, float] = {}
    for s in run.steps:
        marks.setdefault(s.step, s.at.timestamp() - inj)
    shown = "  ".join(f"{k} +{v:.1f}s" for k, v in marks.items() if k in (
        "detected", "retrain_started", "retrain_finished", "gate_passed", "registered", "canary_started", "promoted",
        "rolled_back", "failed"))
    console.print(f"loop run {run.id[:12]} [{STATE_STYLE.get(run.state, '')}]{run.state}[/] "
                  f"{looped.seconds:.1f}s after the first drifted request: {escape(run.reason or '')}")
    console.print(f"since the first drifted request: {shown}"
                  + (f"; {run.suppressed} more detections while it ran were counted, not acted on"
                     if run.suppressed else ""))


@handle_errors
def quickstart(
    rows: int = typer.Option(5000, help="Customers to generate."),
    experiment: str = typer.Option("churn-quickstart", help="Experiment to track the runs in."),
    serve: bool = typer.Option(True, "--serve/--skip-serving", help="Deploy the champion, send traffic with labels "
                               "and canary the best model against the champion (skip for a shorter run)."),
    loop: bool = typer.Option(True, "--loop/--skip-loop", help="Then inject drift into the live traffic and watch "
                              "the loop close: detection, retrain, gate, canary, promotion or rollback (needs "
                              "serving; skip for a shorter run)."),
) -> None:
    """Run the whole loop on generated churn data as pipeline churn-quickstart: ingest, validate, build
    features (point-in-time join) and materialize them, train and track three models, evaluate, gate and
    register the best; then deploy the champion, send labeled traffic, canary the best with a quality guard
    and close the loop: drift injected, detected, retrained, gated, canaried, promoted or rolled back."""
    import mainsail
    from mainsail.cli import common
    from mainsail.core.errors import MainsailError
    from mainsail.quickstart.features import SERVICE, VIEW
    from mainsail.quickstart.pipeline import PIPELINE, definition, outputs

    if common._uri:
        mainsail.set_tracking_uri(common._uri)
    client = mainsail.get_client()
    started = time.perf_counter()
    console.print(f"[bold]Mainsail quickstart[/]  metadata: {client.uri}")
    applied = client.apply_pipeline(definition(experiment))
    console.print(f"pipeline [bold]{PIPELINE}[/] v{applied.version} "
                  f"({'new version' if applied.created else 'unchanged'}, {len(applied.spec.tasks)} tasks)")
    run = _run_pipeline(client, PIPELINE, {"rows": rows, "experiment": experiment, "canary": serve})
    if run.status != "succeeded":
        failed = next((t for t in run.tasks if t.status == "failed"), None)
        if failed is not None:
            try:
                log = client.pipeline_task_log(run.id, failed.name).strip().splitlines()
            except MainsailError:  # no log stored
                log = []
            shown = [line for line in log[:-4] if "FAIL" in line][:10] + log[-4:]  # failed checks, the error
            err_console.print(escape("\n".join(shown)))
        err_console.print(f"[bold red]run {run.id} {run.status}[/]: {escape(run.error or '')}  (log: mainsail "
                          f"pipelines logs {run.id[:12]} {failed.name if failed else 'TASK'})")
        raise typer.Exit(1)
    took = (run.finished_at - run.started_at).total_seconds() if run.finished_at and run.started_at else 0.0
    out = outputs(run)
    data, training, best = out["ingest"]["dataset_version"], out["features"]["dataset_version"], out["select"]
    registered = out["register"]
    console.print(f"[green]run {run.id} succeeded[/]: {len(run.tasks)} tasks in {took:.1f}s")
    console.print(f"data: dataset [bold]{data}[/] ({count(out['ingest']['rows'], 'row')}, churn rate "
                  f"{out['generate']['churn_rate']:.1%}), profiled; {out['validate']['checks']}/"
                  f"{out['validate']['checks']} checks passed (suite churn-quickstart)")
    mat = out["materialize"]["views"][0] if out["materialize"].get("views") else {"rows": 0}
    console.print(f"features: entity [bold]customer[/], view [bold]{VIEW.name}[/] ({count(len(VIEW.features), 'feature')}) "
                  f"over dataset churn; point-in-time join → training set [bold]{training}[/]; "
                  + (f"{count(mat['rows'], 'customer')} materialized online" if mat["rows"] else
                     "online store already up to date"))
    console.print(_models_table(out, best["run_id"]))
    ev = out["evaluate"]["metrics"]
    console.print(f"evaluated [bold]{best['model']}[/] on {out['evaluate']['rows']:,} held-out rows: "
                  f"roc_auc {ev['roc_auc']:.4f}, accuracy {ev['accuracy']:.4f} → quality gate passed")
    champion = client.load_model("models:/churn@champion")
    sample = client.load_dataset(training, limit=3)
    predicted = [int(p) for p in champion.predict(sample)]
    auc = f"auc {registered['auc']:.4f}"
    if registered["stage"] == "production":
        console.print(f"registered [bold]churn v{registered['version']}[/] (run {best['run_id'][:12]}, {auc}, "
                      f"lineage: {data}, {training}, view {VIEW.name}), stage [bold green]production[/], alias champion")
    elif registered["candidate"]:
        console.print(f"registered [bold]churn v{registered['version']}[/] (run {best['run_id'][:12]}, {auc}, "
                      f"lineage: {data}, {training}, view {VIEW.name}), stage [bold yellow]staging[/]: the candidate "
                      f"to canary against champion v{registered['champion']} (auc {registered['champion_auc']:.4f})")
    else:
        console.print(f"registered [bold]churn v{registered['version']}[/] ({auc}), not promoted: champion "
                      f"v{registered['champion']} scores better (auc {registered['champion_auc']:.4f})")
    console.print(f"models:/churn@champion (v{registered['champion']}) predicts churned={escape(str(predicted))} "
                  f"for customers {escape(str(sample['customer_id'].tolist()))}")

    served = looped = None
    if serve and registered["candidate"]:
        served, looped = _serve(client, registered, best, auc, loop)

    online = client.get_online_features([{"customer_id": "C000042"}], service=SERVICE.name).rows()[0]
    table = Table("feature", "value", title="online features of C000042",
                  caption=f"service {SERVICE.name}")
    for k, v in online.items():
        table.add_row(k, "—" if v is None else f"{v:g}" if isinstance(v, float) else str(v))
    console.print(table)
    console.print(f"best: [bold]{best['model']}[/] (run {best['run_id']}); pipeline run {run.id}")
    if served is not None:
        console.print(f"deployment: churn, rollout of v{served.candidate} {served.state}, "
                      f"{served.log_rows:,} inference logs")
    if looped is not None:
        took = f" in {looped.seconds:.1f}s from the first drifted request" if looped.seconds is not None else ""
        console.print(f"closed loop: {looped.state}{took} (mainsail loops show {LOOP_POLICY})")
    console.print(f"done in {time.perf_counter() - started:.1f}s\n"
                  "next: [cyan]mainsail pipelines runs[/]   [cyan]mainsail pipelines status "
                  f"{run.id[:12]}[/]   [cyan]mainsail data versions churn[/]   [cyan]mainsail features list[/]   "
                  "[cyan]mainsail features get customer_id=C000042 -s churn-features[/]   "
                  "[cyan]mainsail deployments show churn --history[/]   [cyan]mainsail models show churn[/]   "
                  f"[cyan]mainsail models lineage churn {registered['version']}[/]   "
                  f"[cyan]mainsail runs list -e {experiment} -o 'metrics.auc DESC'[/]"
                  + ("   [cyan]mainsail monitors show churn[/]   [cyan]mainsail loops list[/]" if looped else ""))
