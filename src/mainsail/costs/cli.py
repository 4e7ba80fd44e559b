"""``mainsail costs …`` (reports, recommendations, prices, budgets, usage, retention, storage) and
``mainsail gc``."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, get_args

import typer
from rich.table import Table

from mainsail.cli.common import client, console, handle_errors, print_json
from mainsail.costs.schemas import Period, ReportBy, UsageKind

costs_app = typer.Typer(help="Costs: usage, price sheets, reports, budgets, recommendations, retention.",
                        no_args_is_help=True)
budgets_app = typer.Typer(help="Budgets per project; their thresholds raise alerts.", no_args_is_help=True)
costs_app.add_typer(budgets_app, name="budgets")
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|d|w)\s*$")
UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def when(text: str | None, option: str) -> dt.datetime | None:
    """``7d``, ``12h``, ``30m``, ``2w`` (ago) or an ISO date/time (UTC unless it says otherwise)."""
    if text is None:
        return None
    if m := DURATION.match(text):
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=float(m.group(1)) * UNITS[m.group(2)])
    try:
        t = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected a duration such as 7d, 12h, 30m or an ISO date",
                                 param_hint=option) from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def choice(value: str | None, allowed: tuple[str, ...], option: str) -> str | None:
    """``value`` when it is one of ``allowed`` (or None); else a usage error naming ``option``."""
    if value is not None and value not in allowed:
        raise typer.BadParameter(f"{value!r}: expected one of {', '.join(allowed)}", param_hint=option)
    return value


def money(v: float, currency: str) -> str:
    if 0 < v < 0.0001:  # a few seconds of a task: not shown as nothing
        return f"{v:.2g} {currency}"
    return f"{v:,.4f} {currency}" if v < 100 else f"{v:,.2f} {currency}"


def amount(v: float) -> str:
    return f"{v:.2g}" if 0 < v < 0.01 else f"{v:,.2f}"


@costs_app.command("report")
@handle_errors
def report(by: str = typer.Option("project", "--by", help="project, team, model, deployment, pipeline, run, task "
                                  "or kind."),
           since: str = typer.Option(None, help="Start: 7d, 12h or an ISO date (default: 30 days ago)."),
           until: str = typer.Option(None, help="End: a duration ago or an ISO date (default: now)."),
           all_projects: bool = typer.Option(False, "--all-projects", help="Every project (admins)."),
           storage: bool = typer.Option(False, "--storage", help="Add what the artifact store holds "
                                        "(project and team reports)."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Cost over a period, grouped by project, team, model, deployment, pipeline, run, task or kind."""
    choice(by, get_args(ReportBy), "--by")
    rep = client().cost_report(by, when(since, "--since"), when(until, "--until"), all_projects=all_projects,
                               storage=storage)
    if as_json:
        print_json(rep)
        return
    t = Table(by, "records", "core-h", "GiB-h", "GPU-h", "requests", "cost",
              title=f"cost by {by}, {rep.since:%Y-%m-%d %H:%M} → {rep.until:%Y-%m-%d %H:%M} UTC")
    for ln in rep.lines:
        t.add_row(ln.key or "-", f"{ln.records:,}", amount(ln.cpu_hours), amount(ln.memory_gb_hours),
                  amount(ln.gpu_hours), f"{ln.requests:,}", money(ln.cost, rep.currency))
    console.print(t)
    if not rep.lines:
        console.print("no usage recorded in this period (pipeline tasks, tracked runs and serving replicas record "
                      "it; see `mainsail costs usage`)")
    console.print(f"total: [bold]{money(rep.total, rep.currency)}[/]")


