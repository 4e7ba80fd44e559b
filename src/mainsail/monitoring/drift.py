"""Drift between a reference sample and a current one: per column, for the prediction, and for the
whole table (share of drifted columns, PCA reconstruction error).

Tests and their defaults follow Evidently's (so a user moving from it sees the same numbers):

| column | reference rows ≤ 1000 | more reference rows |
|---|---|---|
| numeric, more than 5 distinct values | ``ks`` (p-value ≤ 0.05) | ``wasserstein`` normed by the reference's std (≥ 0.1) |
| numeric with 3–5 values, categorical with 3+ | ``chi2`` (p-value < 0.05) | ``jensenshannon`` (≥ 0.1) |
| two values | ``z`` (p-value < 0.05) | ``jensenshannon`` (≥ 0.1) |

``psi`` (≥ 0.1) is available for any column. Binning for ``psi`` and ``jensenshannon`` on numeric columns
is ``"equal_width"`` (Sturges' number of equal-width bins over both samples, as Evidently does; columns
with at most 20 distinct reference values are binned per value) or ``"quantile"`` (the reference's
deciles, open-ended at both ends). Empty bins take a small share (Evidently's rule: 1e-4, or the
smallest non-zero share / 1e6 when that is smaller) applied to *shares*, never counts, so PSI does not
grow with the sample size. Nulls and infinities are dropped first.

The numeric work is vectorised: each column is sorted once per side, one merge of the two sorted
samples gives the two empirical CDFs, and KS, Wasserstein and the quantile bins all read from them.
KS and Wasserstein equal ``scipy.stats.ks_2samp`` and ``scipy.stats.wasserstein_distance``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from mainsail.core.errors import InvalidInput
from mainsail.data.stats import psi_shares
from mainsail.monitoring.kernels import SortedSample, bin_counts, ks_wasserstein, sturges_edges

TESTS = ("ks", "wasserstein", "psi", "jensenshannon", "chi2", "z")
DEFAULT_THRESHOLDS = {"ks": 0.05, "chi2": 0.05, "z": 0.05, "wasserstein": 0.1, "psi": 0.1, "jensenshannon": 0.1}
P_VALUE_TESTS = frozenset({"ks", "chi2", "z"})
NUMERIC_ONLY = frozenset({"ks", "wasserstein"})
BINNINGS = ("equal_width", "quantile")
DRIFT_SHARE = 0.5  # the dataset drifts when at least this share of its columns does (Evidently's default)


@dataclasses.dataclass(frozen=True)
class ColumnDrift:
    """One test on one column. ``score`` is what the threshold applies to: the p-value of a hypothesis
    test (drift when small) or the distance (drift when large)."""

    column: str
    kind: str  # "numeric" | "categorical"
    test: str
    score: float | None
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool
    status: str = "ok"  # "ok" | "insufficient_data"
    primary: bool = True
    reference_rows: int = 0
    current_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in dataclasses.asdict(self).items()}


@dataclasses.dataclass(frozen=True)
class DriftReport:
    """Every test run; ``columns`` are the primary test of each column (what the share counts)."""

    results: list[ColumnDrift]
    share_drifted: float
    dataset_drift: bool
    status: str  # "ok" | "insufficient_data"
    binning: str
    drift_share: float = DRIFT_SHARE

    @property
    def columns(self) -> list[ColumnDrift]:
        return [r for r in self.results if r.primary]

    @property
    def drifted_columns(self) -> list[str]:
        return [r.column for r in self.columns if r.drifted]

    def column(self, name: str) -> ColumnDrift:
        for r in self.columns:
            if r.column == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "share_drifted": self.share_drifted, "dataset_drift": self.dataset_drift,
                "drift_share": self.drift_share, "binning": self.binning,
                "drifted_columns": self.drifted_columns, "results": [r.to_dict() for r in self.results]}


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


# ---- inputs -------------------------------------------------------------------------------------

def _columns_of(data: Any, where: str) -> dict[str, np.ndarray]:
    """Name → 1-D numpy array for a pyarrow Table, a pandas DataFrame or a mapping of arrays."""
    if hasattr(data, "column_names") and hasattr(data, "column"):  # pyarrow.Table
        return {n: data.column(n).to_numpy(zero_copy_only=False) for n in data.column_names}
    if hasattr(data, "columns") and hasattr(data, "__getitem__") and hasattr(data, "dtypes"):  # pandas
        return {str(n): data[n].to_numpy() for n in data.columns}
    if isinstance(data, Mapping):  # a prepared reference column (SortedSample) is kept as it is
        return {str(k): v if isinstance(v, SortedSample) else np.asarray(v) for k, v in data.items()}
    raise InvalidInput(f"{where}: expected a pyarrow Table, a pandas DataFrame or a mapping of column arrays, "
                       f"not {type(data).__name__}", code="invalid_drift_input")


def _is_numeric(a: np.ndarray | SortedSample) -> bool:
    return isinstance(a, SortedSample) or a.dtype.kind in "iufb"


def prepare(values: Any) -> SortedSample | np.ndarray:
    """A reference column made ready for any number of :func:`compute_drift` calls (pass it in a mapping
    as the reference): numeric values cleaned and sorted once, with the statistics the tests reuse;
    other values are returned as a numpy array."""
    a = values.to_numpy(zero_copy_only=False) if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray) \
        else np.asarray(values)
    return SortedSample.of(a, reused=True) if a.dtype.kind in "iufb" else a


def _clean_numeric(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64, copy=False)
    return a[np.isfinite(a)]


def _clean_categorical(a: np.ndarray) -> np.ndarray:
    """Non-null values: numbers as float64, anything else as Python strings (an object array; a column
    already of strings is kept as it is, others are converted)."""
    if a.dtype.kind in "iufb":
        a = a.astype(np.float64, copy=False)
        return a[np.isfinite(a)]
    import pandas as pd

    a = a.astype(object, copy=False)
    a = a[~pd.isna(a)]
    if pd.api.types.infer_dtype(a, skipna=False) != "string":
        a = a.astype(str).astype(object)
    return a


# ---- numeric kernels (sorted inputs) --------------------------------------------------------------

def _ks_pvalue(d: float, a: np.ndarray, b: np.ndarray) -> float:
    n1, n2 = a.size, b.size
    if max(n1, n2) <= 10_000:  # scipy's own choice of the exact distribution for small samples
        from scipy.stats import ks_2samp

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(ks_2samp(a, b).pvalue)
    from scipy.stats import kstwo

    m, n = sorted([float(n1), float(n2)], reverse=True)
    return float(np.clip(kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))


def _numeric_shares(ref: SortedSample, b: np.ndarray, binning: str) -> tuple[np.ndarray, np.ndarray]:
    """Bin shares of a prepared reference and a sorted numeric sample."""
    a = ref.values
    if binning == "quantile":
        edges = np.unique(a[np.minimum((np.arange(1, 10) * a.size) // 10, a.size - 1)])
        ca = np.diff(np.concatenate([[0], np.searchsorted(a, edges, side="left"), [a.size]]))
        cb = np.diff(np.concatenate([[0], np.searchsorted(b, edges, side="left"), [b.size]]))
        return ca / a.size, cb / b.size
    if ref.distinct > 20:
        edges = sturges_edges(a, b)
        return bin_counts(a, edges) / a.size, bin_counts(b, edges) / b.size
    keys, ia, ib = _keys_counts(a, b)
    return ia / a.size, ib / b.size


def _distinct_sorted(a: np.ndarray) -> int:
    return int(a.size and 1 + np.count_nonzero(a[1:] != a[:-1]))


def _keys_counts(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sorted distinct values of both samples and each sample's count of each (strings by hashing,
    only the distinct values sorted)."""
    if a.dtype.kind in "iufb" and b.dtype.kind in "iufb":
        keys, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    else:
        import pandas as pd

        inverse, keys = pd.factorize(np.concatenate([a, b]), sort=True)
        keys = np.asarray(keys)
    ca = np.bincount(inverse[: a.size], minlength=keys.size).astype(np.float64)
    cb = np.bincount(inverse[a.size:], minlength=keys.size).astype(np.float64)
    return keys, ca, cb


