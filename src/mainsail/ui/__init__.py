"""The web UI: server-rendered pages (Jinja2, autoescaped), htmx for the live parts and Plotly charts
drawn with the JavaScript the ``plotly`` package ships. Every page reads through the Client's
operations on the server's own runtime: the same services, rules and errors as the API."""

from __future__ import annotations

from typing import Any


def install(app: Any) -> None:
    """Mount the UI's pages at ``/`` and its static files at ``/ui/static`` on the API ``app``."""
    from mainsail.ui import (
        pages_auth,
        pages_costs,
        pages_data,
        pages_loops,
        pages_monitoring,
        pages_ops,
        pages_registry,
        pages_tracking,
        web,
    )

    web.install_static(app)
    for module in (pages_auth, pages_tracking, pages_registry, pages_data, pages_ops, pages_monitoring, pages_loops,
                   pages_costs):
        app.include_router(module.router)
