"""The ``mainsail`` command.

Each domain's commands live in its own ``cli.py`` and are imported only when that command runs:
``mainsail --help`` and ``mainsail version`` import no domain, database driver or data library.
:data:`COMMANDS` names where each command lives and the one line ``--help`` shows for it (a test keeps
that line equal to the command's own help)."""

from __future__ import annotations

import importlib
from typing import Any

import click
import typer
from typer.core import TyperGroup

from mainsail import __version__

#: command name -> (module, attribute: a typer app or a command function, the line ``--help`` shows)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "experiments": ("mainsail.tracking.cli", "experiments_app", "Experiments: named groups of tracked runs."),
    "runs": ("mainsail.tracking.cli", "runs_app", "Tracked training runs: search, inspect, compare."),
    "data": ("mainsail.data.cli", "data_app", "Datasets: ingest, versions, profiles, validation suites, diffs."),
    "features": ("mainsail.features.cli", "features_app",
                 "Feature store: definitions, materialization, online reads."),
    "labels": ("mainsail.labels.cli", "labels_app", "Ground truth by request id and the performance it measures."),
    "models": ("mainsail.registry.cli", "models_app", "Model registry: versions, stages, aliases, cards, lineage."),
    "deployments": ("mainsail.serving.cli", "deployments_app",
                    "Deployments: variants, traffic splits, shadows, canary rollouts."),
    "monitors": ("mainsail.monitoring.cli", "monitors_app",
                 "Monitors: drift and data quality of deployments and datasets, over time."),
    "loops": ("mainsail.loops.cli", "loops_app",
              "Closed loops: drift or an alert → retrain → gate → canary → promote or roll back."),
    "pipelines": ("mainsail.pipelines.cli", "pipelines_app",
                  "Pipelines: apply definitions, run, follow, logs, cancel, schedule."),
    "login": ("mainsail.auth.cli", "login",
              "Sign in to a server and save a session token for it in MAINSAIL_HOME/credentials.json (mode 0600)."),
    "logout": ("mainsail.auth.cli", "logout", "Revoke the saved session token of a server and forget it."),
    "tokens": ("mainsail.auth.cli", "tokens_app", "API tokens: create (shown once), list, revoke."),
    "users": ("mainsail.auth.cli", "users_app", "Users and service accounts (admins)."),
    "projects": ("mainsail.auth.cli", "projects_app", "Projects and their members' roles."),
    "alerts": ("mainsail.alerts.cli", "alerts_app",
               "Alerts: open alerts, acknowledge, silence; alert rules and notification channels."),
    "audit": ("mainsail.audit.cli", "audit_app",
              "Audit trail: list, verify and export the hash-chained record of every write."),
    "secrets": ("mainsail.audit.cli", "secrets_app",
                "Secrets: store named secrets sealed at rest, list them, rotate the key."),
    "comments": ("mainsail.collab.cli", "comments_app", "Comments (markdown, @mentions) on runs, models, datasets, "
                 "pipelines, deployments, alerts."),
    "reviews": ("mainsail.collab.cli", "reviews_app", "Review requests, approvals and the project's approval policy."),
    "inbox": ("mainsail.collab.cli", "inbox_app",
              "Your notifications: mentions, reviews, stage changes, alerts on what you watch."),
    "activity": ("mainsail.collab.cli", "activity_app",
                 "Who did what, when: per project, object or user; watch and unwatch objects."),
    "db": ("mainsail.cli.db", "db_app", "The metadata database: create it, upgrade its schema, show its revision."),
    "backup": ("mainsail.cli.backup", "backup",
               "Back up the metadata database (every table, one consistent snapshot) and the artifact manifest."),
    "restore": ("mainsail.cli.backup", "restore",
                "Restore a backup into an empty metadata database (then migrate it to this release's schema)."),
    "worker": ("mainsail.pipelines.cli", "worker",
               "Take pipeline tasks from the database queue and run them (several workers share one queue), on local\n"
               "processes or on a Ray cluster."),
    "serve": ("mainsail.serving.cli", "serve",
              "Serve a deployment: /predict, Open Inference Protocol v2 (/v2/…), /health, /ready, /metrics."),
    "predict": ("mainsail.serving.cli", "predict",
                "Predict on a file of records with a deployment's replica (--url) or its primary model in-process."),
    "batch-predict": ("mainsail.serving.cli", "batch_predict",
                      "Score a Parquet path or a dataset version in chunks on a local process pool or on Ray."),
    "server": ("mainsail.cli.server", "server",
               "Serve the REST API (/api/v1), /docs, /health, /ready and /metrics (and hosted deployments)."),
    "quickstart": ("mainsail.cli.quickstart", "quickstart",
                   "Run the whole loop on generated churn data as pipeline churn-quickstart: ingest, validate, build\n"
                   "features (point-in-time join) and materialize them, train and track three models, evaluate, gate "
                   "and\nregister the best; then deploy the champion, send labeled traffic, canary the best with a "
                   "quality guard\nand close the loop: drift injected, detected, retrained, gated, canaried, promoted "
                   "or rolled back."),
}


def load_command(name: str) -> click.Command:
    """Import the module that defines command ``name`` and build its click command as typer would."""
    module, attr, _ = COMMANDS[name]
    obj = getattr(importlib.import_module(module), attr)
    holder = typer.Typer(pretty_exceptions_show_locals=False)
    holder.callback()(lambda: None)  # makes a group, so the command keeps its name
    if isinstance(obj, typer.Typer):
        holder.add_typer(obj, name=name)
    else:
        holder.command(name)(obj)
    group = typer.main.get_group(holder)
    return group.commands[name]


class LazyGroup(TyperGroup):
    """A typer group whose :data:`COMMANDS` are imported when invoked; ``--help`` lists them from the table."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(n for n in self.commands if n not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return self.commands.get(cmd_name)
        if self._listing:  # listing names and one-line helps: no import
            return click.Command(cmd_name, help=COMMANDS[cmd_name][2])
        self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def shell_complete(self, ctx: click.Context, incomplete: str) -> Any:
        self._listing = True
        try:
            return super().shell_complete(ctx, incomplete)
        finally:
            self._listing = False


app = typer.Typer(name="mainsail", help="Mainsail: end-to-end MLOps in one package.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False, cls=LazyGroup)


@app.callback()
def _root(
    uri: str = typer.Option(None, "--uri", envvar="MAINSAIL_URI",
                            help="sqlite:///…, postgresql+psycopg://… or http(s)://host:port"),
    project: str = typer.Option(None, "--project", help="The project to work in (MAINSAIL_PROJECT; default "
                                                        "'default')."),
) -> None:
    if project:  # the Client's settings read it
        import os

        os.environ["MAINSAIL_PROJECT"] = project
    if uri:  # imported only when there is something to set (keeps `mainsail version` light)
        from mainsail.cli import common

        common.set_uri(uri)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
