"""The closed loop: from the first drifted request to promotion, and what the loop's own machinery costs.

- Quickstart (full run only): ``mainsail quickstart --rows 1000`` in a fresh home, R rounds; from each
  run's output, the seconds from the first drifted request to detection, retrain start and end, canary
  start and promotion (or rollback). Target: promotion under 120 s on this machine. The floor is the
  work the loop cannot skip — the retrain pipeline run and the canary's rollout (both measured inside the
  episode); the ratio total / floor shows what detection and orchestration add.
- Episode machinery (also ``--smoke``): on embedded SQLite, a drift event delivered to the loop's
  subscriber (policy lock, idempotency row, loop run, retrain run queued), the retrain (a one-task
  pipeline) executed, one tick (candidate found, gate, rollout started), a rollback, one tick (episode
  closed); the floor is the same pipeline run started by hand (``run_pipeline`` + execute). No peer: no
  installable tool closes this loop over its own registry and rollouts (Evidently and NannyML stop at
  the report; MLflow and Seldon leave the retrain trigger to the user).

Rounds are interleaved (>= 3); the load average is printed with the figures.

    python benchmarks/loop.py [--smoke] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt_spread, load_line, now, spread  # noqa: E402

STEP_RE = re.compile(r"(detected|retrain_started|retrain_finished|registered|canary_started|promoted|rolled_back|"
                     r"failed) \+(\d+(?:\.\d+)?)s")


def quickstart_round(root: Path, i: int) -> dict[str, Any]:
    """One ``mainsail quickstart`` in a fresh home; the loop's marks (seconds since the first drifted request)."""
    home = root / f"qs-{i}"
    env = {**os.environ, "MAINSAIL_HOME": str(home), "COLUMNS": "240"}
    t = now()
    proc = subprocess.run([sys.executable, "-m", "mainsail.cli.main", "quickstart", "--rows", "1000"], env=env,
                          capture_output=True, text=True, timeout=900)
    total = now() - t
    out = " ".join(proc.stdout.split())
    if proc.returncode != 0:
        raise SystemExit(f"quickstart failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    marks: dict[str, float] = {}
    for step, secs in STEP_RE.findall(out):
        marks.setdefault(step, float(secs))
    end = marks.get("promoted", marks.get("rolled_back", marks.get("failed")))
    state = next((s for s in ("promoted", "rolled_back", "failed") if s in marks), "unfinished")
    if state == "unfinished":  # say how far it got
        tail = [line for line in proc.stdout.splitlines() if "loop" in line or "rollout" in line][-3:]
        print("  (unfinished round: " + " | ".join(t.strip()[:160] for t in tail) + ")", flush=True)
    return {"marks": marks, "end": end, "state": state, "quickstart_s": total}


def episode_setup(root: Path) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from mainsail import Client
    from mainsail.registry.packaging import save_model

    client = Client(f"sqlite:///{root / 'meta.db'}", artifact_root=str(root / "artifacts"))
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (x["a"] > 0).astype(int).to_numpy()
    exp = client.ensure_experiment("bench")
    for target in (y, 1 - y):
        run = client.create_run(exp.id)
        save_model(LogisticRegression().fit(x.to_numpy(), target), root / f"pkg-{run.id}", input_example=x.head(3))
        client.log_artifacts(run.id, root / f"pkg-{run.id}", "model")
        client.end_run(run.id)
        client.register_model_version("m", source=f"runs:/{run.id}/model")
    client.set_model_alias("m", "champion", 1)
    client.create_deployment("d", "models:/m@champion")
    client.apply_pipeline({"name": "retrain", "tasks": [{"name": "register", "operator": "noop",
                                                         "params": {"value": {"name": "m", "version": 2}}}]})
    client.create_loop("d-fresh", deployment="d", pipeline="retrain", candidate_task="register", metric="accuracy",
                       cooldown=0)
    return client, client._backend.runtime


def episode(client: Any, rt: Any) -> dict[str, float]:
    """One episode through the loop's machinery; seconds per stage."""
    from mainsail.core.events import emit, list_events
    from mainsail.loops import service

    with rt.transaction() as ctx:
        emit(ctx.session, "drift.detected", "d-drift", {"monitor": "d-drift", "deployment": "d", "share_drifted": 1.0})
    with rt.transaction(write=False) as ctx:
        ev = list_events(ctx.session, type="drift.detected", limit=100_000)[-1]
    t0 = now()
    with rt.transaction() as ctx:
        (run_id,) = service.handle_event(ctx, ev)
    t1 = now()
    client.wait_pipeline_run(client.get_loop_run(run_id).pipeline_run_id, timeout=120)
    t2 = now()
    with rt.transaction() as ctx:
        service.tick(ctx)
    t3 = now()
    client.rollback_deployment("d", reason="bench")
    t4 = now()
    with rt.transaction() as ctx:
        service.tick(ctx)
    t5 = now()
    assert client.get_loop_run(run_id).state == "rolled_back"
    return {"detect": t1 - t0, "retrain": t2 - t1, "to_canary": t3 - t2, "close": t5 - t4, "total": t5 - t4 + t3 - t0}


def floor(client: Any) -> float:
    t = now()
    run = client.run_pipeline("retrain", wait=False)
    client.wait_pipeline_run(run.id, timeout=120)
    return now() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="the episode machinery only, few rounds (CI)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    n = max(args.rounds, 3)
    print(load_line(), flush=True)
    with tempfile.TemporaryDirectory(prefix="mainsail-bench-loop-") as tmp:
        root = Path(tmp)
        client, rt = episode_setup(root)
        eps, floors = [], []
        for i in range(n):  # interleaved: the loop's episode, then the same pipeline run by hand
            if i % 2:
                floors.append(floor(client))
                eps.append(episode(client, rt))
            else:
                eps.append(episode(client, rt))
                floors.append(floor(client))
        client.close()
        print(f"episode machinery (embedded SQLite, {n} rounds; seconds, median (min–max)):")
        for k in ("detect", "retrain", "to_canary", "close"):
            print(f"  {k:10s} {fmt_spread(spread([e[k] for e in eps]), ' s', 3)}")
        overhead = [e["detect"] + e["to_canary"] + e["close"] for e in eps]
        print(f"  loop overhead (detect + to_canary + close): {fmt_spread(spread(overhead), ' s', 3)}; retrain in the "
              f"episode {fmt_spread(spread([e['retrain'] for e in eps]), ' s', 2)} vs the same run by hand (floor) "
              f"{fmt_spread(spread(floors), ' s', 2)}")
        print(load_line(), flush=True)
        if args.smoke:
            return
        results = [quickstart_round(root, i) for i in range(n)]
        print(f"quickstart closed loop ({n} rounds; seconds since the first drifted request):")
        for r in results:
            m = r["marks"]
            floor_s = (m.get("retrain_finished", 0) - m.get("retrain_started", 0)) + \
                ((r["end"] or 0) - m.get("canary_started", r["end"] or 0))
            ratio = f"{r['end'] / floor_s:.2f}x" if r["end"] and floor_s > 0 else "—"
            print(f"  {r['state']:12s} end +{r['end'] or float('nan'):.1f}  " + "  ".join(f"{k} +{v:.1f}" for k, v in m.items())
                  + f"  (floor: retrain + canary {floor_s:.1f} s; total/floor {ratio}; whole quickstart "
                  f"{r['quickstart_s']:.0f} s)")
        ends = [r["end"] for r in results if r["end"] is not None and r["state"] == "promoted"]
        if ends:
            print(f"first drifted request → promotion: {fmt_spread(spread(ends), ' s', 1)} "
                  f"(target < 120 s; {len(ends)}/{n} promoted)")
        print(load_line(), flush=True)


if __name__ == "__main__":
    main()
