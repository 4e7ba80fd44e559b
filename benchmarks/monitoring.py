"""Drift detection: Mainsail's ``compute_drift`` against a per-column scipy loop (the floor) and
Evidently 0.7.23's ``DataDriftPreset`` (the peer, in its own venv: ``/work/peers/evidently``).

Two comparisons, each interleaved round by round (>= 3 rounds, min / median / max of every ratio):
- equal work against the floor: per numeric column KS + Wasserstein + PSI, per categorical column chi² +
  PSI — the floor with ``scipy.stats`` one column at a time, ours with those tests named per column;
- like for like against Evidently: each tool's default test per column (Wasserstein normed for numeric
  columns and Jensen–Shannon for categorical ones over 1,000 reference rows), and the scores checked:
  the largest difference between Evidently's per-column score and ours is printed; then, once (not
  timed), Evidently's PSI and Jensen–Shannon on every column against ours with the same binning
  (equal-width Sturges bins over both samples): the largest difference and how many drift flags agree.

A third figure is one monitor run end to end (``run_monitor``: the deployment's Parquet inference logs
read with DuckDB, split into hourly windows, drift and data quality per window against the reference
dataset, results and events committed) over 1M logged rows of 10 features, against the floor of the
raw DuckDB read of those columns alone (goal: under 2 s).

    python benchmarks/monitoring.py            # 200k rows × 20 numeric + 5 categorical, the 1M-row monitor run
    python benchmarks/monitoring.py --full     # also 1M rows × 45 numeric + 5 categorical, all tests
    python benchmarks/monitoring.py --monitor-only   # only the monitor run
    python benchmarks/monitoring.py --drift-only     # only the drift comparisons
    python benchmarks/monitoring.py --large-only --no-peer   # only 1M × 50 against the scipy floor
    python benchmarks/monitoring.py --smoke    # tiny, no peer
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
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
method = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
dd = DataDefinition(numerical_columns=num, categorical_columns=[c for c in cat if c])
t = time.perf_counter()
snap = Report([DataDriftPreset(method=method)]).run(current_data=Dataset.from_pandas(cur, data_definition=dd),
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


def floor(ref: pd.DataFrame, cur: pd.DataFrame, js: bool = False) -> None:
    """scipy, one column at a time: KS + Wasserstein + PSI (numeric), chi² + PSI (categorical), and
    Jensen–Shannon on the same bins for every column when ``js`` (all tests)."""
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

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
        if js:
            jensenshannon(pa_, pb)
        pa_, pb = np.where(pa_ == 0, 1e-4, pa_), np.where(pb == 0, 1e-4, pb)
        float(np.sum((pa_ - pb) * np.log(pa_ / pb)))


def run_shape(rows: int, n_num: int, n_cat: int, evidently: Path | None, n_rounds: int,
              all_tests: bool = False) -> None:
    """One table shape: every case interleaved over the rounds, then the figures. ``all_tests``: every
    test on every column (``tests="all"``; the floor adds Jensen–Shannon)."""
    from mainsail.monitoring.drift import DEFAULT_THRESHOLDS, compute_drift

    ref, cur = make_data(rows, n_num, n_cat)
    num = [c for c in ref.columns if c.startswith("num_")]
    cat = [c for c in ref.columns if c.startswith("cat_")]
    equal_work = {c: ["ks", "wasserstein", "psi"] for c in num} | {c: ["chi2", "psi"] for c in cat}
    ours_report: dict = {}
    peer_scores: dict = {}
    tmp = Path(tempfile.mkdtemp(prefix="mainsail-bench-drift-"))
    atexit.register(shutil.rmtree, tmp, True)  # the benchmark's scratch folder goes with it
    ref.to_parquet(tmp / "ref.parquet")
    cur.to_parquet(tmp / "cur.parquet")

    def ours_equal() -> float:
        t = now()
        compute_drift(ref, cur, tests="all" if all_tests else equal_work, binning="equal_width")
        return now() - t

    def ours_default() -> float:
        t = now()
        ours_report["r"] = compute_drift(ref, cur)
        return now() - t

    def floor_case() -> float:
        t = now()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            floor(ref, cur, js=all_tests)
        return now() - t

    def peer(method: str = "") -> dict:
        out = subprocess.run([str(evidently), "-c", EVIDENTLY, str(tmp / "ref.parquet"), str(tmp / "cur.parquet"),
                              ",".join(num), ",".join(cat), method], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def peer_case() -> float:
        res = peer()
        peer_scores.update(res["scores"])
        return float(res["seconds"])

    cases = {"ours_equal": ours_equal, "floor": floor_case, "ours_default": ours_default}
    if evidently is not None:
        cases["evidently"] = peer_case
    got = rounds(cases, n_rounds)
    label = f"{rows:,} rows × {n_num} numeric + {n_cat} categorical"
    print(f"\n## drift, {label}   ({load_line()})")
    work = "all tests, KS+Wasserstein+PSI+JS / chi²+PSI+JS" if all_tests else "KS+Wasserstein+PSI / chi²+PSI"
    print(f"ours, equal work ({work}): {fmt_spread(spread(got['ours_equal']), ' s')}")
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
        # the binned tests on every column, Evidently's binning (equal-width Sturges bins over both samples)
        for method in ("psi", "jensenshannon"):
            theirs = peer(method)["scores"]
            mine = compute_drift(ref, cur, tests=dict.fromkeys(ref.columns, method), binning="equal_width")
            diffs = [(abs(mine.column(c).score - v), c) for c, (_, v) in theirs.items()]
            flags = sum((mine.column(c).score >= DEFAULT_THRESHOLDS[method]) == mine.column(c).drifted
                        and mine.column(c).drifted == (v >= DEFAULT_THRESHOLDS[method]) for c, (_, v) in theirs.items())
            worst = max(diffs)
            print(f"  {method} on all {len(diffs)} columns (Evidently's binning): largest |Evidently − ours| = "
                  f"{worst[0]:.2e} (column {worst[1]}); drift flags equal on {flags}/{len(diffs)} columns")
            if worst[0] > 1e-6 or flags != len(diffs):
                print(f"  WARNING: {method} differs from Evidently's")
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()


def make_logs(client: object, rows: int, features: int, hours: int, start: float) -> list[str]:
    """``rows`` inference-log rows (format 2: typed columns) of ``features`` features over ``hours`` hourly
    windows, stored as the deployment's log files; returns the feature names."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from mainsail.serving.inference_log import FORMAT, FORMAT_KEY

    rng = np.random.default_rng(1)
    names = [f"f{i}" for i in range(features)]
    per_file = 100_000
    for lo in range(0, rows, per_file):
        n = min(per_file, rows - lo)
        t = start + (lo + np.arange(n)) / rows * hours * 3600
        cols = {"request_id": pa.array([f"r{lo + i}" for i in range(n)]), "row": pa.array(np.zeros(n, np.int32)),
                "time": pa.array((t * 1e6).astype("int64"), pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                "deployment": pa.array(["bench"] * n), "variant": pa.array(["primary"] * n),
                "model": pa.array(["m"] * n), "version": pa.array(np.ones(n, np.int32)),
                "latency_ms": pa.array(rng.random(n)), "shadow": pa.array(np.zeros(n, bool)),
                "status": pa.array(np.full(n, 200, np.int16))}
        for i, name in enumerate(names):
            cols[name] = pa.array(rng.normal(0.2 if i % 3 == 0 else 0.0, 1, n))
        cols["prediction"] = pa.array(rng.integers(0, 2, n).astype(float))
        table = pa.table(cols).replace_schema_metadata({FORMAT_KEY: FORMAT})
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        first, last = (dt.datetime.fromtimestamp(float(x), dt.UTC) for x in (t[0], t[-1]))
        client.add_inference_log("bench", buf.getvalue(), rows=n, first_at=first, last_at=last)  # type: ignore[attr-defined]
    return names


def monitor_run(rows: int, features: int, n_rounds: int, hours: int = 24) -> None:
    """One monitor run over ``rows`` logged rows of ``features`` features (``hours`` hourly windows),
    against the raw DuckDB read of the same columns."""
    from sklearn.dummy import DummyClassifier

    from mainsail import Client
    from mainsail.data.storage import connect, to_arrow
    from mainsail.registry.packaging import save_model

    tmp = Path(tempfile.mkdtemp(prefix="mainsail-bench-monitor-"))
    atexit.register(shutil.rmtree, tmp, True)  # the benchmark's scratch folder goes with it
    client = Client(f"sqlite:///{tmp / 'meta.db'}", artifact_root=str(tmp / "artifacts"))
    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(features)]
    ref = pd.DataFrame({n: rng.normal(0, 1, 100_000 if rows >= 100_000 else 5_000) for n in names})
    version = client.ingest_dataset(ref, "train")
    run = client.create_run(client.ensure_experiment("bench").id)
    save_model(DummyClassifier().fit(ref.to_numpy()[:10], [0, 1] * 5), tmp / "pkg", input_example=ref.head(3))
    client.log_artifacts(run.id, tmp / "pkg", "model")
    client.register_model_version("m", source=f"runs:/{run.id}/model",
                                  lineage={"dataset_versions": [f"train@{version.id}"]})
    client.create_deployment("bench", "models:/m/1")
    start = (dt.datetime.now(dt.UTC).timestamp() // 3600 - hours - 1) * 3600
    make_logs(client, rows, features, hours, start)
    t0 = dt.datetime.fromtimestamp(start, dt.UTC)
    client.create_monitor("bench", deployment="bench", every="1h", drift={"multivariate": True})
    client.create_monitor("bench-one", deployment="bench", rows=rows, drift={"multivariate": True})
    files = [client._backend.runtime.store.path(f.digest)  # type: ignore[attr-defined]
             for f in client.list_inference_logs("bench")]
    results: dict = {}

    cpu: list[float] = []
    end = t0 + dt.timedelta(hours=hours)

    def one_window() -> float:
        t = now()
        results["one"] = client.run_monitor("bench-one", end=end)
        return now() - t

    def ours() -> float:
        t, c = now(), time.process_time()
        results["run"] = client.run_monitor("bench", start=t0, end=t0 + dt.timedelta(hours=hours))
        cpu.append(time.process_time() - c)
        return now() - t

    def floor_read() -> float:
        t = now()
        con = connect()
        sel = ", ".join(["time", *names, "prediction"])
        to_arrow(con.sql(f"SELECT {sel} FROM read_parquet({files!r}, union_by_name=true)"))
        con.close()
        return now() - t

    got = rounds({"ours": ours, "one": one_window, "floor": floor_read}, n_rounds)
    assert results["one"].windows == 1 and results["one"].rows == rows
    r = results["run"]
    assert r.windows == hours and r.rows == rows, (r.windows, r.rows)
    drifted = {i.feature for i in r.items if i.kind == "drift" and i.status == "drift" and i.feature}
    print(f"\n## one monitor run, {rows:,} inference-log rows × {features} features, {hours} hourly windows "
          f"({load_line()})")
    print(f"ours, run_monitor end to end (read, windows, drift + quality, store): {fmt_spread(spread(got['ours']), ' s')}"
          "  (goal < 2 s)")
    print(f"  its CPU time (all threads; what a loaded machine stretches the wall time from): "
          f"{fmt_spread(spread(cpu), ' s')}")
    print(f"ours, the same rows as one window (rows={rows}):                  {fmt_spread(spread(got['one']), ' s')}")
    print(f"floor, raw DuckDB read of the same columns:                          {fmt_spread(spread(got['floor']), ' s')}")
    print(f"  ours / floor: {fmt_spread(ratio_spread(got['ours'], got['floor']))} (hourly), "
          f"{fmt_spread(ratio_spread(got['one'], got['floor']))} (one window); {r.results:,} results stored; "
          f"drifted features: {', '.join(sorted(drifted))} (expected every third: f0, f3, …)")
    client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--smoke", action="store_true")
    size.add_argument("--small", action="store_true")
    size.add_argument("--full", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--monitor-only", action="store_true", help="only the monitor run")
    ap.add_argument("--drift-only", action="store_true", help="only the drift comparisons")
    ap.add_argument("--large-only", action="store_true", help="only the 1M-row drift shape (implies --full)")
    ap.add_argument("--no-peer", action="store_true", help="leave Evidently out")
    args = ap.parse_args()
    from mainsail.monitoring.drift import compute_drift

    shapes = [(5_000, 4, 2, True)] if args.smoke else \
        [(200_000, 20, 5, False)] + ([(1_000_000, 45, 5, True)] if args.full or args.large_only else [])
    if args.large_only:
        shapes = shapes[1:]
    if args.monitor_only:
        shapes = []
    evidently = None if args.smoke or args.no_peer else peer_python("evidently")
    if not args.smoke and not args.no_peer and evidently is None:
        skip("evidently", missing("evidently"))
    print(load_line())
    compute_drift(*make_data(100, 1, 1))  # imports (scipy) outside the timings
    for rows, n_num, n_cat, all_tests in shapes:
        run_shape(rows, n_num, n_cat, evidently, args.rounds, all_tests)
    if args.drift_only:
        return
    if args.smoke:
        monitor_run(5_000, 3, args.rounds, hours=3)
    else:
        monitor_run(1_000_000, 10, args.rounds)


if __name__ == "__main__":
    main()
