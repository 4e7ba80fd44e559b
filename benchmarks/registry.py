"""Registry benchmark: load a registered model by alias (cold and warm cache), resolve alias → version.

Mainsail (embedded SQLite, optionally over HTTP) against the raw floor — ``pickle.load`` of the same sklearn
file, ``XGBClassifier().load_model`` of the package's UBJ file, and a raw sqlite3 SELECT joining
model_aliases / registered_models / model_versions on the same db file — and, when it is installed, MLflow.
"Cold" = the model cache folder is deleted before each load (the OS page cache stays warm).

    python benchmarks/registry.py [--smoke] [--no-http] [--mlflow-python PATH] [--reps 7] [--json]

``--smoke`` (tiny models, 200 resolves, no HTTP, no MLflow) exits non-zero only when a loaded model's
predictions differ from the original's (as does a full run).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

MLFLOW_VENV_PY = Path("/tmp/mlflow-venv/bin/python")
ALIAS = "champion"
now = time.perf_counter
FLOOR_SQL = ("SELECT v.* FROM registered_models m JOIN model_aliases a ON a.model_id = m.id AND a.alias = ? "
             "JOIN model_versions v ON v.id = a.version_id WHERE m.name = ?")


def config(smoke: bool) -> dict[str, Any]:
    """Data and estimator parameters, shared verbatim with the MLflow subprocess."""
    trees = 10 if smoke else 200
    return {"data": {"n_samples": 2000 if smoke else 20_000, "n_features": 20, "n_informative": 10,
                     "random_state": 0},
            "rf": {"n_estimators": trees, "random_state": 0, "n_jobs": -1},
            "xgb": {"n_estimators": trees, "max_depth": 6, "random_state": 0, "n_jobs": 2}}


def train(cfg: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from xgboost import XGBClassifier

    x, y = make_classification(**cfg["data"])
    return x, {"sklearn": RandomForestClassifier(**cfg["rf"]).fit(x, y), "xgboost": XGBClassifier(**cfg["xgb"]).fit(x, y)}


def timed(fn: Callable[[], Any], reps: int) -> float:
    """Median wall time of ``fn`` over ``reps`` runs."""
    times = []
    for _ in range(reps):
        t0 = now()
        fn()
        times.append(now() - t0)
    return statistics.median(times)


def stats(ns: list[int]) -> dict[str, float]:
    """mean, p50, p99 in µs of per-op nanosecond timings."""
    ns, n = sorted(ns), len(ns)
    return {"n": n, "mean_us": sum(ns) / n / 1e3, "p50_us": ns[n // 2] / 1e3, "p99_us": ns[int(n * 0.99)] / 1e3}


def per_op(fn: Callable[[], Any], n: int) -> dict[str, float]:
    ns = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        ns.append(time.perf_counter_ns() - t0)
    return stats(ns)


def same(loaded: Any, original: Any, x: np.ndarray) -> bool:
    return bool(np.array_equal(np.asarray(loaded.predict(x[:100])), np.asarray(original.predict(x[:100]))))


def load_times(fns: dict[str, Callable[[], Any]], cache: Path, reps: int, original: Any, x: np.ndarray
               ) -> dict[str, Any]:
    """Each rep: empty the model cache, then time every fn once in order (cold load, warm load, floor), so
    all see the same machine conditions. Medians; predictions of every fn's last result are checked."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    ok = True
    for i in range(reps):
        shutil.rmtree(cache, ignore_errors=True)
        for key, fn in fns.items():
            gc.collect()  # freeing the previous model stays outside the timed window
            t0 = now()
            model = fn()
            times[key].append(now() - t0)
            ok = ok and (i < reps - 1 or same(model, original, x))
            del model
    return {**{k: statistics.median(v) for k, v in times.items()}, "ok": ok}


def _pickle_load(path: Path) -> Any:
    import pickle

    with open(path, "rb") as f:
        return pickle.load(f)


def _xgb_load(path: str) -> Any:
    from xgboost import XGBClassifier

    m = XGBClassifier()
    m.load_model(path)
    return m


