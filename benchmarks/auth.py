"""Auth benchmark: what authentication costs the hot paths. Two real ``mainsail server`` processes on the
same SQLite database and deployment, one with ``--auth`` (every request carries a bearer token, resolved
through the TTL cache) and one without, measured interleaved from one keep-alive HTTP client:

- tracking writes: ``POST /api/v1/tracking-runs/{id}/log-batch`` of 10 metric values;
- alias resolve: ``GET /api/v1/registered-models/{name}/aliases/champion``;
- one-record predict: ``POST /deployments/{name}/predict`` (the hosted deployment).

The floor is the same server with auth off; the in-process cost of a cached token check is printed too.
Goal: under 5% overhead. Peer: MLflow's basic-auth app (``mlflow server --app-name basic-auth``, its
credential cache on) against the plain ``mlflow server`` on the same two calls (MLflow serves no predict);
it needs ``mlflow[auth]`` (Flask-WTF) in the peer venv and is skipped, saying why, when that is missing.

    python benchmarks/auth.py [--smoke] [--requests 300] [--rounds 5] [--json]

Exits non-zero when the two servers answer differently (alias version, predictions).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import fmt_spread, peer_python, print_load, ratio_spread, skip, spread, wait_http
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
now = time.perf_counter


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str], log: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "server", "--port", str(port),
                             "--no-background", "--deployments", "all", *extra],
                            env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if problem := wait_http(proc, url + "/ready", log, 60, "server"):
        proc.terminate()
        raise SystemExit(problem)
    return proc, url


def setup(folder: Path) -> tuple[str, str, str, list[dict[str, float]]]:
    """A run, model 'bench' v1 @champion (logistic regression), deployment 'bench', and an editor token
    with ``predict``. Returns (uri, run id, token, one record)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from mainsail import Client
    from mainsail.registry.packaging import save_model

    uri = f"sqlite:///{folder / 'meta.db'}"
    os.environ["MAINSAIL_ARTIFACT_ROOT"] = str(folder / "artifacts")
    c = Client(uri)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] > 0).astype(int)
    import pandas as pd

    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    exp = c.ensure_experiment("bench")
    run = c.create_run(exp.id)
    save_model(LogisticRegression().fit(x, y), folder / "pkg", input_example=frame.head(3))
    c.log_artifacts(run.id, folder / "pkg", "model")
    c.register_model_version("bench", source=f"runs:/{run.id}/model")
    c.set_model_alias("bench", "champion", 1)
    c.create_deployment("bench", [{"name": "a", "model": "models:/bench@champion"}])
    c.create_user("bench-bot", service=True, role="editor")
    token = c.create_token("bench", user="bench-bot", role="editor", permissions=["predict"]).token
    c.close()
    return uri, run.id, token, frame.head(1).to_dict("records")


def paired(clients: dict[str, httpx.Client], method: str, path: str, n: int, **kw: Any
           ) -> tuple[dict[str, float], dict[str, Any]]:
    """``n`` requests to each server, alternating off/on request by request (the order flips every pair),
    so both see the same moment's load. Median seconds per request per server, and each last answer."""
    times: dict[str, list[float]] = {side: [] for side in clients}
    last: dict[str, Any] = {}
    sides = list(clients)
    for i in range(n):
        for side in sides if i % 2 == 0 else sides[::-1]:
            t = now()
            r = clients[side].request(method, path, **kw)
            times[side].append(now() - t)
            if r.status_code >= 400:
                raise SystemExit(f"{side}: {method} {path}: {r.status_code} {r.text[:300]}")
            last[side] = json.loads(r.content) if r.content else None
    return {side: statistics.median(ts) for side, ts in times.items()}, last


def cache_hit_cost(uri: str, token: str, reps: int) -> float:
    """Seconds per cached token check in-process (the per-request work auth adds once warm)."""
    from mainsail.auth.cache import Authenticator
    from mainsail.core.runtime import Runtime
    from mainsail.core.settings import Settings

    auth = Authenticator(Runtime.for_settings(Settings.from_env().with_uri(uri)))
    header = f"Bearer {token}"
    auth.resolve(header)
    t = now()
    for _ in range(reps):
        auth.cached(header)
    return (now() - t) / reps


MLFLOW_AUTH_INI = """[mlflow]
default_permission = READ
database_uri = sqlite:///{db}
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = 60
"""


