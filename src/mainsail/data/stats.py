"""Distribution-shift statistics: two-sample KS and the population stability index (PSI)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

EPS = 1e-4
PSI_BINS = 10


def ks(base: np.ndarray, other: np.ndarray) -> tuple[float | None, float | None]:
    """Two-sample Kolmogorov–Smirnov statistic and p-value (None when a side is empty)."""
    if base.size == 0 or other.size == 0:
        return None, None
    from scipy.stats import ks_2samp

    # The exact p-value is only worth it on small samples; scipy warns (on stderr, in front of a user's
    # table) when it cannot compute it and falls back to the asymptotic one, so choose up front and keep
    # any remaining numerical warning out of the user's output.
    method = "exact" if base.size * other.size <= 10_000 else "asymp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ks_2samp(base, other, method=method)
    return float(res.statistic), float(res.pvalue)


def fill_zero_shares(p: np.ndarray) -> np.ndarray:
    """Give empty bins a small share so PSI stays finite: ``EPS``, or the smallest non-zero share / 1e6
    when that is smaller (Evidently's rule). Applied to shares, never counts, so PSI does not grow with
    the sample size."""
    nz = p[p != 0]
    if nz.size == 0:
        return p
    floor = nz.min() / 1e6 if nz.min() <= EPS else EPS
    return np.where(p == 0, floor, p)


def psi_shares(b: np.ndarray, o: np.ndarray) -> float:
    """PSI of two arrays of bin shares (each summing to 1)."""
    b, o = fill_zero_shares(b), fill_zero_shares(o)
    return float(np.sum((o - b) * np.log(o / b)))


def _psi(b: np.ndarray, o: np.ndarray) -> float:
    return psi_shares(b / b.sum(), o / o.sum())


def psi_numeric(base: np.ndarray, other: np.ndarray, bins: int = PSI_BINS) -> float | None:
    """PSI over the base sample's decile bins (open-ended first and last bins)."""
    if base.size == 0 or other.size == 0:
        return None
    edges = np.unique(np.quantile(base, np.linspace(0, 1, bins + 1)[1:-1]))
    b = np.bincount(np.searchsorted(edges, base, side="right"), minlength=edges.size + 1)
    o = np.bincount(np.searchsorted(edges, other, side="right"), minlength=edges.size + 1)
    return _psi(b.astype(float), o.astype(float))


def psi_categorical(base: Mapping[Any, float], other: Mapping[Any, float]) -> float | None:
    """PSI over categories given as shares (or counts) of each side."""
    keys = list(dict.fromkeys([*base, *other]))
    if not keys:
        return None
    b = np.array([float(base.get(k, 0.0)) for k in keys])
    o = np.array([float(other.get(k, 0.0)) for k in keys])
    if b.sum() <= 0 or o.sum() <= 0:
        return None
    return _psi(b, o)


def change(a: float | None, b: float | None) -> float | None:
    """``b - a``, or None when either is missing or not finite."""
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return None
    return b - a
