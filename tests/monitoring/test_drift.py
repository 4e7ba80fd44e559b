"""Drift statistics: equal to scipy, Evidently's binning and defaults, stable PSI, edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mainsail.core.errors import InvalidInput
from mainsail.data import stats as data_stats
from mainsail.monitoring.drift import compute_drift, compute_multivariate_drift

rng = np.random.default_rng(7)


@pytest.mark.parametrize(("n", "m", "decimals"), [(200_000, 150_000, None), (500, 700, 1), (5_000, 20_000, 1),
                                                  (20_000, 30_000, 0)])
def test_ks_and_wasserstein_equal_scipy(n: int, m: int, decimals: int | None) -> None:
    a, b = rng.normal(0, 1, n), rng.normal(0.05, 1.2, m)
    if decimals is not None:  # ties
        a, b = np.round(a, decimals), np.round(b, decimals)
    r = compute_drift({"x": a}, {"x": b}, tests={"x": ["ks", "wasserstein"]})
    ks, w = r.results
    ref = stats.ks_2samp(a, b)
    assert ks.statistic == pytest.approx(ref.statistic, abs=1e-9)
    assert ks.p_value == pytest.approx(ref.pvalue, abs=1e-9)
    assert w.statistic == pytest.approx(stats.wasserstein_distance(a, b), abs=1e-9)
    assert w.score == pytest.approx(stats.wasserstein_distance(a, b) / np.std(a), abs=1e-9)


@pytest.mark.parametrize("case", ["offset", "discrete", "disjoint", "constant", "tiny", "one_million"])
def test_prepared_reference_gives_scipys_numbers_and_numpys_bins(case: str) -> None:
    """A reference prepared once (sorted, prefix sums) and reused for many windows: KS and Wasserstein
    equal scipy's to 1e-9 on hard shapes (a large offset, ties between the samples, samples that do not
    overlap, a constant reference, a few rows, a million rows), and the equal-width bins numpy's."""
    from mainsail.monitoring.drift import prepare
    from mainsail.monitoring.kernels import bin_counts, sturges_edges

    r = np.random.default_rng(11)
    a, b = {"offset": (r.normal(1e6, 1, 5_000), r.normal(1e6 + 0.3, 2, 3_000)),
            "discrete": (r.integers(0, 7, 4_000).astype(float), r.integers(2, 9, 6_000).astype(float)),
            "disjoint": (r.normal(0, 1, 2_000), r.normal(50, 1, 2_500)),
            "constant": (np.full(3_000, 2.0), r.normal(2, 1, 1_000)),
            "tiny": (r.normal(0, 1, 40), r.normal(1, 1, 35)),
            "one_million": (r.normal(0, 1, 1_000_000), r.normal(0.01, 1, 400_000))}[case]
    prepared = {"x": prepare(a)}
    for window in (b, b[: b.size // 2], b[b.size // 2:]):  # one reference, several windows
        ours = compute_drift(prepared, {"x": window}, tests={"x": ["ks", "wasserstein", "psi"]}, min_rows=10)
        plain = compute_drift({"x": a}, {"x": window}, tests={"x": ["ks", "wasserstein", "psi"]}, min_rows=10)
        ks, w, psi = ours.results
        assert ks.statistic == pytest.approx(stats.ks_2samp(a, window).statistic, abs=1e-9)
        assert w.statistic == pytest.approx(stats.wasserstein_distance(a, window), abs=1e-9)
        assert [x.score for x in ours.results] == pytest.approx([x.score for x in plain.results], abs=1e-12)
        edges = np.histogram_bin_edges(np.concatenate([a, window]), bins="sturges")
        sa, sb = np.sort(a), np.sort(window)
        assert np.array_equal(sturges_edges(sa, sb), edges)
        assert np.array_equal(bin_counts(sb, edges), np.histogram(window, edges)[0])
        assert np.array_equal(bin_counts(sa, edges), np.histogram(a, edges)[0])
    assert psi.score is not None and np.isfinite(psi.score)


def test_psi_does_not_grow_with_sample_size() -> None:
    """The small-value floor applies to shares: N(0,1) vs N(10,1) gives one PSI at 2k, 20k and 200k rows
    (it gave 15.1, 17.2, 19.3 when the floor applied to counts)."""
    base = rng.normal(0, 1, 200_000)
    values = [data_stats.psi_numeric(base, rng.normal(10, 1, n)) for n in (2_000, 20_000, 200_000)]
    assert max(values) - min(values) < 1e-9
    ours = [compute_drift({"x": base}, {"x": rng.normal(10, 1, n)}, tests={"x": "psi"}, binning="quantile")
            .results[0].score for n in (2_000, 20_000, 200_000)]
    assert max(ours) - min(ours) < 1e-9


def _evidently_shares(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's binning written out with numpy: Sturges' equal-width bins over both samples."""
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
    return np.histogram(a, edges)[0] / a.size, np.histogram(b, edges)[0] / b.size


def test_equal_width_binning_is_evidentlys() -> None:
    a, b = rng.normal(0, 1, 50_000), rng.normal(0.3, 1, 40_000)
    pa_, pb = _evidently_shares(a, b)
    r = compute_drift({"x": a}, {"x": b}, tests={"x": ["jensenshannon", "psi"]})
    js, psi = r.results
    assert js.score == pytest.approx(jensenshannon(pa_, pb), abs=1e-12)

    def fill(p: np.ndarray) -> np.ndarray:  # Evidently: 1e-4, or the smallest share / 1e6 when smaller
        low = p[p > 0].min()
        return np.where(p == 0, low / 1e6 if low <= 1e-4 else 1e-4, p)

    fa, fb = fill(pa_), fill(pb)
    assert psi.score == pytest.approx(float(np.sum((fa - fb) * np.log(fa / fb))), rel=1e-9)
    assert psi.drifted == (psi.score >= 0.1)


def test_default_tests_follow_type_and_size() -> None:
    big = {"num": rng.normal(0, 1, 5_000), "cat": rng.choice(["a", "b", "c"], 5_000),
           "flag": rng.choice([0, 1], 5_000), "few": rng.choice([1, 2, 3, 4], 5_000)}
    small = {k: v[:800] for k, v in big.items()}
    tests_big = {r.column: r.test for r in compute_drift(big, big).columns}
    tests_small = {r.column: r.test for r in compute_drift(small, small).columns}
    assert tests_big == {"num": "wasserstein", "cat": "jensenshannon", "flag": "jensenshannon",
                         "few": "jensenshannon"}
    assert tests_small == {"num": "ks", "cat": "chi2", "flag": "z", "few": "chi2"}


def test_categorical_chi2_equals_scipy_and_new_category_drifts() -> None:
    a = rng.choice(["a", "b", "c"], 800, p=[0.5, 0.3, 0.2])
    b = rng.choice(["a", "b", "c"], 600, p=[0.4, 0.35, 0.25])
    r = compute_drift(pd.DataFrame({"c": a}), pd.DataFrame({"c": b})).column("c")
    ca = np.array([(a == k).sum() for k in "abc"], float)
    cb = np.array([(b == k).sum() for k in "abc"], float)
    assert r.test == "chi2"
    assert r.p_value == pytest.approx(stats.chisquare(cb, ca * b.size / a.size).pvalue, abs=1e-12)
    unseen = compute_drift({"c": a}, {"c": np.array(["a", "z"] * 300)}).column("c")
    assert unseen.drifted and unseen.p_value == 0.0


def test_drift_is_found_and_no_drift_is_not() -> None:
    n = 20_000
    ref = pa.table({"same": rng.normal(0, 1, n), "shifted": rng.normal(0, 1, n),
                    "plan": rng.choice(["basic", "pro"], n)})
    cur = pa.table({"same": rng.normal(0, 1, n), "shifted": rng.normal(1, 1, n),
                    "plan": rng.choice(["basic", "pro"], n, p=[0.9, 0.1])})
    r = compute_drift(ref, cur)
    assert r.drifted_columns == ["shifted", "plan"]
    assert r.share_drifted == pytest.approx(2 / 3) and r.dataset_drift
    assert r.to_dict()["results"][0]["column"] == "same"


def test_nulls_dropped_and_small_windows_are_insufficient_not_drift() -> None:
    a = rng.normal(0, 1, 1_000)
    b = np.concatenate([rng.normal(5, 1, 10), [np.nan] * 500])
    r = compute_drift({"x": a, "c": np.array(["a"] * 1000, dtype=object)},
                      {"x": b, "c": np.array([None] * 510, dtype=object)})
    assert r.status == "insufficient_data" and not r.dataset_drift
    assert all(c.status == "insufficient_data" and not c.drifted for c in r.columns)
    assert r.column("x").current_rows == 10


def test_unknown_columns_and_tests_are_named() -> None:
    ref, cur = {"a": rng.normal(0, 1, 100)}, {"a": rng.normal(0, 1, 100), "b": rng.normal(0, 1, 100)}
    with pytest.raises(InvalidInput, match="'b' is not in the reference data; known: a"):
        compute_drift(ref, cur, columns=["a", "b"])
    with pytest.raises(InvalidInput, match="unknown column 'zz'; known: a"):
        compute_drift(ref, cur, tests={"zz": "ks"})
    with pytest.raises(InvalidInput, match="unknown drift test 'kolmogorov'"):
        compute_drift(ref, cur, tests={"a": "kolmogorov"})
    with pytest.raises(InvalidInput, match="categorical"):
        compute_drift({"c": np.array(["x"] * 50)}, {"c": np.array(["y"] * 50)}, tests={"c": "ks"})


def test_thresholds_per_column_and_per_test() -> None:
    a, b = rng.normal(0, 1, 5_000), rng.normal(0.05, 1, 5_000)
    default = compute_drift({"x": a}, {"x": b}).column("x")
    strict = compute_drift({"x": a}, {"x": b}, thresholds={"x": default.score / 2}).column("x")
    assert not default.drifted and strict.drifted
    assert compute_drift({"x": a}, {"x": b}, thresholds={"wasserstein": 0.0}).column("x").threshold == 0.0


def test_multivariate_drift_sees_a_broken_correlation() -> None:
    """Same marginals, correlation gone: no column drifts alone, the PCA reconstruction error does."""
    n = 20_000
    x = rng.normal(0, 1, n)
    ref = {"x": x, "y": 0.95 * x + np.sqrt(1 - 0.95 ** 2) * rng.normal(0, 1, n), "z": rng.normal(0, 1, n)}
    cur = {"x": rng.normal(0, 1, n), "y": rng.normal(0, 1, n), "z": rng.normal(0, 1, n)}
    assert not compute_drift(ref, cur).dataset_drift
    assert compute_multivariate_drift(ref, cur)["drifted"]
    again = {k: v[rng.permutation(n)] for k, v in {"x": x, "y": ref["y"], "z": ref["z"]}.items()}
    same = {"x": again["x"], "y": 0.95 * again["x"] + np.sqrt(1 - 0.95 ** 2) * rng.normal(0, 1, n),
            "z": again["z"]}
    assert not compute_multivariate_drift(ref, same)["drifted"]


def test_distribution_check_can_test_a_p_value(tmp_path) -> None:
    """A small but certain shift passes a KS statistic threshold; a p-value threshold catches it."""
    from mainsail import Client

    client = Client(f"sqlite:///{tmp_path}/m.db")
    n = 20_000
    client.ingest_dataset(pd.DataFrame({"x": rng.normal(0, 1, n)}), "shift")
    client.ingest_dataset(pd.DataFrame({"x": rng.normal(0.25, 1, n)}), "shift")
    suite = {"name": "d", "checks": [{"type": "distribution", "column": "x", "metric": "ks", "threshold": 0.5},
                                     {"type": "distribution", "column": "x", "metric": "ks", "threshold": 0.5,
                                      "p_value": 0.05}]}
    res = client.validate_dataset("shift", suite)
    statistic_only, with_p = res.checks
    assert statistic_only.passed
    assert not with_p.passed and "p-value" in with_p.message and with_p.observed < 1e-10