def _psi(pa_: np.ndarray, pb: np.ndarray) -> float:
    return psi_shares(pa_, pb)


def _js(pa_: np.ndarray, pb: np.ndarray) -> float:
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(pa_, pb))


# ---- per column -------------------------------------------------------------------------------------

def _default_test(kind: str, ref_rows: int, distinct: int) -> str:
    if ref_rows <= 1000:
        if kind == "numeric" and distinct > 5:
            return "ks"
        return "chi2" if distinct > 2 else "z"
    return "wasserstein" if kind == "numeric" and distinct > 5 else "jensenshannon"


def default_test(reference: np.ndarray) -> str:
    """The test a column gets by default, judged from its reference values alone (what a window
    without data reports as its test)."""
    if isinstance(reference, SortedSample):
        return _default_test("numeric", reference.size, reference.distinct)
    numeric = _is_numeric(reference)
    a = _clean_numeric(reference) if numeric else _clean_categorical(reference)
    distinct = _distinct_sorted(np.sort(a)) if numeric else int(np.unique(a).size)
    return _default_test("numeric" if numeric else "categorical", int(a.size), distinct)


def _numeric_tests(ref: SortedSample, b: np.ndarray, tests: Iterable[str], binning: str) -> dict[str, tuple]:
    """(statistic, p_value, score) per test for a prepared reference and a sorted numeric sample."""
    out: dict[str, tuple] = {}
    d, w = None, None
    if {"ks", "wasserstein"} & set(tests):
        d, w = ks_wasserstein(ref, b, ks="ks" in tests, wasserstein="wasserstein" in tests)
    for t in tests:
        if t == "ks":
            p = _ks_pvalue(d, ref.values, b)  # type: ignore[arg-type]
            out[t] = (d, p, p)
        elif t == "wasserstein":
            norm = max(ref.std, 0.001)
            out[t] = (w, None, w / norm)  # type: ignore[operator]
        elif t in ("psi", "jensenshannon"):
            sa, sb = _numeric_shares(ref, b, binning)
            v = _psi(sa, sb) if t == "psi" else _js(sa, sb)
            out[t] = (v, None, v)
        else:
            out[t] = _categorical_tests(ref.values, b, [t])[t]
    return out


