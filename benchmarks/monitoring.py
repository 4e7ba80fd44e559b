"""Drift detection: Mainsail's ``compute_drift`` against a per-column scipy loop (the floor) and
Evidently 0.7.23's ``DataDriftPreset`` (the peer, in its own venv: ``/work/peers/evidently``).

Two comparisons, each interleaved round by round (>= 3 rounds, min / median / max of every ratio):
- equal work against the floor: per numeric column KS + Wasserstein + PSI, per categorical column chi² +
  PSI — the floor with ``scipy.stats`` one column at a time, ours with those tests named per column;
- like for like against Evidently: each tool's default test per column (Wasserstein normed for numeric
  columns and Jensen–Shannon for categorical ones over 1,000 reference rows), and the scores checked:
  the largest difference between Evidently's per-column score and ours is printed.

    python benchmarks/monitoring.py            # 200k rows × 20 numeric + 5 categorical
    python benchmarks/monitoring.py --full     # also 1M rows × 45 numeric + 5 categorical
    python benchmarks/monitoring.py --smoke    # tiny, no peer
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt_spread, load_line, missing, now, peer_python, ratio_spread, rounds, skip, spread  # noqa: E402

EVIDENTLY = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
ref, cur, num, cat = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2]), sys.argv[3].split(","), sys.argv[4].split(",")
dd = DataDefinition(numerical_columns=num, categorical_columns=[c for c in cat if c])
t = time.perf_counter()
snap = Report([DataDriftPreset()]).run(current_data=Dataset.from_pandas(cur, data_definition=dd),
                                       reference_data=Dataset.from_pandas(ref, data_definition=dd))
elapsed = time.perf_counter() - t
scores = {m["config"]["column"]: [m["config"]["method"], m["value"]] for m in snap.dict()["metrics"]
          if m["config"].get("type", "").endswith("ValueDrift")}
print(json.dumps({"seconds": elapsed, "scores": scores}))
"""


