"""Serving benchmark: one-record ``/predict`` latency (p50/p99) and throughput for a scikit-learn
LogisticRegression, on loopback with an async load generator (aiohttp) at 1, 8 and 32 clients.

Every server runs at once; each round (at least 3) drives each of them in turn for ``--seconds`` per client
count, the order rotated every round, so all see the same background load. Ratios are per round, median
(min–max).

- floors: raw ``model.predict`` in-process; a bare Starlette endpoint that parses the records and calls
  ``model.predict`` (what any Python server must do), and a FastAPI echo (the HTTP cost alone);
- Mainsail: a ``mainsail serve`` replica (inference logging on, adaptive micro-batching), and with
  batching off (``--max-batch 1``);
- peers, each from its own venv under /work/peers (skipped with the reason printed when absent), at
  their defaults and with 2 workers/replicas: ``mlflow models serve`` (MLflow 3.17), BentoML 1.4,
  LitServe 0.2, Ray Serve 2.60 (``max_ongoing_requests`` raised to 64, its default of 5 throttles 32
  clients).

    python benchmarks/serving.py [--smoke] [--seconds 3] [--clients 1,8,32] [--rounds 3] [--no-peers] [--json]

``--smoke`` runs a fraction of a second per case, no peers, and exits non-zero only when a served
prediction differs from the model's own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from _common import fmt_spread, missing, peer_bin, print_load, ratio_spread, skip, spread, summary, verdict
from rich.console import Console
from rich.table import Table

now = time.perf_counter
console = Console(width=None if sys.stdout.isatty() else 170)
ECHO_APP = textwrap.dedent("""
    from fastapi import FastAPI, Request
    from fastapi.responses import Response
    app = FastAPI()

    @app.post("/predict")
    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/json")

    @app.get("/health")
    def health():
        return {}
""")
PREDICT = textwrap.dedent("""
    import json, os
    import joblib
    import numpy as np
    MODEL = joblib.load(os.environ["BENCH_MODEL"])
    COLS = json.loads(os.environ["BENCH_COLS"])
    def predict(records):
        x = np.array([[r[c] for c in COLS] for r in records], dtype=float)
        return MODEL.predict(x).tolist()
""")
STARLETTE_APP = PREDICT + textwrap.dedent("""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def route(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"predictions": predict(body["records"])})

    async def health(request: Request) -> Response:
        return Response("ok")

    app = Starlette(routes=[Route("/predict", route, methods=["POST"]), Route("/health", health)])
""")
BENTO_SERVICE = PREDICT + textwrap.dedent("""
    import bentoml

    @bentoml.service(workers=int(os.environ.get("BENCH_WORKERS", "1")))
    class Bench:
        @bentoml.api
        def predict(self, records: list[dict]) -> dict:
            return {"predictions": predict(records)}
""")
LITSERVE_APP = PREDICT + textwrap.dedent("""
    import sys
    import litserve as ls

    class API(ls.LitAPI):
        def setup(self, device):
            pass
        def decode_request(self, request):
            return request["records"]
        def predict(self, records):
            return predict(records)
        def encode_response(self, output):
            return {"predictions": output}

    if __name__ == "__main__":
        workers = int(os.environ.get("BENCH_WORKERS", "0"))
        kw = {"workers_per_device": workers} if workers else {}
        ls.LitServer(API(), accelerator="cpu", **kw).run(port=int(sys.argv[1]), generate_client_file=False)
