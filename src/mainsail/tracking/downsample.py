"""Downsampling a metric series for drawing: min and max per pixel bucket, vectorised with numpy.

A chart ``points`` wide cannot show more than two values per pixel column, so every bucket of the x
range keeps its smallest and its largest value (in x order) and the curve's first and last points.
Peaks and dips survive, unlike every-n-th sampling; 1M points reduce in a few tens of milliseconds."""

from __future__ import annotations

import numpy as np


def minmax(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` reduced to at most ``2 * buckets + 2`` points: per x bucket the point of the minimum
    and of the maximum ``y``, in x order. ``x`` must be sorted ascending; NaN values are dropped."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = ~np.isnan(y)
    if not keep.all():
        x, y = x[keep], y[keep]
    n = len(x)
    if n <= 2 * buckets + 2:
        return x, y
    span = x[-1] - x[0]
    if span > 0:
        bucket = np.minimum(((x - x[0]) * (buckets / span)).astype(np.int64), buckets - 1)
    else:  # one x for all: buckets by position
        bucket = np.arange(n, dtype=np.int64) * buckets // n
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])  # x is sorted: buckets are runs
    lo = np.minimum.reduceat(y, starts)
    hi = np.maximum.reduceat(y, starts)
    sizes = np.diff(np.r_[starts, n])
    first_min = _first_index(y == np.repeat(lo, sizes), starts)
    first_max = _first_index(y == np.repeat(hi, sizes), starts)
    picks = np.unique(np.concatenate(([0, n - 1], first_min, first_max)))  # sorted: x order
    return x[picks], y[picks]


def _first_index(mask: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """For each run starting at ``starts``, the index of its first True in ``mask`` (each run has one)."""
    hits = np.flatnonzero(mask)
    return hits[np.searchsorted(hits, starts)]


def lttb(x: np.ndarray, y: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Largest-Triangle-Three-Buckets to ``points`` points (Steinarsson 2013); the per-bucket triangle
    areas are vectorised, the walk over buckets is not (it depends on the previous pick), so prefer
    :func:`minmax` for very long series."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]
    n = len(x)
    if points >= n or points < 3:
        return x, y
    edges = np.linspace(1, n - 1, points - 1).astype(np.int64)
    out = np.empty(points, dtype=np.int64)
    out[0], out[-1] = 0, n - 1
    a = 0
    for i in range(points - 2):
        lo, hi = edges[i], edges[i + 1]
        nlo, nhi = edges[i + 1], (edges[i + 2] if i + 2 < len(edges) else n)
        cx, cy = x[nlo:nhi].mean(), y[nlo:nhi].mean()
        area = np.abs((x[a] - cx) * (y[lo:hi] - y[a]) - (x[a] - x[lo:hi]) * (cy - y[a]))
        a = lo + int(area.argmax())
        out[i + 1] = a
    return x[out], y[out]
