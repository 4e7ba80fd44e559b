"""Registry benchmark: load a registered model by alias (cold and warm cache), resolve alias → version.

Mainsail (embedded SQLite, optionally over HTTP) against the raw floor — ``pickle.load`` of the same sklearn
file (in this process, and in a lean process of its own that imports nothing else), ``XGBClassifier().
load_model`` of the package's UBJ file, and a raw sqlite3 SELECT joining model_aliases / registered_models /
model_versions on the same db file — and, when its venv exists, MLflow 3.17: ``mlflow.pyfunc.load_model``
and the native ``mlflow.sklearn.load_model`` of the same folder. "Cold" = the model cache folder is deleted
before each load (the OS page cache stays warm). Each round (at least 3, interleaved) takes the median of
``--reps`` loads per system; ratios are per round, median (min–max).

    python benchmarks/registry.py [--smoke] [--no-http] [--rounds 3] [--reps 5] [--json]

``--smoke`` (tiny models, 200 resolves, no HTTP, no MLflow) exits non-zero only when a loaded model's
predictions differ from the original's (as does a full run).
"""

from __future__ import annotations

import argparse
import gc
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
from _common import (
    fmt_spread,
    missing,
    peer_python,
    print_load,
    ratio_spread,
    rounds,
    skip,
    spread,
    summary,
    verdict,
)
from rich.console import Console
from rich.table import Table

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


def register(home: Path, x: np.ndarray, models: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """log_model + alias for each model; where its cache lives and what the floor loads."""
    import mainsail

    client, out = mainsail.get_client(), {}
    for kind, model in models.items():
        name = f"bench-{kind}"
        with mainsail.start_run():
            v = mainsail.log_model(model, "model", registered_model_name=name, input_example=x[:5])
        client.set_model_alias(name, ALIAS, v.version)
        uri, cache = f"models:/{name}@{ALIAS}", home / "cache" / "models" / v.id
        file = cache / ("model.pkl" if kind == "sklearn" else "model.ubj")
        mainsail.load_model(uri)  # fills the cache, so the floor's file exists
        out[kind] = {"name": name, "version_id": v.id, "uri": uri, "cache": str(cache), "file": str(file),
                     "file_mb": file.stat().st_size / 1e6,
                     "floor_how": "pickle.load(model.pkl)" if kind == "sklearn" else "XGBClassifier().load_model(model.ubj)"}
    return out


def load_round(info: dict[str, dict[str, Any]], x: np.ndarray, models: dict[str, Any], reps: int) -> dict[str, Any]:
    """One round: for every model, ``reps`` × (cold load, warm load, floor in this process), medians."""
    import mainsail
    from mainsail.registry.packaging import verify_package

    out = {}
    for kind, i in info.items():
        file, cache = Path(i["file"]), Path(i["cache"])
        floor = (lambda f=file: _pickle_load(f)) if kind == "sklearn" else (lambda f=str(file): _xgb_load(f))
        load = lambda uri=i["uri"]: mainsail.load_model(uri)  # noqa: E731
        res = load_times({"cold_s": load, "warm_s": load, "floor_s": floor}, cache, reps, models[kind], x)
        res["resolve_s"] = timed(lambda uri=i["uri"]: mainsail.get_client().resolve_model(uri), reps)
        res["verify_s"] = timed(lambda cache=cache: verify_package(cache), reps)
        out[kind] = res
    return out


LEAN_FLOOR = r'''
import pickle, statistics, sys, time
path, reps = sys.argv[1], int(sys.argv[2])
def load():
    with open(path, "rb") as f:
        return pickle.load(f)
load()  # imports the model's modules, outside the timings
ts = []
for _ in range(reps):
    t = time.perf_counter(); m = load(); ts.append(time.perf_counter() - t); del m
print(statistics.median(ts))
'''


def lean_floor(file: str, reps: int) -> float:
    """``pickle.load`` in a process of its own that imports only what unpickling needs."""
    proc = subprocess.run([sys.executable, "-c", LEAN_FLOOR, file, str(reps)], capture_output=True, text=True,
                          timeout=600)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-1000:])
    return float(proc.stdout.strip().splitlines()[-1])


def bench_resolve(client: Any, uri: str, n: int) -> dict[str, Any]:
    client.resolve_model(uri)  # warm-up
    r = per_op(lambda: client.resolve_model(uri), n)
    r["ok"] = client.resolve_model(uri).version == 1
    return r


