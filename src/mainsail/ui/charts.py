"""Plotly figure specs (plain dicts the page script hands to ``Plotly.newPlot``). The server sends
only what is drawn: long series arrive already downsampled."""

from __future__ import annotations

import math
from typing import Any

from mainsail.core.types import finite_float

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
    data = [{"type": "scatter", "mode": "lines+markers" if len(x) < 50 else "lines",
             "name": name, "x": clean(x), "y": clean(y), "line": {"color": PALETTE[i % len(PALETTE)]}}
            for i, (name, x, y) in enumerate(series)]
    return data, {"xaxis": {"title": {"text": x_title}}, "yaxis": {"title": {"text": y_title}},
                  "legend": {"orientation": "h"}}


VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b",
           "#fde725"]


def parallel(dimensions: list[tuple[str, list[Any]]], names: list[str], color: list[Any] | None,
             color_title: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Parallel coordinates drawn in SVG (no WebGL): one axis per dimension scaled to 0..1, one line per
    run coloured by ``color`` (Viridis, low → high); text axes place their categories evenly."""
    axes, ticks = [], []
    for i, (_, values) in enumerate(dimensions):
        nums = [finite_float(v) for v in values]
        if all(n is not None for n in nums) and nums:
            lo, hi = min(nums), max(nums)
            axes.append([(n - lo) / (hi - lo) if hi > lo else 0.5 for n in nums])
            ticks += [(i, 0.0, f"{lo:.4g}"), (i, 1.0, f"{hi:.4g}")] if hi > lo else [(i, 0.5, f"{lo:.4g}")]
        else:
            texts = ["(none)" if v is None else str(v) for v in values]
            cats = sorted(set(texts))
            step = 1 / (len(cats) - 1) if len(cats) > 1 else 0
            axes.append([cats.index(t) * step if len(cats) > 1 else 0.5 for t in texts])
            ticks += [(i, j * step if len(cats) > 1 else 0.5, c) for j, c in enumerate(cats)]
    nums = [finite_float(v) for v in color] if color is not None else []
    known = [n for n in nums if n is not None]
    lo, hi = (min(known), max(known)) if known else (0.0, 0.0)
    labels = [d[0] for d in dimensions]
    data = []
    for r, name in enumerate(names):
        shade = "#6c757d" if not known or nums[r] is None else \
            VIRIDIS[min(9, int((nums[r] - lo) / (hi - lo) * 10)) if hi > lo else 5]
        raw = [dimensions[i][1][r] for i in range(len(dimensions))]
        data.append({"type": "scatter", "mode": "lines+markers", "name": f"{name} ({color_title} "
                     f"{'—' if not nums or nums[r] is None else f'{nums[r]:.4g}'})",
                     "x": labels, "y": [a[r] for a in axes], "line": {"color": shade, "width": 3},
                     "text": ["(none)" if v is None else str(v) for v in raw], "hovertemplate": "%{x}: %{text}<extra>" + name + "</extra>"})
    layout = {"yaxis": {"visible": False, "range": [-0.08, 1.08]}, "showlegend": True,
              "legend": {"orientation": "h"},
              "annotations": [{"x": labels[i], "y": y, "text": t, "showarrow": False, "xanchor": "left",
                               "xshift": 4, "font": {"size": 11}} for i, y, t in ticks],
              "shapes": [{"type": "line", "x0": lab, "x1": lab, "y0": 0, "y1": 1, "yref": "y",
                          "line": {"color": "#8c959f", "width": 1}} for lab in labels]}
    return data, layout


def bars(labels: list[Any], values: list[Any], name: str = "", horizontal: bool = False) -> list[dict[str, Any]]:
    axis = {"y": [str(v) for v in labels], "x": clean(values), "orientation": "h"} if horizontal else \
        {"x": [str(v) for v in labels], "y": clean(values)}
    return [{"type": "bar", "name": name, "marker": {"color": "#0a58ca"}, **axis}]