def bench_loads(home: Path, x: np.ndarray, models: dict[str, Any], reps: int) -> dict[str, Any]:
    """log_model + alias, then load_model cold/warm, the raw-deserialize floor and a warm-path breakdown."""
    import mainsail
    from mainsail.registry.packaging import verify_package

    client, out = mainsail.get_client(), {}
    for kind, model in models.items():
        name = f"bench-{kind}"
        with mainsail.start_run():
            v = mainsail.log_model(model, "model", registered_model_name=name, input_example=x[:5])
        client.set_model_alias(name, ALIAS, v.version)
        uri, cache = f"models:/{name}@{ALIAS}", home / "cache" / "models" / v.id
        file = cache / ("model.pkl" if kind == "sklearn" else "model.ubj")
        floor = (lambda f=file: _pickle_load(f)) if kind == "sklearn" else (lambda f=str(file): _xgb_load(f))
        load = lambda uri=uri: mainsail.load_model(uri)  # noqa: E731
        res = load_times({"cold_s": load, "warm_s": load, "floor_s": floor}, cache, reps, model, x)
        res["floor_how"] = "pickle.load(model.pkl)" if kind == "sklearn" else "XGBClassifier().load_model(model.ubj)"
        res["file_mb"] = file.stat().st_size / 1e6
        res["resolve_s"] = timed(lambda uri=uri: client.resolve_model(uri), reps)
        res["verify_s"] = timed(lambda cache=cache: verify_package(cache), reps)
        res.update(name=name, version_id=v.id, uri=uri, cache=str(cache))
        out[kind] = res
    return out


def bench_resolve(client: Any, uri: str, n: int) -> dict[str, Any]:
    client.resolve_model(uri)  # warm-up
    r = per_op(lambda: client.resolve_model(uri), n)
    r["ok"] = client.resolve_model(uri).version == 1
    return r


