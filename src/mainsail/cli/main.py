"""The ``mainsail`` command."""

from __future__ import annotations

import typer

from mainsail import __version__
from mainsail.cli import common
from mainsail.cli.db import db_app
from mainsail.cli.quickstart import quickstart
from mainsail.cli.server import server
from mainsail.data.cli import data_app
from mainsail.features.cli import features_app
from mainsail.pipelines.cli import pipelines_app, worker
from mainsail.registry.cli import models_app
from mainsail.serving.cli import batch_predict, deployments_app, predict, serve
from mainsail.tracking.cli import experiments_app, runs_app

app = typer.Typer(name="mainsail", help="Mainsail: end-to-end MLOps in one package.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
app.add_typer(experiments_app, name="experiments")
app.add_typer(runs_app, name="runs")
app.add_typer(data_app, name="data")
app.add_typer(features_app, name="features")
app.add_typer(models_app, name="models")
app.add_typer(deployments_app, name="deployments")
app.add_typer(pipelines_app, name="pipelines")
app.add_typer(db_app, name="db")
app.command()(worker)
app.command()(serve)
app.command()(predict)
app.command("batch-predict")(batch_predict)
app.command()(server)
app.command()(quickstart)


@app.callback()
def _root(
    uri: str = typer.Option(None, "--uri", envvar="MAINSAIL_URI",
                            help="sqlite:///…, postgresql+psycopg://… or http(s)://host:port"),
) -> None:
    common.set_uri(uri)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
