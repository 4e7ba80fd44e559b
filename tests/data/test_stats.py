"""Drift statistics print nothing: scipy's warnings (e.g. an exact KS p-value it cannot compute) must
not reach a user's terminal in front of ``mainsail data diff``'s table."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from mainsail.data import stats


@pytest.mark.parametrize(("n", "m", "ties"), [(1, 1, False), (3, 2000, True), (2000, 2000, False),
                                              (2000, 2000, True), (9000, 7000, True), (20000, 15, False)])
def test_ks_is_silent_and_finite(n: int, m: int, ties: bool) -> None:
    rng = np.random.default_rng(n + m)
    a, b = rng.normal(0, 1, n), rng.normal(0.3, 1.2, m)
    if ties:
        a, b = a.round(), b.round()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        d, p = stats.ks(a, b)
    assert d is not None and p is not None and 0 <= d <= 1 and 0 <= p <= 1 and math.isfinite(p)


def test_ks_silences_scipy_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    import scipy.stats

    real = scipy.stats.ks_2samp

    def noisy(*args, **kwargs):  # what scipy does when its exact computation fails
        warnings.warn("ks_2samp: Exact calculation unsuccessful. Switching to method=asymp.", RuntimeWarning,
                      stacklevel=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(scipy.stats, "ks_2samp", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stats.ks(np.arange(50.0), np.arange(60.0))[0] is not None
