"""``mainsail experiments …`` and ``mainsail runs …``."""

from __future__ import annotations

import datetime as dt
import re

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from mainsail.cli.common import client, console, count, fmt_num, handle_errors, print_json
from mainsail.tracking.schemas import Run

experiments_app = typer.Typer(help="Experiments: named groups of tracked runs.", no_args_is_help=True)
runs_app = typer.Typer(help="Tracked training runs: search, inspect, compare.", no_args_is_help=True)


def _when(t: dt.datetime | None) -> str:
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S") if t else "—"


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "running"
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


STATUS_STYLE = {"running": "cyan", "finished": "green", "failed": "red", "killed": "yellow"}


def _reason(r: Run) -> str:
    if r.status_reason == "heartbeat_timeout":
        return f" (no heartbeat since {_when(r.last_heartbeat)})"
    return f" ({r.status_reason})" if r.status_reason else ""


@experiments_app.command("list")
@handle_errors
def experiments_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List experiments."""
    exps = list(client().iter_experiments())
    if as_json:
        print_json(exps)
        return
    table = Table("name", "id", "created", "description", title=count(len(exps), "experiment"))
    for e in exps:  # an experiment made through the MLflow API shows the MLflow name it was given
        mlflow_name = e.tags.get("mainsail.mlflow.name")
        table.add_row(f"{e.name} [dim](MLflow: {escape(mlflow_name)})[/]" if mlflow_name else e.name, e.id,
                      _when(e.created_at), e.description or "")
    console.print(table)


@experiments_app.command("create")
@handle_errors
def experiments_create(name: str, description: str = typer.Option(None, help="What it is for.")) -> None:
    """Create an experiment."""
    e = client().create_experiment(name, description)
    console.print(f"created experiment [bold]{e.name}[/] ({e.id})")


@runs_app.command("list")
@handle_errors
def runs_list(
    experiment: list[str] = typer.Option(None, "--experiment", "-e", help="Experiment name (repeatable)."),
    filter: str = typer.Option(None, "--filter", "-f", help="e.g. \"metrics.auc > 0.8 and params.model = 'rf'\""),
    order_by: list[str] = typer.Option(None, "--order-by", "-o", help="e.g. 'metrics.auc DESC' (repeatable)."),
    metric: list[str] = typer.Option(None, "--metric", "-m", help="Metric columns to show (repeatable)."),
    limit: int = typer.Option(50, help="Most runs to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Search runs with a filter expression."""
    c = client()
    ids = [c.get_experiment_by_name(n).id for n in experiment] if experiment else None
    page = c.search_runs(ids, filter, order_by or None, limit=limit)
    if as_json:
        print_json(page.items)
        return
    console.print(runs_table(page.items, metric or _metric_columns(page.items, order_by or [], filter),
                             more=page.next_cursor is not None))


_METRIC_REF = re.compile(r"metrics\.(?:`([^`]+)`|\"([^\"]+)\"|([\w.\-]+))")


def _metric_columns(runs: list[Run], order_by: list[str], filter: str | None = None) -> list[str]:
    """As many metric columns as the terminal fits (up to six): those ordered by, then those the filter
    names, then the rest."""
    named = [next(g for g in m.groups() if g) for m in _METRIC_REF.finditer(" ".join([*order_by, filter or ""]))]
    first = list(dict.fromkeys(named))
    rest = sorted({k for r in runs for k in r.metrics} - set(first))
    return (first + rest)[:max(len(first), 1, min(6, (console.width - 66) // 10))]


def runs_table(runs: list[Run], metrics: list[str], more: bool = False) -> Table:
    table = Table(title=count(len(runs), "run") + (" (more: raise --limit)" if more else ""), box=box.SIMPLE_HEAD,
                  caption="killed* = its process stopped sending heartbeats"
                  if any(r.status_reason == "heartbeat_timeout" for r in runs) else None)
    table.add_column("id", min_width=8, no_wrap=True)
    table.add_column("name", max_width=24, no_wrap=True, overflow="ellipsis")
    table.add_column("status", min_width=8, no_wrap=True)
    table.add_column("started", min_width=11, no_wrap=True)
    table.add_column("took", min_width=5, no_wrap=True, justify="right")
    for m in metrics:
        table.add_column(m, min_width=6, max_width=12, no_wrap=True, overflow="ellipsis", justify="right")
    for r in runs:
        status = f"{r.status}*" if r.status_reason == "heartbeat_timeout" else r.status
        table.add_row(r.id[:8], r.name, f"[{STATUS_STYLE[r.status]}]{status}[/]",
                      r.start_time.astimezone().strftime("%m-%d %H:%M"), _dur(r.duration),
                      *(fmt_num(r.metrics.get(k)) for k in metrics))
    return table


def _resolve(c: object, run_id: str) -> str:
    """Accept a unique prefix of a run id (as printed by ``runs list``)."""
    if len(run_id) >= 32:
        return run_id
    matches = [r.id for r in c.iter_runs(filter=f"run_id LIKE '{run_id}%'")]  # type: ignore[attr-defined]
    return matches[0] if len(matches) == 1 else run_id


@runs_app.command("show")
@handle_errors
def runs_show(run_id: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show one run: status, params, metrics, tags and artifacts."""
    c = client()
    r = c.get_run(_resolve(c, run_id))
    arts = c.list_artifacts(r.id)
    if as_json:
        print_json({**r.model_dump(mode="json"), "artifacts": [a.model_dump(mode="json") for a in arts]})
        return
    console.print(f"[bold]{r.name}[/]  {r.id}\nstatus [{STATUS_STYLE[r.status]}]{r.status}[/]"
                  f"{_reason(r)}  started {_when(r.start_time)}  duration {_dur(r.duration)}  "
                  f"experiment {r.experiment_id}  last heartbeat {_when(r.last_heartbeat)}")
    for title, data in (("params", r.params), ("metrics (latest)", r.metrics), ("tags", r.tags)):
        if data:
            t = Table("key", "value", title=title, title_justify="left")
            for k, v in data.items():
                t.add_row(k, fmt_num(v) if not isinstance(v, str) else v)
            console.print(t)
    if arts:
        t = Table("path", "size", "sha256", title="artifacts", title_justify="left")
        for a in arts:
            t.add_row(a.path, f"{a.size:,}", a.digest[:16])
        console.print(t)


@runs_app.command("compare")
@handle_errors
def runs_compare(run_ids: list[str], as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Compare runs side by side; params that differ between the runs are highlighted."""
    c = client()
    cmp = c.compare_runs([_resolve(c, i) for i in run_ids])
    if as_json:
        print_json(cmp)
        return
    table = Table("", *(f"{r.name}\n{r.id[:12]}" for r in cmp.runs), title="run comparison")
    for k, by_run in cmp.params.items():
        style = "yellow" if k in cmp.differing_params else None
        table.add_row(f"params.{k}", *(by_run.get(r.id) or "—" for r in cmp.runs), style=style)
    for k, by_run in cmp.metrics.items():
        table.add_row(f"metrics.{k}", *(fmt_num(by_run.get(r.id)) for r in cmp.runs))
    console.print(table)