def _categorical_tests(a: np.ndarray, b: np.ndarray, tests: Iterable[str]) -> dict[str, tuple]:
    keys, ca, cb = _keys_counts(a, b)
    out: dict[str, tuple] = {}
    for t in tests:
        if t == "chi2":
            from scipy.stats import chisquare

            expected = ca * (b.size / a.size)
            with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if np.any((expected == 0) & (cb > 0)):
                    stat, p = math.inf, 0.0  # a category the reference never had
                else:
                    keep = expected > 0
                    stat, p = (float(x) for x in chisquare(cb[keep], expected[keep]))
            out[t] = (stat, p, p)
        elif t == "z":
            out[t] = _z_test(ca, cb, a.size, b.size)
        elif t == "psi":
            v = _psi(ca / a.size, cb / b.size)
            out[t] = (v, None, v)
        elif t == "jensenshannon":
            v = _js(ca / a.size, cb / b.size)
            out[t] = (v, None, v)
        else:
            raise InvalidInput(f"test {t!r} needs a numeric column", code="invalid_drift_test")
    return out


def _z_test(ca: np.ndarray, cb: np.ndarray, n1: int, n2: int) -> tuple:
    from scipy.stats import norm

    if ca.size <= 1:
        return 0.0, 1.0, 1.0
    p1, p2 = ca[0] / n1, cb[0] / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    denom = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = 0.0 if denom == 0 else (p1 - p2) / denom
    p = float(2 * (1 - norm.cdf(abs(z))))
    return float(z), p, p


def _drifted(test: str, score: float | None, threshold: float) -> bool:
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return False
    if test == "ks":
        return score <= threshold
    if test in P_VALUE_TESTS:
        return score < threshold
    return score >= threshold


# ---- the report ---------------------------------------------------------------------------------

def compute_drift(reference: Any, current: Any, columns: list[str] | None = None, *,
                  tests: Mapping[str, str | list[str]] | str | None = None,
                  thresholds: Mapping[str, float] | None = None, binning: str = "equal_width",
                  categorical: list[str] | None = None, min_rows: int = 30,
                  drift_share: float = DRIFT_SHARE) -> DriftReport:
    """Drift of ``current`` against ``reference`` per column (see the module doc for tests and defaults).

    ``tests`` maps a column to a test name (or a list, the first being primary), or is ``"all"`` to run
    every test that applies to each column besides its default; ``thresholds`` maps a column or a test
    name to a threshold (column first). A column with fewer than ``min_rows`` usable values on either
    side is ``insufficient_data`` and never counts as drift."""
    if binning not in BINNINGS:
        raise InvalidInput(f"binning must be one of {', '.join(BINNINGS)}, not {binning!r}",
                           errors=[{"loc": ["binning"], "msg": "unknown binning", "type": "enum"}])
    ref_cols, cur_cols = _columns_of(reference, "reference"), _columns_of(current, "current")
    names = _pick_columns(columns, ref_cols, cur_cols)
    per_column = dict(tests) if isinstance(tests, Mapping) else {}
    run_all = tests == "all"
    if isinstance(tests, str) and not run_all:
        raise InvalidInput(f"tests must be a mapping of column to test, or 'all', not {tests!r}",
                           code="invalid_drift_test")
    for col, spec in per_column.items():
        if col not in names:
            raise InvalidInput(f"tests names unknown column {col!r}; known: {', '.join(names)}",
                               code="unknown_column", errors=[{"loc": ["tests", col], "msg": "unknown column",
                                                               "type": "unknown_column"}])
        for t in [spec] if isinstance(spec, str) else spec:
            if t not in TESTS:
                raise InvalidInput(f"unknown drift test {t!r} for column {col!r}; known: {', '.join(TESTS)}",
                                   code="invalid_drift_test")
    thresholds = dict(thresholds or {})
    cats = set(categorical or [])
    results: list[ColumnDrift] = []
    for name in names:
        results.extend(_column(name, ref_cols[name], cur_cols[name], per_column.get(name), run_all,
                               thresholds, binning, name in cats, min_rows))
    primary = [r for r in results if r.primary and r.status == "ok"]
    share = (sum(r.drifted for r in primary) / len(primary)) if primary else 0.0
    status = "ok" if primary else "insufficient_data"
    return DriftReport(results=results, share_drifted=share, dataset_drift=bool(primary) and share >= drift_share,
                       status=status, binning=binning, drift_share=drift_share)