def resolve_pair(client: Any, uri: str, db: Path, name: str, vid: str, n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mainsail's resolve and the raw join interleaved call by call (alternating which goes first)."""
    con = sqlite3.connect(db)
    args = (ALIAS, name)
    ours = lambda: client.resolve_model(uri)  # noqa: E731
    floor = lambda: con.execute(FLOOR_SQL, args).fetchone()  # noqa: E731
    for _ in range(50):
        ours()
        floor()
    a: list[int] = []
    b: list[int] = []
    for i in range(n):
        for fn, out in ((ours, a), (floor, b)) if i % 2 else ((floor, b), (ours, a)):
            t0 = time.perf_counter_ns()
            fn()
            out.append(time.perf_counter_ns() - t0)
    ra, rb = stats(a), stats(b)
    ra["ok"] = client.resolve_model(uri).version == 1
    rb["ok"] = con.execute(FLOOR_SQL, args).fetchone()[0] == vid
    con.close()
    return ra, rb


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


MLFLOW_SETUP = r"""
import json, os, sys, time
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
import mlflow, mlflow.artifacts
from mlflow import MlflowClient

cfg, tmp, n = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
x, y = make_classification(**cfg["data"])
model = RandomForestClassifier(**cfg["rf"]).fit(x, y)
mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
mlflow.set_experiment("bench")
with mlflow.start_run():
    mlflow.sklearn.log_model(model, name="model", registered_model_name="bench-sklearn", input_example=x[:5],
                             serialization_format="cloudpickle")
client = MlflowClient()
client.set_registered_model_alias("bench-sklearn", "champion", "1")
local = mlflow.artifacts.download_artifacts("models:/bench-sklearn@champion", dst_path=f"{tmp}/local")
out = {"version": mlflow.__version__, "local": local}
out["file_mb"] = max(os.path.getsize(os.path.join(local, f)) for f in os.listdir(local)) / 1e6
out["resolve_ok"] = str(client.get_model_version_by_alias("bench-sklearn", "champion").version) == "1"
ns = []
for _ in range(n):
    t0 = time.perf_counter_ns(); client.get_model_version_by_alias("bench-sklearn", "champion")
    ns.append(time.perf_counter_ns() - t0)
out["resolve_ns"] = ns
print("MLFLOW_JSON " + json.dumps(out))
"""

MLFLOW_ROUND = r"""
import json, statistics, sys, time
import numpy as np
from sklearn.datasets import make_classification
import mlflow, mlflow.pyfunc, mlflow.sklearn

cfg, tmp, local, reps = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
x, _ = make_classification(**cfg["data"])
uri = "models:/bench-sklearn@champion"
def timed(fn):
    fn()  # first call (imports) outside the timings
    ts, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter(); out = fn(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out
out = {}
out["cold_s"], m = timed(lambda: mlflow.pyfunc.load_model(uri))  # no local cache: downloads every time
out["native_cold_s"], m1 = timed(lambda: mlflow.sklearn.load_model(uri))
out["warm_s"], m2 = timed(lambda: mlflow.pyfunc.load_model(local))
out["native_warm_s"], m3 = timed(lambda: mlflow.sklearn.load_model(local))
preds = [np.asarray(k.predict(x[:100])) for k in (m, m1, m2, m3)]
out["preds"] = preds[0].tolist()
out["ok"] = all(np.array_equal(p, preds[0]) for p in preds)
print("MLFLOW_JSON " + json.dumps(out))
"""


def run_mlflow(python: str, script: str, args: list[str], d: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "TMPDIR": str(d), "MLFLOW_ENABLE_ASYNC_LOGGING": "false"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([python, "-c", script, *args], capture_output=True, text=True, env=env, cwd=d, timeout=1800)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("MLFLOW_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"mlflow script failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(line.removeprefix("MLFLOW_JSON "))


def ms(x: float | None) -> str:
    return "—" if x is None else f"{x * 1e3:,.1f}"


def msr(xs: list[float]) -> str:
    s = spread(xs)
    return f"{s['median'] * 1e3:,.1f} ({s['min'] * 1e3:,.1f}–{s['max'] * 1e3:,.1f})"


def render(res: dict[str, Any], console: Console) -> None:
    flag = {True: "[green]ok[/]", False: "[red]WRONG[/]"}
    rr = res["rounds"]
    t = Table(title=f"load_model(\"models:/NAME@{ALIAS}\") ms: median (min–max) over {len(rr['mainsail'])} "
                    f"interleaved rounds of the median of {res['reps']} loads")
    for col in ("system", "model", "file MB", "cold", "warm", "predict"):
        t.add_column(col, justify="left" if col in ("system", "model") else "right")
    for kind, i in res["models"].items():
        r = [x[kind] for x in rr["mainsail"]]
        t.add_row("Mainsail, embedded SQLite", kind, f"{i['file_mb']:.1f}", msr([x["cold_s"] for x in r]),
                  msr([x["warm_s"] for x in r]), flag[all(x["ok"] for x in r)])
        t.add_row(f"  floor: {i['floor_how']}, same process", kind, "", "", msr([x["floor_s"] for x in r]), "")
    if lean := rr.get("lean_floor"):
        t.add_row("  floor: pickle.load, lean process of its own", "sklearn", "", "", msr(lean), "")
    sk = res["models"]["sklearn"]
    if h := res.get("http"):
        hl = h["load"]
        t.add_row("Mainsail, HTTP server (1 round)", "sklearn", f"{sk['file_mb']:.1f}", ms(hl["cold_s"]),
                  ms(hl["warm_s"]), flag[hl["ok"]])
    if m := rr.get("mlflow"):
        v = res["mlflow"]["version"]
        t.add_row(f"MLflow {v} pyfunc.load_model (warm = local folder)", "sklearn", f"{res['mlflow']['file_mb']:.1f}",
                  msr([x["cold_s"] for x in m]), msr([x["warm_s"] for x in m]), flag[all(x["ok"] for x in m)])
        t.add_row(f"MLflow {v} sklearn.load_model (native)", "sklearn", "", msr([x["native_cold_s"] for x in m]),
                  msr([x["native_warm_s"] for x in m]), flag[all(x["ok"] for x in m)])
    console.print(t)
    last = rr["mainsail"][-1]
    for kind, r in last.items():
        console.print(f"  {kind} warm path parts (last round): resolve {ms(r['resolve_s'])} ms + verify_package "
                      f"(stat-cached SHA-256) {ms(r['verify_s'])} ms + deserialize ≈ floor {ms(r['floor_s'])} ms")
    t = Table(title=f"Resolve models:/NAME@{ALIAS} → version (µs per op)")
    for col in ("system", "n", "mean", "p50", "p99", "result"):
        t.add_column(col, justify="left" if col == "system" else "right")
    rows = [("Mainsail Client.resolve_model, embedded", res["resolve"]),
            ("Floor: raw sqlite3 3-table join, prepared (interleaved with the row above)", res["floor_resolve"])]
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
    console.print("ratios per round (same load), median (min–max):")
    for label, (val, goal) in res["ratios"].items():
        console.print(f"  {label:<60} {fmt_spread(val) if isinstance(val, dict) else f'{val:.2f}x'}   {goal}")
    console.print(" / ".join(res["load"]))


def ratios(res: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    out: dict[str, tuple[Any, str]] = {}
    rr = res["rounds"]
    for kind in res["models"]:
        r = [x[kind] for x in rr["mainsail"]]
        out[f"{kind} warm load / floor (same process)"] = (
            ratio_spread([x["warm_s"] for x in r], [x["floor_s"] for x in r]), "(goal ≤ 1.1x)")
        out[f"{kind} cold load / floor (same process)"] = (
            ratio_spread([x["cold_s"] for x in r], [x["floor_s"] for x in r]), "")
    sk = [x["sklearn"] for x in rr["mainsail"]]
    if lean := rr.get("lean_floor"):
        out["sklearn warm load / floor (lean process)"] = (ratio_spread([x["warm_s"] for x in sk], lean), "")
    rs, fr = res["resolve"], res["floor_resolve"]
    out["resolve p50 / floor p50"] = (rs["p50_us"] / fr["p50_us"], "(goal ≤ 20x)")
    if h := res.get("http"):
        out["HTTP resolve p50 / floor p50"] = (h["resolve"]["p50_us"] / fr["p50_us"], "")
    if m := rr.get("mlflow"):
        out["MLflow pyfunc warm / Mainsail warm"] = (ratio_spread([x["warm_s"] for x in m], [x["warm_s"] for x in sk]), "")
        out["MLflow native sklearn warm / Mainsail warm"] = (
            ratio_spread([x["native_warm_s"] for x in m], [x["warm_s"] for x in sk]), "(> 1: Mainsail faster)")
        out["MLflow pyfunc cold / Mainsail cold"] = (ratio_spread([x["cold_s"] for x in m], [x["cold_s"] for x in sk]), "")
        out["MLflow native sklearn cold / Mainsail cold"] = (
            ratio_spread([x["native_cold_s"] for x in m], [x["cold_s"] for x in sk]), "")
        out["MLflow resolve p50 / Mainsail resolve p50"] = (res["mlflow"]["resolve"]["p50_us"] / rs["p50_us"], "")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny models, 200 resolves, no HTTP, no MLflow")
    ap.add_argument("--reps", type=int, default=None, help="loads per system per round (default 5; smoke 3)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--resolves", type=int, default=None, help="embedded resolves (default 10,000; smoke 200)")
    ap.add_argument("--http", action=argparse.BooleanOptionalAction, default=None,
                    help="also measure over a server subprocess, 1,000 resolves (default: on unless --smoke)")
    ap.add_argument("--peers", action=argparse.BooleanOptionalAction, default=None, help="MLflow (default: unless --smoke)")
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    args = ap.parse_args()
    reps = args.reps or (2 if args.smoke else 5)
    n = args.resolves or (200 if args.smoke else 10_000)
    http = (not args.smoke) if args.http is None else args.http
    peers = (not args.smoke) if args.peers is None else args.peers
    cfg = config(args.smoke)
    res: dict[str, Any] = {"reps": reps, "config": cfg, "notes": [], "load": [print_load()]}
    mlflow_py = peer_python("mlflow", "/tmp/mlflow-venv") if peers else None
    if peers and mlflow_py is None:
        res["notes"].append(skip("mlflow", missing("mlflow")))
    with tempfile.TemporaryDirectory(prefix="bench-reg-") as tmp:
        d = Path(tmp)
        os.environ.update(MAINSAIL_HOME=str(d / "home"), MAINSAIL_ARTIFACT_ROOT=str(d / "art"),
                          MAINSAIL_URI=f"sqlite:///{d}/m.db")
        import mainsail  # only now: MAINSAIL_HOME is the temp dir

        mainsail.set_tracking_uri(f"sqlite:///{d}/m.db")
        mainsail.set_experiment("bench")
        x, models = train(cfg)
        res["models"] = info = register(d / "home", x, models)
        # what is alive now (modules, data, the trained models) moves out of the collector's reach: the
        # gc.collect() before each timed load then walks only what the rounds allocate (it walked the whole
        # heap, ~1 s a call on a loaded machine); ours and the floors run in this process under the same rule
        gc.freeze()
        sk = info["sklearn"]
        cases: dict[str, Any] = {"mainsail": lambda: load_round(info, x, models, reps)}
        if not args.smoke:  # a fresh interpreter per round: seconds that a smoke run does not need
            cases["lean_floor"] = lambda: lean_floor(sk["file"], reps)
        if mlflow_py:
            md = d / "mlflow"
            md.mkdir()
            try:
                res["mlflow"] = run_mlflow(str(mlflow_py), MLFLOW_SETUP, [json.dumps(cfg), str(md), str(min(n, 1000))], md)
                res["mlflow"]["resolve"] = stats(res["mlflow"].pop("resolve_ns"))
                cases["mlflow"] = lambda: run_mlflow(str(mlflow_py), MLFLOW_ROUND,
                                                     [json.dumps(cfg), str(md), res["mlflow"]["local"], str(reps)], md)
                res["notes"].append("MLflow: serialization_format='cloudpickle' (pickle, like Mainsail's; its default "
                                    "skops refuses RandomForest without skops_trusted_types). It has no local model "
                                    "cache: load_model(models:/…) downloads every time, so its 'warm' is a load of an "
                                    "already downloaded folder.")
            except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
                res["notes"].append(skip("mlflow", str(exc)))
        res["rounds"] = rounds(cases, args.rounds)
        if m := res["rounds"].get("mlflow"):
            want = models["sklearn"].predict(x[:100]).tolist()
            for r in m:
                r["ok"] = r["ok"] and r.pop("preds") == want
        res["resolve"], res["floor_resolve"] = resolve_pair(mainsail.get_client(), sk["uri"], d / "m.db", sk["name"],
                                                            sk["version_id"], n)
        if http:
            res["http"] = bench_http(d, sk, models["sklearn"], x, min(n, 1000), min(reps, 3))
        mainsail.set_tracking_uri(None)
    res["load"].append(print_load())
    res["ratios"] = ratios(res)
    ok = all(r[k]["ok"] for r in res["rounds"]["mainsail"] for k in r) and res["resolve"]["ok"]
    ok = ok and res["floor_resolve"]["ok"] and res.get("http", {"load": {"ok": True}})["load"]["ok"]
    if args.json:
        print(json.dumps({**res, "ratios": {k: v for k, (v, _) in res["ratios"].items()}}, indent=2, default=str))
    else:
        render(res, Console(width=None if sys.stdout.isatty() else 170))
    checks: dict[str, bool | str] = {}
    if m := res["rounds"].get("mlflow"):
        checks["MLflow loads (pyfunc and native, cold and warm)"] = (
            all(r["ok"] for r in m) or "a loaded model's predictions differ from the original's")
    if "mlflow" in res:
        checks["MLflow resolve"] = res["mlflow"].get("resolve_ok", False) or "resolved another version"
    summary(f"Registry: `load_model(\"models:/NAME@{ALIAS}\")`, {len(res['rounds']['mainsail'])} interleaved rounds "
            f"of the median of {reps} loads; resolve over {n:,} calls",
            ["comparison", "median (min–max)", "goal"],
            [[label, fmt_spread(v) if isinstance(v, dict) else f"{v:.2f}x",
              goal.strip("()").removeprefix("goal ")]
             for label, (v, goal) in res["ratios"].items()],
            checks={"Mainsail and floors (predictions, resolved version)": ok, **checks}, notes=res["notes"],
            load=res["load"])
    return verdict(ok, checks)


if __name__ == "__main__":
    sys.exit(main())
