"""Web UI benchmark: the runs table over many runs, and a metric with many points drawn downsampled.

Setup (not timed): a scratch SQLite database with one experiment of ``--runs`` runs (each with 3 params
and 3 latest metrics, bulk-inserted) and one run with a ``--points``-point metric. A real ``mainsail
server`` subprocess serves the UI. Every round (at least 3, cases interleaved with the order rotated)
times, as the server answers them over loopback HTTP:

- **runs page**: ``GET /experiments/ID`` (50 runs, newest first), sorted by a metric, filtered
  (``metrics.auc > 0.5 and params.model = 'rf'``), and the second page; against **the floor**: the same
  page read with raw ``sqlite3`` (the 50 runs, then their params and metrics);
- **metric chart**: the server's downsampling of the ``--points`` metric to 1,000 points
  (``GET /api/v1/tracking-runs/ID/metric-samples/loss``, the call behind the run page's curve) while the run is
  running (every request reads all points) and once finished (kept in memory); the run page itself;
  against **the floors**: a raw ``sqlite3`` read of the points, and the numpy min/max downsampling alone.

The peer, **MLflow's UI** (``mlflow server --workers 1`` from the peer venv ``/work/peers/mlflow``), on
the same runs: its database is made by MLflow's own store, then filled with the same rows (same seeds)
by bulk SQL, since filling it through its API would take longer than this benchmark's budget. Its UI's
calls are timed interleaved with ours: ``POST /ajax-api/2.0/mlflow/runs/search`` (50 runs, newest first,
sorted by ``metrics.auc``, filtered, the second page) and ``GET .../metrics/get-history-bulk-interval``
(the chart's sampled points, ``max_results=1000``). Its answers are checked: 50 runs a page, the same
best run by AUC as the raw read, the right number of filtered runs, at most 1,000 points.

    python benchmarks/ui.py [--runs 100000] [--points 1000000] [--rounds 3] [--smoke] [--no-peers]

``--smoke`` (500 runs, 20,000 points, one server) exits non-zero only when a page answers wrong.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _common import fmt_spread, peer_python, print_load, ratio_spread, rounds, skip, spread

now = time.perf_counter
MODELS = ["rf", "logreg", "gbm", "mlp"]


def populate(uri: str, artifact_root: str, n_runs: int, n_points: int) -> dict[str, str]:
    """The scratch database: ``n_runs`` runs in one experiment, one run with ``n_points`` points."""
    from sqlalchemy import insert

    from mainsail.core.runtime import Runtime
    from mainsail.core.settings import Settings
    from mainsail.tracking import service
    from mainsail.tracking.models import LatestMetricRow, ParamRow, RunRow
    from mainsail.tracking.schemas import ExperimentCreate, RunCreate

    rt = Runtime(Settings.from_env().with_uri(uri, artifact_root))
    rng = random.Random(7)
    with rt.transaction(actor="bench") as ctx:
        exp = service.create_experiment(ctx, ExperimentCreate(name="bench-ui"))
        big = service.create_run(ctx, RunCreate(experiment_id=exp.id, name="one-million", params={"model": "rf"}))
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    runs, params, metrics = [], [], []
    for i in range(n_runs):
        rid = uuid.uuid4().hex
        start = t0 + dt.timedelta(seconds=i)
        runs.append({"id": rid, "experiment_id": exp.id, "name": f"run-{i}", "status": "finished",
                     "start_time": start, "end_time": start + dt.timedelta(seconds=30), "created_by": "bench",
                     "lifecycle": "active"})
        params += [{"run_id": rid, "key": "model", "value": MODELS[i % 4]},
                   {"run_id": rid, "key": "depth", "value": str(rng.randint(2, 12))},
                   {"run_id": rid, "key": "lr", "value": f"{rng.random():.4f}"}]
        metrics += [{"run_id": rid, "key": k, "value": rng.random(), "step": 10, "timestamp": 1.7e9 + i}
                    for k in ("auc", "accuracy", "loss")]
    with rt.transaction(actor="bench") as ctx:
        for table, rows in ((RunRow, runs), (ParamRow, params), (LatestMetricRow, metrics)):
            for k in range(0, len(rows), 50_000):
                ctx.session.execute(insert(table.__table__), rows[k:k + 50_000])
    ys = np.cumsum(np.random.default_rng(1).normal(size=n_points))
    rows = [(big.id, "loss", float(y), i, 1.7e9 + i) for i, y in enumerate(ys)]
    with rt.transaction(actor="bench") as ctx:
        service.log_metric_rows(ctx, big.id, rows)
    rt.dispose()
    return {"experiment": exp.id, "big": big.id}


MLFLOW_FILL = r"""
import random, sqlite3, sys, uuid
import numpy as np
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
db, art, n_runs, n_points, models = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].split(",")
store = SqlAlchemyStore("sqlite:///" + db, art)
eid = store.create_experiment("bench-ui")
big = store.create_run(eid, "bench", 1767225600000, [], "one-million").info.run_id
store.log_param(big, __import__("mlflow").entities.Param("model", "rf"))
store.engine.dispose()
rng = random.Random(7)
t0 = 1767225600000
runs, params, metrics = [], [], []
for i in range(n_runs):
    rid = uuid.uuid4().hex
    start = t0 + i * 1000
    runs.append((rid, f"run-{i}", "UNKNOWN", "", "", "bench", "FINISHED", start, start + 30000, "", "active",
                 f"{art}/{rid}", int(eid)))
    params += [(("model", models[i % 4], rid)), ("depth", str(rng.randint(2, 12)), rid),
               ("lr", f"{rng.random():.4f}", rid)]
    metrics += [(k, rng.random(), int((1.7e9 + i) * 1000), 10, 0, rid) for k in ("auc", "accuracy", "loss")]