""")
RAY_APP = PREDICT + textwrap.dedent("""
    import sys, time
    import ray
    from ray import serve
    from starlette.requests import Request

    @serve.deployment(num_replicas=int(os.environ.get("BENCH_WORKERS", "1")), max_ongoing_requests=64)
    class Bench:
        async def __call__(self, request: Request):
            body = await request.json()
            return {"predictions": predict(body["records"])}

    if __name__ == "__main__":
        ray.init(num_cpus=2, include_dashboard=False)
        serve.start(http_options={"host": "127.0.0.1", "port": int(sys.argv[1])})
        serve.run(Bench.bind(), route_prefix="/predict")
        print("RAY READY", flush=True)
        while True:
            time.sleep(3600)
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def setup(home: Path, n_features: int = 10) -> tuple[Any, np.ndarray, list[str], str]:
    """Train, package, register and deploy; returns (model, X, column names, sqlite uri)."""
    import joblib
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from mainsail import Client
    from mainsail.registry.packaging import save_model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, n_features))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=5000) > 0).astype(int)
    model = LogisticRegression(max_iter=500).fit(x, y)
    joblib.dump(model, home / "model.joblib")
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
    return model, x, cols, uri


class Server:
    """One server process: how to start it, where it answers, what a request body looks like."""

    def __init__(self, key: str, label: str, args: list[str], env: dict[str, str], ready: str, url: str,
                 body: bytes, home: Path, ready_method: str = "GET") -> None:
        self.key, self.label, self.url, self.body = key, label, url, body
        log = home / f"{key}.log"
        self.log = log
        self.proc = subprocess.Popen(args, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=home,
                                     start_new_session=True)
        self.ready, self.ready_method = ready, ready_method

    def wait(self, timeout: float = 180) -> None:
        import httpx

        deadline = now() + timeout
        while now() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode}: {self.log.read_text()[-600:]}")
            try:
                if self.ready_method == "POST":
                    r = httpx.post(self.ready, content=self.body, headers={"content-type": "application/json"}, timeout=2)
                else:
                    r = httpx.get(self.ready, timeout=2)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"not ready after {timeout:.0f} s: {self.log.read_text()[-600:]}")

    def stop(self) -> None:
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the server and the workers it started, nothing else
            self.proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)


