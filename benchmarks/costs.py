"""Costs: what measuring usage costs the work it measures, and a cost report over many usage records.

- Busy pipeline task: a CPU-bound function of about ``--task-seconds`` (CPU time) run bare (the floor) and wrapped
  in what a pool process does around every task (``Meter()`` … ``task_usage``: getrusage, the kernel's
  peak-memory mark reset and read; nothing runs while the task does). Figure: overhead in % (goal < 1%).
- Serving replica: the same CPU-bound request loop (``model.predict`` on one row of a scikit-learn
  LogisticRegression, the serving floor) for ``--replica-seconds``, bare and with a ``ReplicaUsage``
  reporting every ``--interval`` seconds (in-process Client on SQLite: meter + one INSERT) — the default
  interval is 60 s; the benchmark reports far more often to make the cost visible. Figures: requests per
  CPU second of the process (so the load of other processes does not count),
  overhead in %, and the cost of one report (so its share at the default 60 s interval).
- Cost report over N usage records (default 1,000,000) on SQLite: ``cost_report(by=project)``,
  ``by=pipeline`` and ``by=model`` (the runs' part from the records: they map to models by run id) through the service (whole days and hours from the rollup, the edge hours from the
  records) against the floor — the same aggregate query over the raw records on a raw sqlite3
  connection — and, for reference, that query over the rollup's day rows alone on raw sqlite3. Goal < 1 s. No peer installs from PyPI for this (OpenCost and Kubecost are Kubernetes
  services), so none is measured.

Rounds are interleaved (>= 3); medians with min–max.

    python benchmarks/costs.py [--smoke] [--records 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt_spread, load_line, rounds, spread  # noqa: E402


def busy(seconds: float) -> int:
    end, n = time.process_time() + seconds, 0
    while time.process_time() < end:
        n += 1
    return n


def bench_task(seconds: float, n: int) -> None:
    from mainsail.costs.hooks import task_usage
    from mainsail.costs.meter import Meter

    work = 200_000 * max(1, int(seconds * 50))

    def loop() -> int:
        x = 0
        for i in range(work):
            x += i * i
        return x

    def bare() -> float:  # CPU time of this process: other processes' load does not count
        t = time.process_time()
        loop()
        return time.process_time() - t

    def metered() -> float:
        t = time.process_time()
        m = Meter()
        loop()
        task_usage(m)
        return time.process_time() - t

    def meter_only() -> float:
        t = time.perf_counter()
        for _ in range(100):
            task_usage(Meter())
        return (time.perf_counter() - t) / 100

    out = rounds({"bare": bare, "metered": metered, "meter": meter_only}, n)
    over = [100 * (m - b) / b for m, b in zip(out["metered"], out["bare"], strict=True)]
    bare_s = spread(out["bare"])["median"]
    per = spread(out["meter"])["median"]
    print(f"busy task ({bare_s:.2f} CPU-s of work): overhead of metering {fmt_spread(spread(over), '%')} "
          f"(CPU time, interleaved pairs); metering itself {per * 1e6:,.0f} µs per task = "
          f"{100 * per / bare_s:.4f}% of this task  [goal < 1%]")


def bench_replica(root: Path, seconds: float, interval: float, n: int) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from mainsail import Client
    from mainsail.costs.hooks import ReplicaUsage

    client = Client(f"sqlite:///{root / 'replica.db'}", artifact_root=str(root / "art"))
    x = np.random.default_rng(0).normal(size=(200, 5))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    row = x[:1]
    usage = ReplicaUsage(client, "bench", "replica-1", interval=interval)
    usage.maybe_report(0, ["m"], force=True)  # migrations and first connection out of the way

    def serve(report: bool) -> float:  # requests per CPU second of this process (load elsewhere does not count)
        done, t0 = 0, time.process_time()
        end = t0 + seconds
        while time.process_time() < end:
            model.predict(row)
            done += 1
            if report and done % 64 == 0:  # the replica checks at each deployment sync; here far more often
                usage.maybe_report(done, ["m"])
        return done / (time.process_time() - t0)

    def one_report() -> float:
        t = time.perf_counter()
        usage.maybe_report(0, ["m"], force=True)
        return time.perf_counter() - t

    out = rounds({"bare": lambda: serve(False), "metered": lambda: serve(True), "report": one_report}, n)
    over = [100 * (b - m) / b for m, b in zip(out["metered"], out["bare"], strict=True)]
    rep = spread(out["report"])["median"]
    print(f"serving replica (predict on one row): bare {spread(out['bare'])['median']:,.0f} req/CPU-s, reporting every "
          f"{interval:g} s {spread(out['metered'])['median']:,.0f} req/CPU-s: overhead {fmt_spread(spread(over), '%')}; "
          f"one report {rep * 1e3:.2f} ms = {100 * rep / 60:.4f}% of a core at the default 60 s interval  "
          f"[goal < 1%]")
    client.close()


def fill(root: Path, records: int) -> Any:
    """N usage records over 25 days (tasks of 20 pipelines, runs, replicas of 10 deployments), inserted
    with raw sqlite3 executemany (setup, not measured)."""
    from mainsail import Client

    path = root / "report.db"
    client = Client(f"sqlite:///{path}", artifact_root=str(root / "art"))
    client.set_prices(team="bench")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    t0 = time.perf_counter()
    cols = ("project", "kind", "pipeline", "task", "run_id", "deployment", "model", "started_at", "ended_at",
            "wall_seconds", "cpu_seconds", "peak_memory", "gpu_seconds", "requests", "cpu_request",
            "memory_request", "attempt", "retries", "spot", "billable")
    sql = f"INSERT INTO cost_usage ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    con = sqlite3.connect(path)

    def row(i: int) -> tuple[Any, ...]:
        end = now - dt.timedelta(seconds=i % (25 * 86400))
        kind = ("task", "run", "replica")[i % 3]
        task = kind == "task"
        return ("default", kind, f"p{i % 20}" if task else None, f"t{i % 7}" if task else None,
                f"{i % 5000:032x}" if kind == "run" else None, f"d{i % 10}" if kind == "replica" else None,
                f"m{i % 10}" if kind == "replica" else None, (end - dt.timedelta(seconds=60)).isoformat(" "),
                end.isoformat(" "), 60.0, float(i % 50), (i % 64) << 20, 0.0, i % 100, 1.0 if task else None,
                (2 << 30) if task else None, 1, 0, int(i % 11 == 0), 1)

    for start in range(0, records, 100_000):
        con.executemany(sql, (row(i) for i in range(start, min(records, start + 100_000))))
        con.commit()
    con.close()
    print(f"{records:,} usage records written in {time.perf_counter() - t0:.1f} s (setup: raw sqlite3 executemany)")
    from mainsail.costs import rollup

    t0 = time.perf_counter()
    with client._backend.runtime.transaction() as ctx:  # written around the service: roll them up
        rollup.rebuild(ctx.session)
    print(f"rollup (days and hours) rebuilt from them in {time.perf_counter() - t0:.1f} s (setup; the service "
          "keeps it as it writes records, the migration backfills it)")
    return client, path


RAW = ("SELECT project, {key}, spot, count(*), sum(wall_seconds), "
       "sum(max(coalesce(cpu_request * wall_seconds, 0), cpu_seconds)), "
       "sum(max(coalesce(memory_request, 0), peak_memory) * wall_seconds), "
       "sum(max(coalesce(gpu_request * wall_seconds, 0), gpu_seconds)), sum(requests) "
       "FROM cost_usage WHERE ended_at >= ? AND ended_at < ? AND project = 'default' AND billable = 1 {extra} "
       "GROUP BY project, {key}, spot")


ROLLUP = ("SELECT project, {key}, spot, sum(records), sum(wall), sum(cpu), sum(mem), sum(gpu), sum(requests) "
          "FROM cost_usage_rollup WHERE span_hours = 24 AND start >= ? AND start < ? AND project = 'default' "
          "AND billable = 1 {extra} GROUP BY project, {key}, spot")


def bench_report(root: Path, records: int, n: int) -> None:
    client, path = fill(root, records)
    con = sqlite3.connect(path)
    until = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=1)
    since = until - dt.timedelta(days=30)

    def raw(key: str, extra: str) -> float:
        t = time.perf_counter()
        con.execute(RAW.format(key=key, extra=extra), (since.isoformat(" "), until.isoformat(" "))).fetchall()
        return time.perf_counter() - t

    def ours(by: str) -> float:
        t = time.perf_counter()
        rep = client.cost_report(by)
        assert rep.lines and rep.total > 0
        return time.perf_counter() - t

    def rolled(key: str, extra: str) -> float:
        t = time.perf_counter()
        con.execute(ROLLUP.format(key=key, extra=extra), (since.isoformat(" "), until.isoformat(" "))).fetchall()
        return time.perf_counter() - t

    rows = dict(con.execute("SELECT span_hours, count(*) FROM cost_usage_rollup GROUP BY span_hours").fetchall())
    print(f"rollup: {rows.get(24, 0):,} day rows and {rows.get(1, 0):,} hour rows for {records:,} records")
    def raw_model() -> float:  # every run's and replica's record, billable or not, by model (runs by run id)
        t = time.perf_counter()
        con.execute(RAW.replace("AND billable = 1", "").format(key="coalesce(model, 'run:' || run_id)",
                                                               extra="AND kind IN ('run', 'replica')"),
                    (since.isoformat(" "), until.isoformat(" "))).fetchall()
        return time.perf_counter() - t

    out = rounds({"project": lambda: ours("project"), "pipeline": lambda: ours("pipeline"),
                  "model": lambda: ours("model"),
                  "raw project": lambda: raw("project", ""), "raw pipeline": lambda: raw("pipeline", "AND kind = 'task'"),
                  "raw model": raw_model,
                  "rollup project": lambda: rolled("project", ""),
                  "rollup pipeline": lambda: rolled("pipeline", "AND kind = 'task'"),
                  "rollup model": lambda: rolled("model", "AND kind = 'replica'")}, n)
    for by in ("project", "pipeline", "model"):
        med = spread(out[by])["median"]
        ratio = spread([a / b for a, b in zip(out[by], out[f"raw {by}"], strict=True)])
        print(f"cost report by {by} over {records:,} records: {fmt_spread(spread(out[by]), ' s', 3)}; raw sqlite3 "
              f"aggregate over the records {fmt_spread(spread(out[f'raw {by}']), ' s', 3)}; ratio to that floor "
              f"{fmt_spread(ratio)}; raw sqlite3 over the day rows alone {fmt_spread(spread(out[f'rollup {by}']), ' s', 3)}"
              f"  [goal < 1 s: {'met' if med < 1 else 'NOT met'}]")
    con.close()
    client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (CI)")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--task-seconds", type=float, default=2.0)
    ap.add_argument("--replica-seconds", type=float, default=3.0)
    ap.add_argument("--interval", type=float, default=1.0, help="replica report interval for the benchmark")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if a.smoke:
        a.records, a.task_seconds, a.replica_seconds, a.interval = 5_000, 0.1, 0.3, 0.1
    print(load_line())
    with tempfile.TemporaryDirectory(prefix="mainsail-bench-costs-") as tmp:
        root = Path(tmp)
        bench_task(a.task_seconds, a.rounds)
        bench_replica(root, a.replica_seconds, a.interval, a.rounds)
        bench_report(root, a.records, a.rounds)
    print(load_line())


if __name__ == "__main__":
    main()
