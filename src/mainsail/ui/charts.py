"""Plotly figure specs (plain dicts the page script hands to ``Plotly.newPlot``). The server sends
only what is drawn: long series arrive already downsampled."""

from __future__ import annotations

import math
from typing import Any

PALETTE = ["#0a58ca", "#d63384", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#dc3545", "#6c757d"]


class Charts:
    """The charts of one page, each with a stable DOM id (``chart-data-<id>``)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, data: list[dict[str, Any]], **layout: Any) -> dict[str, Any]:
        chart = {"id": str(len(self.items)), "spec": {"data": data, "layout": layout}}
        self.items.append(chart)
        return chart

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self) -> Any:
        return iter(self.items)


def clean(values: list[Any]) -> list[Any]:
    """JSON-safe numbers: NaN and infinities become gaps (None)."""
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]


def lines(series: list[tuple[str, list[float], list[float]]], x_title: str = "step",
          y_title: str = "") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Overlaid line traces, one per ``(name, x, y)``."""
    data = [{"type": "scattergl" if len(x) > 5000 else "scatter", "mode": "lines+markers" if len(x) < 50 else "lines",
             "name": name, "x": clean(x), "y": clean(y), "line": {"color": PALETTE[i % len(PALETTE)]}}
            for i, (name, x, y) in enumerate(series)]
    return data, {"xaxis": {"title": {"text": x_title}}, "yaxis": {"title": {"text": y_title}},
                  "legend": {"orientation": "h"}}


def parallel(dimensions: list[tuple[str, list[Any]]], color: list[float] | None,
             color_title: str) -> list[dict[str, Any]]:
    """A parallel-coordinates trace: numeric axes as they are, text axes as ticks over category codes."""
    dims = []
    for label, values in dimensions:
        nums = [_as_float(v) for v in values]
        if all(n is not None for n in nums):
            dims.append({"label": label, "values": nums})
        else:
            cats = sorted({str(v) for v in values})
            dims.append({"label": label, "values": [cats.index(str(v)) for v in values],
                         "tickvals": list(range(len(cats))), "ticktext": cats})
    line: dict[str, Any] = {"color": "#0a58ca"}
    if color is not None:
        line = {"color": clean(color), "colorscale": "Viridis", "showscale": True,
                "colorbar": {"title": {"text": color_title}}}
    return [{"type": "parcoords", "dimensions": dims, "line": line}]


def bars(labels: list[Any], values: list[Any], name: str = "", horizontal: bool = False) -> list[dict[str, Any]]:
    axis = {"y": [str(v) for v in labels], "x": clean(values), "orientation": "h"} if horizontal else \
        {"x": [str(v) for v in labels], "y": clean(values)}
    return [{"type": "bar", "name": name, "marker": {"color": "#0a58ca"}, **axis}]


def _as_float(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
