"""``mainsail db``: create the metadata database and bring its schema up to date. Heavy imports stay
inside the commands so ``mainsail --help`` stays fast."""

from __future__ import annotations

import typer

from mainsail.cli import common
from mainsail.cli.common import handle_errors

db_app = typer.Typer(help="The metadata database: create it, upgrade its schema, show its revision.",
                     no_args_is_help=True)


def _url() -> str:
    """The database URI from ``--uri``/``MAINSAIL_URI`` (else the embedded SQLite); refuses a server URL."""
    from mainsail.core.errors import InvalidInput, redact
    from mainsail.core.settings import Settings

    uri = common._uri or Settings.from_env().uri
    if uri.startswith(("http://", "https://")):
        raise InvalidInput(f"`mainsail db` works on a database URI, not a server URL ({redact(uri)}); run it where "
                           "the server's MAINSAIL_URI is set", code="database_uri_required")
    return uri


def _show(current: set[str], heads: set[str]) -> None:
    def fmt(revs: set[str]) -> str:
        return ", ".join(sorted(revs)) or "(empty)"

    typer.echo(f"current: {fmt(current)}")
    typer.echo(f"head:    {fmt(heads)}")
    typer.echo("up to date" if current == heads else "behind: run `mainsail db upgrade`")


@db_app.command("create")
@handle_errors
def db_create(
    upgrade: bool = typer.Option(True, "--upgrade/--no-upgrade", help="Also create the tables (migrate)."),
) -> None:
    """Create the database the URI names (PostgreSQL: needs a role with CREATEDB; SQLite: the file)."""
    from mainsail.core.errors import redact
    from mainsail.core.migrate import create_database

    url = _url()
    created = create_database(url)
    typer.echo(f"{'created' if created else 'exists:'} {redact(url)}")
    if upgrade:
        _upgrade(url)


def _upgrade(url: str) -> None:
    from mainsail.core.db import make_engine
    from mainsail.core.migrate import revisions, upgrade

    engine = make_engine(url)
    try:
        before, _ = revisions(engine)
        upgrade(engine)
        after, heads = revisions(engine)
    finally:
        engine.dispose()
    typer.echo("migrated" if before != after else "no migration needed")
    _show(after, heads)


@db_app.command("upgrade")
@handle_errors
def db_upgrade() -> None:
    """Apply pending migrations (Client and server also do this on first use)."""
    _upgrade(_url())


@db_app.command("current")
@handle_errors
def db_current() -> None:
    """Print the database's schema revisions and the newest this version of Mainsail ships."""
    from mainsail.core.db import make_engine
    from mainsail.core.migrate import revisions

    engine = make_engine(_url())
    try:
        current, heads = revisions(engine)
    finally:
        engine.dispose()
    _show(current, heads)
