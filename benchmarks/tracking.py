"""Tracking benchmark: log N values of one metric, flush, read them back.

Every round (at least 3, interleaved, order rotated) measures, each in a fresh scratch target:

- **Mainsail SDK**, embedded SQLite (and over HTTP, a ``mainsail server`` subprocess started once);
- **the SQLite floor**: raw ``sqlite3.executemany`` into the same table and index, then a SELECT;
- with PostgreSQL reachable: **Mainsail SDK on PostgreSQL** against **the PostgreSQL floor**, a psycopg
  binary ``COPY`` into a table shaped like ``run_metrics`` that, like Mainsail's, holds the same history
  (20 earlier runs of 1,000 points) and the earlier rounds' runs, under a new run id made as Mainsail makes
  them each round (and, for reference, ``COPY`` and ``executemany`` into an empty table), in a database the
  benchmark creates and drops (``--pg-admin`` / ``$MAINSAIL_BENCH_PG``);
- **MLflow** 3.17 from its own venv: fluent ``log_metric`` synchronous, fluent ``log_metric(...,
  synchronous=False)`` + ``mlflow.flush_async_logging()`` (the like-for-like mode of our buffered
  ``log_metric``), both on ``--peer-values`` values and extrapolated per value, and ``MlflowClient.log_batch``
  of 1,000 + ``get_metric_history`` on all N;
- **Aim** 3.29 from its own venv: ``Run.track`` in a loop, close, read the series back.

Ratios are per round (same load), reported as median (min–max).

    python benchmarks/tracking.py [--n 100000] [--rounds 3] [--smoke] [--no-http] [--no-pg] [--no-peers] [--json]

``--smoke`` (N=2000, no HTTP, PostgreSQL or peers) exits non-zero only when Mainsail's read-back is wrong.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _common import (
    fmt_spread,
    missing,
    peer_python,
    print_load,
    ratio_spread,
    rounds,
    scratch_postgres,
    skip,
    spread,
    summary,
    verdict,
)

KEY = "loss"
now = time.perf_counter


def make_values(n: int) -> list[float]:
    return [1.0 / (i + 1) for i in range(n)]


def bench_mainsail(uri: str, n: int) -> dict[str, Any]:
    """The fluent SDK: start a run, log N points with explicit steps, end (flushes), read back. The write
is the logging loop and the run's end (which flushes); starting the run is timed apart."""
    import mainsail

    mainsail.set_tracking_uri(uri)  # embedded: builds engines and migrates the schema
    mainsail.set_experiment("bench")
    vals = make_values(n)
    log_metric = mainsail.log_metric
    gc.collect()  # the set-up's garbage is not charged to whichever timed loop trips the next full collection
    ts = now()
    with mainsail.start_run() as run:  # run start (a git lookup, a transaction) is outside the write, as MLflow's is
        t0 = now()
        for i in range(n):
            log_metric(KEY, vals[i], step=i)
    t1 = now()
    hist = mainsail.get_client().get_metric_history(run.id, KEY)
    t2 = now()
    ok = hist.step == list(range(n)) and hist.value == vals and len(hist.timestamp) == n
    mainsail.set_tracking_uri(None)
    return {"start_s": t0 - ts, "write_s": t1 - t0, "read_s": t2 - t1, "total_s": t2 - t0, "ok": ok}


FLOOR_DDL = [
    "CREATE TABLE run_metrics (id INTEGER NOT NULL, run_id VARCHAR(32) NOT NULL, key VARCHAR(250) NOT NULL, "
    "value FLOAT, step BIGINT NOT NULL, timestamp FLOAT NOT NULL, CONSTRAINT pk_run_metrics PRIMARY KEY (id))",
    "CREATE INDEX ix_run_metrics_run_key_step ON run_metrics (run_id, key, step, timestamp)",
]
PG_FLOOR_DDL = [
    "CREATE TABLE {t} (id BIGSERIAL PRIMARY KEY, run_id VARCHAR(32) NOT NULL, key VARCHAR(250) NOT NULL, "
    "value DOUBLE PRECISION, step BIGINT NOT NULL, timestamp DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX ix_{t} ON {t} (run_id, key, step, timestamp)",
]