def bench_floor_resolve(db: Path, name: str, vid: str, n: int) -> dict[str, Any]:
    """Raw sqlite3 on the same file; the sqlite3 module's statement cache keeps the statement prepared."""
    con = sqlite3.connect(db)
    args = (ALIAS, name)
    con.execute(FLOOR_SQL, args).fetchone()
    r = per_op(lambda: con.execute(FLOOR_SQL, args).fetchone(), n)
    r["ok"] = con.execute(FLOOR_SQL, args).fetchone()[0] == vid
    con.close()
    return r


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def bench_http(d: Path, sk: dict[str, Any], original: Any, x: np.ndarray, n: int, reps: int) -> dict[str, Any]:
    """A real ``mainsail server`` subprocess on the same db file and artifact root."""
    from mainsail import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MAINSAIL_URI": f"sqlite:///{d}/m.db", "MAINSAIL_ARTIFACT_ROOT": str(d / "art")}
    log = (d / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "server", "--host", "127.0.0.1",
                             "--port", str(port), "--no-background"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while not _ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server not ready ({proc.poll()}): {(d / 'server.log').read_text()[-2000:]}")
            time.sleep(0.05)
        client = Client(f"http://127.0.0.1:{port}")
        res = {"resolve": bench_resolve(client, sk["uri"], n)}
        load = lambda: client.load_model(sk["uri"])  # noqa: E731
        res["load"] = load_times({"cold_s": load, "warm_s": load}, Path(sk["cache"]), reps, original, x)
        client.close()
        return res
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


MLFLOW_SCRIPT = r'''
import json, os, statistics, sys, time
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
import mlflow, mlflow.artifacts, mlflow.pyfunc, mlflow.sklearn
from mlflow import MlflowClient

cfg, tmp, n, reps = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
now = time.perf_counter
x, y = make_classification(**cfg["data"])
model = RandomForestClassifier(**cfg["rf"]).fit(x, y)
mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
mlflow.set_experiment("bench")
with mlflow.start_run():
    mlflow.sklearn.log_model(model, name="model", registered_model_name="bench-sklearn", input_example=x[:5],
                             serialization_format="cloudpickle")
client = MlflowClient()
client.set_registered_model_alias("bench-sklearn", "champion", "1")
uri = "models:/bench-sklearn@champion"
def timed(fn):
    ts, out = [], None
    for _ in range(reps):
        t0 = now(); out = fn(); ts.append(now() - t0)
    return statistics.median(ts), out
def ok(m):
    return bool(np.array_equal(np.asarray(m.predict(x[:100])), model.predict(x[:100])))
out = {"version": mlflow.__version__}
t0 = now(); mlflow.pyfunc.load_model(uri); out["first_load_s"] = now() - t0
out["cold_s"], m = timed(lambda: mlflow.pyfunc.load_model(uri))  # no local cache: downloads every time
local = mlflow.artifacts.download_artifacts(uri)
out["warm_s"], m2 = timed(lambda: mlflow.pyfunc.load_model(local))
out["ok"] = ok(m) and ok(m2)
out["file_mb"] = max(os.path.getsize(os.path.join(local, f)) for f in os.listdir(local)) / 1e6
client.get_model_version_by_alias("bench-sklearn", "champion")
ns = []
for _ in range(n):
    t0 = time.perf_counter_ns(); client.get_model_version_by_alias("bench-sklearn", "champion")
    ns.append(time.perf_counter_ns() - t0)
out["resolve_ns"] = ns
print("MLFLOW_JSON " + json.dumps(out))
'''


def find_mlflow_python(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    if MLFLOW_VENV_PY.exists():
        return str(MLFLOW_VENV_PY)
    return sys.executable if importlib.util.find_spec("mlflow") is not None else None


def bench_mlflow(python: str, d: Path, cfg: dict[str, Any], n: int, reps: int) -> dict[str, Any]:
    (d / "mlflow_bench.py").write_text(MLFLOW_SCRIPT)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "TMPDIR": str(d), "MLFLOW_ENABLE_ASYNC_LOGGING": "false"}
    proc = subprocess.run([python, str(d / "mlflow_bench.py"), json.dumps(cfg), str(d), str(n), str(reps)],
                          capture_output=True, text=True, env=env, cwd=d, timeout=1800)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("MLFLOW_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"mlflow script failed ({proc.returncode}): {proc.stderr[-2000:]}")
    res = json.loads(line.removeprefix("MLFLOW_JSON "))
    res["resolve"] = stats(res.pop("resolve_ns"))
    return res


def ms(x: float | None) -> str:
    return "—" if x is None else f"{x * 1e3:,.1f}"


def render(res: dict[str, Any], console: Console) -> None:
    flag = {True: "[green]ok[/]", False: "[red]WRONG[/]"}
    t = Table(title=f"load_model(\"models:/NAME@{ALIAS}\"), median of {res['reps']} (ms)")
    for col in ("system", "model", "file MB", "cold", "warm", "floor", "cold/floor", "warm/floor", "predict"):
        t.add_column(col, justify="left" if col in ("system", "model") else "right")
    for kind, r in res["loads"].items():
        t.add_row("Mainsail, embedded sqlite", kind, f"{r['file_mb']:.1f}", ms(r["cold_s"]), ms(r["warm_s"]),
                  ms(r["floor_s"]), f"{r['cold_s'] / r['floor_s']:.2f}x", f"{r['warm_s'] / r['floor_s']:.2f}x",
                  flag[r["ok"]])
    sk = res["loads"]["sklearn"]
    if h := res.get("http"):
        hl = h["load"]
        t.add_row("Mainsail, HTTP server", "sklearn", f"{sk['file_mb']:.1f}", ms(hl["cold_s"]), ms(hl["warm_s"]),
                  ms(sk["floor_s"]), f"{hl['cold_s'] / sk['floor_s']:.2f}x", f"{hl['warm_s'] / sk['floor_s']:.2f}x",
                  flag[hl["ok"]])
    if m := res.get("mlflow"):
        t.add_row(f"MLflow {m['version']} pyfunc (warm = local folder)", "sklearn", f"{m['file_mb']:.1f}",
                  ms(m["cold_s"]), ms(m["warm_s"]), "—", "—", "—", flag[m["ok"]])
    console.print(t)
    for kind, r in res["loads"].items():
        console.print(f"  {kind} floor = {r['floor_how']}; warm path parts: resolve {ms(r['resolve_s'])} ms + "
                      f"verify_package (SHA-256, stat-cached) {ms(r['verify_s'])} ms + deserialize ≈ floor {ms(r['floor_s'])} ms")
    t = Table(title=f"Resolve models:/NAME@{ALIAS} → version (µs per op)")
    for col in ("system", "n", "mean", "p50", "p99", "result"):
        t.add_column(col, justify="left" if col == "system" else "right")
    rows = [("Mainsail Client.resolve_model, embedded", res["resolve"]),
            ("Floor: raw sqlite3 3-table join, prepared", res["floor_resolve"])]
    if h := res.get("http"):
        rows.append(("Mainsail Client.resolve_model, HTTP", h["resolve"]))
    if m := res.get("mlflow"):
        rows.append(("MLflow get_model_version_by_alias (sqlite)", m["resolve"]))
    for label, r in rows:
        t.add_row(label, f"{r['n']:,}", f"{r['mean_us']:,.1f}", f"{r['p50_us']:,.1f}", f"{r['p99_us']:,.1f}",
                  flag[r.get("ok", True)])
    console.print(t)
    for note in res.get("notes", []):
        console.print(note)
    for label, (val, goal) in res["ratios"].items():
        console.print(f"  {label:<56} {val:10.2f}x   {goal}")


def ratios(res: dict[str, Any]) -> dict[str, tuple[float, str]]:
    out: dict[str, tuple[float, str]] = {}
    for kind, r in res["loads"].items():
        out[f"{kind} warm load / floor"] = (r["warm_s"] / r["floor_s"], "(goal ≤ 2x)")
        out[f"{kind} cold load / floor"] = (r["cold_s"] / r["floor_s"], "")
    rs, fr = res["resolve"], res["floor_resolve"]
    out["resolve p50 / floor p50"] = (rs["p50_us"] / fr["p50_us"], "(goal ≤ 3x)")
    if h := res.get("http"):
        out["HTTP resolve p50 / floor p50"] = (h["resolve"]["p50_us"] / fr["p50_us"], "")
    if m := res.get("mlflow"):
        sk = res["loads"]["sklearn"]
        out["mlflow cold load / mainsail cold load"] = (m["cold_s"] / sk["cold_s"], "")
        out["mlflow local-folder load / mainsail warm load"] = (m["warm_s"] / sk["warm_s"], "")
        out["mlflow resolve p50 / mainsail resolve p50"] = (m["resolve"]["p50_us"] / rs["p50_us"], "")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny models, 200 resolves, no HTTP, no MLflow")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per load measurement (default 7; smoke 3)")
    ap.add_argument("--resolves", type=int, default=None, help="embedded resolves (default 10,000; smoke 200)")
    ap.add_argument("--http", action=argparse.BooleanOptionalAction, default=None,
                    help="also measure over a server subprocess, 1,000 resolves (default: on unless --smoke)")
    ap.add_argument("--mlflow-python", help="a python that has mlflow (default: /tmp/mlflow-venv/bin/python)")
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    args = ap.parse_args()
    reps = args.reps or (3 if args.smoke else 7)
    n = args.resolves or (200 if args.smoke else 10_000)
    http = (not args.smoke) if args.http is None else args.http
    cfg = config(args.smoke)
    res: dict[str, Any] = {"reps": reps, "config": cfg, "notes": []}
    with tempfile.TemporaryDirectory(prefix="bench-reg-") as tmp:
        d = Path(tmp)
        os.environ.update(MAINSAIL_HOME=str(d / "home"), MAINSAIL_ARTIFACT_ROOT=str(d / "art"),
                          MAINSAIL_URI=f"sqlite:///{d}/m.db")
        import mainsail  # only now: MAINSAIL_HOME is the temp dir

        mainsail.set_tracking_uri(f"sqlite:///{d}/m.db")
        mainsail.set_experiment("bench")
        x, models = train(cfg)
        res["loads"] = bench_loads(d / "home", x, models, reps)
        sk = res["loads"]["sklearn"]
        res["resolve"] = bench_resolve(mainsail.get_client(), sk["uri"], n)
        res["floor_resolve"] = bench_floor_resolve(d / "m.db", sk["name"], sk["version_id"], n)
        if http:
            res["http"] = bench_http(d, sk, models["sklearn"], x, min(n, 1000), min(reps, 3))
        mainsail.set_tracking_uri(None)
    if not args.smoke:
        py = find_mlflow_python(args.mlflow_python)
        if py is None:
            res["notes"].append("MLflow not installed — peer skipped")
        else:
            with tempfile.TemporaryDirectory(prefix="bench-reg-mlflow-") as tmp:
                try:
                    res["mlflow"] = bench_mlflow(py, Path(tmp), cfg, min(n, 1000), reps)
                    res["notes"].append("MLflow: serialization_format='cloudpickle' (pickle, like Mainsail's; "
                                        "its default skops refuses RandomForest without skops_trusted_types). It has "
                                        "no local model cache: load_model(models:/…) downloads every time, so its "
                                        "'warm' is pyfunc.load_model of an already downloaded folder.")
                except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
                    res["notes"].append(f"MLflow run failed — skipped: {exc}")
    res["ratios"] = ratios(res)
    ok = all(r["ok"] for r in res["loads"].values()) and res["resolve"]["ok"] and res["floor_resolve"]["ok"]
    ok = ok and res.get("http", {"load": {"ok": True}})["load"]["ok"]
    if args.json:
        print(json.dumps({**res, "ratios": {k: v for k, (v, _) in res["ratios"].items()}}, indent=2))
    else:
        render(res, Console(width=None if sys.stdout.isatty() else 170))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
