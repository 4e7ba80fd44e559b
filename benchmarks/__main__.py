"""Run every benchmark at one size and write the tables that docs/benchmarks.md shows.

    python -m benchmarks [--smoke | --small | --full] [--only tracking,serving] [--out PATH]

Each benchmark runs as its own process (``python benchmarks/<name>.py`` with the size's flags), with the
peers whose venvs exist under /work/peers (or ``$MAINSAIL_PEERS``; each script prints which it skipped and
why). The output of every script, with the machine's load average before and after, goes to
``docs/benchmarks/results-<size>.md`` (or ``--out``). ``--smoke`` is what CI runs: tiny sizes, no peers.

A script that hands over a headline table (``_common.summary``) also gets it written into
``docs/benchmarks.md`` between its generated-section markers (``<!-- generated:NAME ... -->`` …
``<!-- /generated:NAME -->``), except with ``--smoke`` or ``--no-docs``. Exit codes: 1 when a script failed or
Mainsail's or a floor's output was wrong; 2 when only a peer's output was wrong (flagged in its table).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _common import PEER_WRONG, SUMMARY_ENV, load_line, render_summary, replace_generated  # noqa: E402

ORDER = ["tracking", "registry", "data", "features", "pipelines", "serving", "monitoring", "cbpe", "mlflow_server",
         "cli", "backup", "auth", "collab"]
SIZES: dict[str, dict[str, list[str]]] = {
    "smoke": {name: ["--smoke"] for name in ORDER},
    "small": {
        "tracking": ["--n", "20000", "--peer-values", "2000"],
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


def run(name: str, args: list[str]) -> tuple[int, float, str, dict | None]:
    """Run one script; return its exit code, seconds, output, and the summary it handed over (or None)."""
    with tempfile.TemporaryDirectory(prefix="mainsail-bench-run-") as tmp:
        summary_file = Path(tmp) / "summary.json"
        env = {**os.environ, "COLUMNS": "170", "PYTHONWARNINGS": "ignore", SUMMARY_ENV: str(summary_file)}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *args], capture_output=True, text=True,
                              env=env, cwd=ROOT)
        secs = time.perf_counter() - t0
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else None
    out = proc.stdout + ("\n" + proc.stderr[-3000:] if proc.returncode not in (0, PEER_WRONG) else "")
    loud = [ln for ln in proc.stderr.splitlines() if ln.startswith(("peer ", "PEER OUTPUT WRONG"))]
    if loud:
        out += "\n" + "\n".join(loud)
    return proc.returncode, secs, out, summary


def merge_results(previous: str, head: str, intro: str, done: dict[str, str], names: list[str]) -> str:
    """The results file: this run's sections, and (with ``--only``) the other sections of the previous file,
    in the benchmarks' order; the intro says which run wrote which section."""
    old = {}
    for chunk in previous.split("\n## ")[1:]:
        name = chunk.split("\n", 1)[0].strip()
        old[name] = "## " + chunk.rstrip() + "\n"
    sections = {**old, **done}
    order = [n for n in ORDER if n in sections] + [n for n in sections if n not in ORDER]
    if old.keys() - done.keys():
        intro += (f"\nThis run measured {', '.join(n for n in names if n in done)}; the other sections are from an "
                  "earlier run (their own lines say when: load average and exit code).\n")
    return "\n".join([head, intro, *(sections[n] for n in order)])


def write_docs(path: Path, sections: dict[str, str]) -> list[str]:
    """Write each section between its markers in docs/benchmarks.md; return the names that had markers."""
    text = before = path.read_text()
    done = []
    for name, body in sections.items():
        new = replace_generated(text, name, body)
        if new != text or f"generated:{name} " in text:
            done.append(name)
        text = new
    if text != before:
        path.write_text(text)
    return done


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    size = ap.add_mutually_exclusive_group()
    for s in SIZES:
        size.add_argument(f"--{s}", dest="size", action="store_const", const=s)
    ap.add_argument("--only", help="comma-separated benchmarks (default: all)")
    ap.add_argument("--out", help="markdown file to write (default docs/benchmarks/results-<size>.md)")
    ap.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md's generated sections alone")
    ap.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"), help=argparse.SUPPRESS)
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
    previous = out.read_text() if out.is_file() else ""
    done: dict[str, str] = {}
    failed, peer_wrong, sections = [], [], {}
    stamp = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit `{git_head()}`, {os.cpu_count()} cores"
    for name in names:
        args = SIZES[sz][name]
        before = load_line()
        print(f"== {name} {' '.join(args)}  ({before})", flush=True)
        rc, secs, text, summary = run(name, args)
        print(text, flush=True)
        if rc == PEER_WRONG:
            peer_wrong.append(name)
        elif rc:
            failed.append(name)
        cmd = f"`python benchmarks/{name}.py {' '.join(args)}`".replace(" `", "`")
        table = ""
        if summary:
            table = render_summary(summary) + "\n\n"
            sections[name] = (f"*Generated by `python -m benchmarks --{sz}` ({cmd}, exit {rc}) on {stamp}; full "
                              f"output in [`benchmarks/{out.name}`](benchmarks/{out.name}).*\n\n{render_summary(summary)}")
        done[name] = (f"## {name}\n\n{cmd}: exit {rc}, {secs:.0f} s; before: {before}; after: {load_line()}\n\n"
                      f"{table}```text\n{text.rstrip()}\n```\n")
        if a.only:  # read again just before writing: another --only run may have written its sections meanwhile
            previous = out.read_text() if out.is_file() else ""
        out.write_text(merge_results(previous if a.only else "", parts[0], parts[1], done, names))
    docs = Path(a.docs)
    if sections and sz != "smoke" and not a.no_docs and docs.is_file():
        written = write_docs(docs, sections)
        print(f"updated {docs}: {', '.join(written) or 'no generated-section markers found'}")
    print(f"wrote {out}" + (f"; failed: {', '.join(failed)}" if failed else "")
          + (f"; a peer's output was wrong in: {', '.join(peer_wrong)}" if peer_wrong else ""))
    return 1 if failed else (PEER_WRONG if peer_wrong else 0)


if __name__ == "__main__":
    sys.exit(main())
