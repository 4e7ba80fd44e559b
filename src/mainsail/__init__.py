"""Mainsail: an end-to-end MLOps platform in one package.

``mainsail.Client`` is the SDK; the module-level functions below are a thin face over a default
client (``MAINSAIL_URI``) for tracking from training code.

Names are resolved on first use (PEP 562), so ``import mainsail`` — and every CLI command — pays only
for what it touches (``mainsail version`` imports no database driver, pandas or web framework)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "ActiveRun", "Client", "active_run", "autolog", "datasets", "end_run", "flush", "get_client", "load_model",
    "log_artifact", "log_artifacts", "log_metric", "log_metrics", "log_model", "log_param", "log_params",
    "set_experiment", "set_tag", "set_tags", "set_tracking_uri", "start_run",
]
#: public name -> (module, attribute; None for the module itself); everything else is the fluent SDK
_LAZY: dict[str, tuple[str, str | None]] = {
    **{name: ("mainsail.client.fluent", name) for name in __all__},
    "Client": ("mainsail.client.client", "Client"),
    "autolog": ("mainsail.tracking.autolog", "autolog"),
    "datasets": ("mainsail.data.fluent", None),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'mainsail' has no attribute {name!r}") from None
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


if TYPE_CHECKING:  # what type checkers and IDEs see
    from mainsail.client.client import Client
    from mainsail.client.fluent import (
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
    from mainsail.data import fluent as datasets
    from mainsail.tracking.autolog import autolog