def start_mlflow(py: Path, folder: Path, name: str, auth: bool) -> tuple[subprocess.Popen[bytes], str]:
    """``mlflow server`` (one worker, SQLite) from the peer venv; with ``auth``, its basic-auth app with its
    credential cache on (``auth_cache_ttl_seconds``: its documented fast path for request-heavy loads)."""
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": ""}
    extra: list[str] = []
    if auth:
        ini = folder / f"{name}.ini"
        ini.write_text(MLFLOW_AUTH_INI.format(db=folder / f"{name}-users.db"))
        env |= {"MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_AUTH_ADMIN_PASSWORD": "bench-admin-pw1",
                "MLFLOW_FLASK_SERVER_SECRET_KEY": "bench-secret"}
        extra = ["--app-name", "basic-auth"]
    log = folder / f"{name}.log"
    proc = subprocess.Popen([str(py), "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / name}.db",
                             "--default-artifact-root", str(folder / f"{name}-art"), *extra],
                            env=env, cwd=folder, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if problem := wait_http(proc, url + "/health", log, 180, "mlflow server"):
        proc.terminate()
        raise RuntimeError(problem)
    return proc, url


def mlflow_overhead(py: Path, folder: Path, n: int, n_rounds: int) -> dict[str, Any]:
    """The peer on the same work: MLflow's tracking write (``runs/log-batch`` of 10) and alias resolve
    (``registered-models/alias``), its basic-auth app against the plain server, paired the same way. The
    caller on the auth side is an ordinary user who created the experiment and model (so holds MANAGE on
    them), as our token is an editor's."""
    procs = []
    try:
        procs.append(start_mlflow(py, folder, "mlflow-off", False))
        procs.append(start_mlflow(py, folder, "mlflow-on", True))
        (_, off_url), (_, on_url) = procs
        admin = httpx.Client(base_url=on_url, timeout=60, auth=("admin", "bench-admin-pw1"))
        r = admin.post("/api/2.0/mlflow/users/create", json={"username": "bench-bot", "password": "bench-bot-pw1"})
        r.raise_for_status()
        admin.close()
        clients = {"off": httpx.Client(base_url=off_url, timeout=60),
                   "on": httpx.Client(base_url=on_url, timeout=60, auth=("bench-bot", "bench-bot-pw1"))}
        run_ids = {}
        for side, c in clients.items():
            eid = c.post("/api/2.0/mlflow/experiments/create", json={"name": "bench"}).raise_for_status().json()
            run = c.post("/api/2.0/mlflow/runs/create", json={"experiment_id": eid["experiment_id"]})
            run_ids[side] = run.raise_for_status().json()["run"]["info"]["run_id"]
            c.post("/api/2.0/mlflow/registered-models/create", json={"name": "bench"}).raise_for_status()
            r = c.post("/api/2.0/mlflow/model-versions/create",
                       json={"name": "bench", "source": f"runs:/{run_ids[side]}/model", "run_id": run_ids[side]})
            if r.status_code != 200:
                raise RuntimeError(f"model-versions/create: {r.status_code} {r.text[:300]}")
            c.post("/api/2.0/mlflow/registered-models/alias",
                   json={"name": "bench", "alias": "champion", "version": "1"}).raise_for_status()
        metrics = [{"key": "loss", "value": 0.5, "timestamp": 1_700_000_000_000, "step": i} for i in range(10)]
        out: dict[str, Any] = {}
        for label, method, path, kw in (
                ("tracking write (log-batch of 10)", "POST", "/api/2.0/mlflow/runs/log-batch", None),
                ("alias resolve", "GET", "/api/2.0/mlflow/registered-models/alias",
                 {"params": {"name": "bench", "alias": "champion"}})):
            off_s: list[float] = []
            on_s: list[float] = []
            for _ in range(n_rounds):
                if kw is None:  # each side's own run id: send the two requests by hand, alternating
                    times: dict[str, list[float]] = {"off": [], "on": []}
                    for i in range(n):
                        for side in ("off", "on") if i % 2 == 0 else ("on", "off"):
                            t = now()
                            clients[side].post(path, json={"run_id": run_ids[side], "metrics": metrics}
                                               ).raise_for_status()
                            times[side].append(now() - t)
                    secs = {k: statistics.median(v) for k, v in times.items()}
                else:
                    secs, answers = paired(clients, method, path, n, **kw)
                    if answers["off"]["model_version"]["version"] != answers["on"]["model_version"]["version"]:
                        raise RuntimeError(f"MLflow servers answered differently: {answers}")
                off_s.append(secs["off"])
                on_s.append(secs["on"])
            out[label] = {"off_us": spread([x * 1e6 for x in off_s]), "on_us": spread([x * 1e6 for x in on_s]),
                          "overhead": ratio_spread(on_s, off_s)}
        for c in clients.values():
            c.close()
        return out
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(15)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny run (CI)")
    ap.add_argument("--requests", type=int, default=300, help="requests per case per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-peers", action="store_true", help="leave MLflow's basic-auth app out")
    a = ap.parse_args()
    n = 20 if a.smoke else a.requests
    a.rounds = 3 if a.smoke else a.rounds
    console = Console()
    print_load("before: ")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        uri, run_id, token, record = setup(folder)
        env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_HOME": str(folder), "MAINSAIL_ADMIN_PASSWORD": "bench-admin-pw"}
        off, off_url = start_server(env, folder / "off.log")
        on, on_url = start_server(env, folder / "on.log", "--auth")
        try:
            clients = {"off": httpx.Client(base_url=off_url, timeout=60),
                       "on": httpx.Client(base_url=on_url, timeout=60, headers={"authorization": f"Bearer {token}"})}
            batch = {"metrics": {"key": ["loss"] * 10, "value": [0.5] * 10, "step": list(range(10)),
                                 "timestamp": [1_700_000_000_000] * 10}}
            work = {
                "tracking write (log-batch of 10)": ("POST", f"/api/v1/tracking-runs/{run_id}/log-batch", {"json": batch}),
                "alias resolve": ("GET", "/api/v1/registered-models/bench/aliases/champion", {}),
                "one-record predict": ("POST", "/deployments/bench/predict", {"json": {"records": record}}),
            }
            for side in clients.values():  # warm: the model loads, the token is cached
                deadline = time.monotonic() + 60
                while side.post("/deployments/bench/predict", json={"records": record}).status_code != 200:
                    if time.monotonic() > deadline:
                        raise SystemExit("the hosted deployment did not become ready")
                    time.sleep(0.2)
            results: dict[str, Any] = {}
            for label, (method, path, kw) in work.items():
                answers: dict[str, Any] = {}
                off_s: list[float] = []
                on_s: list[float] = []
                for _ in range(max(a.rounds, 3)):
                    secs, answers = paired(clients, method, path, n, **kw)
                    off_s.append(secs["off"])
                    on_s.append(secs["on"])
                if label != "tracking write (log-batch of 10)":
                    def strip(b: Any) -> Any:
                        return {k: v for k, v in b.items() if k not in ("request_id", "latency_ms")} \
                            if isinstance(b, dict) else b
                    if strip(answers["off"]) != strip(answers["on"]):
                        console.print(f"[red]{label}: the servers answered differently[/]: {answers}")
                        return 1
                results[label] = {"off_us": spread([x * 1e6 for x in off_s]),
                                  "on_us": spread([x * 1e6 for x in on_s]),
                                  "overhead": ratio_spread(on_s, off_s)}
            for c in clients.values():
                c.close()
        finally:
            for proc in (off, on):
                proc.terminate()
                proc.wait(15)
        hit = cache_hit_cost(uri, token, 2000 if a.smoke else 100_000)
        peer: dict[str, Any] = {}
        py = peer_python("mlflow")
        if a.smoke or a.no_peers or py is None:
            skip("mlflow", "--smoke" if a.smoke else "--no-peers" if a.no_peers else "no peer venv")
        else:
            try:
                peer = mlflow_overhead(py, folder, n, max(a.rounds, 3))
            except (RuntimeError, httpx.HTTPError) as exc:  # e.g. mlflow[auth] (Flask-WTF) missing
                skip("mlflow", f"its basic-auth app did not run: {str(exc)[-300:]}")
    if a.json:
        print(json.dumps({"results": results, "mlflow": peer, "cache_hit_us": hit * 1e6}, indent=2))
        return 0
    table = Table("work (1 client, keep-alive)", "auth off p50", "auth on p50", "on / off", title=
                  f"Auth overhead: {n} requests per server per round, alternating off/on, {max(a.rounds, 3)} rounds; "
                  "median (min–max) across rounds")
    for who, rows in (("Mainsail", results), ("MLflow 3.17 basic-auth", peer)):
        for label, r in rows.items():
            table.add_row(f"{who}: {label}", fmt_spread(r["off_us"], " µs", 0), fmt_spread(r["on_us"], " µs", 0),
                          fmt_spread(r["overhead"], "x", 3))
    console.print(table)
    console.print(f"cached token check in-process: {hit * 1e6:.2f} µs per request (sha256 + dict lookup)")
    print_load("after: ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
