"""Model performance from labels: vectorised numpy metrics equal to scikit-learn's.

Classification: accuracy; precision, recall and F1 of the positive class (binary) and their macro
averages; ROC AUC (binary, or one-vs-rest macro for multiclass) and log loss when probabilities are
given. Regression: RMSE, MAE, R². A class missing from the predictions scores 0 where scikit-learn
would warn (``zero_division=0``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "precision_macro", "recall_macro", "f1_macro",
                  "roc_auc", "log_loss")
REGRESSION = ("rmse", "mae", "r2")
METRICS = CLASSIFICATION + REGRESSION
#: metrics where a lower value is better (every other one: higher is better)
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` means a better model."""
    return metric not in LOWER_IS_BETTER


def positive_label(classes: Sequence[Any]) -> Any:
    """The positive class of a binary problem: ``1`` (or ``True``) when present, else the larger class."""
    for c in classes:
        if c is True or (not isinstance(c, str) and c == 1):
            return c
    return classes[-1]


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=float)
    np.divide(num, den, out=out, where=den > 0)
    return out


def auc_from_scores(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of a binary 0/1 ``y`` by ranks (Mann-Whitney U, ties share their mean rank); NaN when
    one class is absent."""
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y.astype(bool)].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification(y_true: Any, y_pred: Any, proba: Any = None, classes: Sequence[Any] | None = None
                   ) -> dict[str, float]:
    """Classification metrics. ``proba``: an (n, k) array whose columns follow ``classes`` (sorted
    classes by default), or for a binary problem a 1-D array of the positive class's probability."""
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    if yt.shape != yp.shape or yt.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of one length, got {yt.shape} and {yp.shape}")
    n = yt.size
    out: dict[str, float] = {"accuracy": float(np.mean(yt == yp)) if n else float("nan")}
    labels, codes = np.unique(np.concatenate([yt, yp]), return_inverse=True)
    k = labels.size
    t, p = codes[:n], codes[n:]
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(float)
    pred_pos, true_pos = cm.sum(axis=0).astype(float), cm.sum(axis=1).astype(float)
    prec, rec = _safe_div(tp, pred_pos), _safe_div(tp, true_pos)
    f1 = _safe_div(2 * tp, pred_pos + true_pos)
    if k:
        out.update(precision_macro=float(prec.mean()), recall_macro=float(rec.mean()), f1_macro=float(f1.mean()))
    if k <= 2 and n:
        seen = list(labels.tolist()) if classes is None else list(classes)
        pos = 1 if len(seen) == 1 and not isinstance(seen[0], str) else positive_label(seen)
        i = int(np.searchsorted(labels, pos)) if pos in labels.tolist() else None
        out.update({m: float(v[i]) if i is not None else 0.0 for m, v in (("precision", prec), ("recall", rec),
                                                                             ("f1", f1))})
    if proba is not None and n:
        out.update(_probabilistic(yt, np.asarray(proba, dtype=float), classes))
    return out


def _probabilistic(yt: np.ndarray, proba: np.ndarray, classes: Sequence[Any] | None) -> dict[str, float]:
    cls = np.asarray(classes) if classes is not None else np.unique(yt)
    if proba.ndim == 1:
        if cls.size == 1:  # only one class seen: the other is unknown, scores stay defined on 0/1
            cls = np.asarray([0, 1]) if cls[0] in (0, 1) else cls
        proba = np.column_stack([1 - proba, proba])
    if proba.shape != (yt.size, cls.size):
        raise ValueError(f"proba has shape {proba.shape}; expected ({yt.size}, {cls.size}) for classes "
                         f"{cls.tolist()}")
    order = np.argsort(cls, kind="stable")
    idx = np.searchsorted(cls[order], yt)
    idx = np.clip(idx, 0, cls.size - 1)
    known = cls[order][idx] == yt
    if not known.all():
        raise ValueError(f"label {yt[~known][0]!r} is not one of the probability columns' classes {cls.tolist()}")
    col = order[idx]
    eps = np.finfo(proba.dtype).eps
    p_true = np.clip(proba[np.arange(yt.size), col], eps, 1 - eps)
    out = {"log_loss": float(-np.log(p_true).mean())}
    if cls.size == 2:
        out["roc_auc"] = auc_from_scores(col == 1, proba[:, 1])
    else:  # one-vs-rest, macro over the classes present
        aucs = [auc_from_scores(col == j, proba[:, j]) for j in range(cls.size)]
        present = [a for a in aucs if not np.isnan(a)]
        out["roc_auc"] = float(np.mean(present)) if len(present) == cls.size else float("nan")
    return out


def regression(y_true: Any, y_pred: Any) -> dict[str, float]:
    """RMSE, MAE and R² (R² is 1.0 for a perfect fit of a constant target and 0.0 otherwise, as
    scikit-learn's ``force_finite``)."""
    yt, yp = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if yt.shape != yp.shape or yt.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of one length, got {yt.shape} and {yp.shape}")
    if not yt.size:
        return {"rmse": float("nan"), "mae": float("nan"), "r2": float("nan")}
    err = yt - yp
    ss_res = float(np.dot(err, err))
    ss_tot = float(((yt - yt.mean()) ** 2).sum())
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)
    return {"rmse": float(np.sqrt(ss_res / yt.size)), "mae": float(np.abs(err).mean()), "r2": r2}


def measure(y_true: Any, y_pred: Any, proba: Any = None, task: str = "classification",
            classes: Sequence[Any] | None = None) -> dict[str, float]:
    """Every metric of ``task`` (``classification`` or ``regression``) for these labels and predictions."""
    if task == "regression":
        return regression(y_true, y_pred)
    if task == "classification":
        return classification(y_true, y_pred, proba, classes)
    raise ValueError(f"task {task!r}: expected 'classification' or 'regression'")
