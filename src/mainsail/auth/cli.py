"""``mainsail login``, ``mainsail tokens …``, ``mainsail users …``, ``mainsail projects …``."""

from __future__ import annotations

import contextlib

import typer
from rich.table import Table

from mainsail.cli import common
from mainsail.cli.common import client, console, handle_errors, print_json

tokens_app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)
users_app = typer.Typer(help="Users and service accounts (admins).", no_args_is_help=True)
projects_app = typer.Typer(help="Projects and their members' roles.", no_args_is_help=True)


def _when(value: object) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else "—"  # type: ignore[attr-defined]


@handle_errors
def login(
    url: str = typer.Option(None, "--url", envvar="MAINSAIL_URI", help="The server, http(s)://host:port."),
    username: str = typer.Option(..., "--username", "-u", prompt=True, help="Your user name."),
    password: str = typer.Option(..., "--password", prompt=True, hide_input=True, envvar="MAINSAIL_PASSWORD",
                                 help="Your password (prompted; or MAINSAIL_PASSWORD)."),
    days: float = typer.Option(30, "--days", help="How long the session token lives."),
) -> None:
    """Sign in to a server and save a session token for it in MAINSAIL_HOME/credentials.json (mode 0600)."""
    from mainsail.auth.credentials import save_token
    from mainsail.client import Client
    from mainsail.core.errors import InvalidInput
    from mainsail.core.settings import Settings

    url = url or common._uri
    if not url or not url.startswith(("http://", "https://")):
        raise InvalidInput("login needs a server URL: --url http(s)://host:port (or MAINSAIL_URI)",
                           code="server_url_required")
    with Client(url, token="") as c:
        created = c.login(username, password, expires_in_days=days)
    path = save_token(Settings.from_env().home, url, created.token)
    console.print(f"signed in to {url} as [bold]{username}[/] until {_when(created.expires_at)}; token saved in {path}")


@handle_errors
def logout(url: str = typer.Option(None, "--url", envvar="MAINSAIL_URI", help="The server.")) -> None:
    """Revoke the saved session token of a server and forget it."""
    from mainsail.auth.credentials import save_token, stored_token
    from mainsail.client import Client
    from mainsail.core.errors import MainsailError
    from mainsail.core.settings import Settings

    url = url or common._uri or ""
    home = Settings.from_env().home
    token = stored_token(home, url)
    if token:
        with Client(url, token=token) as c:
            mine = [t for t in c.list_tokens() if token.startswith(t.prefix) and t.name == "login"]
            for t in mine[:1]:
                with contextlib.suppress(MainsailError):
                    c.revoke_token(t.id)
    save_token(home, url, None)
    console.print(f"signed out of {url}")


