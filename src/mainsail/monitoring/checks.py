"""The checks of one window against the reference, as result dicts (pure: no database, no I/O).

Result dicts are ``{"kind", "feature", "test", "variant", "value", "threshold", "status", "estimated",
"rows"}`` (``feature``/``test``/``variant`` are ``""`` when they do not apply), the shape of the
``monitor_results`` rows and of the ``monitor.completed`` event's ``results``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from mainsail.monitoring import quality
from mainsail.monitoring.drift import (
    DEFAULT_THRESHOLDS,
    MultivariateDrift,
    compute_drift,
    default_test,
    prepare,
)
from mainsail.monitoring.kernels import SortedSample
from mainsail.monitoring.schemas import DriftConfig, QualityConfig
from mainsail.serving.inference_log import META, RAW, feature_column

NOT_FEATURES = frozenset(META.names) | frozenset(RAW.names) | {"prediction"}


@dataclass
class Reference:
    """A loaded reference: its table (columns named as the features), what quality checks need of it,
    and which of its columns stands for the prediction (``prediction`` or the label), if any. What every
    window reuses is prepared once: numeric columns as sorted arrays (drift sorts a sorted array in
    linear time) and the PCA fit of multivariate drift."""

    table: pa.Table
    columns: dict[str, quality.ColumnRef]
    prediction: str | None
    label: str
    _arrays: dict[str, SortedSample | np.ndarray] = field(default_factory=dict)
    _mv: dict[tuple[str, ...], MultivariateDrift] = field(default_factory=dict)

    def array(self, name: str) -> SortedSample | np.ndarray:
        a = self._arrays.get(name)
        if a is None:
            a = self._arrays[name] = prepare(self.table[name])
        return a

    def test_for(self, name: str, drift: DriftConfig, key: str | None = None) -> tuple[str, float]:
        """The test and threshold column ``name`` (configured as ``key``) gets, for a window without
        data to run it on."""
        key = key or name
        spec = drift.tests.get(key)
        test = (spec if isinstance(spec, str) else spec[0]) if spec else default_test(self.array(name))
        return test, float(drift.thresholds.get(key, drift.thresholds.get(test, DEFAULT_THRESHOLDS[test])))

    def multivariate(self, columns: list[str]) -> MultivariateDrift:
        key = tuple(columns)
        if key not in self._mv:
            self._mv[key] = MultivariateDrift(self.table.select(columns), columns)
        return self._mv[key]


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS limited to one thread: the monitor's matrix products are small (rows × a few components),
    and OpenBLAS's threads spin against each other and the machine's other work (measured 10–20x
    slower on a loaded 2-core machine than one thread)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def result(kind: str, feature: str, test: str, value: float | None, threshold: float | None, status: str,
           rows: int, variant: str = "", estimated: bool = False) -> dict[str, Any]:
    return {"kind": kind, "feature": feature, "test": test, "variant": variant, "value": value,
            "threshold": threshold, "status": status, "estimated": estimated, "rows": rows}


def _float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def current_features(table: pa.Table, features: list[str], log_names: bool) -> pa.Table:
    """The window's feature columns named as the features (log columns of reserved names are
    ``input_<name>``); a feature the window lacks is left out (quality reports it missing)."""
    cols = {}
    for f in features:
        name = feature_column(f) if log_names else f
        if name in table.column_names:
            cols[f] = table[name]
    return pa.table(cols) if cols else pa.table({"__empty": pa.nulls(table.num_rows)}).drop(["__empty"])


def _drift_rows(report: Any, rows: int, variant: str) -> list[dict[str, Any]]:
    out = []
    for r in report.results:
        status = "insufficient_data" if r.status != "ok" else ("drift" if r.drifted else "ok")
        out.append(result("drift", r.column, r.test, _float(r.score), r.threshold, status, rows, variant))
    return out


def window_results(ref: Reference, current: pa.Table, features: list[str], drift: DriftConfig, qual: QualityConfig,
                   *, variant: str = "", log_names: bool = True, extra_ok: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Drift, multivariate drift, prediction drift and quality of one window. An empty window gives
    ``insufficient_data`` results, never drift."""
    rows = current.num_rows
    cur = current_features(current, features, log_names)
    both = [f for f in features if f in cur.column_names and f in ref.table.column_names]
    out: list[dict[str, Any]] = []
    if drift.enabled:
        if rows == 0 or not both:
            for f in features:
                test, threshold = ref.test_for(f, drift) if f in ref.table.column_names else ("", None)
                out.append(result("drift", f, test, None, threshold, "insufficient_data", rows, variant))
            out.append(result("drift", "", "share_drifted", None, drift.drift_share, "insufficient_data", rows, variant))
        else:
            tests = {c: t for c, t in drift.tests.items() if c in both}
            report = compute_drift({c: ref.array(c) for c in both}, cur.select(both), both, tests=tests or None,
                                   thresholds=drift.thresholds, binning=drift.binning, min_rows=drift.min_rows,
                                   drift_share=drift.drift_share)
            out += _drift_rows(report, rows, variant)
            status = "insufficient_data" if report.status != "ok" else ("drift" if report.dataset_drift else "ok")
            out.append(result("drift", "", "share_drifted", report.share_drifted, drift.drift_share, status, rows,
                              variant))
            if drift.multivariate:
                mv = ref.multivariate(both).score(cur.select(both))
                # as many components as columns reconstruct everything: there is nothing to measure
                full = mv["status"] == "ok" and mv.get("components", 0) >= len(mv["columns"])
                st = "insufficient_data" if mv["status"] != "ok" or full else ("drift" if mv["drifted"] else "ok")
                out.append(result("multivariate_drift", "", "pca_reconstruction", _float(mv.get("error")),
                                  _float(mv.get("upper")), st, rows, variant))
        if drift.prediction and ref.prediction and "prediction" in current.column_names:
            pred_ref = {"prediction": ref.array(ref.prediction)}
            pred_cur = {"prediction": current["prediction"]}
            if rows == 0 or current["prediction"].null_count == rows:
                test, threshold = ref.test_for(ref.prediction, drift, "prediction")
                out.append(result("drift", "prediction", test, None, threshold, "insufficient_data", rows, variant))
            else:
                tests = {"prediction": drift.tests["prediction"]} if "prediction" in drift.tests else None
                rep = compute_drift(pred_ref, pa.table(pred_cur), ["prediction"], tests=tests,
                                    thresholds=drift.thresholds, binning=drift.binning, min_rows=drift.min_rows)
                out += _drift_rows(rep, rows, variant)
    if qual.enabled:
        for r in quality.check_window(ref.columns, cur if rows else current_features(current, features, log_names),
                                      features, max_null_share=qual.max_null_share,
                                      max_out_of_range=qual.max_out_of_range, max_unseen=qual.max_unseen):
            out.append({**r, "variant": variant, "estimated": False, "rows": rows})
        if log_names:  # columns the logs carry that no feature names (extra features)
            known = {feature_column(f) for f in features} | extra_ok | NOT_FEATURES
            for name in current.column_names:
                if name in known or name.startswith("proba_"):
                    continue
                col = current[name]
                if rows and not pa.types.is_null(col.type) and col.null_count < rows:
                    out.append(result("quality", name, "extra", 1.0, 0.0, "breach", rows, variant))
        else:
            for name in current.column_names:
                if name not in features and name not in extra_ok and rows:
                    out.append(result("quality", name, "extra", 1.0, 0.0, "breach", rows, variant))
    return out
