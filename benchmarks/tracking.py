"""Tracking benchmark: log N values of one metric, flush, read them back.

Compares the Mainsail SDK (embedded SQLite, and over HTTP) with the raw sqlite3 floor (same table and
index) and, when it is installed, MLflow. Each measurement runs in a fresh temporary directory.

    python benchmarks/tracking.py [--n 100000] [--smoke] [--no-http] [--mlflow-python PATH] [--json]

``--smoke`` (N=2000, no HTTP, no MLflow) exits non-zero only when Mainsail's read-back is wrong.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

KEY = "loss"
MLFLOW_FLUENT_MAX = 2000
MLFLOW_VENV_PY = Path("/tmp/mlflow-venv/bin/python")
now = time.perf_counter


def make_values(n: int) -> list[float]:
    return [1.0 / (i + 1) for i in range(n)]


def bench_mainsail(uri: str, n: int) -> dict[str, Any]:
    """The fluent SDK: start a run, log N points with explicit steps, end (flushes), read back."""
    import mainsail

    t0 = now()
    mainsail.set_tracking_uri(uri)  # embedded: builds engines and migrates the schema
    mainsail.set_experiment("bench")
    setup = now() - t0
    vals = make_values(n)
    log_metric = mainsail.log_metric
    t0 = now()
    with mainsail.start_run() as run:
        for i in range(n):
            log_metric(KEY, vals[i], step=i)
        t1 = now()
    t2 = now()
    hist = mainsail.get_client().get_metric_history(run.id, KEY)
    t3 = now()
    ok = hist.step == list(range(n)) and hist.value == vals and len(hist.timestamp) == n
    mainsail.set_tracking_uri(None)
    return {"setup_s": setup, "write_s": t2 - t0, "log_s": t1 - t0, "flush_s": t2 - t1, "read_s": t3 - t2,
            "total_s": t3 - t0, "ok": ok}


FLOOR_DDL = [
    "CREATE TABLE run_metrics (id INTEGER NOT NULL, run_id VARCHAR(32) NOT NULL, key VARCHAR(250) NOT NULL, "
    "value FLOAT, step BIGINT NOT NULL, timestamp FLOAT NOT NULL, CONSTRAINT pk_run_metrics PRIMARY KEY (id))",
    "CREATE INDEX ix_run_metrics_run_key_step ON run_metrics (run_id, key, step)",
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_http(tmp: Path, n: int) -> dict[str, Any]:
    """A real ``mainsail server`` subprocess on a fresh SQLite file, driven by the same SDK loop."""
    port = free_port()
    env = {**os.environ, "MAINSAIL_URI": f"sqlite:///{tmp}/srv.db", "MAINSAIL_ARTIFACT_ROOT": str(tmp / "art")}
    log = (tmp / "server.log").open("wb")
    t0 = now()
    proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "server", "--host", "127.0.0.1",
                             "--port", str(port), "--no-background"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server not ready after 60 s")
            time.sleep(0.05)
        startup = now() - t0
        res = bench_mainsail(f"http://127.0.0.1:{port}", n)
        res["server_start_s"] = startup
        return res
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


MLFLOW_SCRIPT = r'''
import json, sys, time
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

tmp, n, nf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
now = time.perf_counter
vals = [1.0 / (i + 1) for i in range(n)]
out = {"version": mlflow.__version__, "fluent_n": nf}
t0 = now()
mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
mlflow.set_experiment("bench")
out["setup_s"] = now() - t0
with mlflow.start_run() as run:
    rid = run.info.run_id
    t0 = now()
    for i in range(nf):
        mlflow.log_metric("loss", vals[i], step=i)
    out["fluent_s"] = now() - t0
    client = MlflowClient()
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
print("MLFLOW_JSON " + json.dumps(out))
'''


def find_mlflow_python(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    if MLFLOW_VENV_PY.exists():
        return str(MLFLOW_VENV_PY)
    if importlib.util.find_spec("mlflow") is not None:
        return sys.executable
    return None


def bench_mlflow(python: str, tmp: Path, n: int) -> dict[str, Any]:
    script = tmp / "mlflow_bench.py"
    script.write_text(MLFLOW_SCRIPT)
    nf = min(n, MLFLOW_FLUENT_MAX)
    env = {**os.environ, "MLFLOW_ENABLE_ASYNC_LOGGING": "false", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([python, str(script), str(tmp), str(n), str(nf)], capture_output=True, text=True,
                          env=env, cwd=tmp, timeout=3600)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("MLFLOW_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"mlflow script failed ({proc.returncode}): {proc.stderr[-2000:]}")
    res = json.loads(line.removeprefix("MLFLOW_JSON "))
    res["fluent_per_value_s"] = res["fluent_s"] / nf
    res["fluent_extrapolated_s"] = res["fluent_per_value_s"] * n
    return res


def us(seconds: float, n: int) -> str:
    return f"{seconds / n * 1e6:,.2f}"


def s(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def render(res: dict[str, Any], n: int, console: Console) -> None:
    table = Table(title=f"Tracking: log + flush + read back {n:,} points of one metric")
    for col in ("system", "setup s", "log s", "flush s", "write s", "read s", "total s",
                "write µs/value", "total µs/value", "read-back"):
        table.add_column(col, justify="left" if col == "system" else "right")
    flag = {True: "[green]ok[/]", False: "[red]WRONG[/]"}
    for name, label in (("mainsail", "Mainsail SDK, embedded sqlite"), ("http", "Mainsail SDK, HTTP server")):
        r = res.get(name)
        if r:
            setup = r["setup_s"] + r.get("server_start_s", 0.0)
            table.add_row(label, s(setup), s(r["log_s"]), s(r["flush_s"]), s(r["write_s"]), s(r["read_s"]),
                          s(r["total_s"]), us(r["write_s"], n), us(r["total_s"], n), flag[r["ok"]])
    f = res["floor"]
    table.add_row("Floor: raw sqlite3", "—", "—", "—", s(f["write_s"]), s(f["read_s"]),
                  s(f["total_s"]), us(f["write_s"], n), us(f["total_s"], n), flag[f["ok"]])
    m = res.get("mlflow")
    if m:
        nf = m["fluent_n"]
        extrap = " (extrapolated)" if nf < n else ""
        table.add_row(f"MLflow {m['version']} fluent log_metric{extrap}", s(m["setup_s"]), "—",
                      "—", s(m["fluent_extrapolated_s"]), "—", "—", us(m["fluent_s"], nf), "—", "—")
        table.add_row("MLflow log_batch ×1000 + history", "—", "—", "—",
                      s(m["batch_s"]), s(m["read_s"]), s(m["batch_s"] + m["read_s"]), us(m["batch_s"], n),
                      us(m["batch_s"] + m["read_s"], n), flag[m["ok"]])
    console.print(table)
    if m and m["fluent_n"] < n:
        console.print(f"MLflow fluent: {m['fluent_n']:,} values logged, per-value time extrapolated to {n:,}.")
    if "mlflow_skipped" in res:
        console.print(res["mlflow_skipped"])
    console.print("setup (excluded from totals): Mainsail = set_tracking_uri (engines + migration) + "
                  "set_experiment; HTTP adds server start until /ready; MLflow = set_tracking_uri + set_experiment.")
    for label, (val, goal) in res["ratios"].items():
        console.print(f"  {label:<52} {val:10.2f}x   {goal}")


def ratios(res: dict[str, Any]) -> dict[str, tuple[float, str]]:
    ms, f = res["mainsail"], res["floor"]
    out = {"mainsail total / floor total": (ms["total_s"] / f["total_s"], "(goal ≤ 2x)"),
           "mainsail write / floor write": (ms["write_s"] / f["write_s"], ""),
           "mainsail read / floor read": (ms["read_s"] / f["read_s"], "")}
    if h := res.get("http"):
        out["mainsail HTTP total / floor total"] = (h["total_s"] / f["total_s"], "")
    if m := res.get("mlflow"):
        per = ms["write_s"] / res["n"]
        out["mlflow fluent per-value / mainsail write per-value"] = (m["fluent_per_value_s"] / per, "(goal ≥ 20x)")
        out["mlflow log_batch / mainsail write"] = (m["batch_s"] / ms["write_s"], "")
        out["mlflow get_metric_history / mainsail read"] = (m["read_s"] / ms["read_s"], "")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--smoke", action="store_true", help="N=2000, no HTTP, no MLflow; fails only on wrong read-back")
    ap.add_argument("--http", action=argparse.BooleanOptionalAction, default=None,
                    help="also measure over a server subprocess (default: on unless --smoke)")
    ap.add_argument("--mlflow-python", help="a python that has mlflow (default: /tmp/mlflow-venv/bin/python)")
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    args = ap.parse_args()
    n = 2000 if args.smoke else args.n
    http = (not args.smoke) if args.http is None else args.http
    res: dict[str, Any] = {"n": n}
    with tempfile.TemporaryDirectory(prefix="bench-ms-") as d:
        os.environ["MAINSAIL_ARTIFACT_ROOT"] = f"{d}/art"
        res["mainsail"] = bench_mainsail(f"sqlite:///{d}/m.db", n)
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as d:
        res["floor"] = bench_floor(Path(d) / "floor.db", n)
    if http:
        with tempfile.TemporaryDirectory(prefix="bench-http-") as d:
            res["http"] = bench_http(Path(d), n)
    if not args.smoke:
        py = find_mlflow_python(args.mlflow_python)
        if py is None:
            res["mlflow_skipped"] = "mlflow not installed — skipped"
        else:
            with tempfile.TemporaryDirectory(prefix="bench-mlflow-") as d:
                try:
                    res["mlflow"] = bench_mlflow(py, Path(d), n)
                except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
                    res["mlflow_skipped"] = f"mlflow run failed — skipped: {exc}"
    res["ratios"] = ratios(res)
    if args.json:
        print(json.dumps({**res, "ratios": {k: v for k, (v, _) in res["ratios"].items()}}, indent=2))
    else:
        render(res, n, Console(width=None if sys.stdout.isatty() else 170))
    return 0 if res["mainsail"]["ok"] and res.get("http", {"ok": True})["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