def servers(home: Path, cols: list[str], records: list[dict[str, float]], peers: bool, workers: list[int]
            ) -> tuple[list[Server], list[str]]:
    """Start every server (ours, floors and the installed peers); returns them and the skip notes."""
    import orjson

    body = orjson.dumps({"records": records})
    base = {**os.environ, "BENCH_MODEL": str(home / "model.joblib"), "BENCH_COLS": json.dumps(cols),
            "MAINSAIL_HOME": str(home)}
    for name, text in (("echo_app.py", ECHO_APP), ("starlette_app.py", STARLETTE_APP), ("bento_service.py", BENTO_SERVICE),
                       ("litserve_app.py", LITSERVE_APP), ("ray_app.py", RAY_APP)):
        (home / name).write_text(text)
    out: list[Server] = []
    notes: list[str] = []

    def uvicorn(key: str, label: str, app: str) -> None:
        port = free_port()
        out.append(Server(key, label, [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--log-level",
                                       "warning", "--no-access-log", "--app-dir", str(home)], base,
                          f"http://127.0.0.1:{port}/health", f"http://127.0.0.1:{port}/predict", body, home))

    uvicorn("echo", "floor: FastAPI echo (HTTP only)", "echo_app:app")
    uvicorn("starlette", "floor: bare Starlette + model.predict", "starlette_app:app")
    for key, label, extra in (("mainsail", "Mainsail `mainsail serve`", []),
                              ("mainsail_nobatch", "Mainsail, micro-batching off", ["--max-batch", "1"])):
        port = free_port()
        out.append(Server(key, label, [sys.executable, "-m", "mainsail.cli.main", "serve", "bench", "--port", str(port),
                                       *extra], base, f"http://127.0.0.1:{port}/ready",
                          f"http://127.0.0.1:{port}/predict", body, home))
    if peers:
        peer_env = {k: v for k, v in base.items() if k != "PYTHONPATH"}
        if mb := peer_bin("mlflow"):
            r = subprocess.run([str(mb / "python"), "-c", "import joblib, mlflow.sklearn, sys; "
                                "mlflow.sklearn.save_model(joblib.load(sys.argv[1]), sys.argv[2])",
                                str(home / "model.joblib"), str(home / "mlflow-model")], capture_output=True, text=True,
                               env=peer_env)
            if r.returncode:
                notes.append(skip("mlflow", f"could not save the model: {r.stderr.strip()[-300:]}"))
            else:
                for w in workers:
                    port = free_port()
                    out.append(Server(f"mlflow_w{w}", f"MLflow `models serve`, {w} worker{'s' if w > 1 else ''}",
                                      [str(mb / "mlflow"), "models", "serve", "-m", str(home / "mlflow-model"), "-p",
                                       str(port), "--env-manager", "local", "--host", "127.0.0.1", "-w", str(w)],
                                      {**peer_env, "PATH": f"{mb}:{os.environ.get('PATH', '')}"},
                                      f"http://127.0.0.1:{port}/ping", f"http://127.0.0.1:{port}/invocations",
                                      orjson.dumps({"dataframe_records": records}), home))
        else:
            notes.append(skip("mlflow", missing("mlflow")))
        if bb := peer_bin("bentoml"):
            for w in workers:
                port = free_port()
                out.append(Server(f"bentoml_w{w}", f"BentoML, {w} worker{'s' if w > 1 else ''}",
                                  [str(bb / "bentoml"), "serve", "bento_service:Bench", "--port", str(port),
                                   "--host", "127.0.0.1"], {**peer_env, "BENCH_WORKERS": str(w)},
                                  f"http://127.0.0.1:{port}/readyz", f"http://127.0.0.1:{port}/predict", body, home))
        else:
            notes.append(skip("bentoml", missing("bentoml")))
        if lb := peer_bin("litserve"):
            for w in workers:
                port = free_port()
                out.append(Server(f"litserve_w{w}", f"LitServe, {'default workers' if w == 1 else f'{w} workers'}",
                                  [str(lb / "python"), "litserve_app.py", str(port)],
                                  {**peer_env, "BENCH_WORKERS": "0" if w == 1 else str(w)},
                                  f"http://127.0.0.1:{port}/health", f"http://127.0.0.1:{port}/predict", body, home))
        else:
            notes.append(skip("litserve", missing("litserve")))
        if rb := peer_bin("ray"):
            for w in workers:
                port = free_port()
                out.append(Server(f"ray_w{w}", f"Ray Serve, {w} replica{'s' if w > 1 else ''}",
                                  [str(rb / "python"), "ray_app.py", str(port)],
                                  {**peer_env, "BENCH_WORKERS": str(w), "RAY_AUTH_MODE": "disabled",
                                   "RAY_USAGE_STATS_ENABLED": "0"},
                                  f"http://127.0.0.1:{port}/predict", f"http://127.0.0.1:{port}/predict", body, home,
                                  ready_method="POST"))
        else:
            notes.append(skip("ray", missing("ray")))
    ready = []
    for s in out:
        try:
            s.wait()
            ready.append(s)
        except RuntimeError as exc:
            notes.append(skip(s.key, str(exc)))
            s.stop()
    return ready, notes


