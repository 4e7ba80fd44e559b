"""CBPE: estimates from probabilities alone track the realized metrics on calibrated and miscalibrated
scores (binary and multiclass), the expected confusion matrix is what the formula says, and golden
values computed with NannyML 0.13 (benchmarks/cbpe.py checks them live) are reproduced."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mainsail.monitoring.cbpe import CBPE, estimated_roc_auc, expected_counts, needs_calibration


def _binary(n: int, seed: int, power: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """True probabilities ``q``, labels ~ Bernoulli(q); the model reports ``q ** power`` (1: calibrated)."""
    rng = np.random.default_rng(seed)
    q = rng.beta(0.7, 0.7, n)
    y = (rng.random(n) < q).astype(int)
    return q ** power, y


def test_calibrated_scores_estimate_the_realized_metrics() -> None:
    p_ref, y_ref = _binary(20_000, 0)
    p, y = _binary(50_000, 1)
    est = CBPE().fit(p_ref, y_ref).estimate(p)
    pred = (p >= 0.5).astype(int)
    real = {"accuracy": skm.accuracy_score(y, pred), "precision": skm.precision_score(y, pred),
            "recall": skm.recall_score(y, pred), "f1": skm.f1_score(y, pred), "roc_auc": skm.roc_auc_score(y, p)}
    for m, v in real.items():
        assert est[m] == pytest.approx(v, abs=0.012), m


def test_miscalibrated_scores_are_calibrated_on_the_reference() -> None:
    p_ref, y_ref = _binary(20_000, 2, power=3.0)
    p, y = _binary(50_000, 3, power=3.0)
    assert needs_calibration(y_ref, p_ref)
    cbpe = CBPE().fit(p_ref, y_ref)
    assert cbpe.calibrated
    est, raw = cbpe.estimate(p), CBPE(calibration=False).fit(p_ref, y_ref).estimate(p)
    real = skm.accuracy_score(y, p >= 0.5)
    assert est["accuracy"] == pytest.approx(real, abs=0.012)
    assert abs(raw["accuracy"] - real) > 0.05  # without calibration the estimate is off


def test_expected_confusion_matrix_and_auc_formula() -> None:
    p = np.array([0.9, 0.8, 0.3, 0.6, 0.1])
    pred = (p >= 0.5).astype(int)
    tp, fp, fn, tn = expected_counts(pred, p)
    assert (tp, fp, fn, tn) == pytest.approx((2.3, 0.7, 0.4, 1.6))
    est = CBPE(calibration=False).fit(p, [1, 1, 0, 1, 0]).estimate(p)
    assert est["accuracy"] == pytest.approx((2.3 + 1.6) / 5) and est["f1"] == pytest.approx(2.3 / (2.3 + 0.55))
    # the expected ROC curve: TPR steps by p, FPR by 1 - p, scores descending
    tpr = np.r_[0, np.cumsum([0.9, 0.8, 0.6, 0.3, 0.1])] / 2.7
    fpr = np.r_[0, np.cumsum([0.1, 0.2, 0.4, 0.7, 0.9])] / 2.3
    assert estimated_roc_auc(p, p) == pytest.approx(np.trapezoid(tpr, fpr))


def test_multiclass_estimates_track_realized() -> None:
    rng = np.random.default_rng(5)
    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        q = rng.dirichlet([0.6, 0.6, 0.6], n)
        y = np.array(["a", "b", "c"])[(rng.random(n)[:, None] > q.cumsum(1)).sum(1)]
        return q, y
    q_ref, y_ref = sample(20_000)
    q, y = sample(40_000)
    est = CBPE().fit(q_ref, y_ref).estimate(q)
    pred = np.array(["a", "b", "c"])[q.argmax(1)]
    assert est["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=0.012)
    assert est["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=0.015)
    assert est["roc_auc"] == pytest.approx(skm.roc_auc_score(y, q, multi_class="ovr"), abs=0.015)
    given = CBPE().fit(q_ref, y_ref).estimate(q, y_pred=pred)
    assert given["accuracy"] == pytest.approx(est["accuracy"])


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="two classes"):
        CBPE().fit([0.2, 0.4], ["a", "a"])
    with pytest.raises(ValueError, match="do not fit"):
        CBPE().fit(np.ones((4, 3)) / 3, [0, 1, 0, 1])
    with pytest.raises(RuntimeError, match="fit"):
        CBPE(classes=[0, 1]).estimate([0.3])
    with pytest.raises(ValueError, match="not one of"):
        CBPE(calibration=False).fit(np.full((4, 3), 1 / 3), [0, 1, 2, 1]).estimate(np.full((1, 3), 1 / 3), y_pred=[7])


def _golden_binary() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    def part(n: int, shrink: float) -> tuple[np.ndarray, np.ndarray]:
        q = 0.5 + (rng.beta(0.7, 0.7, n) - 0.5) * shrink
        return q ** 2, (rng.random(n) < q).astype(np.int64)
    (p_ref, y_ref), (p, _) = part(4000, 1.0), part(3000, 0.8)
    return p_ref, y_ref, p, (p >= 0.5).astype(np.int64)


def test_equals_nannyml_binary() -> None:
    """Values printed by NannyML 0.13.1's CBPE (classification_binary, one chunk) on this data."""
    p_ref, y_ref, p, y_pred = _golden_binary()
    cbpe = CBPE().fit(p_ref, y_ref)
    assert cbpe.calibrated
    got = cbpe.estimate(p, y_pred)
    nannyml = {"roc_auc": 0.8089420256881106, "f1": 0.605000471635051, "precision": 0.8412072859079827,
               "recall": 0.4723632302860279, "accuracy": 0.691340104372875}
    for m, v in nannyml.items():
        assert got[m] == pytest.approx(v, abs=1e-12), m


def test_equals_nannyml_multiclass() -> None:
    """NannyML 0.13.1 (classification_multiclass, one chunk; its f1/precision/recall are macro)."""
    rng = np.random.default_rng(12)
    labels = np.array(["a", "b", "c"])
    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        q = rng.dirichlet([0.6, 0.6, 0.6], n)
        p = q ** 1.5
        p = p / p.sum(1, keepdims=True)
        return p, labels[(rng.random(n)[:, None] > q.cumsum(1)).sum(1)]
    (p_ref, y_ref), (p, _) = part(3000), part(2000)
    got = CBPE().fit(p_ref, y_ref).estimate(p, labels[p.argmax(1)])
    nannyml = {"roc_auc": 0.859604676185972, "f1_macro": 0.6787808390370015, "precision_macro": 0.6787294553924871,
               "recall_macro": 0.6790253907378396, "accuracy": 0.6788655770347409}
    for m, v in nannyml.items():
        assert got[m] == pytest.approx(v, abs=1e-12), m
