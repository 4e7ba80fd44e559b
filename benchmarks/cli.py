"""CLI start-up benchmark: how long a command takes from the shell prompt to its answer.

Times ``mainsail --help``, ``mainsail version`` and ``mainsail runs list`` (on an embedded SQLite home
holding one run) as fresh processes, next to ``git --version`` and ``mlflow --version`` as references
(MLflow from its peer venv, ``/work/peers/mlflow`` by default; skipped with a message when absent). Every
command runs once per round, in interleaved rounds with the order rotated, so background load falls on all
alike. Prints wall-clock min/median/max and the median CPU seconds (user+sys) of each, and the load average:
on a shared machine wall time grows with the load, CPU time much less.

    python benchmarks/cli.py [--repeat 5] [--smoke] [--json]

Goals (issue 11): ``--help`` and ``version`` under 0.3 s, ``runs list`` under 0.8 s. ``--smoke`` (3 rounds, no
peers) exits non-zero only when a command fails or answers wrongly, never on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import load_line, missing, peer_bin, rounds, skip  # noqa: E402

GOALS = {"mainsail --help": 0.3, "mainsail version": 0.3, "mainsail runs list": 0.8}


def mainsail_cmd() -> list[str]:
    """The ``mainsail`` console script beside this interpreter (what a user runs), else ``-m``."""
    script = Path(sys.executable).parent / "mainsail"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mainsail.cli.main"]


def mlflow_cmd() -> list[str] | None:
    folder = peer_bin("mlflow")
    if folder is not None and (folder / "mlflow").exists():
        return [str(folder / "mlflow")]
    found = shutil.which("mlflow")
    return [found] if found else None


def run_once(argv: list[str], env: dict[str, str], check: Callable[[str], bool] | None) -> dict[str, Any]:
    """Wall seconds, CPU seconds (user+sys of the child) and what went wrong, for one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    problem = None
    if proc.returncode != 0:
        problem = f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-300:]}"
    elif check is not None and not check(proc.stdout):
        problem = f"unexpected output: {proc.stdout[-300:]!r}"
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "problem": problem}


def make_home(env: dict[str, str]) -> None:
    """An embedded home with one finished run (creating it also applies the migrations)."""
    code = ("import mainsail\nwith mainsail.start_run(experiment='bench-cli', run_name='only-run'):\n"
            "    mainsail.log_param('lr', 0.1)\n    mainsail.log_metric('auc', 0.9)\n")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="interleaved rounds (at least 3)")
    ap.add_argument("--smoke", action="store_true", help="3 rounds; fail only on wrong answers")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    n = 3 if args.smoke else max(3, args.repeat)
    from mainsail import __version__

    load_before = load_line()
    with tempfile.TemporaryDirectory(prefix="mainsail-bench-cli-") as tmp:
        env = {**os.environ, "MAINSAIL_HOME": str(Path(tmp) / "home"), "COLUMNS": "120", "NO_COLOR": "1"}
        env.pop("MAINSAIL_URI", None)
        make_home(env)
        ms = mainsail_cmd()
        commands: dict[str, tuple[list[str], Callable[[str], bool] | None]] = {
            "mainsail --help": ([*ms, "--help"], lambda out: "runs" in out),
            "mainsail version": ([*ms, "version"], lambda out: out.strip() == __version__),
            "mainsail runs list": ([*ms, "runs", "list"],
                                   lambda out: "only-run" in out and "1 run" in out and "1 runs" not in out),
        }
        if shutil.which("git"):
            commands["git --version"] = (["git", "--version"], None)
        mlflow = None if args.smoke else mlflow_cmd()
        if mlflow:
            commands["mlflow --version"] = ([*mlflow, "--version"], None)
        else:
            skip("mlflow", "--smoke runs no peers" if args.smoke else missing("mlflow"))
        for argv, _ in commands.values():  # warm the file cache; not counted
            subprocess.run(argv, env=env, capture_output=True, timeout=300)
        measured = rounds({name: (lambda a=argv, c=check: run_once(a, env, c))
                           for name, (argv, check) in commands.items()}, n)
    rows = []
    for name, runs in measured.items():
        walls, cpus = [r["wall"] for r in runs], [r["cpu"] for r in runs]
        rows.append({"command": name, "min_s": min(walls), "median_s": statistics.median(walls), "max_s": max(walls),
                     "cpu_median_s": statistics.median(cpus), "goal_s": GOALS.get(name),
                     "problems": [r["problem"] for r in runs if r["problem"]][:1]})
    load_after = load_line()
    failed = [r for r in rows if r["problems"] and r["command"].startswith("mainsail")]

    if args.json:
        print(json.dumps({"rounds": n, "load_before": load_before, "load_after": load_after, "results": rows},
                         indent=2))
        return 1 if failed else 0
    print(f"CLI start-up, {n} interleaved rounds (after one untimed warm-up); {load_before} before, "
          f"{load_after.removeprefix('load average 1/5/15 min: ')} after")
    print(f"{'command':<22}{'min s':>8}{'median s':>10}{'max s':>8}{'cpu s':>8}{'goal s':>8}  verdict")
    for r in rows:
        goal = r["goal_s"]
        verdict = ("FAILED " + r["problems"][0] if r["problems"] else
                   "" if goal is None else "meets goal" if r["median_s"] <= goal else
                   "over goal (wall)" + (", cpu within" if r["cpu_median_s"] <= goal else ""))
        print(f"{r['command']:<22}{r['min_s']:>8.3f}{r['median_s']:>10.3f}{r['max_s']:>8.3f}"
              f"{r['cpu_median_s']:>8.3f}{goal if goal is not None else '':>8}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