def check(s: Server, model: Any, x: np.ndarray, cols: list[str]) -> bool:
    import httpx

    recs = [dict(zip(cols, map(float, row), strict=True)) for row in x[:50]]
    body = {"dataframe_records": recs} if s.key.startswith("mlflow") else {"records": recs}
    if s.key == "echo":
        return True
    got = httpx.post(s.url, json=body, timeout=30).json()
    got = got["predictions"] if isinstance(got, dict) else got
    return list(got) == model.predict(x[:50]).tolist()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a fraction of a second per case; fails only on wrong answers")
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds per measured case")
    ap.add_argument("--clients", default="1,8,32", help="client counts, comma-separated")
    ap.add_argument("--workers", default="1,2", help="peer workers/replicas, comma-separated")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peers", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    seconds = 0.3 if args.smoke else args.seconds
    peers = (not args.smoke) if args.peers is None else args.peers
    clients = [1, 8] if args.smoke else [int(c) for c in args.clients.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    loads = [print_load()]

    results: dict[str, Any] = {"clients": clients}
    with tempfile.TemporaryDirectory(prefix="mainsail-bench-serving-") as tmp:
        home = Path(tmp)
        model, x, cols, uri = setup(home)
        os.environ.update(MAINSAIL_URI=uri, MAINSAIL_ARTIFACT_ROOT=str(home / "artifacts"))
        x1 = x[:1]
        for _ in range(50):
            model.predict(x1)
        lat = []
        for _ in range(300 if args.smoke else 5000):
            t = now()
            model.predict(x1)
            lat.append(now() - t)
        results["raw_predict"] = {"p50_ms": pct(lat, 50) * 1000, "p99_ms": pct(lat, 99) * 1000}
        records = [dict(zip(cols, map(float, x[0]), strict=True))]
        started, notes = servers(home, cols, records, peers, workers)
        results["notes"] = notes
        try:
            bad = [s.key for s in started if not check(s, model, x, cols)]
            ours_bad = [k for k in bad if k.startswith(("mainsail", "echo", "starlette"))]
            if bad:
                console.print(f"[bold red]served predictions differ from model.predict: {bad}[/]")
            if ours_bad:
                return 1
            checks: dict[str, bool | str] = {s.label: s.key not in bad or "served predictions differ from "
                                             "model.predict (left out)" for s in started if s.key not in FLOORS}
            for s in [s for s in started if s.key in bad]:
                s.stop()
            started = [s for s in started if s.key not in bad]
            runs: dict[str, dict[int, list[dict[str, Any]]]] = {s.key: {c: [] for c in clients} for s in started}
            for r in range(max(args.rounds, 3)):
                order = started[r % len(started):] + started[:r % len(started)]
                for c in clients:
                    for s in order:
                        runs[s.key][c].append(asyncio.run(load(s.url, s.body, c, seconds)))
            results["runs"] = runs
            results["labels"] = {s.key: s.label for s in started}
            if any(s.key == "mainsail" for s in started):
                import httpx

                mport = next(s for s in started if s.key == "mainsail").url.rsplit("/", 1)[0]
                metrics = httpx.get(f"{mport}/metrics").text
                counts = [ln for ln in metrics.splitlines() if ln.startswith("mainsail_batch_size_")]
                n = float(next(ln for ln in counts if "_count" in ln).split()[-1])
                ssum = float(next(ln for ln in counts if "_sum" in ln).split()[-1])
                results["mean_batch"] = ssum / n if n else None
        finally:
            for s in started:
                s.stop()
    loads.append(print_load())
    results["load"] = loads
    report(results)
    if args.json:
        sys.stdout.write(json.dumps(results, indent=2, default=str) + "\n")
    for key, per in results["runs"].items():
        errs = sum(x["errors"] for c in clients for x in per[c])
        if errs:
            label = results["labels"][key]
            if key in FLOORS or key.startswith("mainsail"):
                console.print(f"[bold red]{label}: {errs} requests failed[/]")
                return 1
            checks[label] = f"{errs} requests answered with an error status"
    summarize(results, checks)
    return verdict(True, checks)


FLOORS = ("echo", "starlette")


def summarize(r: dict[str, Any], checks: dict[str, bool | str]) -> None:
    """The headline table for ``python -m benchmarks``: Mainsail's req/s and its ratio to every other server."""
    clients, runs = r["clients"], r["runs"]
    if "mainsail" not in runs:
        return
    ms = runs["mainsail"]
    nr = len(ms[clients[0]])

    def rps(key: str) -> list[str]:
        return [fmt_spread(spread([x["rps"] for x in runs[key][c]]), unit="", digits=0) for c in clients]

    rows = [["Mainsail req/s", *rps("mainsail")]]
    if "starlette" in runs:
        rows.append(["floor (bare Starlette + predict) req/s", *rps("starlette")])
    for key, label in r["labels"].items():
        if key == "mainsail":
            continue
        rows.append([f"Mainsail ÷ {label}", *[fmt_spread(ratio_spread([x["rps"] for x in ms[c]],
                                                                      [x["rps"] for x in runs[key][c]])) for c in clients]])
    notes = list(r["notes"])
    if "echo" in runs:
        c0 = clients[0]
        over = spread([m["p50_ms"] - e["p50_ms"] - r["raw_predict"]["p50_ms"] for m, e in
                       zip(ms[c0], runs["echo"][c0], strict=True)])
        notes.append(f"one-client p50 over the echo server + raw predict: {over['median']:+.2f} ms ({over['min']:+.2f} "
                     f"to {over['max']:+.2f}); goal +0.3 ms")
    if r.get("mean_batch"):
        notes.append(f"Mainsail's mean micro-batch over the run: {r['mean_batch']:.2f} requests")
    summary(f"Serving: one-record `/predict`, sklearn LogisticRegression, loopback, aiohttp clients on the same cores; "
            f"{nr} interleaved rounds; ratios of req/s per round (> 1: Mainsail serves more)",
            ["median (min–max)", *[f"{c} client{'s' if c > 1 else ''}" for c in clients]], rows, checks=checks,
            notes=notes, load=r["load"])


def report(r: dict[str, Any]) -> None:
    clients = r["clients"]
    runs = r["runs"]
    nr = len(next(iter(runs.values()))[clients[0]])
    t = Table("server", *[f"{c} client{'s' if c > 1 else ''}: req/s" for c in clients], "p50 ms @1", "p99 ms @1",
              title=f"one-record /predict, sklearn LogisticRegression, loopback: median (min–max) of {nr} "
                    "interleaved rounds")
    rp = r["raw_predict"]
    t.add_row("raw model.predict (in-process)", *["" for _ in clients], f"{rp['p50_ms']:.3f}", f"{rp['p99_ms']:.3f}")
    for key, label in r["labels"].items():
        cells = []
        for c in clients:
            s = spread([x["rps"] for x in runs[key][c]])
            errs = sum(x["errors"] for x in runs[key][c])
            cells.append(f"{s['median']:,.0f} ({s['min']:,.0f}–{s['max']:,.0f})" + (f" [{errs} errors]" if errs else ""))
        one = runs[key][clients[0]]
        t.add_row(label, *cells, f"{spread([x['p50_ms'] for x in one])['median']:.3f}",
                  f"{spread([x['p99_ms'] for x in one])['median']:.3f}")
    console.print(t)
    if "mainsail" in runs:
        ms = runs["mainsail"]
        console.print("Mainsail req/s ÷ other server's req/s, per round (same load), median (min–max):")
        for key, label in r["labels"].items():
            if key == "mainsail":
                continue
            cells = [f"{c}: {fmt_spread(ratio_spread([x['rps'] for x in ms[c]], [x['rps'] for x in runs[key][c]]))}"
                     for c in clients]
            console.print(f"  vs {label:<44} " + "   ".join(cells))
        if "echo" in runs:
            c0 = clients[0]
            over = [m["p50_ms"] - e["p50_ms"] - r["raw_predict"]["p50_ms"] for m, e in zip(ms[c0], runs["echo"][c0], strict=True)]
            s = spread(over)
            console.print(f"one-client p50 over echo + raw predict: {s['median']:+.3f} ms ({s['min']:+.3f} to "
                          f"{s['max']:+.3f})  (goal +0.3 ms)")
        if r.get("mean_batch"):
            console.print(f"mean micro-batch size over the whole run: {r['mean_batch']:.2f} requests")
    for note in r["notes"]:
        console.print(note)
    console.print(" / ".join(r["load"]))


if __name__ == "__main__":
    sys.exit(main())
