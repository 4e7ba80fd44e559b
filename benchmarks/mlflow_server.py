"""MLflow-compatible server benchmark: one MLflow script, unchanged, against ``mlflow server`` and against
``mainsail server``.

The script uses MLflow's free-text names (``Bench team/exp …``, ``Bench model …``), which Mainsail maps onto
its safe names (see docs/mlflow.md). The script (the real MLflow client, from this interpreter): create an experiment and a run; log N metric
values with ``log_batch`` (1,000 per call, MLflow's limit); log P params; log one scikit-learn model with
``mlflow.sklearn.log_model(..., registered_model_name=...)`` through the server's proxied artifacts; end
the run; ``search_runs`` with a filter and an order. The client-side work is identical for both servers,
so the difference is the servers'. Both run as one process (``mlflow server --workers 1``; Mainsail's
server is one uvicorn process) on SQLite, each in a fresh folder; one warm-up pass each, then R timed passes
per server, interleaved (the order flips each round) so a change in the machine's load falls on both.

    python benchmarks/mlflow_server.py [--metrics 10000] [--params 100] [--repeats 3]
                                       [--mlflow-bin /work/peers/mlflow/bin/mlflow] [--small] [--smoke]

The peer is ``mlflow server`` from a separate virtualenv (``pip install mlflow==3.17.2``); without it only
Mainsail is timed, with a message. ``--smoke`` (500 values, 20 params, one pass, no peer) exits non-zero
only when what Mainsail stored is wrong.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

PEER_BIN = Path("/work/peers/mlflow/bin/mlflow")
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
now = time.perf_counter


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd: list[str], env: dict[str, str], url: str, log: Path, timeout: float = 600) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env={**os.environ, **QUIET, **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{cmd[0]} did not answer /health: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def start_mainsail(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    url = f"http://127.0.0.1:{port}"
    env = {"MAINSAIL_URI": f"sqlite:///{folder / 'mainsail.db'}", "MAINSAIL_ARTIFACT_ROOT": str(folder / "art"),
           "MAINSAIL_HOME": str(folder)}
    cmd = [sys.executable, "-m", "mainsail.cli.main", "server", "--host", "127.0.0.1", "--port", str(port),
           "--no-background"]
    return _start(cmd, env, url, folder / "server.log"), url


def start_mlflow(binary: Path, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(binary), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination",
           str(folder / "art")]
    return _start(cmd, {}, url, folder / "server.log"), url


def workload(url: str, n_metrics: int, n_params: int) -> dict[str, float]:
    """The MLflow script; returns seconds per phase."""
    import mlflow
    import numpy as np
    from mlflow.entities import Metric, Param
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    client = mlflow.MlflowClient(url, url)
    X = np.random.RandomState(0).rand(200, 5)
    model = LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int))
    stamp = int(time.time() * 1000)
    metrics = [Metric(f"m{i % 10}", 1.0 / (i + 1), stamp + i, i // 10) for i in range(n_metrics)]
    params = [Param(f"p{i}", str(i)) for i in range(n_params)]
    t: dict[str, float] = {}
    t0 = now()
    exp = client.create_experiment(f"Bench team/exp {uuid.uuid4().hex[:8]}")  # MLflow's free-text names
    run = client.create_run(exp)
    rid = run.info.run_id
    t1 = now()
    for i in range(0, len(metrics), 1000):
        client.log_batch(rid, metrics=metrics[i:i + 1000])
    t2 = now()
    for i in range(0, len(params), 100):
        client.log_batch(rid, params=params[i:i + 100])
    t3 = now()
    with mlflow.start_run(run_id=rid):
        mlflow.sklearn.log_model(model, name="model", registered_model_name=f"Bench model {exp}",
                                 pip_requirements=["scikit-learn"])
    t4 = now()
    found = client.search_runs([exp], "metrics.m0 > 0 and params.p1 = '1'", order_by=["metrics.m0 DESC"])
    t5 = now()
    if [r.info.run_id for r in found] != [rid]:
        raise AssertionError(f"search found {[r.info.run_id for r in found]}, expected [{rid}]")
    t.update(setup=t1 - t0, metrics=t2 - t1, params=t3 - t2, model=t4 - t3, search=t5 - t4, total=t5 - t0)
    t["run_id"] = rid  # type: ignore[assignment]
    return t


def verify_mainsail(url: str, run_id: str, n_metrics: int, n_params: int) -> list[str]:
    """What Mainsail's own Client sees of the run the MLflow script wrote."""
    from mainsail import Client

    c = Client(url)
    run = c.get_run(run_id)
    problems = []
    if len(run.params) != n_params:
        problems.append(f"{len(run.params)} params, expected {n_params}")
    points = sum(len(c.get_metric_history(run_id, k).step) for k in run.metrics)
    if points != n_metrics:
        problems.append(f"{points} metric points, expected {n_metrics}")
    if not any(a.path == "model/MLmodel" for a in c.list_artifacts(run_id)):
        problems.append("no model/MLmodel artifact")
    return problems


