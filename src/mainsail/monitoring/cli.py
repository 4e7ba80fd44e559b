"""``mainsail monitors …``: drift and data-quality monitors from the terminal."""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer
from rich.table import Table

from mainsail.cli.common import client, console, count, fmt_num, handle_errors, print_json

monitors_app = typer.Typer(help="Monitors: drift and data quality of deployments and datasets, over time.",
                           no_args_is_help=True)
STATUS_STYLE = {"ok": "green", "drift": "bold red", "breach": "bold red", "insufficient_data": "dim"}
BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None]) -> str:
    """One character per value, scaled between the series' min and max (``·`` for no value)."""
    real = [v for v in values if v is not None]
    if not real:
        return "·" * len(values)
    lo, hi = min(real), max(real)
    span = hi - lo or 1.0
    return "".join("·" if v is None else BARS[min(len(BARS) - 1, int((v - lo) / span * (len(BARS) - 1) + 0.5))]
                   for v in values)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise typer.BadParameter(f"{what} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _time(text: str | None, what: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{what} {text!r}: expected an ISO time, e.g. 2026-12-03T10:00") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


@monitors_app.command("create")
@handle_errors
def create(name: str,
           deployment: str = typer.Option(None, "--deployment", "-d", help="Watch this deployment's inference logs."),
           dataset: str = typer.Option(None, "--dataset", help="Watch this dataset's new versions."),
           reference: str = typer.Option(None, help="NAME@VERSION (default: the training data in the model's "
                                                    "lineage; for a dataset, its previous version)."),
           every: str = typer.Option("1h", help="Window: fixed time buckets, e.g. 15m, 1h, 1d."),
           rows: int = typer.Option(None, help="Window: the last N rows instead of time buckets."),
           schedule: str = typer.Option(None, help="Cron expression (UTC); none: run on demand."),
           feature: list[str] = typer.Option(None, "--feature", "-f", help="Feature to watch (repeatable; "
                                                                          "default: the model's inputs)."),
           target: str = typer.Option(None, help="The reference's label column (prediction drift)."),
           test: list[str] = typer.Option(None, "--test", help="COLUMN=TEST, e.g. charges=psi (repeatable)."),
           threshold: list[str] = typer.Option(None, "--threshold", help="COLUMN_OR_TEST=VALUE (repeatable)."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Create a monitor of a deployment (or a dataset) against a reference."""
    try:
        thresholds = {k: float(v) for k, v in _pairs(threshold, "--threshold").items()}
    except ValueError:
        raise typer.BadParameter("--threshold values must be numbers") from None
    drift: dict[str, Any] = {"tests": _pairs(test, "--test"), "thresholds": thresholds}
    m = client().create_monitor(name, deployment=deployment, dataset=dataset, reference=reference, every=every,
                                rows=rows, schedule=schedule, features=feature or None, target=target, drift=drift)
    if as_json:
        print_json(m)
        return
    what = f"deployment {m.deployment}" if m.deployment else f"dataset {m.dataset}"
    window = f"last {m.window.rows} rows" if m.window.rows else f"every {m.window.every}"
    console.print(f"monitor [bold]{m.name}[/] watches {what} ({window}, reference {m.reference.kind}"  # type: ignore[union-attr]
                  f"{', ' + m.reference.dataset if m.reference and m.reference.dataset else ''}), "
                  f"{'schedule ' + m.schedule if m.schedule else 'on demand'}")


@monitors_app.command("list")
@handle_errors
def list_(deployment: str = typer.Option(None, "--deployment", "-d", help="Only this deployment's monitors."),
          as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List monitors."""
    items = list(client().iter_monitors(deployment=deployment))
    if as_json:
        print_json(items)
        return
    table = Table("name", "watches", "window", "reference", "schedule", "last window", title=count(len(items), "monitor"))
    for m in items:
        table.add_row(m.name, f"deployment {m.deployment}" if m.deployment else f"dataset {m.dataset}",
                      f"{m.window.rows} rows" if m.window.rows else m.window.every or "—",
                      (m.reference.dataset or m.reference.kind) if m.reference else "—", m.schedule or "on demand",
                      m.last_window_end.astimezone().strftime("%Y-%m-%d %H:%M") if m.last_window_end else "—")
    console.print(table)


def _status(s: str) -> str:
    return f"[{STATUS_STYLE.get(s, '')}]{s}[/]"


@monitors_app.command("run")
@handle_errors
def run(name: str, start: str = typer.Option(None, help="ISO time: first window (default: after the last one)."),
        end: str = typer.Option(None, help="ISO time: last window's end (default: now)."),
        version: str = typer.Option(None, help="Dataset monitors: the version to check."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Run a monitor now over its complete windows."""
    r = client().run_monitor(name, start=_time(start, "--start"), end=_time(end, "--end"), version=version)
    if as_json:
        print_json(r)
        return
    console.print(f"run {r.id[:12]}: {count(r.windows, 'window')}, {r.rows:,} rows, {count(r.results, 'result')}, "
                  f"{r.drifted_windows} with drift, {r.seconds:.2f} s")
    if not r.items:
        return
    last = max(i.window_end for i in r.items)
    table = Table("kind", "feature", "test", "value", "threshold", "status",
                  title=f"window ending {last.astimezone().strftime('%Y-%m-%d %H:%M')}")
    for i in r.items:
        if i.window_end == last and not i.variant:
            table.add_row(i.kind, i.feature or "—", i.test or "—", fmt_num(i.value), fmt_num(i.threshold),
                          _status(i.status))
    console.print(table)


@monitors_app.command("show")
@handle_errors
def show(name: str = typer.Argument(..., help="A monitor, or a deployment (its monitor)."),
         last: int = typer.Option(24, min=1, max=1000, help="Windows to draw."),
         kind: str = typer.Option(None, help="Only this kind: drift, multivariate_drift, quality, …"),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """A monitor with its recent series drawn as sparklines (one line per feature and test), its runs and
    the closed loop's latest episodes on its deployment."""
    from mainsail.core.errors import NotFound

    c = client()
    try:
        m = c.get_monitor(name)
    except NotFound:  # a deployment's name: its (first) monitor
        watching = c.list_monitors(deployment=name, limit=1).items
        if not watching:
            raise
        m = watching[0]
    name = m.name
    results = c.monitor_results(name, kind=kind)
    runs = c.list_monitor_runs(name, limit=5).items
    loops = c.list_loop_runs(deployment=m.deployment, limit=5).items if m.deployment else []
    if as_json:
        print_json({"monitor": m, "results": results, "runs": runs, "loop_runs": loops})
        return
    what = f"deployment {m.deployment}" if m.deployment else f"dataset {m.dataset}"
    console.print(f"[bold]{m.name}[/] — {what}, {'schedule ' + m.schedule if m.schedule else 'on demand'}")
    windows = sorted({(r.window_start, r.window_end) for r in results})[-last:]
    index = {w: i for i, w in enumerate(windows)}
    series: dict[tuple[str, str, str, str], list[Any]] = {}
    for r in results:
        i = index.get((r.window_start, r.window_end))
        if i is None:
            continue
        key = (r.kind, r.feature or "—", r.test or "", r.variant or "")
        series.setdefault(key, [None] * len(windows))[i] = r
    if not windows:
        console.print("no results yet: run it with [bold]mainsail monitors run " + name + "[/]")
    else:
        _series(series, windows)
    if runs:
        rt = Table("run", "trigger", "status", "windows", "rows", "drift", "seconds", "finished", title="recent runs")
        for r in runs:
            rt.add_row(r.id[:12], r.trigger, _status("ok" if r.status == "succeeded" else "breach") if r.error
                       else r.status, str(r.windows), f"{r.rows:,}", str(r.drifted_windows), f"{r.seconds:.2f}",
                       r.finished_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"))
        console.print(rt)
    if loops:  # the closed loop on this deployment: its latest episode step by step
        from mainsail.loops.cli import runs_table, steps_table

        console.print(runs_table(loops, f"loop runs of deployment {m.deployment}"))
        console.print(steps_table(loops[0]))


def _series(series: dict[tuple[str, str, str, str], list[Any]], windows: list[Any]) -> None:
    span = (f"{windows[0][0].astimezone().strftime('%m-%d %H:%M')} → "
            f"{windows[-1][1].astimezone().strftime('%m-%d %H:%M')}")
    table = Table("kind", "feature", "test", f"series ({len(windows)} windows, {span})", "last", "threshold", "status",
                  title="results")
    for (k, feature, test, variant), rs in sorted(series.items()):
        latest = next((r for r in reversed(rs) if r is not None), None)
        if latest is None:
            continue
        # a drift test on a p-value drifts when small: draw 1 - p so up always means worse
        pv = test in ("ks", "chi2", "z")
        values = [None if r is None or r.value is None else (1 - r.value if pv else r.value) for r in rs]
        table.add_row(k, feature + (f" [{variant}]" if variant else ""), test or "—", sparkline(values),
                      fmt_num(latest.value), fmt_num(latest.threshold), _status(latest.status))
    console.print(table)
