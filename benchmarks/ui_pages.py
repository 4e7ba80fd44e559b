"""Web UI benchmark of the pages added for reviews, costs, the closed loop and projects: server time.

Setup (not timed): a scratch SQLite database filled through the embedded Client: ``--runs`` finished
runs, a model with ``--versions`` versions (each with a review request answered by one of two
reviewers, under an approval policy of 1), ``--usage`` usage records over the last 30 days (tasks of 5
pipelines, replicas of 3 deployments, runs), 3 budgets (checked once, as a server does every 5 minutes),
5 loop policies (no episode: an episode needs
the background services), and a second project. A real ``mainsail server`` subprocess (no background
services) serves the UI. Every round (at least 3, cases interleaved with the order rotated) times, over
loopback HTTP, each page and **the floor**: ``GET /ready`` (the server's fixed cost of one request).
The goal is every page under 300 ms of server time; the recommendations fragment (fetched by htmx after
the costs page) scans the artifact store and is shown apart.

    python benchmarks/ui_pages.py [--runs 2000] [--versions 20] [--usage 100000] [--rounds 3] [--smoke]

``--smoke`` (50 runs, 3 versions, 2,000 usage records) exits non-zero only when a page answers wrong.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from _common import fmt_spread, print_load, ratio_spread, rounds, spread
from ui import now, serve

GOAL_MS = 300.0


def populate(uri: str, artifacts: str, home: Path, n_runs: int, n_versions: int, n_usage: int) -> None:
    from mainsail import Client

    c = Client(uri, artifact_root=artifacts)
    exp = c.ensure_experiment("bench-pages")
    (home / "model.txt").write_text("a model")
    source = None
    for i in range(n_runs):
        run = c.create_run(exp.id, name=f"run-{i}", params={"i": i})
        if source is None:
            c.log_artifact(run.id, home / "model.txt")
            source = f"runs:/{run.id}/model.txt"
        c.end_run(run.id)
    for who in ("bench-rev1", "bench-rev2"):
        c.create_user(who, password="bench-password-1", role="editor")
    c.set_review_policy(1)
    for _ in range(n_versions):
        v = c.register_model_version("bench-model", source=source, framework="custom")
        c.request_review("model_version", f"bench-model/{v.version}", ["bench-rev1", "bench-rev2"], "please")
    c.create_deployment("bench-dep", "models:/bench-model/1")
    c.apply_pipeline({"name": "bench-retrain", "tasks": [
        {"name": "t", "operator": "python", "params": {"callable": "builtins:print", "kwargs": {}}}]})
    for i in range(5):
        c.create_loop(f"bench-loop-{i}", deployment="bench-dep", pipeline="bench-retrain")
    end = dt.datetime.now(dt.UTC)
    records = []
    for i in range(n_usage):
        at = end - dt.timedelta(seconds=(i * 2_592_000 // max(n_usage, 1)) + 60)
        base = {"started_at": (at - dt.timedelta(minutes=1)).isoformat(), "ended_at": at.isoformat(),
                "wall_seconds": 60.0, "cpu_seconds": 30.0, "peak_memory": 2**28, "cpu_request": 2,
                "memory_request": 2**31}
        kind = i % 3
        if kind == 0:
            records.append({**base, "kind": "task", "pipeline": f"pipe-{i % 5}", "task": f"task-{i % 4}"})
        elif kind == 1:
            records.append({**base, "kind": "replica", "deployment": f"dep-{(i // 3) % 3}", "model": "bench-model",
                            "requests": 100})
        else:
            records.append({**base, "kind": "run", "experiment": "bench-pages"})
        if len(records) == 10_000:
            c.record_usage(records)
            records = []
    if records:
        c.record_usage(records)
    for name, amount, period in (("day", 10.0, "day"), ("week", 50.0, "week"), ("month", 100.0, "month")):
        c.create_budget(name, amount, period=period)
    c.check_budgets(evaluate=False)  # what a server's periodic budget check does every 5 minutes
    c.create_project("bench-other")
    c.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--versions", type=int, default=20)
    ap.add_argument("--usage", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="50 runs, 3 versions, 2,000 usage records")
    args = ap.parse_args()
    n_runs, n_versions, n_usage = (50, 3, 2000) if args.smoke else (args.runs, args.versions, args.usage)
    print_load("before: ")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-pages-"))
    atexit.register(shutil.rmtree, tmp, True)  # the benchmark's scratch folder goes with it
    uri, artifacts = f"sqlite:///{tmp / 'ui.db'}", str(tmp / "artifacts")
    t = now()
    populate(uri, artifacts, tmp, n_runs, n_versions, n_usage)
    print(f"setup: {n_runs:,} runs, {n_versions} reviewed versions, {n_usage:,} usage records in {now() - t:.1f}s")
    proc, url = serve(uri, artifacts, tmp)
    http = httpx.Client(base_url=url, timeout=120)
    bad: list[str] = []
    pages = {"home": ("/", "Activity"), "costs by project": ("/costs", "cost-report"),
             "costs by model": ("/costs?by=model", "bench-model"),
             "costs by deployment": ("/costs?by=deployment", "dep-0"),
             "costs by pipeline": ("/costs?by=pipeline&days=90", "pipe-0"),
             "loops": ("/loops", "bench-loop-0"), "loop": ("/loops/bench-loop-0", "Episodes"),
             "version with reviews": (f"/models/bench-model/{n_versions}", "0 of 1"),
             "other project": ("/experiments?project=bench-other", "Experiments")}
    apart = {"recommendations fragment": ("/costs/recommendations", "Recommendations")}

    def get(path: str, expect: str) -> float:
        http.cookies.clear()  # each page as a first visit (no project cookie carried over)
        t = now()
        r = http.get(path)
        took = now() - t
        if r.status_code != 200 or expect not in r.text:
            bad.append(f"{path}: HTTP {r.status_code}, {expect!r} {'missing' if expect not in r.text else 'found'}")
        return took

    def floor() -> float:
        t = now()
        http.get("/ready")
        return now() - t

    try:
        for path, _ in [*pages.values(), *apart.values()]:
            http.get(path)  # warm-up: imports, templates
        cases: dict[str, Any] = {"floor": floor}
        cases |= {k: (lambda p=p, e=e: get(p, e)) for k, (p, e) in {**pages, **apart}.items()}
        res = rounds(cases, args.rounds)
    finally:
        http.close()
        proc.terminate()
        proc.wait(10)
    print(f"\npages (server time over loopback HTTP, median (min–max) of {max(args.rounds, 3)} rounds; goal "
          f"{GOAL_MS:.0f} ms)")
    for k in cases:
        ms = spread([v * 1000 for v in res[k]])
        extra = "" if k == "floor" else f"   {fmt_spread(ratio_spread(res[k], res['floor']))} the floor"
        mark = "" if k == "floor" or k in apart else ("   ok" if ms["median"] < GOAL_MS else "   OVER GOAL")
        print(f"  {k:26s} {fmt_spread(ms, ' ms', 1)}{extra}{mark}")
    print_load("after: ")
    for b in bad:
        print("WRONG:", b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
