"""Serving benchmark: one-record ``/predict`` latency (p50/p99) and throughput for a scikit-learn
LogisticRegression, measured on loopback with an async load generator (aiohttp).

Floor: raw ``model.predict`` in-process, plus a bare FastAPI/uvicorn echo endpoint (the HTTP cost any
Python server pays). Mainsail: a ``mainsail serve`` replica (inference logging on), with adaptive
micro-batching and with it off (``--max-batch 1``) under 32 concurrent clients. Peer: ``mlflow models
serve`` from /tmp/mlflow-venv (skipped, with the reason printed, when it is not installed).

    python benchmarks/serving.py [--smoke] [--seconds 5] [--clients 32] [--no-peer] [--json]

``--smoke`` runs for a fraction of a second per case and exits non-zero only when a served prediction
differs from the model's own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

MLFLOW_BIN = Path("/tmp/mlflow-venv/bin")
now = time.perf_counter
console = Console()
ECHO_APP = textwrap.dedent("""
    from fastapi import FastAPI, Request
    from fastapi.responses import Response
    app = FastAPI()

    @app.post("/predict")
    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/json")
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import httpx

    deadline = now() + timeout
    while now() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready")


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


async def load(url: str, body: bytes, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` concurrent keep-alive connections posting ``body`` for ``seconds``."""
    import aiohttp

    lat: list[float] = []
    errors = 0
    conn = aiohttp.TCPConnector(limit=clients, force_close=False)
    async with aiohttp.ClientSession(connector=conn, headers={"content-type": "application/json"}) as session:
        for _ in range(min(clients, 8) * 5):  # warm up connections and the server
            async with session.post(url, data=body) as r:
                await r.read()
        stop = now() + seconds

        async def worker() -> None:
            nonlocal errors
            while now() < stop:
                t = now()
                async with session.post(url, data=body) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                lat.append(now() - t)

        start = now()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = now() - start
    return {"p50_ms": pct(lat, 50) * 1000, "p99_ms": pct(lat, 99) * 1000, "rps": len(lat) / elapsed,
            "n": len(lat), "errors": errors}


def setup(home: Path, n_features: int = 10) -> tuple[Any, np.ndarray, list[dict[str, float]], str]:
    """Train, package, register and deploy; returns (model, X, one-record body records, sqlite uri)."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from mainsail import Client
    from mainsail.registry.packaging import save_model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, n_features))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=5000) > 0).astype(int)
    model = LogisticRegression(max_iter=500).fit(x, y)
    cols = [f"f{i}" for i in range(n_features)]
    uri = f"sqlite:///{home / 'bench.db'}"
    client = Client(uri, artifact_root=str(home / "artifacts"))
    pkg = home / "pkg"
    save_model(model, pkg, input_example=pd.DataFrame(x[:3], columns=cols))
    run = client.create_run(client.ensure_experiment("bench").id)
    client.log_artifacts(run.id, pkg, "model")
    client.end_run(run.id)
    client.register_model_version("bench", source=f"runs:/{run.id}/model")
    client.set_model_alias("bench", "champion", 1)
    client.create_deployment("bench", "models:/bench@champion")
    client.close()
    return model, x, [dict(zip(cols, map(float, x[0]), strict=True))], uri


def start(args: list[str], env: dict[str, str], ready: str, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    wait_ready(ready, proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def peer_mlflow(home: Path, model: Any, records: list[dict[str, float]]) -> tuple[subprocess.Popen[bytes] | None, str]:
    """Start ``mlflow models serve`` on the same model, or return (None, why not)."""
    py = MLFLOW_BIN / "python"
    if not (MLFLOW_BIN / "mlflow").exists():
        return None, f"mlflow not installed at {MLFLOW_BIN} (pip install mlflow==3.17.2 into /tmp/mlflow-venv)"
    import joblib

    joblib.dump(model, home / "model.joblib")
    out = home / "mlflow-model"
    code = (f"import joblib, mlflow.sklearn; mlflow.sklearn.save_model(joblib.load({str(home / 'model.joblib')!r}), "
            f"{str(out)!r})")
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True)
    if r.returncode:
        return None, f"mlflow could not save the model: {r.stderr.strip()[-300:]}"
    port = free_port()
    env = {**os.environ, "PATH": f"{MLFLOW_BIN}:{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen([str(MLFLOW_BIN / "mlflow"), "models", "serve", "-m", str(out), "-p", str(port),
                             "--env-manager", "local", "--host", "127.0.0.1"], env=env,
                            stdout=(home / "mlflow.log").open("ab"), stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ping", proc)
    except RuntimeError as exc:
        stop(proc)
        return None, f"mlflow models serve did not start: {exc}"
    return proc, f"http://127.0.0.1:{port}/invocations"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a fraction of a second per case; fails only on wrong answers")
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds per measured case")
    ap.add_argument("--clients", type=int, default=32, help="concurrent clients for the throughput cases")
    ap.add_argument("--peer", action=argparse.BooleanOptionalAction, default=None, help="measure mlflow models serve")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    seconds = 0.3 if args.smoke else args.seconds
    peer = (not args.smoke) if args.peer is None else args.peer
    import orjson

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mainsail-bench-serving-") as tmp:
        home = Path(tmp)
        model, x, records, uri = setup(home)
        x1 = x[:1]
        reps = 300 if args.smoke else 5000
        for _ in range(50):
            model.predict(x1)
        lat = []
        for _ in range(reps):
            t = now()
            model.predict(x1)
            lat.append(now() - t)
        results["raw_predict"] = {"p50_ms": pct(lat, 50) * 1000, "p99_ms": pct(lat, 99) * 1000}
        env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_ARTIFACT_ROOT": str(home / "artifacts"),
               "MAINSAIL_HOME": str(home)}
        body = orjson.dumps({"records": records})
        (home / "echo_app.py").write_text(ECHO_APP)
        port = free_port()
        echo = start([sys.executable, "-m", "uvicorn", "echo_app:app", "--port", str(port), "--log-level", "warning",
                      "--no-access-log", "--app-dir", str(home)], env, f"http://127.0.0.1:{port}/docs",
                     home / "echo.log")
        try:
            results["echo_1"] = asyncio.run(load(f"http://127.0.0.1:{port}/predict", body, 1, seconds))
            results["echo_n"] = asyncio.run(load(f"http://127.0.0.1:{port}/predict", body, args.clients, seconds))
        finally:
            stop(echo)
        for label, extra in (("mainsail", []), ("mainsail_nobatch", ["--max-batch", "1"])):
            port = free_port()
            proc = start([sys.executable, "-m", "mainsail.cli.main", "serve", "bench", "--port", str(port), *extra],
                         env, f"http://127.0.0.1:{port}/ready", home / f"{label}.log")
            try:
                import httpx

                got = httpx.post(f"http://127.0.0.1:{port}/predict", json={"records": [
                    dict(zip(records[0], map(float, row), strict=True)) for row in x[:200]]}).json()["predictions"]
                if got != model.predict(x[:200]).tolist():
                    console.print(f"[bold red]{label}: served predictions differ from model.predict[/]")
                    return 1
                if label == "mainsail":
                    results[f"{label}_1"] = asyncio.run(load(f"http://127.0.0.1:{port}/predict", body, 1, seconds))
                results[f"{label}_n"] = asyncio.run(load(f"http://127.0.0.1:{port}/predict", body, args.clients,
                                                         seconds))
                if label == "mainsail":
                    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
                    counts = [ln for ln in metrics.splitlines() if ln.startswith("mainsail_batch_size_")]
                    n = float(next(ln for ln in counts if "_count" in ln).split()[-1])
                    s = float(next(ln for ln in counts if "_sum" in ln).split()[-1])
                    results["mean_batch"] = s / n if n else None
            finally:
                stop(proc)
        if peer:
            proc, where = peer_mlflow(home, model, records)
            if proc is None:
                console.print(f"[yellow]peer skipped:[/] {where}")
                results["peer_skipped"] = where
            else:
                try:
                    pbody = orjson.dumps({"dataframe_records": records})
                    results["mlflow_1"] = asyncio.run(load(where, pbody, 1, seconds))
                    results["mlflow_n"] = asyncio.run(load(where, pbody, args.clients, seconds))
                finally:
                    stop(proc)
        else:
            results["peer_skipped"] = "--no-peer / --smoke"
    report(results, args.clients)
    if args.json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
    return 0


def report(r: dict[str, Any], clients: int) -> None:
    t = Table("case", "p50 ms", "p99 ms", "req/s", title="one-record /predict, sklearn LogisticRegression, loopback")
    t.add_row("raw model.predict (in-process)", f"{r['raw_predict']['p50_ms']:.3f}", f"{r['raw_predict']['p99_ms']:.3f}", "")
    names = {"echo": "FastAPI/uvicorn echo (floor)", "mainsail": "mainsail serve", "mainsail_nobatch":
             "mainsail serve, batching off", "mlflow": "mlflow models serve (peer)"}
    for key, label in names.items():
        for suffix, n in (("_1", 1), ("_n", clients)):
            m = r.get(key + suffix)
            if m:
                t.add_row(f"{label}, {n} client{'s' if n > 1 else ''}", f"{m['p50_ms']:.3f}", f"{m['p99_ms']:.3f}",
                          f"{m['rps']:,.0f}" + (f" ({m['errors']} errors)" if m["errors"] else ""))
    console.print(t)
    floor = r["echo_1"]["p50_ms"] + r["raw_predict"]["p50_ms"]
    over = r["mainsail_1"]["p50_ms"] - floor
    console.print(f"overhead over the floor (echo p50 + raw predict p50 = {floor:.3f} ms): [bold]{over:+.3f} ms[/] p50 "
                  f"(goal ≤ 1 ms)")
    gain = r["mainsail_n"]["rps"] / r["mainsail_nobatch_n"]["rps"]
    console.print(f"micro-batching gain at {clients} clients: [bold]{gain:.2f}x[/] throughput "
                  f"(mean batch {r.get('mean_batch') or 0:.1f} requests); "
                  f"vs echo floor: {r['mainsail_n']['rps'] / r['echo_n']['rps']:.2f}x")
    if "mlflow_n" in r:
        console.print(f"throughput vs mlflow models serve: [bold]{r['mainsail_n']['rps'] / r['mlflow_n']['rps']:.1f}x[/] "
                      f"at {clients} clients, {r['mainsail_1']['rps'] / r['mlflow_1']['rps']:.1f}x at 1 client (goal ≥ 3x)")
    elif r.get("peer_skipped"):
        console.print(f"peer: skipped ({r['peer_skipped']})")


if __name__ == "__main__":
    sys.exit(main())