con = sqlite3.connect(db)
with con:
    con.executemany("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
                    "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", runs)
    con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", params)
    con.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                    "VALUES (?,?,?,?,?,?)", metrics)
    ys = np.cumsum(np.random.default_rng(1).normal(size=n_points))
    con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,0)",
                    (("loss", float(y), int((1.7e9 + i) * 1000), big, i) for i, y in enumerate(ys)))
    con.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                    "VALUES (?,?,?,?,0,?)", [("loss", float(ys[-1]), int((1.7e9 + n_points - 1) * 1000),
                                              n_points - 1, big)])
print(eid, big)
"""


def start_mlflow_ui(py: Path, folder: Path, n_runs: int, n_points: int) -> tuple[subprocess.Popen[bytes], str,
                                                                                   str, str]:
    """MLflow's server on a database its own store made, filled with the same runs as ours."""
    from mlflow_server import start_mlflow

    folder.mkdir(parents=True, exist_ok=True)
    out = subprocess.run([str(py), "-c", MLFLOW_FILL, str(folder / "mlflow.db"), str(folder / "art"), str(n_runs),
                          str(n_points), ",".join(MODELS)], capture_output=True, text=True, check=True,
                         env={**os.environ, "MLFLOW_TRACKING_URI": ""})
    eid, big = out.stdout.split()[-2:]
    proc, url = start_mlflow(py.parent / "mlflow", folder)
    return proc, url, eid, big


def floor_page(db: str, experiment: str, limit: int = 50) -> int:
    """The raw read behind one runs page: the newest ``limit`` runs, their params and latest metrics."""
    con = sqlite3.connect(db)
    try:
        ids = [r[0] for r in con.execute(
            "SELECT id FROM tracking_runs WHERE lifecycle = 'active' AND experiment_id = ? "
            "ORDER BY start_time DESC, id DESC LIMIT ?", (experiment, limit + 1))]
        marks = ",".join("?" * len(ids))
        con.execute(f"SELECT run_id, key, value FROM run_params WHERE run_id IN ({marks})", ids).fetchall()
        con.execute(f"SELECT run_id, key, value FROM run_latest_metrics WHERE run_id IN ({marks})", ids).fetchall()
        con.execute(f"SELECT run_id, key, value FROM run_tags WHERE run_id IN ({marks})", ids).fetchall()
        return len(ids)
    finally:
        con.close()


def floor_points(db: str, run_id: str) -> int:
    con = sqlite3.connect(db)
    try:
        return len(con.execute("SELECT step, value FROM run_metrics WHERE run_id = ? AND key = 'loss' "
                               "ORDER BY step", (run_id,)).fetchall())
    finally:
        con.close()


