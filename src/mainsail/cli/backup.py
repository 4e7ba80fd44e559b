"""``mainsail backup`` / ``mainsail restore``: the metadata database (every table, portable between SQLite and
PostgreSQL) and the artifact manifest, optionally with the artifacts' bytes. Heavy imports stay inside."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from mainsail.cli import common
from mainsail.cli.common import console, err_console, handle_errors


def _settings():  # type: ignore[no-untyped-def]
    from mainsail.cli.db import _url
    from mainsail.core.settings import Settings

    return Settings.from_env().with_uri(_url())


def _report(summary, verb: str, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        common.print_json(summary.as_dict())
        return
    from rich.table import Table

    table = Table("table", "rows", title=f"{verb} {summary.path}")
    for name, rows in summary.tables.items():
        table.add_row(name, str(rows))
    console.print(table)
    objects = common.count(summary.artifacts, "artifact object")
    where = "bytes included" if summary.artifacts_included else "manifest only"
    console.print(f"{verb} {common.count(summary.rows, 'row')} in {common.count(len(summary.tables), 'table')}, "
                  f"{objects} ({summary.artifact_bytes} bytes, {where}), schema {', '.join(summary.revisions)}, "
                  f"{summary.seconds:.1f}s")
    if summary.artifacts_missing:
        err_console.print(f"[yellow]warning[/]: {common.count(len(summary.artifacts_missing), 'artifact object')} "
                          "of the manifest are not in the artifact store (restore them from the store's own backup "
                          "or take the backup --with-artifacts); first: " + summary.artifacts_missing[0])


@handle_errors
def backup(
    output: Path = typer.Argument(None, help="Archive to write (default: mainsail-backup-<UTC time>.tar.gz)."),
    with_artifacts: bool = typer.Option(False, "--with-artifacts", help="Also put every artifact object's bytes "
                                                                        "into the archive."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Back up the metadata database (every table, one consistent snapshot) and the artifact manifest."""
    from mainsail.core.artifacts import ArtifactStore
    from mainsail.core.backup import backup as run_backup
    from mainsail.core.db import make_engine

    settings = _settings()
    if output is None:
        output = Path(f"mainsail-backup-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.tar.gz")
    engine = make_engine(settings.uri, write=False)
    try:
        summary = run_backup(engine, ArtifactStore(settings.artifact_root), output, with_artifacts=with_artifacts)
    finally:
        engine.dispose()
    _report(summary, "backed up", as_json)


@handle_errors
def restore(
    archive: Path = typer.Argument(..., help="Archive written by `mainsail backup`."),
    force: bool = typer.Option(False, "--force", help="Replace the contents of a database that is not empty."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Restore a backup into an empty metadata database (then migrate it to this release's schema)."""
    from mainsail.core.artifacts import ArtifactStore
    from mainsail.core.backup import restore as run_restore
    from mainsail.core.db import make_engine

    settings = _settings()
    engine = make_engine(settings.uri)
    try:
        summary = run_restore(engine, ArtifactStore(settings.artifact_root), archive, force=force)
    finally:
        engine.dispose()
    _report(summary, "restored", as_json)
