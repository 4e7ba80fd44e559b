"""``mainsail audit …`` and ``mainsail secrets …``."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from mainsail.cli.common import client, console, handle_errors, print_json

audit_app = typer.Typer(help="Audit trail: list, verify and export the hash-chained record of every write.",
                        no_args_is_help=True)
secrets_app = typer.Typer(help="Secrets: store named secrets sealed at rest, list them, rotate the key.",
                          no_args_is_help=True)


@audit_app.command("list")
@handle_errors
def list_(actor: str = typer.Option(None, help="Only this actor's writes."),
          op: str = typer.Option(None, help="An operation ('registry.set_alias') or a domain ('registry')."),
          object: str = typer.Option(None, "--object", help="Objects starting with this ('name=churn')."),
          limit: int = typer.Option(50, min=1, max=1000),
          all_projects: bool = typer.Option(False, "--all-projects", help="Every project (admins of all)."),
          as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The project's recorded writes, oldest first."""
    page = client().list_audit(actor=actor, op=op, object=object, all_projects=all_projects, limit=limit)
    if as_json:
        print_json([e.model_dump(mode="json") for e in page.items])
        return
    table = Table("seq", "project", "at", "actor", "operation", "object", "hash")
    for e in page.items:
        table.add_row(str(e.seq), e.project, e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.op, e.object[:60],
                      e.hash[:12])
    console.print(table)


@audit_app.command("verify")
@handle_errors
def verify(all_projects: bool = typer.Option(False, "--all-projects", help="Every project's rows (admins of all)."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Walk the hash chain (one for every project); exit 1 naming every altered, removed or moved row."""
    v = client().verify_audit(all_projects=all_projects)
    if as_json:
        print_json(v.model_dump(mode="json"))
    elif v.ok:
        console.print(f"[green]ok[/]: {v.rows} rows, head {v.head_seq} {v.head_hash[:16]}")
    else:
        for p in v.problems:
            console.print(f"[bold red]{p.kind}[/] at row {p.seq}: {p.detail}")
        if v.problems_elsewhere:
            console.print(f"[bold red]{v.problems_elsewhere} problem(s)[/] in other projects' rows (an admin of "
                          "every project sees them with --all-projects)")
    if not v.ok:
        raise typer.Exit(1)


@audit_app.command("export")
@handle_errors
def export(path: str = typer.Argument(..., help="The JSON-lines file to write."),
           actor: str = typer.Option(None), op: str = typer.Option(None),
           all_projects: bool = typer.Option(False, "--all-projects", help="Every project (admins of all).")) -> None:
    """Write the project's recorded writes as JSON lines, then the verified head."""
    n = client().export_audit(path, actor=actor, op=op, all_projects=all_projects)
    console.print(f"{n} entries written to {path}")


@secrets_app.command("set")
@handle_errors
def set_(name: str, description: str = typer.Option(None),
         value: str = typer.Option(None, help="The value (default: read from standard input, so it stays out "
                                              "of the shell history).")) -> None:
    """Store a named secret, sealed with the newest key."""
    text = value if value is not None else sys.stdin.read().rstrip("\n")
    info = client().set_secret(name, text, description)
    console.print(f"secret {info.name!r} stored")


@secrets_app.command("list")
@handle_errors
def list_secrets(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The stored secrets (names only)."""
    items = client().list_secrets()
    if as_json:
        print_json([i.model_dump(mode="json") for i in items])
        return
    table = Table("name", "description", "by", "updated")
    for i in items:
        table.add_row(i.name, i.description or "", i.created_by or "", i.updated_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@secrets_app.command("delete")
@handle_errors
def delete(name: str) -> None:
    """Remove a named secret."""
    client().delete_secret(name)
    console.print(f"secret {name!r} deleted")


@secrets_app.command("rotate")
@handle_errors
def rotate() -> None:
    """Re-encrypt every stored secret with the newest key (the first of MAINSAIL_SECRET_KEY)."""
    r = client().rotate_secrets()
    console.print(", ".join(f"{k}: {v}" for k, v in r.rotated.items()) or "nothing to rotate")


@secrets_app.command("keygen")
def keygen() -> None:
    """Print a new key: put it first in MAINSAIL_SECRET_KEY (old keys after it), then run rotate."""
    from mainsail.core.secrets import generate_key

    print(generate_key())
