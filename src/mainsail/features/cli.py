"""``mainsail features …``: apply, list, show, materialize, get, stats."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from mainsail.cli.common import client, console, fmt_num, handle_errors, print_json

features_app = typer.Typer(help="Feature store: definitions, materialization, online reads.", no_args_is_help=True)


def _when(t: Any) -> str:
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S") if t else "—"


@features_app.command("apply")
@handle_errors
def apply(path: str = typer.Argument(..., help="A Python or YAML definitions file, or a folder of them."),
          force: bool = typer.Option(False, "--force", help="Apply even if it breaks a feature service."),
          message: str = typer.Option(None, "--message", "-m", help="Why (recorded with the change)."),
          as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Create or update entities, feature views and services from definitions."""
    result = client().apply_features(path, force=force, message=message)
    if as_json:
        print_json(result)
        return
    colors = {"created": "green", "updated": "yellow", "unchanged": "dim"}
    for ch in result.changes:
        console.print(f"[{colors[ch.action]}]{ch.action}[/] {ch.kind} [bold]{ch.name}[/] (v{ch.version})")
        for reason in ch.breaking:
            console.print(f"  [red]forced[/]: {reason}")


@features_app.command("list")
@handle_errors
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Entities, feature views and services."""
    sets = client().list_feature_sets()
    if as_json:
        print_json(sets)
        return
    ents = Table("entity", "join key", "type", "v", title="entities")
    for d in sets.entities:
        ents.add_row(d.name, d.spec.get("join_key"), d.spec.get("type"), str(d.version))
    views = Table("view", "entities", "features", "source", "ttl", "owner", "v", title="feature views")
    for d in sets.views:
        s = d.spec
        src = s["source"]
        where = src.get("dataset") or src.get("path") or (src.get("query") or "")[:40] or ""
        views.add_row(d.name, ", ".join(s["entities"]), str(len(s["features"])), f"{src['kind']}: {where}".rstrip(": "),
                      f"{s['ttl']}s" if s.get("ttl") else "—", s.get("owner") or "", str(d.version))
    svcs = Table("service", "features", "v", title="feature services")
    for d in sets.services:
        svcs.add_row(d.name, ", ".join(d.spec["features"])[:100], str(d.version))
    for t in (ents, views, svcs):
        console.print(t)


@features_app.command("show")
@handle_errors
def show(name: str = typer.Argument(..., help="A feature view (or, with --kind, an entity or service).")
         , kind: str = typer.Option("views", "--kind", "-k", help="views, entities or services"),
         version: int = typer.Option(None, "--version", "-v", help="A past version."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """A definition, and for a view its freshness, null rates and usage."""
    c = client()
    d = c.get_feature_definition(kind, name, version)
    stats = c.feature_view_stats(name) if kind == "views" else None
    if as_json:
        print_json({"definition": d.model_dump(mode="json"),
                    "stats": stats.model_dump(mode="json") if stats else None})
        return
    console.print(f"[bold]{d.kind} {d.name}[/] v{d.version} ({_when(d.created_at)}"
                  f"{', by ' + d.created_by if d.created_by else ''})")
    console.print_json(json.dumps({k: v for k, v in d.spec.items() if k != "features"}))
    if stats is None:
        return
    console.print(f"rows {stats.rows:,}  entities {stats.entities:,}  events {_when(stats.first_event)} → "
                  f"{_when(stats.last_event)}")
    stale = f"{stats.staleness_seconds:,.0f}s" if stats.staleness_seconds is not None else "—"
    console.print(f"materialized until {_when(stats.materialized_until)} (staleness {stale}), "
                  f"pushed rows {stats.pushed_rows:,}, reads online {stats.online_reads:,} / "
                  f"offline {stats.offline_reads:,}")
    table = Table("feature", "type", "null rate", "distinct", "min", "max", "mean", title="features")
    for f in stats.features:
        table.add_row(f.name, f.type, f"{f.null_rate:.1%}" if f.null_rate is not None else "—",
                      fmt_num(f.distinct), str(f.min)[:24], str(f.max)[:24], fmt_num(f.mean))
    console.print(table)


@features_app.command("materialize")
@handle_errors
def materialize(views: list[str] = typer.Argument(None, help="Views (default: every online view)."),
                start: str = typer.Option(None, "--start", help="ISO time; default: each view's watermark."),
                end: str = typer.Option(None, "--end", help="ISO time; default: now."),
                as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Copy the latest feature values to the online store (incremental without --start)."""
    result = client().materialize_features(views or None, start=start, end=end)
    if as_json:
        print_json(result)
        return
    table = Table("view", "from", "to", "rows", "seconds", title="materialized")
    for m in result.views:
        table.add_row(m.view, _when(m.start), _when(m.end), f"{m.rows:,}", f"{m.seconds:.2f}")
    console.print(table)


@features_app.command("get")
@handle_errors
def get(entities: list[str] = typer.Argument(..., help="Entity rows as KEY=VALUE (repeat; one row per "
                                                       "comma-separated group: customer_id=1,region=eu)."),
        features: list[str] = typer.Option(None, "--feature", "-f", help="view:feature or view (repeatable)."),
        service: str = typer.Option(None, "--service", "-s", help="A feature service."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Read online features for entities."""
    rows = []
    for group in entities:
        row: dict[str, Any] = {}
        for item in group.split(","):
            key, sep, value = item.partition("=")
            if not sep:
                raise typer.BadParameter(f"{item!r}: use KEY=VALUE", param_hint="ENTITIES")
            row[key] = value  # typed by the entity's declared key type
        rows.append(row)
    out = client().get_online_features(rows, features or None, service=service)
    if as_json:
        print_json(out.rows())
        return
    table = Table(*out.columns, title="online features")
    for r in out.rows():
        table.add_row(*("—" if v is None else fmt_num(v) if isinstance(v, float) else str(v) for v in r.values()))
    console.print(table)