def bench_floor(db: Path, n: int) -> dict[str, Any]:
    """Raw sqlite3: same table and index as ``run_metrics``, WAL + synchronous=NORMAL, one executemany."""
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    for ddl in FLOOR_DDL:
        con.execute(ddl)
    vals = make_values(n)
    run_id = "0" * 32
    gc.collect()  # as before Mainsail's timed part
    t0 = now()
    con.execute("BEGIN IMMEDIATE")
    con.executemany("INSERT INTO run_metrics (run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)",
                    ((run_id, KEY, v, i, time.time()) for i, v in enumerate(vals)))
    con.execute("COMMIT")
    t1 = now()
    rows = con.execute("SELECT step, value, timestamp FROM run_metrics WHERE run_id = ? AND key = ? "
                       "ORDER BY step", (run_id, KEY)).fetchall()
    t2 = now()
    con.close()
    ok = [r[0] for r in rows] == list(range(n)) and [r[1] for r in rows] == vals
    return {"write_s": t1 - t0, "read_s": t2 - t1, "total_s": t2 - t0, "ok": ok}


def bench_pg_floor(dsn: str, n: int, how: str, table: str, keep: bool = False) -> dict[str, Any]:
    """Raw psycopg on a table shaped like ``run_metrics``: binary COPY (or executemany), then a SELECT.

    ``keep``: the table (with :func:`history`) stays for the next round and each round writes under a new
    run id made as Mainsail makes them, as Mainsail's ``run_metrics`` holds its history and the earlier
    rounds' runs. Otherwise the table is created empty and dropped."""
    import psycopg

    from mainsail.core.db import new_id

    vals = make_values(n)
    run_id = new_id() if keep else "0" * 32
    with psycopg.connect(dsn) as con:
        for ddl in PG_FLOOR_DDL:
            con.execute(ddl.format(t=table).replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS")
                        .replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS"))
        con.commit()
        cur = con.cursor()
        gc.collect()  # as before Mainsail's timed part
        t0 = now()
        if how == "copy":
            with cur.copy(f"COPY {table} (run_id, key, value, step, timestamp) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["text", "text", "float8", "int8", "float8"])
                ts = time.time()
                for i, v in enumerate(vals):
                    cp.write_row((run_id, KEY, v, i, ts))
        else:
            ts = time.time()
            cur.executemany(f"INSERT INTO {table} (run_id, key, value, step, timestamp) VALUES (%s, %s, %s, %s, %s)",
                            [(run_id, KEY, v, i, ts) for i, v in enumerate(vals)])
        con.commit()
        t1 = now()
        rows = cur.execute(f"SELECT step, value, timestamp FROM {table} WHERE run_id = %s AND key = %s "
                           "ORDER BY step", (run_id, KEY)).fetchall()
        t2 = now()
        if not keep:
            con.execute(f"DROP TABLE {table}")
            con.commit()
    ok = [r[0] for r in rows] == list(range(n)) and [r[1] for r in rows] == vals
    return {"write_s": t1 - t0, "read_s": t2 - t1, "total_s": t2 - t0, "ok": ok}


HISTORY_RUNS, HISTORY_POINTS = 20, 1000


def history(dsn: str, sa_url: str, table: str) -> None:
    """Before the rounds, Mainsail's store and the floor's kept table each get the same history: 20 earlier
    runs of 1,000 points (a tracking server is not empty). A new run's points then go into the middle of the
    ``(run_id, key, step, timestamp)`` index for both, as they do in production, instead of after its last
    entry: that alone moved a 20,000-point ``COPY`` from 54 to 71 ms."""
    import psycopg

    import mainsail
    from mainsail.core.db import new_id

    mainsail.set_tracking_uri(sa_url)
    mainsail.set_experiment("history")
    for _ in range(HISTORY_RUNS):
        with mainsail.start_run():
            for i in range(HISTORY_POINTS):
                mainsail.log_metric(KEY, 1.0 / (i + 1), step=i)
    mainsail.set_tracking_uri(None)
    with psycopg.connect(dsn) as con:
        for ddl in PG_FLOOR_DDL:
            con.execute(ddl.format(t=table))
        cur = con.cursor()
        for _ in range(HISTORY_RUNS):
            run_id = new_id()
            with cur.copy(f"COPY {table} (run_id, key, value, step, timestamp) FROM STDIN") as cp:
                for i in range(HISTORY_POINTS):
                    cp.write_row((run_id, KEY, 1.0 / (i + 1), i, time.time()))
        con.commit()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real ``mainsail server`` subprocess on a fresh SQLite file, started once for all rounds."""

    def __init__(self, tmp: Path) -> None:
        self.port, self.tmp = free_port(), tmp
        env = {**os.environ, "MAINSAIL_URI": f"sqlite:///{tmp}/srv.db", "MAINSAIL_ARTIFACT_ROOT": str(tmp / "art")}
        self.log = (tmp / "server.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "server", "--host", "127.0.0.1",
                                      "--port", str(self.port), "--no-background"], env=env, stdout=self.log,
                                     stderr=self.log)
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server not ready after 90 s")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


MLFLOW_SCRIPT = r'''
import json, sys, time
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

tmp, n, nf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
now = time.perf_counter
vals = [1.0 / (i + 1) for i in range(n)]
out = {"version": mlflow.__version__, "fluent_n": nf}
mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
mlflow.set_experiment("bench")
client = MlflowClient()
with mlflow.start_run() as run:
    rid = run.info.run_id
    t0 = now()
    for i in range(nf):
        mlflow.log_metric("loss_sync", vals[i], step=i, synchronous=True)
    out["sync_s"] = now() - t0
    t0 = now()
    for i in range(nf):
        mlflow.log_metric("loss_async", vals[i], step=i, synchronous=False)
    mlflow.flush_async_logging()
    out["async_s"] = now() - t0
    apts = sorted(client.get_metric_history(rid, "loss_async"), key=lambda m: m.step)
    out["async_ok"] = [m.step for m in apts] == list(range(nf)) and [m.value for m in apts] == vals[:nf]
    t0 = now()
    for s in range(0, n, 1000):
        ts = int(time.time() * 1000)
        client.log_batch(rid, metrics=[Metric("loss_batch", vals[i], ts, i) for i in range(s, min(n, s + 1000))])
    out["batch_s"] = now() - t0
    t0 = now()
    hist = client.get_metric_history(rid, "loss_batch")
    out["read_s"] = now() - t0
    pts = sorted(hist, key=lambda m: m.step)
    out["ok"] = [m.step for m in pts] == list(range(n)) and [m.value for m in pts] == vals
print("PEER_JSON " + json.dumps(out))
'''

AIM_SCRIPT = r'''
import json, sys, time
from importlib.metadata import version
from aim import Repo, Run
from aim.sdk.index_manager import RepoIndexManager

tmp, n = sys.argv[1], int(sys.argv[2])
now = time.perf_counter
vals = [1.0 / (i + 1) for i in range(n)]
out = {"version": version("aim")}
t0 = now()
run = Run(repo=tmp, experiment="bench")  # creating the repo and the run is timed apart, as Mainsail's run start
h = run.hash
out["start_s"] = now() - t0
t0 = now()
for i in range(n):
    run.track(vals[i], name="loss", step=i)
run.close()
out["write_s"] = now() - t0
t0 = now()
repo = Repo(tmp)
RepoIndexManager.get_index_manager(repo).index(h)  # a run is queryable once indexed: counts as read time
got = None
for m in repo.query_metrics("metric.name == 'loss'").iter():
    steps, cols = m.data.items_list()
    got = (list(steps), list(cols[0]))
out["read_s"] = now() - t0
out["ok"] = bool(got) and got[0] == list(range(n)) and got[1] == vals
print("PEER_JSON " + json.dumps(out))
'''


def run_peer(python: Path, script: str, args: list[str], tmp: Path) -> dict[str, Any]:
    path = tmp / "peer_bench.py"
    path.write_text(script)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MLFLOW_ENABLE_ASYNC_LOGGING": "false"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(python), str(path), *args], capture_output=True, text=True, env=env, cwd=tmp,
                          timeout=3600)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("PEER_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    return json.loads(line.removeprefix("PEER_JSON "))


def in_tmp(prefix: str, fn: Any) -> Any:
    def case() -> Any:
        with tempfile.TemporaryDirectory(prefix=prefix) as d:
            return fn(Path(d))
    return case


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peer-values", type=int, default=2000, help="values per MLflow fluent mode (extrapolated)")
    ap.add_argument("--smoke", action="store_true", help="N=2000, no HTTP/PostgreSQL/peers; fails only on wrong read-back")
    ap.add_argument("--http", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument("--pg", action=argparse.BooleanOptionalAction, default=None,
                    help="Mainsail on PostgreSQL against a COPY floor (default: on unless --smoke)")
    ap.add_argument("--pg-admin", help="admin URL to create the scratch database (default $MAINSAIL_BENCH_PG)")
    ap.add_argument("--peers", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    args = ap.parse_args()
    n = 2000 if args.smoke else args.n
    http = (not args.smoke) if args.http is None else args.http
    pg = (not args.smoke) if args.pg is None else args.pg
    peers = (not args.smoke) if args.peers is None else args.peers
    load_before = print_load()
    res: dict[str, Any] = {"n": n, "notes": []}
    cases: dict[str, Any] = {
        "floor": in_tmp("bench-floor-", lambda d: bench_floor(d / "floor.db", n)),
        "mainsail": in_tmp("bench-ms-", lambda d: bench_mainsail(f"sqlite:///{d}/m.db", n)),
    }
    scratch = [Path(tempfile.mkdtemp(prefix="bench-art-"))]  # removed at the end, as every round's own folder
    os.environ["MAINSAIL_ARTIFACT_ROOT"] = str(scratch[0])
    server = pg_ctx = None
    try:
        if http:
            scratch.append(Path(tempfile.mkdtemp(prefix="bench-http-")))
            server = Server(scratch[-1])
            cases["http"] = lambda: bench_mainsail(server.url, n)  # type: ignore[union-attr]
        if pg:
            try:
                ctx = scratch_postgres(args.pg_admin)
                dsn = ctx.__enter__()
                pg_ctx = ctx  # entered: dropped at the end whatever happens next
                sa_url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
                counter = iter(range(10**6))
                history(dsn, sa_url, "floor_kept")
                cases["pg_copy_floor"] = lambda: bench_pg_floor(dsn, n, "copy", "floor_kept", keep=True)
                cases["pg_copy_fresh"] = lambda: bench_pg_floor(dsn, n, "copy", f"floor_{next(counter)}")
                cases["pg_executemany"] = lambda: bench_pg_floor(dsn, n, "executemany", f"floor_{next(counter)}")
                cases["pg"] = lambda: bench_mainsail(sa_url, n)
            except Exception as exc:  # noqa: BLE001 - no PostgreSQL: skip that part, say why
                for key in ("pg_copy_floor", "pg_copy_fresh", "pg_executemany", "pg"):
                    cases.pop(key, None)
                res["notes"].append(skip("PostgreSQL", str(exc)))
        if peers:
            nf = min(n, args.peer_values)
            if py := peer_python("mlflow", "/tmp/mlflow-venv"):
                cases["mlflow"] = in_tmp("bench-mlflow-", lambda d: run_peer(py, MLFLOW_SCRIPT, [str(d), str(n), str(nf)], d))
            else:
                res["notes"].append(skip("mlflow", missing("mlflow")))
            if apy := peer_python("aim"):
                cases["aim"] = in_tmp("bench-aim-", lambda d: run_peer(apy, AIM_SCRIPT, [str(d), str(n)], d))
            else:
                res["notes"].append(skip("aim", missing("aim")))
        try:
            rows = rounds(cases, args.rounds)
        except RuntimeError as exc:
            failing = [k for k in cases if k in ("mlflow", "aim")]
            if not failing:
                raise
            res["notes"].append(skip("/".join(failing), str(exc)))
            for k in failing:
                cases.pop(k)
            rows = rounds(cases, args.rounds)
    finally:
        if server:
            server.close()
        if pg_ctx:
            pg_ctx.__exit__(None, None, None)
        for folder in scratch:
            shutil.rmtree(folder, ignore_errors=True)
    res["rounds"] = rows
    res["load"] = [load_before, print_load()]
    res["ratios"] = ratios(rows, n)
    if args.json:
        print(json.dumps(res, indent=2, default=str))
    else:
        render(res, rows, n)
    ok = all(r["ok"] for k in ("mainsail", "http", "pg", "floor", "pg_copy_floor", "pg_copy_fresh", "pg_executemany")
             for r in rows.get(k, []))
    checks: dict[str, bool | str] = {}
    if m := rows.get("mlflow"):
        checks["MLflow log_batch read-back"] = all(col(m, "ok")) or "get_metric_history differs from what was logged"
        checks["MLflow async fluent"] = all(col(m, "async_ok")) or "fewer points than logged after the flush"
    if a := rows.get("aim"):
        checks["Aim read-back"] = all(col(a, "ok")) or "the queried series differs from what was tracked"
    summary(f"Tracking: log + flush + read back {n:,} points of one metric; {len(rows['mainsail'])} interleaved "
            "rounds, ratio per round", ["comparison (per round)", "median (min–max)"],
            [[label, fmt_spread(s)] for label, s in res["ratios"].items()],
            checks={"Mainsail and floors": ok, **checks}, notes=res["notes"], load=res["load"])
    return verdict(ok, checks)


def col(rows: list[dict[str, Any]], key: str) -> list[float]:
    return [r[key] for r in rows]


def ratios(rows: dict[str, list[dict[str, Any]]], n: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    ms, fl = rows["mainsail"], rows["floor"]
    out["Mainsail sqlite total / sqlite floor total (goal ≤ 2x)"] = ratio_spread(col(ms, "total_s"), col(fl, "total_s"))
    out["Mainsail sqlite write / sqlite floor write"] = ratio_spread(col(ms, "write_s"), col(fl, "write_s"))
    if h := rows.get("http"):
        out["Mainsail HTTP total / sqlite floor total"] = ratio_spread(col(h, "total_s"), col(fl, "total_s"))
    if p := rows.get("pg"):
        cf = rows["pg_copy_floor"]
        out["Mainsail PostgreSQL write / COPY floor write (goal ≤ 1.5x)"] = ratio_spread(col(p, "write_s"), col(cf, "write_s"))
        out["Mainsail PostgreSQL total / COPY floor total"] = ratio_spread(col(p, "total_s"), col(cf, "total_s"))
        out["Mainsail PostgreSQL write / COPY into an empty table write"] = ratio_spread(
            col(p, "write_s"), col(rows["pg_copy_fresh"], "write_s"))
        out["executemany floor write / COPY floor write"] = ratio_spread(col(rows["pg_executemany"], "write_s"),
                                                                         col(cf, "write_s"))
    if m := rows.get("mlflow"):
        nf = m[0]["fluent_n"]
        per_ms = [r["write_s"] / n for r in ms]
        out["MLflow fluent async per value / Mainsail write per value"] = ratio_spread(
            [r["async_s"] / nf for r in m], per_ms)
        out["MLflow fluent sync per value / Mainsail write per value"] = ratio_spread(
            [r["sync_s"] / nf for r in m], per_ms)
        out["MLflow log_batch / Mainsail write"] = ratio_spread(col(m, "batch_s"), col(ms, "write_s"))
        out["MLflow get_metric_history / Mainsail read"] = ratio_spread(col(m, "read_s"), col(ms, "read_s"))
    if a := rows.get("aim"):
        out["Aim Run.track write / Mainsail write"] = ratio_spread(col(a, "write_s"), col(ms, "write_s"))
        out["Aim read / Mainsail read"] = ratio_spread(col(a, "read_s"), col(ms, "read_s"))
        out["Aim total / Mainsail total"] = ratio_spread([r["write_s"] + r["read_s"] for r in a], col(ms, "total_s"))
    return out


def render(res: dict[str, Any], rows: dict[str, list[dict[str, Any]]], n: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 170)
    nr = len(rows["mainsail"])
    t = Table(title=f"Tracking: log + flush + read back {n:,} points of one metric, median (min–max) of {nr} "
                    "interleaved rounds")
    for c in ("system", "write s", "read s", "total s", "write µs/value", "read-back"):
        t.add_column(c, justify="left" if c == "system" else "right")

    def med(xs: list[float]) -> str:
        s = spread(xs)
        return f"{s['median']:.3f} ({s['min']:.3f}–{s['max']:.3f})"

    flag = {True: "[green]ok[/]", False: "[red]WRONG[/]"}
    labels = {"mainsail": "Mainsail SDK, embedded SQLite", "http": "Mainsail SDK, HTTP server (SQLite)",
              "floor": "Floor: raw sqlite3 executemany", "pg": "Mainsail SDK, PostgreSQL",
              "pg_copy_floor": "Floor: psycopg binary COPY (PostgreSQL), same history as Mainsail's",
              "pg_copy_fresh": "psycopg binary COPY into an empty table (reference)",
              "pg_executemany": "psycopg executemany, empty table (reference)"}
    for key, label in labels.items():
        if r := rows.get(key):
            t.add_row(label, med(col(r, "write_s")), med(col(r, "read_s")), med(col(r, "total_s")),
                      f"{spread(col(r, 'write_s'))['median'] / n * 1e6:,.2f}", flag[all(col(r, "ok"))])
    if m := rows.get("mlflow"):
        nf = m[0]["fluent_n"]
        v = m[0]["version"]
        t.add_row(f"MLflow {v} fluent log_metric sync ({nf:,} values, per value ×N)",
                  med([r["sync_s"] / nf * n for r in m]), "—", "—", f"{spread([r['sync_s'] for r in m])['median'] / nf * 1e6:,.1f}", "—")
        t.add_row(f"MLflow {v} fluent synchronous=False + flush ({nf:,} values, ×N)",
                  med([r["async_s"] / nf * n for r in m]), "—", "—",
                  f"{spread([r['async_s'] for r in m])['median'] / nf * 1e6:,.1f}", flag[all(col(m, "async_ok"))])
        t.add_row(f"MLflow {v} log_batch ×1000 + get_metric_history", med(col(m, "batch_s")), med(col(m, "read_s")),
                  med([r["batch_s"] + r["read_s"] for r in m]), f"{spread(col(m, 'batch_s'))['median'] / n * 1e6:,.1f}",
                  flag[all(col(m, "ok"))])
    if a := rows.get("aim"):
        t.add_row(f"Aim {a[0]['version']} Run.track + query", med(col(a, "write_s")), med(col(a, "read_s")),
                  med([r["write_s"] + r["read_s"] for r in a]), f"{spread(col(a, 'write_s'))['median'] / n * 1e6:,.1f}",
                  flag[all(col(a, "ok"))])
    console.print(t)
    for note in res["notes"]:
        console.print(note)
    console.print("ratios per round (same load), median (min–max):")
    for label, s in res["ratios"].items():
        console.print(f"  {label:<62} {fmt_spread(s)}")
    console.print(" / ".join(res["load"]))


if __name__ == "__main__":
    sys.exit(main())
