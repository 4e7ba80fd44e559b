"""Numeric drift kernels over sorted samples, in O(m log n) for a current sample of m values against a
reference of n values prepared once (sorted, with prefix sums of its gaps).

Both empirical CDFs are step functions; between two consecutive current values the current CDF is
constant and the reference's only steps up, so per such interval:

- Kolmogorov–Smirnov: the largest ``|F_ref - F_cur|`` is at one of the interval's two ends, i.e. at
  ``F_ref`` just after its start or just before its end — two binary searches of the current values in
  the reference give both;
- Wasserstein (the area between the CDFs): the reference's gaps inside the interval contribute
  ``|(k+1)/n - c| * gap_k``, summed through two prefix sums (of the gaps and of ``(k+1) * gap``) split
  where ``(k+1)/n`` crosses the current CDF's level ``c``; the two partial gaps at the interval's ends
  are added directly.

So no merge of the two samples is built (a monitor compares each window with one reference: the
reference's size no longer counts per window). A reference compared only once is merged instead. The values equal ``scipy.stats.ks_2samp``'s statistic
exactly (same fractions) and ``scipy.stats.wasserstein_distance`` to rounding (the prefix sums work on
gaps, so the error scales with the range of the data, not its offset).

Equal-width bins (Sturges' rule over both samples, numpy's ``histogram_bin_edges``) are counted with a
binary search per edge instead of a pass over the values."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np


@dataclasses.dataclass
class SortedSample:
    """Finite float64 values sorted ascending, with what the kernels reuse across comparisons."""

    values: np.ndarray
    reused: bool = False  # compared with many samples (a monitor's reference): worth its prefix sums
    _std: float | None = None
    _distinct: int | None = None
    _g0: np.ndarray | None = dataclasses.field(default=None, repr=False)
    _g1: np.ndarray | None = dataclasses.field(default=None, repr=False)
    _padded: np.ndarray | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def of(cls, values: np.ndarray, *, is_sorted: bool = False, reused: bool = False) -> SortedSample:
        """Nulls and infinities dropped, sorted (``is_sorted``: the values already are, and finite)."""
        a = np.asarray(values)
        if not is_sorted:
            a = a.astype(np.float64, copy=False)
            finite = np.isfinite(a)
            a = np.sort(a if finite.all() else a[finite])
        return cls(a, reused)

    @property
    def size(self) -> int:
        return int(self.values.size)

    @property
    def std(self) -> float:
        if self._std is None:
            self._std = float(np.std(self.values)) if self.values.size else 0.0
        return self._std

    @property
    def distinct(self) -> int:
        if self._distinct is None:
            a = self.values
            self._distinct = int(a.size and 1 + np.count_nonzero(a[1:] != a[:-1]))
        return self._distinct

    def prefix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The values padded with -inf and +inf, and prefix sums of the gaps ``g_k = a[k+1] - a[k]`` and of
        ``(k+1) * g_k`` (starting at 0, the last sum repeated once so an index of n is valid)."""
        if self._g0 is None:
            a = self.values
            g = np.diff(a)
            self._padded = np.concatenate([[-np.inf], a, [np.inf]])
            g0 = np.concatenate([[0.0], np.cumsum(g), [0.0]])
            g1 = np.concatenate([[0.0], np.cumsum(g * np.arange(1, a.size, dtype=np.float64)), [0.0]])
            g0[-1], g1[-1] = g0[-2], g1[-2]
            self._g0, self._g1 = g0, g1
        return self._padded, self._g0, self._g1  # type: ignore[return-value]


