"""Confidence-based performance estimation (CBPE): a classifier's accuracy, precision, recall, F1 and
ROC AUC estimated from its predicted probabilities alone, before any label arrives.

It follows NannyML's method (and matches its numbers, see benchmarks/cbpe.py): on the reference (labeled
data the model is known to do well on) it tests whether isotonic calibration lowers the expected
calibration error over ten stratified 90/10 splits (``random_state`` 42, ten equal-count bins) and, if
it does, fits an isotonic regression of the label on the probability. On current data each prediction
contributes its calibrated probability of being right to an expected confusion matrix (a predicted
positive with probability ``p`` adds ``p`` to TP and ``1 - p`` to FP), from which the metrics follow;
ROC AUC integrates the expected TPR/FPR curve ordered by the uncalibrated scores. Multiclass problems are
treated one-vs-rest per class (each class calibrated on its own, rows renormalised) and macro-averaged.
Every value it returns is an estimate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

BINARY_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
MULTICLASS_METRICS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc")


def _ece(y: np.ndarray, p: np.ndarray, bins: int) -> float:
    """Expected calibration error over ``bins`` equal-count bins of the sorted scores."""
    n = p.size
    if n <= 2 * bins:
        bins = n // 2
        if bins < 2:
            raise ValueError(f"{n} reference rows cannot be split into 2 calibration bins")
    order = np.argsort(p)  # numpy's default sort, as NannyML: ties fall into bins the same way
    p, y = p[order], y[order]
    width = n // bins
    edges = np.arange(0, n + 1, width)
    edges[-1] = n
    sums_p, sums_y = np.add.reduceat(p, edges[:-1]), np.add.reduceat(y.astype(float), edges[:-1])
    counts = np.diff(edges)
    return float(np.sum(counts / n * np.abs(sums_p / counts - sums_y / counts)))


def needs_calibration(y: np.ndarray, p: np.ndarray, bins: int = 10, splits: int = 10) -> bool:
    """Whether isotonic calibration lowers the expected calibration error on held-out reference rows."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.model_selection import StratifiedShuffleSplit

    if np.unique(y).size == 1:
        return False
    from mainsail.monitoring.performance import auc_from_scores

    if auc_from_scores(y, p) > 0.999:
        return False
    ys, raw, cal = [], [], []
    for train, test in StratifiedShuffleSplit(n_splits=splits, test_size=0.1, random_state=42).split(p, y):
        iso = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(p[train], y[train])
        ys.append(y[test])
        raw.append(p[test])
        cal.append(iso.predict(p[test]))
    yv = np.concatenate(ys)
    return _ece(yv, np.concatenate(raw), bins) > _ece(yv, np.concatenate(cal), bins)


class _Calibrator:
    """Isotonic calibration of one score, or none when it does not help on the reference."""

    def __init__(self, y: np.ndarray, p: np.ndarray, calibration: bool | None):
        from sklearn.isotonic import IsotonicRegression

        self.calibrated = needs_calibration(y, p) if calibration is None else calibration
        self._iso = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(p, y) if self.calibrated else None

    def __call__(self, p: np.ndarray) -> np.ndarray:
        return self._iso.predict(p) if self._iso is not None else p


def expected_counts(y_pred: np.ndarray, p: np.ndarray) -> tuple[float, float, float, float]:
    """Expected (TP, FP, FN, TN) of binary predictions ``y_pred`` whose positive probability is ``p``."""
    pos = y_pred.astype(bool)
    tp, pred_pos = float(p[pos].sum()), int(pos.sum())
    fn = float(p[~pos].sum())
    return tp, pred_pos - tp, fn, float((~pos).sum()) - fn


def estimated_roc_auc(calibrated: np.ndarray, scores: np.ndarray) -> float:
    """Area under the expected ROC curve: rows ordered by ``scores`` (highest first), expected true
    positives accumulate the calibrated probabilities (rounded to 5 decimals, as NannyML)."""
    order = np.argsort(scores)[::-1]
    tps = np.cumsum(calibrated[order])
    fps = 1 + np.arange(tps.size) - tps
    tps, fps = np.round(np.r_[0, tps], 5), np.round(np.r_[0, fps], 5)
    if tps[-1] == 0 or fps[-1] == 0:
        return float("nan")
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


def _binary(y_pred: np.ndarray, cal: np.ndarray, raw: np.ndarray) -> dict[str, float]:
    tp, fp, fn, tn = expected_counts(y_pred, cal)

    def div(a: float, b: float) -> float:
        return a / b if b else 0.0

    return {"accuracy": (tp + tn) / y_pred.size, "precision": div(tp, tp + fp), "recall": div(tp, tp + fn),
            "f1": div(tp, tp + 0.5 * (fp + fn)), "roc_auc": estimated_roc_auc(cal, raw)}


