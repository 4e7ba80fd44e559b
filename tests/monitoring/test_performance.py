"""monitoring.performance equals scikit-learn's metrics (binary, multiclass, string labels, regression)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mainsail.monitoring.performance import measure


def _close(a: float, b: float) -> None:
    assert a == pytest.approx(b, abs=1e-12, rel=1e-9), (a, b)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_equals_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 5000
    y = rng.integers(0, 2, n)
    p1 = np.clip(rng.beta(2, 2, n) * 0.6 + y * 0.3, 0, 1)
    p1[:50] = 0.5  # ties
    pred = (p1 >= 0.5).astype(int)
    got = measure(y, pred, proba=p1)
    _close(got["accuracy"], skm.accuracy_score(y, pred))
    _close(got["precision"], skm.precision_score(y, pred))
    _close(got["recall"], skm.recall_score(y, pred))
    _close(got["f1"], skm.f1_score(y, pred))
    _close(got["f1_macro"], skm.f1_score(y, pred, average="macro"))
    _close(got["precision_macro"], skm.precision_score(y, pred, average="macro"))
    _close(got["recall_macro"], skm.recall_score(y, pred, average="macro"))
    _close(got["roc_auc"], skm.roc_auc_score(y, p1))
    _close(got["log_loss"], skm.log_loss(y, np.column_stack([1 - p1, p1])))
    two = measure(y, pred, proba=np.column_stack([1 - p1, p1]), classes=[0, 1])
    _close(two["roc_auc"], got["roc_auc"])


def test_multiclass_and_string_labels_equal_sklearn() -> None:
    rng = np.random.default_rng(3)
    n, classes = 3000, np.array(["bird", "cat", "dog"])
    raw = rng.dirichlet([1, 1, 1], n)
    y = classes[np.array([rng.choice(3, p=r) for r in raw])]
    pred = classes[raw.argmax(1)]
    got = measure(y, pred, proba=raw, classes=list(classes))
    _close(got["accuracy"], skm.accuracy_score(y, pred))
    for m in ("precision", "recall", "f1"):
        _close(got[f"{m}_macro"], getattr(skm, f"{m}_score")(y, pred, average="macro"))
    _close(got["roc_auc"], skm.roc_auc_score(y, raw, multi_class="ovr", labels=classes))
    _close(got["log_loss"], skm.log_loss(y, raw, labels=classes))
    assert "precision" not in got  # not binary


def test_string_binary_and_degenerate_cases() -> None:
    y = np.array(["no", "yes", "yes", "no", "yes"])
    pred = np.array(["no", "yes", "no", "no", "no"])
    got = measure(y, pred)
    _close(got["precision"], skm.precision_score(y, pred, pos_label="yes"))
    _close(got["recall"], skm.recall_score(y, pred, pos_label="yes"))
    only0 = measure(np.zeros(4, int), np.zeros(4, int))
    assert only0["precision"] == 0.0 and only0["accuracy"] == 1.0
    empty = measure(np.array([]), np.array([]))
    assert np.isnan(empty["accuracy"])


def test_regression_equals_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(10, 3, 10_000)
    pred = y + rng.normal(0, 1, y.size)
    got = measure(y, pred, task="regression")
    _close(got["rmse"], skm.root_mean_squared_error(y, pred))
    _close(got["mae"], skm.mean_absolute_error(y, pred))
    _close(got["r2"], skm.r2_score(y, pred))
    const = measure(np.ones(3), np.array([1.0, 1.0, 2.0]), task="regression")
    assert const["r2"] == skm.r2_score(np.ones(3), [1.0, 1.0, 2.0])


def test_bad_input_names_the_problem() -> None:
    with pytest.raises(ValueError, match="one length"):
        measure([1, 0], [1])
    with pytest.raises(ValueError, match="not one of"):
        measure([0, 2], [0, 1], proba=[[0.5, 0.5], [0.5, 0.5]], classes=[0, 1])
    with pytest.raises(ValueError, match="task"):
        measure([1], [1], task="ranking")