def _counts(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``b``: how many of sorted ``a`` are ``<= b_j`` and ``< b_j``. One binary search; the
    second only for the values of ``b`` that ``a`` also holds."""
    right = np.searchsorted(a, b, side="right")
    left = right.copy()
    tied = np.flatnonzero(a[np.maximum(right - 1, 0)] == b)
    tied = tied[right[tied] > 0]
    if tied.size:
        left[tied] = np.searchsorted(a, b[tied], side="left")
    return right, left


def _dot(x: np.ndarray, y: np.ndarray) -> float:
    """A dot product without BLAS (whose threads spin on a loaded machine for vectors this short)."""
    return float(np.einsum("i,i->", x, y))


_LEVELS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
_LEVELS_LOCK = threading.Lock()


def _levels(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """For current CDF levels ``j/m`` (j = 0..m): the levels, and the first reference gap index whose
    level ``(k+1)/n`` reaches each (``ceil(j*n/m) - 1``). The columns of one window share them."""
    key = (n, m)
    hit = _LEVELS.get(key)
    if hit is None:
        j = np.arange(m + 1, dtype=np.float64)
        # j*n is exact in float64 and one division rounds once: its ceiling is exact
        cross = np.ceil(j * n / m).astype(np.int64) - 1
        hit = (j / m, cross)
        with _LEVELS_LOCK:  # windows run on threads
            while len(_LEVELS) >= 8:
                _LEVELS.pop(next(iter(_LEVELS)))
            _LEVELS[key] = hit
    return hit


def ks_wasserstein(ref: SortedSample, b: np.ndarray, *, ks: bool = True, wasserstein: bool = True
                   ) -> tuple[float | None, float | None]:
    """The two-sample KS statistic and the Wasserstein-1 distance of the sorted finite values ``b``
    against ``ref`` (both non-empty).

    Intervals ``[start, end)`` where the current CDF is constant (``j/m``): before the first current
    value (from the smallest value of both), between consecutive ones, after the last (to the largest
    value of both). ``kl``: reference values ``<= start``, ``kr``: ``< end``.

    A reference compared once, or with a sample at least as large, is merged with ``b`` instead (a
    stable sort of two sorted runs is a linear merge: cheaper than the prefix sums when ``b`` is not
    smaller than the reference)."""
    a = ref.values
    if not ref.reused or b.size >= a.size:
        return _merged(a, b, ks, wasserstein)
    n, m = a.size, int(b.size)
    right, left = _counts(a, b)
    lo, hi = min(a[0], b[0]), max(a[-1], b[-1])
    starts = np.concatenate([[lo], b])
    ends = np.concatenate([b, [hi]])
    kl = np.concatenate([[np.searchsorted(a, lo, side="right")], right])
    kr = np.concatenate([left, [np.searchsorted(a, hi, side="left")]])
    c, cross = _levels(n, m)
    f_lo = kl * (1.0 / n)
    f_lo -= c
    np.abs(f_lo, out=f_lo)
    f_hi = kr * (1.0 / n)
    f_hi -= c
    np.abs(f_hi, out=f_hi)
    d = None
    if ks:
        real = ends > starts  # a zero-length interval (tied current values) holds no CDF value
        d = float(max(f_lo[real].max(initial=0.0), f_hi[real].max(initial=0.0)))
    w = None
    if wasserstein:
        padded, g0, g1 = ref.prefix()
        # start .. first reference value after it (or the end): F_ref = kl/n
        first = padded[kl + 1]
        np.minimum(first, ends, out=first)
        # last reference value before the end (when after ``first``) .. end: F_ref = kr/n
        last = padded[kr]
        np.maximum(last, first, out=last)
        first -= starts
        np.subtract(ends, last, out=last)
        total = _dot(first, f_lo) + _dot(last, f_hi)
        # the reference's gaps k = kl .. kr-2 inside, F_ref = (k+1)/n: below the current CDF's level
        # j/m before ``cross``, at or above it from there
        top = kr - 1
        np.maximum(top, kl, out=top)
        split = np.clip(cross, kl, top)
        g0s = g0[split]
        below = g0s - g0[kl]
        below -= g0[top]
        below += g0s
        total += _dot(c, below)
        g1s = g1[split]
        above = g1[top] - g1s
        above += g1[kl]
        above -= g1s
        total += float(above.sum()) / n
        w = max(total, 0.0)
    return d, w


def _merged(a: np.ndarray, b: np.ndarray, ks: bool, wasserstein: bool) -> tuple[float | None, float | None]:
    """KS and Wasserstein from one merge of the two sorted samples: counting which side each merged
    value came from gives both CDFs; within a run of ties only its end counts."""
    both = np.concatenate([a, b])
    order = np.argsort(both, kind="stable")
    merged = both[order]
    ca = np.cumsum(order < a.size)
    cb = np.arange(1, merged.size + 1) - ca
    ends = np.empty(merged.size, dtype=bool)
    np.not_equal(merged[1:], merged[:-1], out=ends[:-1])
    ends[-1] = True
    values, diff = merged[ends], np.abs(ca[ends] / a.size - cb[ends] / b.size)
    d = float(diff.max()) if ks else None
    w = max(_dot(diff[:-1], np.diff(values)), 0.0) if wasserstein else None
    return d, w


def sturges_edges(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")`` for two sorted non-empty samples,
    without concatenating them."""
    lo, hi = float(min(a[0], b[0])), float(max(a[-1], b[-1]))
    width = (hi - lo) / (float(np.log2(a.size + b.size)) + 1.0)
    first, last = (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)
    bins = int(np.ceil((last - first) / width)) if width else 1
    return np.linspace(first, last, bins + 1, endpoint=True)


def bin_counts(a: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(a, edges)[0]`` for sorted ``a`` inside the edges' range (the last bin closed)."""
    cuts = np.searchsorted(a, edges[1:-1], side="left")
    return np.diff(np.concatenate([[0], cuts, [a.size]])).astype(np.float64)
