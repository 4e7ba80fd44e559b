"""Run every benchmark at one size and write the tables that docs/benchmarks.md shows.

    python -m benchmarks [--smoke | --small | --full] [--only tracking,serving] [--out PATH]

Each benchmark runs as its own process (``python benchmarks/<name>.py`` with the size's flags), with the
peers whose venvs exist under /work/peers (or ``$MAINSAIL_PEERS``; each script prints which it skipped and
why). The output of every script, with the machine's load average before and after, goes to
``docs/benchmarks/results-<size>.md`` (or ``--out``). ``--smoke`` is what CI runs: tiny sizes, no peers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _common import load_line  # noqa: E402

ORDER = ["tracking", "registry", "data", "features", "pipelines", "serving", "monitoring", "cbpe", "mlflow_server",
         "cli", "backup", "auth", "collab"]
SIZES: dict[str, dict[str, list[str]]] = {
    "smoke": {name: ["--smoke"] for name in ORDER},
    "small": {
        "tracking": ["--n", "20000", "--peer-values", "500"],
        "registry": ["--reps", "3", "--resolves", "2000"],
        "data": ["--rows", "1000000"],
        "features": ["--entity-rows", "100000", "--feature-rows", "1000000", "--reads", "3000"],
        "pipelines": ["--tasks", "200", "--trials", "6"],
        "serving": ["--seconds", "2"],
        "mlflow_server": ["--metrics", "2000", "--params", "20"],
        "monitoring": ["--small"],
        "cbpe": ["--rows", "200000"],
        "cli": ["--repeat", "5"],
        "auth": ["--requests", "200"],
        "backup": ["--runs", "10", "--points", "5000"],
        "collab": ["--events", "20000", "--no-postgres"],
    },
    "full": {**{name: [] for name in ORDER}, "monitoring": ["--full"]},
}


def git_head() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def run(name: str, args: list[str]) -> tuple[int, float, str]:
    env = {**os.environ, "COLUMNS": "170", "PYTHONWARNINGS": "ignore"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *args], capture_output=True, text=True, env=env,
                          cwd=ROOT)
    out = proc.stdout + ("\n" + proc.stderr[-3000:] if proc.returncode else "")
    skips = [ln for ln in proc.stderr.splitlines() if ln.startswith("peer ")]
    if skips:
        out += "\n" + "\n".join(skips)
    return proc.returncode, time.perf_counter() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    size = ap.add_mutually_exclusive_group()
    for s in SIZES:
        size.add_argument(f"--{s}", dest="size", action="store_const", const=s)
    ap.add_argument("--only", help="comma-separated benchmarks (default: all)")
    ap.add_argument("--out", help="markdown file to write (default docs/benchmarks/results-<size>.md)")
    a = ap.parse_args()
    sz = a.size or "small"
    names = [n.strip() for n in a.only.split(",")] if a.only else ORDER
    out = Path(a.out) if a.out else ROOT / "docs" / "benchmarks" / f"results-{sz}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = [f"# Benchmark results: `{sz}` size\n",
             f"Written by `python -m benchmarks --{sz}` at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on commit "
             f"`{git_head()}`, {os.cpu_count()} cores. Each table is the script's own output; ratios are per "
             "interleaved round, median (min–max). Read them with the load average printed next to them: on a "
             "shared machine, absolute times move with the load; ratios measured in the same rounds move less.\n"]
    failed = []
    for name in names:
        args = SIZES[sz][name]
        before = load_line()
        print(f"== {name} {' '.join(args)}  ({before})", flush=True)
        rc, secs, text = run(name, args)
        print(text, flush=True)
        if rc:
            failed.append(name)
        parts.append(f"## {name}\n\n`python benchmarks/{name}.py {' '.join(args)}`: exit {rc}, {secs:.0f} s; "
                     f"before: {before}; after: {load_line()}\n\n```text\n{text.rstrip()}\n```\n")
        out.write_text("\n".join(parts))
    print(f"wrote {out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