@tokens_app.command("create")
@handle_errors
def tokens_create(
    name: str = typer.Option("api", "--name", help="A label for the token."),
    project: str = typer.Option("default", "--project", envvar="MAINSAIL_PROJECT", help="Its project ('*': all yours)."),
    role: str = typer.Option("viewer", "--role", help="viewer, editor or admin (never beyond the owner's)."),
    permission: list[str] = typer.Option([], "--permission", "-p", help="predict, pipelines:code, secrets."),
    days: float = typer.Option(90, "--days", help="Days until it expires (0: never)."),
    user: str = typer.Option(None, "--user", help="For a service account (project admins)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create an API token and print it once (only its hash is stored)."""
    t = client().create_token(name, project=project, role=role, permissions=permission,
                              expires_in_days=days or None, user=user)
    if as_json:
        print_json(t)
        return
    console.print(f"token {t.id} for [bold]{t.user}[/] ({t.role} in {t.project}"
                  f"{', ' + ', '.join(t.permissions) if t.permissions else ''}), expires {_when(t.expires_at)}:")
    typer.echo(t.token)
    console.print("[dim]shown once: store it now (e.g. MAINSAIL_TOKEN)[/]")


@tokens_app.command("list")
@handle_errors
def tokens_list(user: str = typer.Option(None, "--user", help="Another user's (admins)."),
                revoked: bool = typer.Option(False, "--revoked", help="Include revoked tokens."),
                as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List tokens (never their secrets)."""
    tokens = client().list_tokens(user, include_revoked=revoked)
    if as_json:
        print_json(tokens)
        return
    table = Table("id", "name", "prefix", "project", "role", "permissions", "expires", "last used", "revoked")
    for t in tokens:
        table.add_row(t.id, t.name, t.prefix + "…", t.project, t.role, ", ".join(t.permissions) or "—",
                      _when(t.expires_at), _when(t.last_used_at), _when(t.revoked_at))
    console.print(table)


@tokens_app.command("revoke")
@handle_errors
def tokens_revoke(token_id: str) -> None:
    """Revoke a token (servers stop accepting it within MAINSAIL_AUTH_CACHE_TTL seconds, default 5)."""
    t = client().revoke_token(token_id)
    console.print(f"revoked token {t.id} ({t.name}) of {t.user}")


@users_app.command("create")
@handle_errors
def users_create(
    name: str,
    service: bool = typer.Option(False, "--service", help="A service account (tokens only, no password)."),
    password: str = typer.Option(None, "--password", envvar="MAINSAIL_NEW_PASSWORD",
                                 help="Its password (prompted when omitted for a user)."),
    admin: bool = typer.Option(False, "--admin", help="Admin of every project."),
    project: str = typer.Option("default", "--project", help="Project to join."),
    role: str = typer.Option("viewer", "--role", help="viewer, editor or admin in --project."),
) -> None:
    """Create a user or a service account."""
    if not service and not password:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    u = client().create_user(name, password=password, service=service, admin=admin, project=project, role=role)
    console.print(f"created {u.kind} [bold]{u.name}[/]: " + (", ".join(f"{r} in {p}" for p, r in u.roles.items())
                                                            or "no project role"))


@users_app.command("list")
@handle_errors
def users_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List users and service accounts with their roles."""
    users = client().list_users()
    if as_json:
        print_json(users)
        return
    table = Table("name", "kind", "admin", "disabled", "roles")
    for u in users:
        table.add_row(u.name, u.kind, "yes" if u.is_admin else "", "yes" if u.disabled else "",
                      ", ".join(f"{p}:{r}" for p, r in u.roles.items()) or "—")
    console.print(table)


@users_app.command("passwd")
@handle_errors
def users_passwd(name: str, password: str = typer.Option(..., "--password", prompt=True, hide_input=True,
                                                         confirmation_prompt=True, envvar="MAINSAIL_NEW_PASSWORD",
                                                         help="The new password.")) -> None:
    """Set a user's password (your own, or anyone's as an admin of every project)."""
    client().update_user(name, password=password)
    console.print(f"password of {name} changed")


@users_app.command("disable")
@handle_errors
def users_disable(name: str, enable: bool = typer.Option(False, "--enable", help="Enable instead.")) -> None:
    """Disable (or --enable) a user: its tokens stop working."""
    client().update_user(name, disabled=not enable)
    console.print(f"{name} {'enabled' if enable else 'disabled'}")


@users_app.command("grant")
@handle_errors
def users_grant(name: str, role: str = typer.Option(..., "--role", help="viewer, editor or admin."),
                project: str = typer.Option("default", "--project", help="The project.")) -> None:
    """Give a user a role in a project."""
    m = client().set_member(project, name, role)
    console.print(f"{m.user} is {m.role} in {m.project}")


@users_app.command("revoke")
@handle_errors
def users_revoke(name: str, project: str = typer.Option("default", "--project", help="The project.")) -> None:
    """Take a user's role in a project away (their tokens for it stop working)."""
    client().remove_member(project, name)
    console.print(f"{name} has no role in {project}")


@projects_app.command("create")
@handle_errors
def projects_create(name: str, description: str = typer.Option(None, "--description")) -> None:
    """Create a project."""
    p = client().create_project(name, description=description)
    console.print(f"created project {p.name}")


@projects_app.command("list")
@handle_errors
def projects_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the projects you have a role in."""
    projects = client().list_projects()
    if as_json:
        print_json(projects)
        return
    for p in projects:
        console.print(p.name)


@projects_app.command("members")
@handle_errors
def projects_members(project: str = typer.Argument("default")) -> None:
    """List a project's members and their roles."""
    table = Table("user", "role", title=project)
    for m in client().list_members(project):
        table.add_row(m.user, m.role)
    console.print(table)