@costs_app.command("recommend")
@handle_errors
def recommend(days: float = typer.Option(30, help="Days of measured usage to read."),
              as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Recommendations from measured usage, with their evidence and estimated monthly saving."""
    recs = client().cost_recommendations(days)
    if as_json:
        print_json(recs)
        return
    if not recs:
        console.print("no recommendations: nothing measured looks over-provisioned")
        return
    t = Table("kind", "target", "saving / month", "recommendation", title=f"{len(recs)} recommendations")
    for r in recs:
        t.add_row(r.kind, r.target, money(r.estimated_saving, r.currency), r.summary)
    console.print(t)


@costs_app.command("prices")
@handle_errors
def prices(cpu_hour: float = typer.Option(None, help="Per core-hour."),
           memory_gb_hour: float = typer.Option(None, help="Per GiB-hour of memory."),
           gpu_hour: float = typer.Option(None, help="Per GPU-hour."),
           storage_gb_month: float = typer.Option(None, help="Per GiB-month stored."),
           spot_discount: float = typer.Option(None, help="Share saved on spot capacity (0-1)."),
           task_cpus: float = typer.Option(None, help="Cores a pipeline task reserves."),
           task_memory_gb: float = typer.Option(None, help="GiB a pipeline task reserves."),
           team: str = typer.Option(None, help="The team the project's costs go to."),
           currency: str = typer.Option(None, help="Currency label."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the project's price sheet; with options, change those prices (admins)."""
    c = client()
    changes = {k: v for k, v in {"cpu_hour": cpu_hour, "memory_gb_hour": memory_gb_hour, "gpu_hour": gpu_hour,
                                 "storage_gb_month": storage_gb_month, "spot_discount": spot_discount,
                                 "task_cpus": task_cpus, "task_memory_gb": task_memory_gb, "team": team,
                                 "currency": currency}.items() if v is not None}
    sheet = c.get_prices()
    if changes:
        keep = sheet.model_dump(exclude={"project", "default", "updated_by", "updated_at"})
        sheet = c.set_prices(**{**keep, **changes})
    if as_json:
        print_json(sheet)
        return
    t = Table("price", "value", title=f"prices of project {sheet.project}{' (defaults)' if sheet.default else ''}")
    for k, v in sheet.model_dump(exclude={"project", "default", "updated_by", "updated_at"}).items():
        t.add_row(k, "-" if v is None else str(v))
    console.print(t)


@costs_app.command("usage")
@handle_errors
def usage(kind: str = typer.Option(None, help="task, run or replica."),
          limit: int = typer.Option(20, help="How many records."),
          as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The newest measured usage records (with what each reserved: cores and GiB, spot)."""
    choice(kind, get_args(UsageKind), "--kind")
    rows = client().list_usage(kind, limit=limit)
    if as_json:
        print_json(rows)
        return
    t = Table("kind", "what", "ended", "wall s", "CPU s", "peak MiB", "requests", "reserved",
              title=f"{len(rows)} usage records")
    for r in rows:
        what = {"task": f"{r.pipeline}/{r.task}", "run": r.run_id, "replica": f"{r.deployment} {r.replica}"}[r.kind]
        reserved = " ".join(x for x in (f"{r.cpu_request:g} cpu" if r.cpu_request else "",
                                        f"{r.memory_request / 2**30:g} GiB" if r.memory_request else "",
                                        f"{r.gpu_request:g} gpu" if r.gpu_request else "",
                                        "spot" if r.spot else "") if x)
        t.add_row(r.kind, what or "-", f"{r.ended_at:%Y-%m-%d %H:%M:%S}", f"{r.wall_seconds:,.2f}",
                  f"{r.cpu_seconds:,.2f}", f"{r.peak_memory / 2**20:,.0f}", f"{r.requests:,}", reserved or "-")
    console.print(t)


@costs_app.command("retention")
@handle_errors
def retention(runs_days: float = typer.Option(None, "--runs-days",
                                              help="Delete runs ended this many days ago (0: keep them)."),
              inference_logs_days: float = typer.Option(None, "--inference-logs-days",
                                                        help="Drop inference logs older than this many days "
                                                        "(0: keep them)."),
              clear: bool = typer.Option(False, "--clear", help="Keep everything (remove both rules)."),
              as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the project's retention rules; with options, change them (admins). `mainsail gc` applies them."""
    c = client()
    for v, option in ((runs_days, "--runs-days"), (inference_logs_days, "--inference-logs-days")):
        if v is not None and not (0 <= v <= 365_000):
            raise typer.BadParameter(f"{v:g}: expected a number of days, 0 (keep) or more", param_hint=option)
    if clear or runs_days is not None or inference_logs_days is not None:
        now = c.get_retention()
        rules = c.set_retention(None if clear else (now.runs_days if runs_days is None else runs_days or None),
                                None if clear else (now.inference_logs_days if inference_logs_days is None
                                                    else inference_logs_days or None))
    else:
        rules = c.get_retention()
    if as_json:
        print_json(rules)
        return
    def days(v: float | None) -> str:
        return "kept" if v is None else f"{v:g} days"
    console.print(f"project {rules.project}: runs {days(rules.runs_days)}, "
                  f"inference logs {days(rules.inference_logs_days)}")


@costs_app.command("storage")
@handle_errors
def storage(limit: int = typer.Option(20, help="How many objects."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Bytes stored in the artifact store per object, the biggest first."""
    rep = client().storage_report(limit)
    if as_json:
        print_json(rep)
        return
    t = Table("kind", "id", "MiB", "blobs", "per month",
              title=f"{rep.total_bytes / 2**20:,.1f} MiB stored, {rep.unreferenced_bytes / 2**20:,.1f} MiB unreferenced")
    for o in rep.objects:
        t.add_row(o.kind, o.id, f"{o.bytes / 2**20:,.2f}", str(o.blobs), money(o.monthly_cost, rep.currency))
    console.print(t)


def _budget_row(t: Table, b: Any) -> None:
    t.add_row(b.name, f"{b.amount:,.2f}", b.period, ", ".join(f"{x:.0%}" for x in b.thresholds),
              "-" if b.spent is None else f"{b.spent:,.4f}", b.rule)


@budgets_app.command("list")
@handle_errors
def budgets_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The project's budgets."""
    items = client().list_budgets()
    if as_json:
        print_json(items)
        return
    t = Table("name", "amount", "period", "thresholds", "spent", "alert rule", title=f"{len(items)} budgets")
    for b in items:
        _budget_row(t, b)
    console.print(t)


@budgets_app.command("create")
@handle_errors
def budgets_create(name: str = typer.Argument(..., help="Budget name."),
                   amount: float = typer.Option(..., help="Limit per period."),
                   period: str = typer.Option("month", help="day, week or month."),
                   threshold: list[float] = typer.Option(None, "--threshold", help="Fraction that alerts "
                                                         "(repeat; default 0.8 and 1.0)."),
                   severity: str = typer.Option("warning", help="info, warning or critical."),
                   channel: list[str] = typer.Option(None, "--channel", help="Alert channel (repeat; default: all)."),
                   as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Create a budget (and the alert rule its thresholds fire through)."""
    choice(period, get_args(Period), "--period")
    b = client().create_budget(name, amount, period=period, thresholds=threshold or None, severity=severity,
                               channels=channel or None)
    if as_json:
        print_json(b)
        return
    console.print(f"budget [bold]{b.name}[/]: {b.amount:,.2f} per {b.period}, alerts through rule {b.rule}")


@budgets_app.command("delete")
@handle_errors
def budgets_delete(name: str = typer.Argument(..., help="Budget name.")) -> None:
    """Delete a budget and its alert rule (admins)."""
    client().delete_budget(name)
    console.print(f"budget {name} deleted")


@budgets_app.command("check")
@handle_errors
def budgets_check(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Compare each budget with its period's cost so far and raise the alerts of thresholds reached."""
    items = client().check_budgets()
    if as_json:
        print_json(items)
        return
    for s in items:
        fired = f", [red]{len(s.alerts_fired)} alerts fired[/]" if s.alerts_fired else ""
        console.print(f"{s.budget}: {s.spent:,.4f} of {s.amount:,.2f} ({s.fraction:.0%}) since "
                      f"{s.period_start:%Y-%m-%d}{fired}")


@handle_errors
def gc(dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; list what would be deleted."),
       grace: str = typer.Option("24h", help="Keep unreferenced blobs younger than this (e.g. 24h, 7d, 0h)."),
       no_retention: bool = typer.Option(False, "--no-retention", help="Do not apply the retention rules."),
       all_projects: bool = typer.Option(False, "--all-projects",
                                         help="Every project's rules and deleted runs (an admin of every project)."),
       as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Delete artifacts of deleted runs and blobs no object references, after a grace period (and apply the retention rules first)."""
    m = DURATION.match(grace)
    if not m:
        raise typer.BadParameter(f"{grace!r}: expected a duration such as 24h, 7d or 0h", param_hint="--grace")
    c = client()
    rep = c.gc(dry_run=dry_run, grace_hours=float(m.group(1)) * UNITS[m.group(2)] / 3600,
                      retention=not no_retention, all_projects=all_projects)
    if as_json:
        print_json(rep)
        return
    verb = "would delete" if dry_run else "deleted"
    where = "all projects" if rep.all_projects else f"project {c.project}"
    console.print(f"gc in {where}: {rep.blobs_scanned:,} blobs, {rep.referenced:,} referenced; {verb} "
                  f"{len(rep.deleted):,} "
                  f"({rep.deleted_bytes / 2**20:,.2f} MiB; {rep.of_deleted_runs} of deleted runs); "
                  f"{rep.kept_in_grace} unreferenced kept within the grace period"
                  + (f"; {rep.kept_other_projects} kept for other projects' gc" if rep.kept_other_projects else ""))
    if rep.runs_deleted or rep.inference_logs_dropped:
        console.print(f"retention: {len(rep.runs_deleted)} runs {'to delete' if dry_run else 'deleted'}, "
                      f"{rep.inference_logs_dropped} inference log files {'to drop' if dry_run else 'dropped'}")
