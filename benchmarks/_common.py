"""Helpers shared by every benchmark: load average, interleaved rounds, ratio spreads, peer venvs, and
scratch Redis/PostgreSQL targets the benchmark creates itself (it never touches anything it did not create).

- ``load_line()``: the machine's load average, printed with every set of figures.
- ``rounds(cases, n)``: run each case once per round, rotating the order every round, so peer, floor and
  ours see the same background load; ``spread(xs)`` / ``ratio_spread(a, b)``: min / median / max.
- ``peer_python(name)``: the interpreter of a peer's own venv: ``$MAINSAIL_PEER_<NAME>`` (a venv folder or
  a python), else ``$MAINSAIL_PEERS/<name>`` (default ``/work/peers/<name>``), else None; ``skip(...)``
  prints why a peer is left out.
- ``scratch_redis(url)``: a Redis target on a dedicated db (default ``redis://127.0.0.1:6379/13``, or
  ``$MAINSAIL_BENCH_REDIS``) with a unique key prefix; on exit only keys under that prefix are deleted.
- ``scratch_postgres(admin_url)``: a fresh database created for the run and dropped after it.
- ``summary(...)``: hands a script's headline table to ``python -m benchmarks``, which writes it between the
  generated-section markers of docs/benchmarks.md (``render_summary`` / ``replace_generated``).
- ``verdict(ours_ok, checks)``: the exit code: 1 when Mainsail's or a floor's output is wrong, 2 when only a
  peer's is (printed loudly on stderr: its time is no valid comparison), else 0.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

now = time.perf_counter
PEERS_DIR = Path(os.environ.get("MAINSAIL_PEERS", "/work/peers"))
BENCH_REDIS = os.environ.get("MAINSAIL_BENCH_REDIS", "redis://127.0.0.1:6379/13")
BENCH_PG_ADMIN = os.environ.get("MAINSAIL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MIN_ROUNDS = 3


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def load_line() -> str:
    """``load average 1/5/15 min: a / b / c on N cores``: print it next to every figure."""
    one, five, fifteen = load_average()
    return f"load average 1/5/15 min: {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


def print_load(prefix: str = "") -> str:
    line = f"{prefix}{load_line()}"
    print(line, flush=True)
    return line


# ------------------------------------------------------------------------------- rounds and spreads

def rounds(cases: dict[str, Callable[[], Any]], n: int = MIN_ROUNDS, *, smoke: bool = False) -> dict[str, list[Any]]:
    """Call every case once per round, ``n`` rounds (at least 3), rotating which case goes first, so a
    burst of background load falls on all of them alike. Each case returns its own measurement (it times
    only the work, not its setup). Returns the measurements per case in round order. ``smoke``: a
    correctness check that reports no figures, ``n`` as given (one round is enough)."""
    n = max(n, 1 if smoke else MIN_ROUNDS)
    names = list(cases)
    out: dict[str, list[Any]] = {k: [] for k in names}
    for r in range(n):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(cases[name]())
    return out


def spread(xs: list[float]) -> dict[str, float]:
    """min / median / max of a list of measurements."""
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "n": len(xs)}


def ratio_spread(num: list[float], den: list[float]) -> dict[str, float]:
    """Per-round ratios ``num[i] / den[i]`` (same round, same load), as min / median / max."""
    return spread([a / b for a, b in zip(num, den, strict=True) if b])


def fmt_spread(s: dict[str, float] | None, unit: str = "x", digits: int | None = None) -> str:
    """``1.23x (1.10–1.40)``: median, then min–max across rounds; without ``digits``, 2 decimals below 10,
    1 below 100, none (with thousands separators) above."""
    if not s:
        return "—"
    if digits is None:
        digits = 2 if s["median"] < 10 else 1 if s["median"] < 100 else 0
    f = f"{{:,.{digits}f}}"
    return f"{f.format(s['median'])}{unit} ({f.format(s['min'])}–{f.format(s['max'])})"


def timed(fn: Callable[[], Any]) -> Callable[[], float]:
    """A case for ``rounds`` that times one call of ``fn``."""
    def case() -> float:
        t = now()
        fn()
        return now() - t
    return case


# ------------------------------------------------------------------------------------- peer venvs

def wait_http(proc: Any, url: str, log: Path, seconds: float, what: str) -> str | None:
    """Poll ``url`` until it answers 200 (None), or say why not: ``proc`` exited (with its log's tail) or
    ``seconds`` passed. The caller decides what a failure means (skip a peer, abort a run)."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"{what} exited: {log.read_text()[-1500:]}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return None
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return f"{what} not ready in {seconds:.0f} s: {log.read_text()[-1500:]}"


def peer_python(name: str, legacy: str | None = None) -> Path | None:
    """The python of peer ``name``'s venv, or None when it is not installed."""
    env = os.environ.get(f"MAINSAIL_PEER_{name.upper()}")
    candidates = [Path(env)] if env else []
    candidates.append(PEERS_DIR / name)
    if legacy:
        candidates.append(Path(legacy))
    for c in candidates:
        py = c if c.is_file() else c / "bin" / "python"
        if py.is_file():
            return py
    return None


def peer_bin(name: str) -> Path | None:
    py = peer_python(name)
    return py.parent if py else None


def skip(peer: str, why: str) -> str:
    msg = f"peer {peer} skipped: {why}"
    print(msg, file=sys.stderr, flush=True)
    return msg


def missing(name: str) -> str:
    return (f"no venv at {PEERS_DIR / name} (set MAINSAIL_PEER_{name.upper()}, or install it as "
            "/work/shared/BENCHMARKS.md says)")


# ------------------------------------------------------------------- scratch Redis and PostgreSQL

@contextmanager
def scratch_redis(url: str | None = None) -> Iterator[tuple[Any, str, str]]:
    """(client, url, prefix) on the benchmark's own Redis db with a unique key prefix. On exit, only keys
    under that prefix are deleted. Raises when Redis is unreachable (callers skip)."""
    import redis

    url = url or BENCH_REDIS
    prefix = f"mainsail-bench:{os.getpid()}-{secrets.token_hex(4)}:"
    r = redis.Redis.from_url(url)
    r.ping()
    try:
        yield r, url, prefix
    finally:
        batch = []
        for key in r.scan_iter(f"{prefix}*", count=10_000):
            batch.append(key)
            if len(batch) >= 10_000:
                r.delete(*batch)
                batch = []
        if batch:
            r.delete(*batch)
        r.close()


@contextmanager
def scratch_postgres(admin_url: str | None = None) -> Iterator[str]:
    """A database created for this run (``mainsail_bench_<pid>_<hex>``) and dropped after it; yields its
    libpq URL. Raises when PostgreSQL is unreachable (callers skip)."""
    import psycopg

    admin = (admin_url or BENCH_PG_ADMIN).replace("postgresql+psycopg://", "postgresql://")
    name = f"mainsail_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------ output checks and summaries

SUMMARY_ENV = "MAINSAIL_BENCH_SUMMARY"
PEER_WRONG = 2


def verdict(ours_ok: bool, checks: dict[str, bool | str]) -> int:
    """Exit code from the output checks: ``checks`` maps each peer to True (its output matched) or to what was
    wrong. A wrong peer is printed loudly on stderr (its time compares no equal work) and gives exit 2."""
    bad = {k: v for k, v in checks.items() if v is not True}
    for peer, why in bad.items():
        print(f"PEER OUTPUT WRONG: {peer}: {why or 'output differs'} (its time is not a valid comparison)",
              file=sys.stderr, flush=True)
    if not ours_ok:
        print("MAINSAIL OR FLOOR OUTPUT WRONG (see the table)", file=sys.stderr, flush=True)
        return 1
    return PEER_WRONG if bad else 0


def summary(title: str, columns: list[str], rows: list[list[str]], *, checks: dict[str, bool | str] | None = None,
            notes: list[str] | None = None, load: list[str] | None = None) -> None:
    """Hand this run's headline table (cells already formatted) to ``python -m benchmarks``, which names the
    file in ``$MAINSAIL_BENCH_SUMMARY``; without it (a script run by hand) this does nothing."""
    path = os.environ.get(SUMMARY_ENV)
    if not path:
        return
    payload = {"title": title, "columns": columns, "rows": rows, "checks": checks or {}, "notes": notes or [],
               "load": load or []}
    Path(path).write_text(json.dumps(payload, default=str))


def _cell(x: object) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def _note(text: str, limit: int = 300) -> str:
    """One line: a note may carry a peer's traceback; keep its head and its last line."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    one = " ".join(lines)
    if len(one) <= limit:
        return _cell(one)
    return _cell(f"{one[:limit // 2].rstrip()} … {lines[-1][-(limit // 2):]}")


def render_summary(s: dict[str, Any]) -> str:
    """A summary as markdown: a title line, the table, the output checks, notes and the load average."""
    cols = s["columns"]
    lines = [f"{s['title']}", "", "| " + " | ".join(map(_cell, cols)) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in s["rows"]]
    if checks := s.get("checks"):
        lines += ["", "Output checked: " + "; ".join(
            f"{k} ok" if v is True else f"**{k} WRONG: {v}**" for k, v in checks.items()) + "."]
    lines += [f"- {_note(n)}" for n in s.get("notes", [])]
    if load := s.get("load"):
        lines += ["", "Load average 1/5/15 min, before → after: "
                  + " → ".join(x.replace("load average 1/5/15 min: ", "") for x in load) + "."]
    return "\n".join(lines)


def generated_markers(name: str) -> tuple[str, str]:
    return f"<!-- generated:{name} (python -m benchmarks writes this section) -->", f"<!-- /generated:{name} -->"


def replace_generated(text: str, name: str, body: str) -> str:
    """Replace what is between ``name``'s generated-section markers; text without them is returned as is."""
    start, end = generated_markers(name)
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        return text
    return text[:i + len(start)] + "\n" + body.rstrip() + "\n" + text[j:]


if __name__ == "__main__":  # CI runs every benchmarks/*.py with --smoke: print the load and exit
    print_load()
