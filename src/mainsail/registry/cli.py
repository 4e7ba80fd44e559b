"""``mainsail models …``: the model registry from the terminal."""

from __future__ import annotations

import typer
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from mainsail.cli.common import client, console, count, fmt_num, handle_errors, print_json, threshold

models_app = typer.Typer(help="Model registry: versions, stages, aliases, cards, lineage.", no_args_is_help=True)
STAGE_STYLE = {"development": "cyan", "staging": "yellow", "production": "bold green", "deprecated": "dim"}


def _split(ref: str) -> tuple[str, int | None]:
    name, _, version = ref.partition("/")
    if version and not version.isdigit():
        raise typer.BadParameter(f"{ref!r}: expected NAME or NAME/VERSION (a number)")
    return name, int(version) if version else None


@models_app.command("list")
@handle_errors
def models_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List registered models with their latest version, stages and aliases."""
    page = client().list_registered_models(limit=1000)
    if as_json:
        print_json(page.items)
        return
    table = Table("name", "latest", "production", "staging", "aliases", "updated", title=count(len(page.items), "model"))
    for m in page.items:
        mlflow_name = m.tags.get("mainsail.mlflow.name")  # the name MLflow code uses for it
        table.add_row(f"{m.name} [dim](MLflow: {escape(mlflow_name)})[/]" if mlflow_name else m.name,
                      str(m.latest_version or "—"), ", ".join(map(str, m.stages.get("production", []))) or "—",
                      ", ".join(map(str, m.stages.get("staging", []))) or "—",
                      ", ".join(f"{a}→v{v}" for a, v in m.aliases.items()) or "—",
                      m.updated_at.astimezone().strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@models_app.command("show")
@handle_errors
def models_show(ref: str = typer.Argument(..., help="NAME or NAME/VERSION"),
                as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show a model's versions, or one version in detail."""
    c = client()
    name, version = _split(ref)
    if version is None:
        versions = c.list_model_versions(name, limit=1000).items
        if as_json:
            print_json(versions)
            return
        keys = sorted({k for v in versions for k in v.metrics})[:5]
        table = Table("version", "stage", "aliases", "framework", *keys, "run", "registered", title=name)
        for v in versions:
            table.add_row(str(v.version), f"[{STAGE_STYLE[v.stage]}]{v.stage}[/]", ", ".join(v.aliases) or "—",
                          v.framework, *(fmt_num(v.metrics.get(k)) for k in keys), (v.run_id or v.external_run_id or "—")[:12],
                          v.created_at.astimezone().strftime("%Y-%m-%d %H:%M"))
        console.print(table)
        return
    v = c.get_model_version(name, version)
    if as_json:
        print_json(v)
        return
    console.print(f"[bold]{v.name} v{v.version}[/]  [{STAGE_STYLE[v.stage]}]{v.stage}[/]  "
                  f"aliases: {', '.join(v.aliases) or '—'}  framework: {v.framework}  id: {v.id}")
    if v.external_source:
        console.print(f"files elsewhere: {v.external_source} (Mainsail holds none)")
    console.print(f"source: {v.source or '—'}  run: {v.run_id or v.external_run_id or '—'}  "
                  f"data: {', '.join(v.lineage.dataset_versions) or '—'}")
    t = Table("metric", "value", title_justify="left")
    for k, val in v.metrics.items():
        t.add_row(k, fmt_num(val))
    console.print(t)
    f = Table("file", "size", "sha256")
    for path, ref_ in sorted(v.files.items()):
        f.add_row(path, f"{ref_.size:,}", ref_.digest[:16])
    console.print(f)


@models_app.command("stage")
@handle_errors
def models_stage(name: str, version: int, stage: str,
                 archive: bool = typer.Option(False, "--archive-existing", help="Deprecate versions already there."),
                 gate: list[str] = typer.Option(None, "--gate", help="Threshold, e.g. 'auc>=0.8' (repeatable)."),
                 reason: str = typer.Option(None, help="Why (kept in the history).")) -> None:
    """Move a version to development, staging, production or deprecated."""
    thresholds = dict(threshold(g) for g in gate) if gate else None
    v = client().set_model_stage(name, version, stage, archive_existing=archive, gate=thresholds, reason=reason)
    console.print(f"{v.name} v{v.version} is now [{STAGE_STYLE[v.stage]}]{v.stage}[/]")


@models_app.command("alias")
@handle_errors
def models_alias(name: str, alias: str, version: int,
                 reason: str = typer.Option(None, help="Why (kept in the history).")) -> None:
    """Point an alias (champion, challenger, …) at a version."""
    v = client().set_model_alias(name, alias, version, reason=reason)
    console.print(f"{name}@{alias} → v{v.version}")


@models_app.command("history")
@handle_errors
def models_history(name: str) -> None:
    """Every registration, stage move and alias move: who, when, from, to."""
    table = Table("when", "version", "what", "from", "to", "who", "reason", title=f"{name} history")
    for t in client().model_history(name):
        what = {"alias": f"alias {t.name}", "alias_deleted": f"alias {t.name} removed"}.get(t.kind, t.kind)
        table.add_row(t.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"), str(t.version or "—"), what,
                      t.from_value or "—", t.to_value or "—", t.actor or "—", t.reason or "")
    console.print(table)


@models_app.command("lineage")
@handle_errors
def models_lineage(name: str, version: int, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Where a version came from: run, experiment, datasets, features, code."""
    g = client().model_lineage(name, version)
    if as_json:
        print_json(g)
        return
    labels = {n.id: f"[bold]{n.type}[/] {n.label}" for n in g.nodes}
    tree = Tree(labels[g.nodes[0].id])
    for e in g.edges:
        tree.add(f"{e.relation} ← {labels[e.source]}" if e.target == g.nodes[0].id else
                 f"{labels[e.target]} {e.relation} ← {labels[e.source]}")
    console.print(tree)


@models_app.command("card")
@handle_errors
def models_card(name: str, version: int,
                set_: list[str] = typer.Option(None, "--set", help="field=value to edit (summary, intended_use, "
                                               "limitations, ethical_considerations, training_data, owners)."),
                raw: bool = typer.Option(False, "--raw", help="Print the markdown source.")) -> None:
    """Show (and edit with --set) a version's model card."""
    c = client()
    if set_:
        fields: dict[str, object] = {}
        for item in set_:
            key, sep, value = item.partition("=")
            if not sep:
                raise typer.BadParameter(f"{item!r}: expected field=value")
            fields[key.strip()] = [o.strip() for o in value.split(",")] if key.strip() == "owners" else value
        card = c.update_model_card(name, version, **fields)
    else:
        card = c.model_card(name, version)
    if raw:
        typer.echo(card.markdown)
    else:
        console.print(Markdown(card.markdown))
