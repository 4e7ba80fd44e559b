"""CLI start-up benchmark: how long a command takes from the shell prompt to its answer.

Times ``mainsail --help``, ``mainsail version`` and ``mainsail runs list`` (on an embedded SQLite home
holding one run) as fresh processes, next to ``git --version`` and ``mlflow --version`` as references
(MLflow only when installed: on PATH or at /work/peers/mlflow/bin/mlflow). Prints wall-clock
min/median/max and the median CPU seconds (user+sys) of each over ``--repeat`` runs, and the load average:
on a shared machine wall time grows with the load, CPU time much less.

    python benchmarks/cli.py [--repeat 5] [--smoke] [--json]

Goals (issue 11): ``--help`` and ``version`` under 0.3 s, ``runs list`` under 0.8 s. ``--smoke`` (3 repeats)
exits non-zero only when a command fails or answers wrongly, never on timing.
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
from pathlib import Path
from typing import Any

GOALS = {"mainsail --help": 0.3, "mainsail version": 0.3, "mainsail runs list": 0.8}
MLFLOW_CANDIDATES = ("/work/peers/mlflow/bin/mlflow",)


def mainsail_cmd() -> list[str]:
    """The ``mainsail`` console script beside this interpreter (what a user runs), else ``-m``."""
    script = Path(sys.executable).parent / "mainsail"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mainsail.cli.main"]


def mlflow_cmd() -> list[str] | None:
    found = shutil.which("mlflow")
    if found:
        return [found]
    return next(([p] for p in MLFLOW_CANDIDATES if Path(p).exists()), None)


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall seconds and CPU seconds (user+sys of the child and its children) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def measure(name: str, argv: list[str], env: dict[str, str], repeat: int,
            check: Any = None) -> dict[str, Any]:
    run_once(argv, env)  # warm the file cache; not counted
    walls, cpus, problems = [], [], []
    for _ in range(repeat):
        wall, cpu, proc = run_once(argv, env)
        walls.append(wall)
        cpus.append(cpu)
        if proc.returncode != 0:
            problems.append(f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-300:]}")
        elif check is not None and not check(proc.stdout):
            problems.append(f"unexpected output: {proc.stdout[-300:]!r}")
    return {"command": name, "min_s": min(walls), "median_s": statistics.median(walls), "max_s": max(walls),
            "cpu_median_s": statistics.median(cpus), "goal_s": GOALS.get(name), "problems": problems[:1]}


def make_home(root: Path, env: dict[str, str]) -> None:
    """An embedded home with one finished run (creating it also applies the migrations)."""
    code = ("import mainsail\nwith mainsail.start_run(experiment='bench-cli', run_name='only-run'):\n"
            "    mainsail.log_param('lr', 0.1)\n    mainsail.log_metric('auc', 0.9)\n")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per command (at least 3)")
    ap.add_argument("--smoke", action="store_true", help="3 repeats; fail only on wrong answers")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    repeat = 3 if args.smoke else max(3, args.repeat)
    from mainsail import __version__

    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mainsail-bench-cli-") as tmp:
        env = {**os.environ, "MAINSAIL_HOME": str(Path(tmp) / "home"), "COLUMNS": "120", "NO_COLOR": "1"}
        env.pop("MAINSAIL_URI", None)
        make_home(Path(tmp), env)
        ms = mainsail_cmd()
        rows.append(measure("mainsail --help", [*ms, "--help"], env, repeat, lambda out: "runs" in out))
        rows.append(measure("mainsail version", [*ms, "version"], env, repeat,
                            lambda out: out.strip() == __version__))
        rows.append(measure("mainsail runs list", [*ms, "runs", "list"], env, repeat,
                            lambda out: "only-run" in out and "1 run" in out and "1 runs" not in out))
        if shutil.which("git"):
            rows.append(measure("git --version", ["git", "--version"], env, repeat))
        mlflow = mlflow_cmd()
        if mlflow:
            rows.append(measure("mlflow --version", [*mlflow, "--version"], env, repeat))
    load_after = os.getloadavg()
    failed = [r for r in rows if r["problems"] and r["command"].startswith("mainsail")]

    if args.json:
        print(json.dumps({"repeat": repeat, "load_before": load_before, "load_after": load_after,
                          "mlflow": bool(mlflow), "results": rows}, indent=2))
    else:
        print(f"CLI start-up, {repeat} runs each (after one untimed warm-up); "
              f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} before, "
              f"{load_after[0]:.2f} after, on {os.cpu_count()} CPUs")
        print(f"{'command':<22}{'min s':>8}{'median s':>10}{'max s':>8}{'cpu s':>8}{'goal s':>8}  verdict")
        for r in rows:
            goal = r["goal_s"]
            verdict = ("FAILED " + r["problems"][0] if r["problems"] else
                       "" if goal is None else "meets goal" if r["median_s"] <= goal else
                       "over goal (wall)" + (", cpu within" if r["cpu_median_s"] <= goal else ""))
            print(f"{r['command']:<22}{r['min_s']:>8.3f}{r['median_s']:>10.3f}{r['max_s']:>8.3f}"
                  f"{r['cpu_median_s']:>8.3f}{goal if goal is not None else '':>8}  {verdict}")
        if not mlflow:
            print("mlflow --version: skipped (mlflow is not installed here: not on PATH nor at "
                  f"{', '.join(MLFLOW_CANDIDATES)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
