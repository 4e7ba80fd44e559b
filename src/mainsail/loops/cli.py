"""``mainsail loops …``: closed-loop policies and their episodes from the terminal."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from mainsail.cli.common import client, console, handle_errors, print_json

loops_app = typer.Typer(help="Closed loops: drift or an alert → retrain → gate → canary → promote or roll back.",
                        no_args_is_help=True)
STATE_STYLE = {"running": "bold yellow", "promoted": "bold green", "rolled_back": "bold red", "failed": "bold red"}
OUTCOME_STYLE = {"ok": "green", "failed": "red", "info": "cyan"}


def _clock(t: dt.datetime | None) -> str:
    return "—" if t is None else t.astimezone().strftime("%H:%M:%S")


def steps_table(run: Any, title: str | None = None, origin: dt.datetime | None = None) -> Table:
    """An episode's steps: the time of each, seconds since ``origin`` (default: the detection), outcome
    and what happened."""
    origin = origin or run.detected_at
    table = Table("time", "+s", "step", "detail", title=title or (
        f"loop {run.policy} · run {run.id[:12]} · {run.deployment} · "
        f"[{STATE_STYLE.get(run.state, '')}]{run.state}[/]"), title_justify="left")
    for s in run.steps:
        table.add_row(_clock(s.at), f"{(s.at - origin).total_seconds():.1f}",
                      f"[{OUTCOME_STYLE.get(s.outcome, '')}]{s.step}[/]", escape(s.detail))
    return table


def runs_table(runs: list[Any], title: str = "loop runs") -> Table:
    table = Table("run", "policy", "deployment", "state", "candidate", "detected", "seconds", "suppressed", "reason",
                  title=title, title_justify="left")
    for r in runs:
        table.add_row(r.id[:12], r.policy, r.deployment, f"[{STATE_STYLE.get(r.state, '')}]{r.state}[/]",
                      r.candidate or "—", r.detected_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                      "—" if r.seconds is None else f"{r.seconds:.1f}", str(r.suppressed), escape(r.reason or ""))
    return table


@loops_app.command("create")
@handle_errors
def create(name: str,
           deployment: str = typer.Option(..., "--deployment", "-d", help="The deployment the loop keeps fresh."),
           pipeline: str = typer.Option(..., "--pipeline", "-p", help="The pipeline that retrains and registers."),
           alert_rule: str = typer.Option(None, "--alert-rule", help="Start on this rule's alerts instead of drift."),
           param: list[str] = typer.Option(None, "--param", help="KEY=VALUE (JSON value) for the retrain run."),
           candidate_task: str = typer.Option(None, help="Task whose output names the registered version."),
           gate: list[str] = typer.Option(None, "--gate", help="METRIC=RULE on the candidate, e.g. auc='>= 0.7'."),
           metric: str = typer.Option("roc_auc", help="Quality guard metric (accuracy, f1, roc_auc, rmse, …)."),
           source: str = typer.Option("labels", help="labels, or estimated (CBPE, classifiers)."),
           margin: float = typer.Option(0.0, help="How much worse than the champion the candidate may be."),
           min_labels: int = typer.Option(20, help="Labeled predictions each variant needs before judging."),
           steps: str = typer.Option("10,50,100", help="Canary traffic steps in %."),
           step_seconds: float = typer.Option(60.0, help="Seconds each step lasts at least."),
           cooldown: float = typer.Option(600.0, help="Seconds after an episode during which detections wait."),
           replace: bool = typer.Option(False, "--replace", help="Update the policy if it exists."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Create a loop policy: on drift (or an alert) for a deployment, retrain, gate, canary, promote."""
    params: dict[str, Any] = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--param {item!r}: expected KEY=VALUE")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    gates = {}
    for item in gate or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--gate {item!r}: expected METRIC=RULE, e.g. auc='>= 0.7'")
        gates[key] = value
    try:
        pcts = [float(s) for s in steps.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"--steps {steps!r}: expected numbers like 10,50,100") from None
    p = client().create_loop(name, deployment=deployment, pipeline=pipeline, trigger="alert" if alert_rule else "drift",
                             alert_rule=alert_rule, params=params, candidate_task=candidate_task, gate=gates,
                             metric=metric, source=source, margin=margin, min_labels=min_labels, steps=pcts,
                             step_seconds=step_seconds, cooldown=cooldown, replace=replace)
    if as_json:
        print_json(p)
        return
    on = f"alerts of rule {p.alert_rule}" if p.trigger == "alert" else "drift detected"
    console.print(f"loop [bold]{p.name}[/]: on {on} for deployment [bold]{p.deployment}[/] → pipeline "
                  f"[bold]{p.pipeline}[/] → gate → canary ({metric} from {source}, margin {margin:g}) → promote "
                  f"or roll back; cooldown {p.cooldown_seconds:g} s")


