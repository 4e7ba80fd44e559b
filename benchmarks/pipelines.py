"""Pipelines benchmark: per-task overhead of the local executor against the raw process pool, and a
tuning job on 1 and 2 parallel workers.

- fan-out: one root task and N-1 no-op tasks depending on it; chain: N no-op tasks one after another.
  Mainsail (DAG in the database, claims under leases, outcomes recorded, logs captured, a fresh
  interpreter per pool process) against the floor: ``concurrent.futures.ProcessPoolExecutor``
  running the same number of no-op calls (all at once for fan-out, one after another for the chain).
  Overhead per task = (Mainsail − floor) / N. Goal: under 5 ms.
- Ray executor (when ``ray`` is importable): the same DAGs with ``executor="ray"`` on a local cluster of
  ``--processes`` CPUs, against the floor of raw ``ray.remote`` no-op tasks (fan-out: all submitted at
  once; chain: each taking the previous one's ObjectRef, so Ray itself orders them).
- tuning: a ``hyperparameter_tuning`` task, T trials of a random forest on breast_cancer, with
  ``max_parallel_jobs`` 1 and 2 (each trial a child run), trials in local processes and, with Ray, as
  Ray tasks.

    python benchmarks/pipelines.py [--smoke] [--tasks 1000] [--processes 2] [--trials 20] [--rounds 3]
                                   [--postgres] [--no-ray] [--no-tuning] [--json]

Each DAG is measured over ``--rounds`` (at least 3) rounds, floor and Mainsail interleaved (order rotated);
ratios per round, median (min–max). The metadata store is a fresh SQLite file, or with ``--postgres`` a
database the benchmark creates and drops (``$MAINSAIL_BENCH_PG`` names the admin connection).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _common import fmt_spread, print_load, ratio_spread, rounds, scratch_postgres, spread
from rich.console import Console
from rich.table import Table


def _noop(x: int) -> int:
    return x


def floor(kind: str, n: int, processes: int) -> float:
    """The raw process pool doing the same number of no-op calls (pool start included, as ours is)."""
    t0 = time.perf_counter()
    with ProcessPoolExecutor(processes) as pool:
        if kind == "fan-out":
            pool.submit(_noop, 0).result()
            list(pool.map(_noop, range(n - 1), chunksize=1))
        else:
            for i in range(n):
                pool.submit(_noop, i).result()
    return time.perf_counter() - t0


def dag(kind: str, n: int) -> dict[str, Any]:
    tasks = [{"name": "t0", "operator": "noop"}]
    for i in range(1, n):
        tasks.append({"name": f"t{i}", "operator": "noop", "depends_on": ["t0" if kind == "fan-out" else f"t{i - 1}"],
                      "cache": False})
    tasks[0]["cache"] = False
    return {"name": f"bench-{kind}", "tasks": tasks}


def ray_floor(kind: str, n: int) -> float:
    """Raw Ray: the same number of no-op tasks (the cluster already running, as for ours)."""
    import ray

    noop = ray.remote(_noop).options(num_cpus=1, max_retries=0)
    t0 = time.perf_counter()
    if kind == "fan-out":
        ray.get(noop.remote(0))
        ray.get([noop.remote(i) for i in range(n - 1)])
    else:
        ref = noop.remote(0)
        for _ in range(n - 1):
            ref = noop.remote(ref)
        ray.get(ref)
    return time.perf_counter() - t0


def mainsail_run(client: Any, kind: str, n: int, processes: int, executor: str = "local") -> tuple[float, float]:
    """(seconds from submitting the run to its end, seconds the tasks themselves took)."""
    client.apply_pipeline(dag(kind, n))
    t0 = time.perf_counter()
    run = client.run_pipeline(f"bench-{kind}", processes=processes, executor=executor)
    took = time.perf_counter() - t0
    assert run.status == "succeeded", run.error
    return took, sum(t.seconds or 0 for t in run.tasks)


def start_ray(processes: int) -> tuple[str | None, float]:
    """(why Ray rows are skipped, or None; seconds ``ray.init`` took)."""
    try:
        import ray
    except ImportError:
        return "ray is not installed (pip install 'mainsail[ray]')", 0.0
    t0 = time.perf_counter()
    ray.init(num_cpus=processes, include_dashboard=False, log_to_driver=False)
    return None, time.perf_counter() - t0


def tuning(client: Any, trials: int, parallel: int, executor: str = "local") -> float:
    client.apply_pipeline({"name": f"bench-tune-{parallel}", "tasks": [{
        "name": "tune", "operator": "hyperparameter_tuning", "params": {
            "data": "sklearn:breast_cancer", "target": "target", "experiment": "bench-tune",
            "estimator": "sklearn.ensemble.RandomForestClassifier", "estimator_params": {"n_estimators": 30},
            "search_space": {"max_depth": {"type": "int", "low": 2, "high": 10},
                             "min_samples_leaf": {"type": "int", "low": 1, "high": 10}},
            "objective": "roc_auc", "max_jobs": trials, "max_parallel_jobs": parallel}}]})
    t0 = time.perf_counter()
    run = client.run_pipeline(f"bench-tune-{parallel}", processes=1, executor=executor)
    assert run.status == "succeeded", run.error
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="50 tasks, 2 trials: a few seconds.")
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database instead of SQLite")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-tuning", action="store_true")
    ap.add_argument("--no-ray", action="store_true", help="Skip the Ray executor rows (always skipped by --smoke).")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n, trials = (50, 2) if args.smoke else (args.tasks, args.trials)
    if args.smoke:
        args.no_ray = True  # ray.init alone takes 3-20 s

    from mainsail import Client

    loads = [print_load()]
    tmp = tempfile.mkdtemp(prefix="mainsail-bench-pipelines-")
    atexit.register(shutil.rmtree, tmp, True)  # the benchmark's scratch folder goes with it
    os.environ.setdefault("MAINSAIL_HOME", tmp)
    with ExitStack() as stack:
        uri = f"sqlite:///{Path(tmp) / 'bench.db'}"
        if args.postgres:
            uri = stack.enter_context(scratch_postgres()).replace("postgresql://", "postgresql+psycopg://", 1)
        client = Client(uri, artifact_root=str(Path(tmp) / "art"))
        results = run_all(client, args, n, trials)
    results["load"] = loads + [print_load()]
    report(results, args, n, trials)


def measured(floor_fn: Any, ours_fn: Any, n: int, n_rounds: int) -> dict[str, Any]:
    rr = rounds({"floor": floor_fn, "mainsail": lambda: ours_fn()[0]}, n_rounds)
    f, m = spread(rr["floor"]), spread(rr["mainsail"])
    return {"floor_s": f["median"], "mainsail_s": m["median"], "rounds": rr,
            "overhead_ms_per_task": (m["median"] - f["median"]) / n * 1000,
            "ratio": ratio_spread(rr["mainsail"], rr["floor"])}


def run_all(client: Any, args: argparse.Namespace, n: int, trials: int) -> dict[str, Any]:
    results: dict[str, Any] = {"tasks": n, "processes": args.processes, "uri": client.uri.split("?")[0].split("@")[-1]}
    for kind in ("fan-out", "chain"):
        results[kind] = measured(lambda kind=kind: floor(kind, n, args.processes),
                                 lambda kind=kind: mainsail_run(client, kind, n, args.processes), n, args.rounds)
    skip_ray, init_s = ("--no-ray", 0.0) if args.no_ray else start_ray(args.processes)
    results["ray"] = {"skipped": skip_ray} if skip_ray else {"init_s": init_s}
    if not skip_ray:
        for kind in ("fan-out", "chain"):
            results["ray"][kind] = measured(lambda kind=kind: ray_floor(kind, n),
                                            lambda kind=kind: mainsail_run(client, kind, n, args.processes,
                                                                           executor="ray"), n, args.rounds)
    if not args.no_tuning:
        parallel = (1,) if args.smoke else (1, 2)
        results["tuning"] = {f"{p}_workers_s": tuning(client, trials, p) for p in parallel}
        results["tuning"]["trials"] = trials
        if not skip_ray and not args.smoke:
            results["tuning"].update({f"ray_{p}_workers_s": tuning(client, trials, p, "ray") for p in parallel})
    client.close()
    if not skip_ray:
        import ray

        ray.shutdown()
    return results


def report(results: dict[str, Any], args: argparse.Namespace, n: int, trials: int) -> None:
    if args.json:
        print(json.dumps(results, indent=2))
        return
    skip_ray = results["ray"].get("skipped")
    init_s = results["ray"].get("init_s", 0.0)
    console = Console(width=None if sys.stdout.isatty() else 170)
    table = Table("executor", "DAG", "tasks", "floor (median)", "Mainsail (median)", "overhead / task",
                  "ratio per round: median (min–max)",
                  title=f"{args.processes} processes, {results['uri'].split(':')[0]}, {args.rounds} interleaved rounds",
                  caption="floor: raw ProcessPoolExecutor (local), raw ray.remote tasks (ray)")
    rows = [("local", kind, results[kind]) for kind in ("fan-out", "chain")]
    rows += [("ray", kind, results["ray"][kind]) for kind in ("fan-out", "chain") if not skip_ray]
    for executor, kind, r in rows:
        table.add_row(executor, kind, str(n), f"{r['floor_s']:.3f} s", f"{r['mainsail_s']:.3f} s",
                      f"{r['overhead_ms_per_task']:.2f} ms", fmt_spread(r["ratio"], digits=1))
    console.print(table)
    if skip_ray:
        console.print(f"Ray rows skipped: {skip_ray}", markup=False)
    else:
        console.print(f"ray.init (local cluster, {args.processes} CPUs): {init_s:.1f} s, not counted above")
    t = results.get("tuning", {})
    for prefix, label in (("", "local processes"), ("ray_", "Ray tasks")):
        if f"{prefix}2_workers_s" in t:
            one, two = t[f"{prefix}1_workers_s"], t[f"{prefix}2_workers_s"]
            console.print(f"tuning, {trials} trials (random forest, breast_cancer), trials on {label}: "
                          f"1 worker {one:.1f} s, 2 workers {two:.1f} s ({one / two:.2f}x)")
    console.print(" / ".join(results["load"]))


if __name__ == "__main__":
    main()