def make_data(rows: int, n_num: int, n_cat: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref, cur = {}, {}
    for i in range(n_num):
        ref[f"num_{i}"] = rng.normal(0, 1, rows)
        cur[f"num_{i}"] = rng.normal(0.3 if i % 4 == 0 else 0.0, 1, rows)  # a quarter drift
    levels = np.array(["a", "b", "c", "d", "e"])
    for i in range(n_cat):
        ref[f"cat_{i}"] = levels[rng.integers(0, 5, rows)]
        p = [0.4, 0.15, 0.15, 0.15, 0.15] if i == 0 else None
        cur[f"cat_{i}"] = rng.choice(levels, rows, p=p)
    return pd.DataFrame(ref), pd.DataFrame(cur)


def floor(ref: pd.DataFrame, cur: pd.DataFrame) -> None:
    """scipy, one column at a time: KS + Wasserstein + PSI (numeric), chi² + PSI (categorical)."""
    from scipy import stats

    for col in ref.columns:
        a, b = ref[col].to_numpy(), cur[col].to_numpy()
        if a.dtype.kind == "f":
            stats.ks_2samp(a, b)
            stats.wasserstein_distance(a, b)
            edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
            pa_, pb = np.histogram(a, edges)[0] / a.size, np.histogram(b, edges)[0] / b.size
        else:
            va, vb = ref[col].value_counts(), cur[col].value_counts()
            keys = va.index.union(vb.index)
            ca, cb = va.reindex(keys, fill_value=0).to_numpy(float), vb.reindex(keys, fill_value=0).to_numpy(float)
            stats.chisquare(cb, ca * b.size / a.size)
            pa_, pb = ca / a.size, cb / b.size
        pa_, pb = np.where(pa_ == 0, 1e-4, pa_), np.where(pb == 0, 1e-4, pb)
        float(np.sum((pa_ - pb) * np.log(pa_ / pb)))


def run_shape(rows: int, n_num: int, n_cat: int, evidently: Path | None, n_rounds: int) -> None:
    """One table shape: every case interleaved over the rounds, then the figures."""
    from mainsail.monitoring.drift import compute_drift

    ref, cur = make_data(rows, n_num, n_cat)
    num = [c for c in ref.columns if c.startswith("num_")]
    cat = [c for c in ref.columns if c.startswith("cat_")]
    equal_work = {c: ["ks", "wasserstein", "psi"] for c in num} | {c: ["chi2", "psi"] for c in cat}
    ours_report: dict = {}
    peer_scores: dict = {}
    tmp = Path(tempfile.mkdtemp(prefix="mainsail-bench-drift-"))
    ref.to_parquet(tmp / "ref.parquet")
    cur.to_parquet(tmp / "cur.parquet")

    def ours_equal() -> float:
        t = now()
        compute_drift(ref, cur, tests=equal_work, binning="equal_width")
        return now() - t

    def ours_default() -> float:
        t = now()
        ours_report["r"] = compute_drift(ref, cur)
        return now() - t

    def floor_case() -> float:
        t = now()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            floor(ref, cur)
        return now() - t

    def peer_case() -> float:
        out = subprocess.run([str(evidently), "-c", EVIDENTLY, str(tmp / "ref.parquet"), str(tmp / "cur.parquet"),
                              ",".join(num), ",".join(cat)], capture_output=True, text=True, check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        peer_scores.update(res["scores"])
        return float(res["seconds"])

    cases = {"ours_equal": ours_equal, "floor": floor_case, "ours_default": ours_default}
    if evidently is not None:
        cases["evidently"] = peer_case
    got = rounds(cases, n_rounds)
    label = f"{rows:,} rows × {n_num} numeric + {n_cat} categorical"
    print(f"\n## drift, {label}   ({load_line()})")
    print(f"ours, equal work (KS+Wasserstein+PSI / chi²+PSI): {fmt_spread(spread(got['ours_equal']), ' s')}")
    print(f"floor, scipy per column (same tests):            {fmt_spread(spread(got['floor']), ' s')}")
    print(f"  ours / floor: {fmt_spread(ratio_spread(got['ours_equal'], got['floor']))}  (goal <= 0.5x)")
    print(f"ours, default test per column:                   {fmt_spread(spread(got['ours_default']), ' s')}")
    if evidently is not None:
        print(f"Evidently 0.7.23 DataDriftPreset:                 {fmt_spread(spread(got['evidently']), ' s')}")
        print(f"  Evidently / ours: {fmt_spread(ratio_spread(got['evidently'], got['ours_default']))}  (goal >= 10x)")
        report = ours_report["r"]
        diffs = []
        for col, (method, value) in peer_scores.items():
            mine = report.column(col)
            diffs.append((abs(mine.score - value), col, method, mine.test))
        worst = max(diffs)
        print(f"  scores checked on {len(diffs)} columns: largest |Evidently − ours| = {worst[0]:.2e} "
              f"(column {worst[1]}, Evidently {worst[2]!r}, ours {worst[3]!r}); "
              f"drifted columns: ours {len(report.drifted_columns)}")
        if worst[0] > 1e-6:
            print("  WARNING: scores differ beyond 1e-6")
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--smoke", action="store_true")
    size.add_argument("--small", action="store_true")
    size.add_argument("--full", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from mainsail.monitoring.drift import compute_drift

    shapes = [(5_000, 4, 2)] if args.smoke else [(200_000, 20, 5)] + ([(1_000_000, 45, 5)] if args.full else [])
    evidently = None if args.smoke else peer_python("evidently")
    if not args.smoke and evidently is None:
        skip("evidently", missing("evidently"))
    print(load_line())
    compute_drift(*make_data(100, 1, 1))  # imports (scipy) outside the timings
    for rows, n_num, n_cat in shapes:
        run_shape(rows, n_num, n_cat, evidently, args.rounds)


if __name__ == "__main__":
    main()