@loops_app.command("list")
@handle_errors
def list_(deployment: str = typer.Option(None, "--deployment", "-d", help="Only this deployment's loops."),
          as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Loop policies with their latest episode."""
    c = client()
    policies = c.list_loops(deployment=deployment)
    latest = {p.name: next(iter(c.list_loop_runs(p.name, limit=1).items), None) for p in policies}
    if as_json:
        print_json([{"policy": p, "latest_run": latest[p.name]} for p in policies])
        return
    if not policies:
        console.print("no loop policies yet: [bold]mainsail loops create NAME -d DEPLOYMENT -p PIPELINE[/]")
        return
    table = Table("name", "deployment", "trigger", "pipeline", "quality guard", "cooldown", "latest run", "state",
                  title="loop policies", title_justify="left")
    for p in policies:
        q = p.canary.guards.quality[0]
        r = latest[p.name]
        table.add_row(p.name, p.deployment, f"alert {p.alert_rule}" if p.trigger == "alert" else "drift", p.pipeline,
                      f"{q.metric} ({q.source}) margin {q.margin:g}", f"{p.cooldown_seconds:g} s",
                      r.id[:12] if r else "—",
                      f"[{STATE_STYLE.get(r.state, '')}]{r.state}[/]" if r else ("disabled" if not p.enabled else "idle"))
    console.print(table)


@loops_app.command("runs")
@handle_errors
def runs(policy: str = typer.Argument(None, help="Only this policy's runs."),
         deployment: str = typer.Option(None, "--deployment", "-d", help="Only this deployment's runs."),
         limit: int = typer.Option(20, min=1, max=1000),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Loop runs (episodes), newest first."""
    items = client().list_loop_runs(policy, deployment=deployment, limit=limit).items
    if as_json:
        print_json(items)
        return
    console.print(runs_table(items))


@loops_app.command("show")
@handle_errors
def show(what: str = typer.Argument(..., help="A loop run id (or prefix), or a policy name (its latest run)."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """One episode step by step: detection, retrain, gate, registration, canary steps, promotion or rollback."""
    from mainsail.core.errors import NotFound

    c = client()
    names = {p.name for p in c.list_loops()}
    if what in names:
        found = c.list_loop_runs(what, limit=1).items
        if not found:
            raise NotFound(f"loop policy {what!r} has no runs yet", code="no_loop_runs")
        run = found[0]
    else:
        run = c.get_loop_run(what)
    if as_json:
        print_json(run)
        return
    console.print(steps_table(run))
    if run.reason:
        console.print(f"[{STATE_STYLE.get(run.state, '')}]{run.state}[/]: {escape(run.reason)}"
                      + (f" ({run.seconds:.1f} s from detection)" if run.seconds is not None else ""))
    if run.suppressed:
        console.print(f"{run.suppressed} further detection(s) while it ran or cooled down: counted, not acted on")


@loops_app.command("delete")
@handle_errors
def delete(name: str) -> None:
    """Delete a loop policy and its runs' records."""
    client().delete_loop(name)
    console.print(f"deleted loop policy [bold]{name}[/]")