class CBPE:
    """Estimate a classifier's performance on unlabeled data from its predicted probabilities.

    ``CBPE().fit(reference_proba, reference_y).estimate(current_proba)``. Probabilities: for a binary
    problem a 1-D array of the positive class's probability (or an (n, 2) array); for ``k`` classes an
    (n, k) array whose columns follow ``classes`` (sorted labels of the reference by default).
    ``calibration``: ``None`` tests on the reference whether isotonic calibration helps (NannyML's rule),
    ``True``/``False`` forces it. Predicted labels default to ``proba >= threshold`` (binary) or the most
    probable class."""

    def __init__(self, classes: Sequence[Any] | None = None, threshold: float = 0.5, calibration: bool | None = None):
        self.classes = None if classes is None else list(classes)
        self.threshold = threshold
        self.calibration = calibration
        self._calibrators: list[_Calibrator] = []

    @property
    def binary(self) -> bool:
        return self.classes is not None and len(self.classes) == 2

    def _matrix(self, proba: Any) -> np.ndarray:
        p = np.asarray(proba, dtype=float)
        if p.ndim == 2 and self.binary and p.shape[1] == 2:
            p = p[:, 1]
        k = len(self.classes or [])
        if (p.ndim == 1 and not self.binary) or (p.ndim == 2 and p.shape[1] != k) or p.ndim > 2:
            raise ValueError(f"probabilities of shape {p.shape} do not fit {k} classes {self.classes}")
        if np.isnan(p).any():
            raise ValueError("probabilities contain NaN")
        return p

    def fit(self, reference_proba: Any, reference_y: Any) -> CBPE:
        """Learn calibration on labeled reference predictions."""
        y = np.asarray(reference_y)
        if self.classes is None:
            self.classes = np.unique(y).tolist()
            if len(self.classes) == 1 and np.asarray(reference_proba).ndim == 1:
                self.classes = [0, 1] if self.classes[0] in (0, 1) else self.classes
        if len(self.classes) < 2:
            raise ValueError(f"the reference needs at least two classes, got {self.classes}")
        p = self._matrix(reference_proba)
        if p.shape[0] != y.size:
            raise ValueError(f"{p.shape[0]} reference probabilities but {y.size} labels")
        if self.binary:
            self._calibrators = [_Calibrator((y == self.classes[1]).astype(int), p, self.calibration)]
        else:
            self._calibrators = [_Calibrator((y == c).astype(int), p[:, j], self.calibration)
                                 for j, c in enumerate(self.classes)]
        return self

    @property
    def calibrated(self) -> bool:
        """Whether (any class's) probabilities are calibrated before estimating."""
        return any(c.calibrated for c in self._calibrators)

    def calibrate(self, proba: Any) -> np.ndarray:
        """The calibrated probabilities (binary: of the positive class; multiclass: rows sum to 1)."""
        if not self._calibrators:
            raise RuntimeError("CBPE.fit must run before estimate")
        p = self._matrix(proba)
        if self.binary:
            return self._calibrators[0](p)
        cal = np.column_stack([c(p[:, j]) for j, c in enumerate(self._calibrators)])
        total = cal.sum(axis=1, keepdims=True)
        return np.divide(cal, total, out=np.full_like(cal, 1 / cal.shape[1]), where=total != 0)

    def _indexes(self, labels: np.ndarray) -> np.ndarray:
        cls = np.asarray(self.classes)
        order = np.argsort(cls)
        idx = order[np.clip(np.searchsorted(cls[order], labels), 0, cls.size - 1)]
        bad = cls[idx] != labels
        if bad.any():
            raise ValueError(f"predicted label {labels[bad][0]!r} is not one of the classes {self.classes}")
        return idx

    def estimate(self, current_proba: Any, y_pred: Any = None) -> dict[str, float]:
        """Estimated metrics on ``current_proba`` (with the model's predicted labels ``y_pred`` if given)."""
        cal = self.calibrate(current_proba)
        p = self._matrix(current_proba)
        if p.shape[0] == 0:
            return {m: float("nan") for m in (BINARY_METRICS if self.binary else MULTICLASS_METRICS)}
        assert self.classes is not None
        if self.binary:
            pred = (p >= self.threshold) if y_pred is None else (np.asarray(y_pred) == self.classes[1])
            return _binary(pred.astype(int), cal, p)
        pred_idx = p.argmax(axis=1) if y_pred is None else self._indexes(np.asarray(y_pred))
        per = [_binary((pred_idx == j).astype(int), cal[:, j], p[:, j]) for j in range(len(self.classes))]
        return {"accuracy": float(cal[np.arange(cal.shape[0]), pred_idx].mean()),
                "precision_macro": float(np.mean([x["precision"] for x in per])),
                "recall_macro": float(np.mean([x["recall"] for x in per])),
                "f1_macro": float(np.mean([x["f1"] for x in per])),
                "roc_auc": float(np.mean([x["roc_auc"] for x in per]))}
