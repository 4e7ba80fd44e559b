"""Mainsail: an end-to-end MLOps platform in one package.

``mainsail.Client`` is the SDK; the module-level functions below are a thin face over a default
client (``MAINSAIL_URI``) for tracking from training code."""

__version__ = "0.1.0"

from mainsail.client.client import Client  # noqa: E402
from mainsail.client.fluent import (  # noqa: E402
    ActiveRun,
    active_run,
    end_run,
    flush,
    get_client,
    load_model,
    log_artifact,
    log_artifacts,
    log_metric,
    log_metrics,
    log_model,
    log_param,
    log_params,
    set_experiment,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)
from mainsail.data import fluent as datasets  # noqa: E402
from mainsail.tracking.autolog import autolog  # noqa: E402

__all__ = [
    "ActiveRun", "Client", "active_run", "autolog", "datasets", "end_run", "flush", "get_client", "load_model", "log_artifact", "log_artifacts",
    "log_metric", "log_metrics", "log_model", "log_param", "log_params", "set_experiment", "set_tag", "set_tags",
    "set_tracking_uri", "start_run",
]