def _pick_columns(columns: list[str] | None, ref: dict[str, np.ndarray], cur: dict[str, np.ndarray]) -> list[str]:
    if columns is None:
        return [c for c in ref if c in cur]
    for side, cols in (("reference", ref), ("current", cur)):
        missing = [c for c in columns if c not in cols]
        if missing:
            raise InvalidInput(f"column {missing[0]!r} is not in the {side} data; known: {', '.join(cols)}",
                               code="unknown_column",
                               errors=[{"loc": ["columns", columns.index(missing[0])], "msg": f"not in the {side}",
                                        "type": "unknown_column"}])
    return list(columns)


def _column(name: str, ref: np.ndarray | SortedSample, cur: np.ndarray, spec: str | list[str] | None,
            run_all: bool, thresholds: dict[str, float], binning: str, force_categorical: bool,
            min_rows: int) -> list[ColumnDrift]:
    numeric = _is_numeric(ref) and _is_numeric(cur) and not force_categorical
    kind = "numeric" if numeric else "categorical"
    if numeric:
        sample = ref if isinstance(ref, SortedSample) else SortedSample.of(ref)
        a, b = sample.values, SortedSample.of(cur).values
    else:
        a = _clean_categorical(ref.values if isinstance(ref, SortedSample) else ref)
        b = _clean_categorical(cur)
        if (a.dtype.kind == "O") != (b.dtype.kind == "O"):  # strings on one side, numbers on the other
            a, b = (x if x.dtype.kind == "O" else x.astype(str).astype(object) for x in (a, b))
    if a.size < min_rows or b.size < min_rows:
        test = ([spec] if isinstance(spec, str) else spec or ["ks" if numeric else "chi2"])[0]
        thr = thresholds.get(name, thresholds.get(test, DEFAULT_THRESHOLDS[test]))
        return [ColumnDrift(name, kind, test, None, None, None, thr, False, "insufficient_data", True,
                            int(a.size), int(b.size))]
    if spec:
        chosen = [spec] if isinstance(spec, str) else list(spec)
    else:
        distinct = sample.distinct if numeric else 0
        if distinct <= 5:  # only then does the union's count matter (more than 5 values is enough)
            distinct = _keys_counts(a, b)[0].size
        chosen = [_default_test(kind, a.size, distinct)]
    if run_all:
        extra = ["ks", "wasserstein", "psi", "jensenshannon"] if numeric else ["chi2", "psi", "jensenshannon"]
        chosen += [t for t in extra if t not in chosen]
    if not numeric and any(t in NUMERIC_ONLY for t in chosen):
        raise InvalidInput(f"column {name!r} is categorical: tests {', '.join(NUMERIC_ONLY)} need numbers",
                           code="invalid_drift_test")
    values = _numeric_tests(sample, b, chosen, binning) if numeric else _categorical_tests(a, b, chosen)
    out = []
    for i, t in enumerate(chosen):
        stat, p, score = values[t]
        thr = float(thresholds.get(name, thresholds.get(t, DEFAULT_THRESHOLDS[t]))) if i == 0 else \
            float(thresholds.get(t, DEFAULT_THRESHOLDS[t]))
        out.append(ColumnDrift(name, kind, t, score, stat, p, thr, _drifted(t, score, thr), "ok", i == 0,
                               int(a.size), int(b.size)))
    return out


