"""Performance estimation without labels: Mainsail's CBPE against NannyML 0.13's CBPE (the peer, in its own
venv: ``/work/peers/nannyml``) and a raw floor.

A binary classifier whose scores are miscalibrated (so both tools calibrate: isotonic regression on the
reference), a labeled reference of 100k predictions and ``--rows`` unlabeled predictions (1M by default)
in chunks of 100k. Each tool fits on the reference and estimates ROC AUC, F1, precision, recall and
accuracy per chunk; the estimates are checked against each other (largest absolute difference printed).
The floor does the least the method needs: one isotonic fit on the reference (no calibration test), then
the expected confusion matrix with numpy per chunk (no ROC AUC). Rounds interleave the cases (>= 3
rounds; min / median / max of every ratio). NannyML's time is measured inside its process (its import
and the Parquet reads excluded).

    python benchmarks/cbpe.py              # 100k reference, 1M predictions
    python benchmarks/cbpe.py --smoke      # tiny, no peer
"""

from __future__ import annotations

import argparse
import atexit
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt_spread, load_line, missing, now, peer_python, ratio_spread, rounds, skip, spread  # noqa: E402

METRICS = ["roc_auc", "f1", "precision", "recall", "accuracy"]
NANNYML = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
import nannyml as nml
ref, cur, chunk = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2]), int(sys.argv[3])
metrics = sys.argv[4].split(",")
t = time.perf_counter()
est = nml.CBPE(y_pred_proba="p", y_pred="y_pred", y_true="y", problem_type="classification_binary",
               metrics=metrics, chunk_size=chunk)
est.fit(ref)
res = est.estimate(cur)
elapsed = time.perf_counter() - t
df = res.filter(period="analysis").to_df()
out = {m: [float(x) for x in df[(m, "value")]] for m in metrics}
print(json.dumps({"seconds": elapsed, "estimates": out, "calibrated": bool(est.needs_calibration)}))
"""


def make_data(n_ref: int, n_cur: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """True positive probability q ~ Beta(0.7, 0.7); the model reports q² (miscalibrated); the current
    period drifts towards harder cases (q pulled to 0.5)."""
    rng = np.random.default_rng(seed)

    def part(n: int, shrink: float) -> pd.DataFrame:
        q = 0.5 + (rng.beta(0.7, 0.7, n) - 0.5) * shrink
        p = q ** 2
        return pd.DataFrame({"p": p, "y_pred": (p >= 0.5).astype(np.int64), "y": (rng.random(n) < q).astype(np.int64)})

    ref, cur = part(n_ref, 1.0), part(n_cur, 0.8)
    return ref, cur.drop(columns="y")


def ours(ref: pd.DataFrame, cur: pd.DataFrame, chunk: int) -> dict[str, list[float]]:
    from mainsail.monitoring.cbpe import CBPE

    cbpe = CBPE(classes=[0, 1]).fit(ref["p"].to_numpy(), ref["y"].to_numpy())
    p, yp = cur["p"].to_numpy(), cur["y_pred"].to_numpy()
    out: dict[str, list[float]] = {m: [] for m in METRICS}
    for i in range(0, p.size, chunk):
        est = cbpe.estimate(p[i:i + chunk], y_pred=yp[i:i + chunk])
        for m in METRICS:
            out[m].append(est[m])
    return out


def floor(ref: pd.DataFrame, cur: pd.DataFrame, chunk: int) -> None:
    """One isotonic fit, then expected TP/FP/FN/TN per chunk with numpy (no calibration test, no AUC)."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip").fit(ref["p"].to_numpy(), ref["y"].to_numpy())
    p, yp = cur["p"].to_numpy(), cur["y_pred"].to_numpy().astype(bool)
    for i in range(0, p.size, chunk):
        c, pos = iso.predict(p[i:i + chunk]), yp[i:i + chunk]
        tp, fp = c[pos].sum(), (1 - c[pos]).sum()
        fn, tn = c[~pos].sum(), (1 - c[~pos]).sum()
        _ = (tp + tn) / c.size, tp / (tp + fp), tp / (tp + fn), tp / (tp + 0.5 * (fp + fn))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reference", type=int, default=100_000)
    ap.add_argument("--chunk", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.smoke:
        args.rows, args.reference, args.chunk = 20_000, 5_000, 5_000
    nannyml = None if args.smoke else peer_python("nannyml")
    if not args.smoke and nannyml is None:
        skip("nannyml", missing("nannyml"))
    print(load_line())
    ref, cur = make_data(args.reference, args.rows)
    ours(ref.head(2000), cur.head(2000), 1000)  # imports (sklearn) outside the timings
    tmp = Path(tempfile.mkdtemp(prefix="mainsail-bench-cbpe-"))
    atexit.register(shutil.rmtree, tmp, True)  # the benchmark's scratch folder goes with it
    ref.to_parquet(tmp / "ref.parquet")
    cur.to_parquet(tmp / "cur.parquet")
    mine: dict[str, list[float]] = {}
    peer: dict[str, object] = {}

    def ours_case() -> float:
        t = now()
        mine.update(ours(ref, cur, args.chunk))
        return now() - t

    def floor_case() -> float:
        t = now()
        floor(ref, cur, args.chunk)
        return now() - t

    def peer_case() -> float:
        proc = subprocess.run([str(nannyml), "-c", NANNYML, str(tmp / "ref.parquet"), str(tmp / "cur.parquet"),
                               str(args.chunk), ",".join(METRICS)], capture_output=True, text=True, check=True)
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        peer.update(res)
        return float(res["seconds"])

    cases = {"ours": ours_case, "floor": floor_case}
    if nannyml is not None:
        cases["nannyml"] = peer_case
    got = rounds(cases, args.rounds)
    chunks = -(-args.rows // args.chunk)
    print(f"\n## CBPE, {args.reference:,} reference rows, {args.rows:,} predictions in {chunks} chunks   ({load_line()})")
    print(f"ours (calibration test + isotonic fit, 5 metrics per chunk): {fmt_spread(spread(got['ours']), ' s')}")
    print(f"floor (isotonic fit + expected confusion matrix, no AUC):     {fmt_spread(spread(got['floor']), ' s')}")
    print(f"  ours / floor: {fmt_spread(ratio_spread(got['ours'], got['floor']))}")
    if nannyml is not None:
        print(f"NannyML 0.13 CBPE (fit + estimate):                           {fmt_spread(spread(got['nannyml']), ' s')}")
        print(f"  NannyML / ours: {fmt_spread(ratio_spread(got['nannyml'], got['ours']))}")
        theirs = peer["estimates"]  # type: ignore[index]
        diffs = [(abs(a - b), m, i) for m in METRICS for i, (a, b) in enumerate(zip(mine[m], theirs[m], strict=True))]
        worst = max(diffs)
        print(f"  estimates checked: {len(diffs)} values ({len(METRICS)} metrics × {chunks} chunks), largest "
              f"|NannyML − ours| = {worst[0]:.2e} ({worst[1]}, chunk {worst[2]}); NannyML calibrated: "
              f"{peer['calibrated']}")
        first = {m: round(mine[m][0], 4) for m in METRICS}
        print(f"  chunk 0 estimates: {first}")
        if worst[0] > 1e-6:
            print("  WARNING: estimates differ beyond 1e-6")
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()


if __name__ == "__main__":
    main()