def serve(uri: str, artifact_root: str, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_ARTIFACT_ROOT": artifact_root, "MAINSAIL_HOME": str(home),
           # the big run must stay "running" however long the peer takes (a silent run is marked killed)
           "MAINSAIL_RUN_HEARTBEAT_TIMEOUT": "86400"}
    proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "server", "--port", str(port),
                             "--no-background"], env=env, stdout=(home / "server.log").open("wb"),
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError((home / "server.log").read_text()[-2000:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="500 runs, 20,000 points; fails only on wrong pages")
    ap.add_argument("--no-peers", action="store_true", help="leave MLflow's UI out")
    args = ap.parse_args()
    n_runs, n_points = (500, 20_000) if args.smoke else (args.runs, args.points)
    print_load("before: ")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    atexit.register(shutil.rmtree, tmp, True)  # the benchmark's scratch folder goes with it
    db = tmp / "ui.db"
    uri, artifacts = f"sqlite:///{db}", str(tmp / "artifacts")
    t = now()
    ids = populate(uri, artifacts, n_runs, n_points)
    print(f"setup: {n_runs:,} runs and a {n_points:,}-point metric in {now() - t:.1f}s")
    proc, url = serve(uri, artifacts, tmp)
    http = httpx.Client(base_url=url, timeout=120)
    mlflow = None if args.smoke or args.no_peers else peer_python("mlflow")
    if mlflow is None and not args.smoke:
        skip("MLflow UI", "--no-peers" if args.no_peers else "no venv at /work/peers/mlflow (pip install mlflow==3.17.2)")
    peer: dict[str, Any] = {}
    if mlflow is not None:
        t = now()
        mproc, murl, peer["eid"], peer["big"] = start_mlflow_ui(mlflow, tmp / "mlflow", n_runs, n_points)
        atexit.register(mproc.kill)
        peer["http"] = httpx.Client(base_url=murl, timeout=300)
        print(f"MLflow setup (its store, same rows by bulk SQL, server start): {now() - t:.1f}s")
    page = f"/experiments/{ids['experiment']}"
    samples = f"/api/v1/tracking-runs/{ids['big']}/metric-samples/loss?points=1000"
    bad: list[str] = []
    bad_peer: list[str] = []

    def get(path: str, expect: str | None = None) -> float:
        t = now()
        r = http.get(path)
        took = now() - t
        if r.status_code != 200 or (expect and expect not in r.text):
            bad.append(f"{path}: HTTP {r.status_code}")
        return took

    first = http.get(page + "?limit=50").text
    cursor = re.search(r'cursor=([^&"]+)', first)
    second = f"{page}?limit=50&cursor={cursor.group(1) if cursor else ''}&hist="
    try:
        http.get(page)  # warm-up: imports, parser, templates
        page_cases = {
            "floor": lambda: _timed(lambda: floor_page(str(db), ids["experiment"])),
            "page 1": lambda: get(page + "?limit=50", "run-"),
            "sorted by metric": lambda: get(page + "?limit=50&order=metrics.auc+DESC", "run-"),
            "filtered": lambda: get(page + "?limit=50&filter=metrics.auc+%3E+0.5+and+params.model+%3D+%27rf%27",
                                    "run-"),
            "page 2": lambda: get(second, "run-"),
        }
        if peer:
            page_cases |= mlflow_page_cases(peer, str(db), bad_peer)
        res = rounds(page_cases, args.rounds)
        x = np.arange(n_points, dtype=np.float64)
        y = np.cumsum(np.random.default_rng(1).normal(size=n_points))
        from mainsail.tracking.downsample import minmax

        metric_cases = {
            "floor: read points": lambda: _timed(lambda: floor_points(str(db), ids["big"])),
            "floor: numpy downsample": lambda: _timed(lambda: minmax(x, y, 500)),
            "samples, running run": lambda: get(samples, '"total"'),
        }
        if peer:
            metric_cases["MLflow: bulk interval"] = lambda: mlflow_points(peer, bad_peer)
        res |= rounds(metric_cases, args.rounds)
        http.patch(f"/api/v1/tracking-runs/{ids['big']}", json={"status": "finished"})
        finished_cases = {"samples, finished run": lambda: get(samples, '"total"'),
                          "run page (finished)": lambda: get(f"/runs/{ids['big']}", "one-million")}
        res |= rounds(finished_cases, args.rounds)
        got = http.get(samples).json()
        if got["total"] != n_points or len(got["step"]) > 1002:
            bad.append(f"samples: total {got['total']} (want {n_points}), {len(got['step'])} points")
    finally:
        http.close()
        proc.terminate()
        proc.wait(10)
    print(f"\nruns table over {n_runs:,} runs (server time over loopback HTTP, median (min–max) of {args.rounds})")
    for k in page_cases:
        extra = "" if k == "floor" else f"   {fmt_spread(ratio_spread(res[k], res['floor']))} the floor"
        if k.startswith("MLflow: ") and k[8:] in res:
            extra += f"   MLflow ÷ ours {fmt_spread(ratio_spread(res[k], res[k[8:]]))}"
        if k.startswith("MLflow: ") and k[8:] in TIMED_OUT:
            extra = f"   no answer within {max(res[k]):.0f} s in any round: every ratio is a lower bound"
        print(f"  {k:22s} {fmt_spread(spread([v * 1000 for v in res[k]]), ' ms', 1)}{extra}")
    print(f"\nmetric of {n_points:,} points drawn as ≤1,000")
    for k in [*metric_cases, *finished_cases]:
        extra = f"   {fmt_spread(ratio_spread(res[k], res['floor: read points']))} the raw read" \
            if k.startswith("samples") else ""
        if k == "MLflow: bulk interval":
            extra = f"   MLflow ÷ ours (running run) {fmt_spread(ratio_spread(res[k], res['samples, running run']))}"
        print(f"  {k:24s} {fmt_spread(spread([v * 1000 for v in res[k]]), ' ms', 1)}{extra}")
    print_load("after: ")
    for b in bad:
        print("WRONG:", b, file=sys.stderr)
    for b in bad_peer:
        print("WRONG (MLflow's answer; its times are no valid comparison):", b, file=sys.stderr)
    return 1 if bad else 2 if bad_peer else 0


TIMED_OUT: set[str] = set()  # MLflow's cases past the client's timeout (their figures are lower bounds)


def mlflow_page_cases(peer: dict[str, Any], db: str, bad: list[str]) -> dict[str, Any]:
    """MLflow UI's runs-table calls on the same runs, each answer checked against the raw read."""
    http: httpx.Client = peer["http"]
    base = {"experiment_ids": [peer["eid"]], "max_results": 50, "run_view_type": "ACTIVE_ONLY"}
    con = sqlite3.connect(db)
    best = con.execute("SELECT r.name FROM run_latest_metrics m JOIN tracking_runs r ON r.id = m.run_id "
                       "WHERE m.key = 'auc' ORDER BY m.value DESC LIMIT 1").fetchone()[0]
    con.close()
    first = http.post("/ajax-api/2.0/mlflow/runs/search",
                      json={**base, "order_by": ["attributes.start_time DESC"]}).json()
    token = first.get("next_page_token")
    page1 = {r["info"]["run_id"] for r in first.get("runs", [])}

    limit = http.timeout.read or 300.0
    timed_out = TIMED_OUT

    def search(label: str, body: dict[str, Any], check: Any) -> float:
        if label in timed_out:  # once past the client's timeout, later rounds would only wait as long again
            return limit
        t = now()
        try:
            r = http.post("/ajax-api/2.0/mlflow/runs/search", json={**base, **body})
        except httpx.TimeoutException:
            timed_out.add(label)
            print(f"MLflow {label}: no answer within {limit:.0f} s (counted as {limit:.0f} s: a lower bound)")
            return limit
        took = now() - t
        runs = r.json().get("runs", []) if r.status_code == 200 else None
        if runs is None or len(runs) != 50 or not check(runs):
            bad.append(f"MLflow {label}: HTTP {r.status_code}, {len(runs or [])} runs or a wrong run")
        return took

    def rf_and_good(runs: list[dict[str, Any]]) -> bool:
        return all({p["key"]: p["value"] for p in r["data"]["params"]}["model"] == "rf" and
                   {m["key"]: m["value"] for m in r["data"]["metrics"]}["auc"] > 0.5 for r in runs)

    return {
        "MLflow: page 1": lambda: search("page 1", {"order_by": ["attributes.start_time DESC"]},
                                         lambda runs: runs[0]["info"]["run_name"] == first["runs"][0]["info"]["run_name"]),
        "MLflow: sorted by metric": lambda: search("sorted by metric", {"order_by": ["metrics.auc DESC"]},
                                                   lambda runs: runs[0]["info"]["run_name"] == best),
        "MLflow: filtered": lambda: search("filtered", {"filter": "metrics.auc > 0.5 and params.model = 'rf'",
                                                        "order_by": ["attributes.start_time DESC"]}, rf_and_good),
        "MLflow: page 2": lambda: search("page 2", {"order_by": ["attributes.start_time DESC"], "page_token": token},
                                         lambda runs: not page1 & {r["info"]["run_id"] for r in runs}),
    }


def mlflow_points(peer: dict[str, Any], bad: list[str]) -> float:
    """MLflow UI's chart call: the sampled points of the big metric."""
    t = now()
    r = peer["http"].get("/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
                         params={"run_ids": peer["big"], "metric_key": "loss", "max_results": 1000})
    took = now() - t
    got = r.json().get("metrics", []) if r.status_code == 200 else []
    if not 2 <= len(got) <= 1002:
        bad.append(f"MLflow bulk interval: HTTP {r.status_code}, {len(got)} points")
    return took


def _timed(fn: Any) -> float:
    t = now()
    fn()
    return now() - t


if __name__ == "__main__":
    sys.exit(main())