class MultivariateDrift:
    """PCA reconstruction error fitted on a reference once, then scored on any number of current samples
    (a monitor scores every window against one fit). The components come from the eigenvectors of the
    standardised reference's covariance (a k×k problem), the same directions an SVD of the data gives."""

    def __init__(self, reference: Any, columns: list[str] | None = None, *, variance: float = 0.65,
                 chunks: int = 10, sigmas: float = 3.0, current_columns: Iterable[str] | None = None):
        ref_cols = _columns_of(reference, "reference")
        names = columns if columns is not None else list(ref_cols)
        if current_columns is not None:
            names = [c for c in names if c in set(current_columns)]
        self.columns = [c for c in names if c in ref_cols and _is_numeric(ref_cols[c])]
        self.fitted = len(self.columns) >= 2 and len(ref_cols[self.columns[0]]) >= 2 * chunks if self.columns else False
        if not self.fitted:
            return
        ref = np.column_stack([ref_cols[c].astype(np.float64) for c in self.columns])
        ref[~np.isfinite(ref)] = np.nan
        self.mean = np.nanmean(ref, axis=0)
        std = np.nanstd(ref, axis=0)
        std[~(std > 0)] = 1.0
        self.std = std
        z_ref = np.where(np.isnan(ref), 0.0, (ref - self.mean) / std)
        self.center = z_ref.mean(axis=0)
        c = z_ref - self.center
        eigval, eigvec = np.linalg.eigh(c.T @ c)
        order = np.argsort(eigval)[::-1]
        eigval, eigvec = np.clip(eigval[order], 0, None), eigvec[:, order]
        explained = np.cumsum(eigval) / max(float(np.sum(eigval)), 1e-300)
        self.components = int(np.searchsorted(explained, variance) + 1)
        self.basis = eigvec[:, :self.components].T
        ref_chunks = np.array([e.mean() for e in np.array_split(self._errors(z_ref), chunks)])
        self.reference_error = float(ref_chunks.mean())
        self.lower = float(ref_chunks.mean() - sigmas * ref_chunks.std())
        self.upper = float(ref_chunks.mean() + sigmas * ref_chunks.std())

    def _errors(self, z: np.ndarray) -> np.ndarray:
        """Each row's distance to the components' span: with orthonormal components the residual's
        squared norm is the row's minus its projection's (one small matrix product, no reconstruction)."""
        c = z - self.center
        p = c @ self.basis.T
        sq = np.einsum("ij,ij->i", c, c)
        sq -= np.einsum("ij,ij->i", p, p)
        np.maximum(sq, 0.0, out=sq)
        return np.sqrt(sq, out=sq)

    def score(self, current: Any) -> dict[str, Any]:
        """The current sample's mean reconstruction error against the reference's band."""
        cur_cols = _columns_of(current, "current")
        names = [c for c in self.columns if c in cur_cols and _is_numeric(cur_cols[c])]
        if not self.fitted or names != self.columns or len(cur_cols[names[0]]) < 2:
            return {"status": "insufficient_data", "columns": names, "error": None, "drifted": False}
        z = np.column_stack([cur_cols[c] for c in names]).astype(np.float64, copy=False)
        z -= self.mean
        z /= self.std
        bad = ~np.isfinite(z)  # a null or infinite value takes the reference's mean (0 once standardised)
        if bad.any():
            z[bad] = 0.0
        err = float(self._errors(z).mean())
        return {"status": "ok", "columns": names, "components": self.components, "error": err,
                "reference_error": self.reference_error, "lower": self.lower, "upper": self.upper,
                "drifted": not (self.lower <= err <= self.upper)}


def compute_multivariate_drift(reference: Any, current: Any, columns: list[str] | None = None, *,
                               variance: float = 0.65, chunks: int = 10, sigmas: float = 3.0) -> dict[str, Any]:
    """Multivariate drift by PCA reconstruction error (NannyML's method): standardise on the reference,
    keep the components explaining ``variance`` of it, and compare the current sample's mean
    reconstruction error with the band (mean ± ``sigmas`` std) of the reference's chunks' errors.
    Numeric columns only; nulls take the reference's mean."""
    ref_cols, cur_cols = _columns_of(reference, "reference"), _columns_of(current, "current")
    names = [c for c in _pick_columns(columns, ref_cols, cur_cols)
             if _is_numeric(ref_cols[c]) and _is_numeric(cur_cols[c])]
    model = MultivariateDrift(ref_cols, names, variance=variance, chunks=chunks, sigmas=sigmas)
    return model.score(cur_cols) if len(names) >= 2 else {"status": "insufficient_data", "columns": names,
                                                           "error": None, "drifted": False}