def measure(urls: dict[str, str], args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    """Warm each server up, then time the passes interleaved (the order flips each round) so a change in
    the machine's load falls on both."""
    if not args.smoke:
        for url in urls.values():
            workload(url, args.metrics, args.params)  # warm-up: imports, connections, first-use caches
    results: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
    names = list(urls)
    for i in range(args.repeats):
        for name in names if i % 2 == 0 else names[::-1]:
            t = workload(urls[name], args.metrics, args.params)
            results[name].append(t)
            print(f"  {name:8s} pass {i + 1}: total {t['total']:.3f}s  (metrics {t['metrics']:.3f}, params "
                  f"{t['params']:.3f}, model {t['model']:.3f}, search {t['search']:.3f})", flush=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metrics", type=int, default=10_000)
    ap.add_argument("--params", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mlflow-bin", type=Path, default=PEER_BIN)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--small", action="store_true", help="2,000 values, 20 params, 2 passes (a quick comparison)")
    args = ap.parse_args()
    if args.small:
        args.metrics, args.params, args.repeats = 2_000, 20, 2
    if args.smoke:
        args.metrics, args.params, args.repeats = 500, 20, 1
    os.environ.update(QUIET)
    try:
        import mlflow  # noqa: F401
    except ImportError:
        print("mlflow is not installed in this interpreter (pip install -e '.[mlflow]'): nothing to run")
        return 0
    print(f"MLflow script: {args.metrics} metric values (log_batch), {args.params} params, one sklearn model "
          f"registered, one search; {args.repeats} timed pass(es)")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    peer = not args.smoke and args.mlflow_bin.exists()
    if not args.smoke and not peer:
        print(f"peer skipped: no {args.mlflow_bin} (create it: python -m venv /work/peers/mlflow && "
              "/work/peers/mlflow/bin/pip install mlflow==3.17.2)")
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-") as tmp:
        try:
            urls = {}
            for name in ("mainsail", "mlflow") if peer else ("mainsail",):
                folder = Path(tmp) / name
                folder.mkdir()
                proc, urls[name] = start_mainsail(folder) if name == "mainsail" else start_mlflow(args.mlflow_bin,
                                                                                                   folder)
                procs.append(proc)
            results = measure(urls, args)
            last = results["mainsail"][-1]
            problems = verify_mainsail(urls["mainsail"], last["run_id"], args.metrics, args.params)  # type: ignore[arg-type]
        finally:
            for proc in procs:
                _stop(proc)
    if problems:
        print("WRONG: " + "; ".join(problems))
        return 1
    if not peer:
        print("smoke: ok (Mainsail stored every value the MLflow client sent)" if args.smoke else "mainsail: ok")
        return 0
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"\n{'phase':8s} {'mlflow med':>11s} {'mainsail med':>13s}   ratio mlflow/mainsail min / median / max")
    for phase in ("metrics", "params", "model", "search", "total"):
        ours = [p[phase] for p in results["mainsail"]]
        theirs = [p[phase] for p in results["mlflow"]]
        ratios = sorted(a / b for a, b in zip(theirs, ours, strict=True))
        print(f"{phase:8s} {statistics.median(theirs):10.3f}s {statistics.median(ours):12.3f}s   "
              f"{ratios[0]:.2f}x / {statistics.median(ratios):.2f}x / {ratios[-1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
