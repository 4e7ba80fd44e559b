"""Feature store benchmark: point-in-time join and online reads.

- **offline**: ``get_historical_features`` of E entity rows against 2 views of F/2 rows each (10 features,
  TTL 30 days) vs **the floor**, the same chained DuckDB ``ASOF LEFT JOIN`` over the same Parquet files
  written by hand (Arrow out), interleaved over ``--rounds`` rounds; the first call of a fresh Client is
  reported apart from the steady state. **The peer**: Feast 0.67's ``get_historical_features`` with its
  ``file`` (Dask) and its ``duckdb`` offline stores, on a slice (``--peer-entity-rows`` /
  ``--peer-feature-rows``; set them to the full size for a full comparison), interleaved with Mainsail and
  the floor on the same slice, all returning pandas. Feast is timed on its second call in its process (its
  steady state, as Mainsail's is; the first call is printed apart), and its row count and joined values
  (non-null counts and sums of a0 and b0) are checked against Mainsail's. Every system's output row count is checked against
  the entity rows, and a short answer is flagged.
- **online**: 1 entity × 10 features, N reads, p50/p99: in-process over SQLite and Redis vs raw
  ``sqlite3`` primary-key lookups and raw Redis ``HMGET`` (each call interleaved with ours), Feast
  ``get_online_features`` (SQLite online store, a worker process fed the same keys in blocks of 250
  alternating with ours), and over HTTP (a ``mainsail server`` subprocess).

Redis: a scratch key prefix on a dedicated db (``--redis-url``, default ``$MAINSAIL_BENCH_REDIS`` or
``redis://127.0.0.1:6379/13``); only keys under that prefix are written and deleted.

    python benchmarks/features.py [--entity-rows 1000000] [--feature-rows 10000000] [--rounds 3] [--smoke]
                                  [--no-peer] [--no-http] [--redis-url URL] [--json]

Feast runs in its own venv (``/work/peers/feast`` or ``$MAINSAIL_PEER_FEAST``: ``pip install
"feast[duckdb]==0.67.0"``); it is skipped with a printed reason when missing. ``--smoke`` (small sizes,
300 reads, no peer, no HTTP) exits non-zero only when a result is wrong.
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

import orjson
from _common import (
    fmt_spread,
    missing,
    peer_python,
    print_load,
    ratio_spread,
    rounds,
    scratch_redis,
    skip,
    spread,
    summary,
    verdict,
)

CACHE = Path(os.environ.get("MAINSAIL_BENCH_CACHE", "/tmp/mainsail-bench-features"))
DAYS = 60
now = time.perf_counter
def gen(entity_rows: int, feature_rows: int, entities: int) -> Path:
    """Parquet files (cached): entity.parquet and view_a/view_b.parquet with 5 DOUBLE features each."""
    import duckdb

    d = CACHE / f"e{entity_rows}_f{feature_rows}_k{entities}"
    if (d / "done").exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    per = feature_rows // 2
    for view, p in (("view_a", "a"), ("view_b", "b")):
        cols = ", ".join(f"random() * 100 AS {p}{i}" for i in range(5))
        con.execute(f"COPY (SELECT (hash(i) % {entities})::BIGINT AS entity_id, TIMESTAMP '2026-01-01' + "
                    f"to_microseconds((random() * {DAYS} * 86400e6)::BIGINT) AS event_timestamp, {cols} "
                    f"FROM range({per}) t(i)) TO '{d / (view + '.parquet')}' (FORMAT parquet)")
    con.execute(f"COPY (SELECT (hash(i + 7) % {entities})::BIGINT AS entity_id, TIMESTAMP '2026-01-01' + "
                f"to_microseconds((random() * {DAYS} * 86400e6)::BIGINT) AS event_timestamp FROM range({entity_rows}) t(i)) "
                f"TO '{d / 'entity.parquet'}' (FORMAT parquet)")
    (d / "done").touch()
    return d


FEATURES = [f"view_a:a{i}" for i in range(5)] + [f"view_b:b{i}" for i in range(5)]
ONLINE = [f"view_a:a{i}" for i in range(5)] + [f"view_a:c{i}" for i in range(5)]


def define(client: Any, d: Path) -> None:
    from mainsail.features.schemas import Entity, FeatureView

    ent = Entity(name="entity", join_key="entity_id", type="int64")
    client.apply_features([
        ent,
        FeatureView(name="view_a", entities=[ent], features={f"a{i}": "float64" for i in range(5)},
                    source=str(d / "view_a.parquet"), ttl="30d"),
        FeatureView(name="view_b", entities=[ent], features={f"b{i}": "float64" for i in range(5)},
                    source=str(d / "view_b.parquet"), ttl="30d"),
    ])


def floor_join(d: Path, entity: Any, out: str = "arrow") -> Any:
    """The raw floor: one fresh DuckDB connection, the chained ASOF LEFT JOIN, Arrow (or pandas) out."""
    import duckdb

    con = duckdb.connect()
    con.register("entity", entity)
    sel = ", ".join([f"a.a{i}" for i in range(5)] + [f"b.b{i}" for i in range(5)])
    sql = (f"SELECT e.*, {sel} FROM entity e "
           f"ASOF LEFT JOIN read_parquet('{d / 'view_a.parquet'}') a ON e.entity_id = a.entity_id AND "
           f"e.event_timestamp >= a.event_timestamp "
           f"ASOF LEFT JOIN read_parquet('{d / 'view_b.parquet'}') b ON e.entity_id = b.entity_id AND "
           f"e.event_timestamp >= b.event_timestamp")
    rel = con.sql(sql)
    return rel.to_arrow_table() if out == "arrow" else rel.df()


def timed_call(fn: Any) -> tuple[float, Any]:
    t = now()
    out = fn()
    return now() - t, out


def offline(d: Path, n_rounds: int, home: Path, fresh: bool = True) -> dict[str, Any]:
    """First call of a fresh Client (and of the floor), then interleaved rounds of both."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from mainsail import Client

    entity = pq.read_table(d / "entity.parquet")
    floor_first, ref = timed_call(lambda: floor_join(d, entity))
    c = Client(f"sqlite:///{home / 'meta.db'}")
    define(c, d)
    first, got = timed_call(lambda: c.get_historical_features(entity, FEATURES, as_="arrow"))
    rows = rounds({"floor": lambda: timed_call(lambda: floor_join(d, entity))[0],
                   "mainsail": lambda: timed_call(lambda: c.get_historical_features(entity, FEATURES, as_="arrow"))[0]},
                  n_rounds)
    assert got.num_rows == entity.num_rows == ref.num_rows, "row count differs"
    # the floor has no TTL: compare where both have a value
    assert got.num_rows - got["a0"].null_count <= ref.num_rows - ref["a0"].null_count, "more values than without TTL"
    assert pc.sum(pc.fill_null(got["b0"], 0)).as_py() > 0, "no values joined"
    c.close()
    # a single call, not the best of several: each in a fresh process (imports and the metadata db outside
    # the timing), interleaved with the floor's single call in a fresh process
    out = {"entity_rows": entity.num_rows, "first_s": first, "floor_first_s": floor_first, "rounds": rows,
           "ratio": ratio_spread(rows["mainsail"], rows["floor"])}
    if fresh:
        firsts = rounds({"floor": lambda: first_call("floor", d, home),
                         "mainsail": lambda: first_call("mainsail", d, home)}, n_rounds)
        out.update(firsts=firsts, first_ratio=ratio_spread(firsts["mainsail"], firsts["floor"]))
    return out


def first_call(system: str, d: Path, home: Path) -> float:
    proc = subprocess.run([sys.executable, __file__, "--first-call", system, "--data", str(d), "--home", str(home)],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode:
        raise RuntimeError(f"first call ({system}) failed: {proc.stderr[-1500:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def first_call_child(system: str, d: Path, home: Path) -> float:
    """One call in this fresh process: Mainsail's with a new Client on the already-defined views."""
    import pyarrow.parquet as pq

    entity = pq.read_table(d / "entity.parquet")
    if system == "floor":
        return timed_call(lambda: floor_join(d, entity))[0]
    from mainsail import Client

    c = Client(f"sqlite:///{home / 'meta.db'}")
    c.get_feature_view("view_a")  # the metadata db's engine outside the timing; DuckDB and the footers inside
    return timed_call(lambda: c.get_historical_features(entity, FEATURES, as_="arrow"))[0]


def pcts(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"p50_us": s[len(s) // 2] * 1e6, "p99_us": s[min(len(s) - 1, int(len(s) * 0.99))] * 1e6,
            "mean_us": statistics.fmean(s) * 1e6}


def timed(fn: Any, keys: list[int]) -> dict[str, float]:
    for k in keys[:200]:  # warm-up
        fn(k)
    out = []
    for k in keys:
        t = now()
        fn(k)
        out.append(now() - t)
    return pcts(out)


def pair_latencies(fn: Any, floor: Any, keys: list[int], a: list[float], b: list[float]) -> None:
    """``fn`` and its floor interleaved call by call (alternating which goes first)."""
    for i, k in enumerate(keys):
        for f, out in ((fn, a), (floor, b)) if i % 2 else ((floor, b), (fn, a)):
            t = now()
            f(k)
            out.append(now() - t)


def timed_pair(fn: Any, floor: Any, keys: list[int]) -> tuple[dict[str, float], dict[str, float]]:
    for k in keys[:200]:  # warm-up
        fn(k)
        floor(k)
    a: list[float] = []
    b: list[float] = []
    pair_latencies(fn, floor, keys, a, b)
    return pcts(a), pcts(b)


class FeastOnline:
    """Feast ``get_online_features`` in a worker process of Feast's venv, fed blocks of keys on stdin."""

    def __init__(self, py: Path, d: Path, entities: int, check: int) -> None:
        self.err = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([str(py), "-c", FEAST_ONLINE_WORKER, str(d), str(entities), str(check)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                     env=peer_env())
        line = self._line("READY ")  # Feast prints progress on stdout: skip to our marker
        self.info = json.loads(line.removeprefix("READY "))

    def _line(self, prefix: str) -> str:
        while line := self.proc.stdout.readline():  # type: ignore[union-attr]
            if line.startswith(prefix):
                return line
        self.err.seek(0)
        raise RuntimeError(f"Feast online worker failed: {self.err.read().decode(errors='replace')[-500:]}")

    def reads(self, keys: list[int]) -> list[float]:
        self.proc.stdin.write(json.dumps(keys) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self._line("LAT ").removeprefix("LAT "))

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(30)
        self.err.close()


def online(d: Path, n: int, n_rounds: int, entities: int, home: Path, http: bool, feast: Path | None,
           redis_url: str | None) -> dict[str, Any]:
    import random
    import sqlite3

    import pandas as pd

    from mainsail import Client
    from mainsail.features.schemas import Entity, FeatureView

    src = online_source(d, entities)
    uri = f"sqlite:///{home / 'online-meta.db'}"
    c = Client(uri)
    ent = Entity(name="entity", join_key="entity_id", type="int64")
    c.apply_features([ent, FeatureView(name="view_a", entities=[ent], source=str(src),
                                       features={**{f"a{i}": "float64" for i in range(5)},
                                                 **{f"c{i}": "float64" for i in range(5)}})])
    t = now()
    m = c.materialize_features(end="2026-03-01")
    res: dict[str, Any] = {"materialize_rows": m.views[0].rows, "materialize_s": now() - t, "notes": []}
    rng = random.Random(0)
    keys = [rng.randrange(entities) for _ in range(n)]
    got = c.get_online_features([{"entity_id": keys[0]}], ONLINE).columns
    want = pd.read_parquet(src, filters=[("entity_id", "==", keys[0])]).iloc[0]
    assert abs(got["a0"][0] - want["a0"]) < 1e-9, "online value differs from the source"
    conn = sqlite3.connect(f"{home / 'online-meta.db'}.online")
    q = "SELECT vals FROM online_features WHERE view = ? AND key = ?"
    ours = lambda k: c.get_online_features([{"entity_id": k}], ONLINE)  # noqa: E731
    floor = lambda k: conn.execute(q, ("view_a", str(k))).fetchone()  # noqa: E731
    peer = None
    if feast:
        try:
            peer = FeastOnline(feast, d, entities, keys[0])
            res["feast_materialize_s"] = peer.info["materialize_s"]
            if abs(peer.info["a0"] - want["a0"]) > 1e-9:
                raise RuntimeError("Feast's online value differs from the source")
        except (RuntimeError, OSError, KeyError) as exc:
            res["notes"].append(skip("feast online", str(exc)))
            peer = None
    for k in keys[:200]:  # warm-up
        ours(k)
        floor(k)
    if peer:
        peer.reads(keys[:200])
    per_round: dict[str, list[dict[str, float]]] = {"sqlite": [], "sqlite_floor": [], "feast": []}
    size = max(1, len(keys) // max(n_rounds, 3))
    all_a: list[float] = []
    all_b: list[float] = []
    all_f: list[float] = []
    for r in range(max(n_rounds, 3)):
        seg = keys[r * size:(r + 1) * size]
        a: list[float] = []
        b: list[float] = []
        f: list[float] = []
        for j in range(0, len(seg), 250):  # blocks of 250: ours+floor, then Feast (or the other way round)
            block = seg[j:j + 250]
            steps = [lambda blk=block, a=a, b=b: pair_latencies(ours, floor, blk, a, b)]
            if peer:
                steps.append(lambda blk=block, f=f: f.extend(peer.reads(blk)))  # type: ignore[union-attr]
            for step in steps if (j // 250) % 2 else reversed(steps):
                step()
        per_round["sqlite"].append(pcts(a))
        per_round["sqlite_floor"].append(pcts(b))
        if f:
            per_round["feast"].append(pcts(f))
        all_a += a
        all_b += b
        all_f += f
    if peer:
        peer.close()
    res["sqlite"], res["sqlite_floor"] = pcts(all_a), pcts(all_b)
    res["ratios"] = {
        "Mainsail SQLite p99 / sqlite3 floor p99": ratio_spread(
            [x["p99_us"] for x in per_round["sqlite"]], [x["p99_us"] for x in per_round["sqlite_floor"]]),
    }
    if all_f:
        res["feast"] = pcts(all_f)
        for q_ in ("p50", "p99"):
            res["ratios"][f"Feast {q_} / Mainsail SQLite {q_} (interleaved)"] = ratio_spread(
                [x[f"{q_}_us"] for x in per_round["feast"]], [x[f"{q_}_us"] for x in per_round["sqlite"]])
    try:
        with scratch_redis(redis_url) as (r, url, prefix):
            os.environ["MAINSAIL_ONLINE_STORE"] = f"{url}?prefix={prefix}"
            try:
                rc = Client(uri)  # a client's reader is bound to the store configured when it first read
                t = now()
                rc.materialize_features(start="2025-01-01", end="2026-03-01")
                res["redis_materialize_s"] = now() - t
                assert rc.get_online_features([{"entity_id": keys[0]}], ONLINE).columns == got, "redis differs"
                fields = ["_ts"] + [f.split(":")[1] for f in ONLINE]
                res["redis"], res["redis_floor"] = timed_pair(
                    lambda k: rc.get_online_features([{"entity_id": k}], ONLINE),
                    lambda k: r.hmget(f"{prefix}view_a:{k}", fields), keys)
                rc.close()
            finally:
                del os.environ["MAINSAIL_ONLINE_STORE"]
    except Exception as exc:  # noqa: BLE001 - no Redis: skip that part, say why
        res["notes"].append(skip("redis", str(exc)))
    if http:
        res["http"] = http_reads(uri, home, keys)
    c.close()
    return res


def online_source(d: Path, entities: int) -> Path:
    """One view with 10 features for the online read (plus Feast's TIMESTAMPTZ copy)."""
    import duckdb

    src = d / "online10.parquet"
    if not src.exists():
        cols = ", ".join([f"random() * 100 AS a{i}" for i in range(5)] + [f"random() AS c{i}" for i in range(5)])
        duckdb.sql(f"COPY (SELECT i::BIGINT AS entity_id, TIMESTAMP '2026-01-01' AS event_timestamp, {cols} "
                   f"FROM range({entities}) t(i)) TO '{src}' (FORMAT parquet)")
    peer_src = d / "peer_online10.parquet"
    if not peer_src.exists():
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"COPY (SELECT * REPLACE (event_timestamp::TIMESTAMPTZ AS event_timestamp) FROM "
                    f"read_parquet('{src}')) TO '{peer_src}' (FORMAT parquet)")
    return src


def http_reads(uri: str, home: Path, keys: list[int]) -> dict[str, float]:
    import socket

    import httpx

    from mainsail import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_HOME": str(home)}
    env.pop("MAINSAIL_ONLINE_STORE", None)
    proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "server", "--host", "127.0.0.1", "--port",
                             str(port), "--no-background"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        c = Client(f"http://127.0.0.1:{port}")
        out = timed(lambda k: c.get_online_features([{"entity_id": k}], ONLINE), keys)
        answer = orjson.dumps({"columns": c.get_online_features([{"entity_id": keys[0]}], ONLINE).columns})
        c.close()
        out["clients_8"] = http_concurrent(f"http://127.0.0.1:{port}", keys, 8)
        floor, floor_port = start_floor(answer)
        try:
            res = rounds({"ours": lambda: raw_concurrent(port, keys, 8),
                          "floor": lambda: raw_concurrent(floor_port, keys, 8)}, 3)
        finally:
            floor.terminate()
            floor.wait(10)
        out["raw_8"] = {k: spread([r["p99_us"] for r in v]) for k, v in res.items()}
        out["raw_8_p50"] = {k: spread([r["p50_us"] for r in v]) for k, v in res.items()}
        return out
    finally:
        proc.terminate()
        proc.wait(10)


FLOOR_APP = r'''
import sys, orjson, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
answer = sys.stdin.buffer.read()
async def online(request):
    orjson.loads(await request.body())
    return Response(answer, media_type="application/json")
app = Starlette(routes=[Route("/api/v1/feature-sets/online", online, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
'''


def start_floor(answer: bytes) -> tuple[subprocess.Popen[bytes], int]:
    """The floor of an online read over HTTP: a bare Starlette endpoint on uvicorn (as ``mainsail server``
    runs it) that parses the body and answers Mainsail's own answer bytes, with no lookup at all."""
    import socket

    import httpx

    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", FLOOR_APP, str(port)], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.stdin.write(answer)  # type: ignore[union-attr]
    proc.stdin.close()  # type: ignore[union-attr]
    for _ in range(300):
        try:
            httpx.post(f"http://127.0.0.1:{port}/api/v1/feature-sets/online", content=b"{}", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, port


def _raw_client(job: tuple[int, list[int], Any]) -> list[float]:
    """One load-generator process: a keep-alive ``http.client`` connection posting the SDK's request body."""
    import http.client

    port, part, barrier = job
    conn = http.client.HTTPConnection("127.0.0.1", port)
    bodies = [orjson.dumps({"entity_rows": [{"entity_id": k}], "features": ONLINE}) for k in part]
    headers = {"content-type": "application/json"}
    for b in bodies[:50]:  # warm-up
        conn.request("POST", "/api/v1/feature-sets/online", body=b, headers=headers)
        conn.getresponse().read()
    barrier.wait()
    lat = []
    for b in bodies:
        t = now()
        conn.request("POST", "/api/v1/feature-sets/online", body=b, headers=headers)
        r = conn.getresponse()
        r.read()
        lat.append(now() - t)
        if r.status != 200:
            raise RuntimeError(f"online read over HTTP answered {r.status}")
    conn.close()
    return lat


def raw_concurrent(port: int, keys: list[int], clients: int) -> dict[str, float]:
    """``clients`` processes (not threads: the load generator's own GIL stays out of the latencies), each
    with one keep-alive connection, reading the keys between them at once; p50/p99 over all reads."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    with ctx.Manager() as m, ctx.Pool(clients) as pool:
        barrier = m.Barrier(clients)
        parts = pool.map(_raw_client, [(port, keys[i::clients], barrier) for i in range(clients)])
    return pcts([x for p in parts for x in p])


def http_concurrent(url: str, keys: list[int], clients: int) -> dict[str, float]:
    """``clients`` threads, each with its own Client, reading the keys between them; p50/p99 over all reads
    (the load generator shares the machine's cores with the server)."""
    from concurrent.futures import ThreadPoolExecutor

    from mainsail import Client

    def worker(part: list[int]) -> list[float]:
        c = Client(url)
        for k in part[:50]:  # warm-up
            c.get_online_features([{"entity_id": k}], ONLINE)
        lat = []
        for k in part:
            t = now()
            c.get_online_features([{"entity_id": k}], ONLINE)
            lat.append(now() - t)
        c.close()
        return lat

    with ThreadPoolExecutor(clients) as pool:
        parts = list(pool.map(worker, [keys[i::clients] for i in range(clients)]))
    return pcts([x for p in parts for x in p])


FEAST_COMMON = r'''
import atexit, json, shutil, sys, time, datetime as dt, tempfile, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.repo_config import RepoConfig
from feast.types import Float64
def make_store(offline):
    repo = tempfile.mkdtemp(prefix="mainsail-bench-feast-")
    atexit.register(shutil.rmtree, repo, True)
    cfg = RepoConfig(project="bench", registry=f"{repo}/registry.db", provider="local",
                     online_store={"type": "sqlite", "path": f"{repo}/online.db"}, offline_store={"type": offline},
                     entity_key_serialization_version=3, repo_path=repo)
    return FeatureStore(config=cfg)
ent = Entity(name="entity", join_keys=["entity_id"], value_type=ValueType.INT64)
def view(name, path, cols, ttl=dt.timedelta(days=30)):
    return FeatureView(name=name, entities=[ent], ttl=ttl, schema=[Field(name=c, dtype=Float64) for c in cols],
                       source=FileSource(path=path, timestamp_field="event_timestamp"), online=True)
'''

FEAST_OFFLINE_SCRIPT = FEAST_COMMON + r'''
va, vb, pit, offline = sys.argv[1:5]
store = make_store(offline)
store.apply([ent, view("view_a", va, [f"a{i}" for i in range(5)]), view("view_b", vb, [f"b{i}" for i in range(5)])])
edf = pd.read_parquet(pit)
edf["event_timestamp"] = edf["event_timestamp"].astype("datetime64[us, UTC]")
feats = [f"view_a:a{i}" for i in range(5)] + [f"view_b:b{i}" for i in range(5)]
t = time.perf_counter()
first = store.get_historical_features(entity_df=edf, features=feats).to_df()  # first call: lazy imports, connections
first_s = time.perf_counter() - t
t = time.perf_counter()
df = store.get_historical_features(entity_df=edf, features=feats).to_df()  # steady state, as Mainsail's is timed
el = time.perf_counter() - t
print(json.dumps({"offline_s": el, "first_s": first_s, "rows": min(len(df), len(first)),
                  **{f"{c}_n": int(df[c].notna().sum()) for c in ("a0", "b0")},
                  **{f"{c}_sum": float(df[c].sum()) for c in ("a0", "b0")}}))
'''

FEAST_ONLINE_WORKER = FEAST_COMMON + r'''
d, entities, check = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = make_store("file")
o = view("online10", f"{d}/peer_online10.parquet", [f"a{i}" for i in range(5)] + [f"c{i}" for i in range(5)], None)
store.apply([ent, o])
t = time.perf_counter()
store.materialize(dt.datetime(2025, 12, 1, tzinfo=dt.timezone.utc), dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc), ["online10"])
info = {"materialize_s": time.perf_counter() - t}
feats = [f"online10:a{i}" for i in range(5)] + [f"online10:c{i}" for i in range(5)]
get = lambda k: store.get_online_features(features=feats, entity_rows=[{"entity_id": k}]).to_dict()
info["a0"] = get(check)["a0"][0]
print("READY " + json.dumps(info), flush=True)
for line in sys.stdin:
    keys = json.loads(line)
    lat = []
    for k in keys:
        t = time.perf_counter()
        get(k)
        lat.append(time.perf_counter() - t)
    print("LAT " + json.dumps(lat), flush=True)
'''


def peer_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONPATH", None)
    return env


def peer_slice(d: Path, e_rows: int, f_rows: int, entities: int, home: Path) -> tuple[Path, Path]:
    """Feast (with DuckDB 2) needs one timestamp type on both sides: TIMESTAMPTZ copies of a slice."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    tz = "* REPLACE (event_timestamp::TIMESTAMPTZ AS event_timestamp)"
    sl = home / f"slice_{f_rows}"
    sl.mkdir(exist_ok=True)
    for v in ("view_a", "view_b"):
        dest = d / f"peer_{v}_{f_rows}.parquet"
        if not dest.exists():
            con.execute(f"COPY (SELECT {tz} FROM read_parquet('{d / (v + '.parquet')}') LIMIT {f_rows // 2}) "
                        f"TO '{dest}' (FORMAT parquet)")
        if not (sl / f"{v}.parquet").exists():
            (sl / f"{v}.parquet").symlink_to(dest)
    pit = d / f"peer_entity_{e_rows}.parquet"
    if not pit.exists():
        con.execute(f"COPY (SELECT {tz} FROM read_parquet('{d / 'entity.parquet'}') LIMIT {e_rows}) TO '{pit}' "
                    "(FORMAT parquet)")
    return sl, pit


def peer_offline(d: Path, py: Path, e_rows: int, f_rows: int, entities: int, n_rounds: int, home: Path) -> dict[str, Any]:
    """Feast (file and duckdb stores), Mainsail and the floor on the same slice, pandas out, interleaved."""
    import pyarrow.parquet as pq

    from mainsail import Client

    sl, pit = peer_slice(d, e_rows, f_rows, entities, home)
    c = Client(f"sqlite:///{home / f'peer-meta-{f_rows}.db'}")
    define(c, sl)
    entity = pq.read_table(pit)
    rows_seen: dict[str, list[int]] = {"mainsail": [], "floor": [], "feast_file": [], "feast_duckdb": []}
    values: dict[str, list[dict[str, float]]] = {"mainsail": [], "feast_file": [], "feast_duckdb": []}
    firsts: dict[str, list[float]] = {"feast_file": [], "feast_duckdb": []}

    def ours() -> float:
        t, df = timed_call(lambda: c.get_historical_features(entity, FEATURES, as_="pandas"))
        rows_seen["mainsail"].append(len(df))
        values["mainsail"].append({**{f"{k}_n": int(df[k].notna().sum()) for k in ("a0", "b0")},
                                   **{f"{k}_sum": float(df[k].sum()) for k in ("a0", "b0")}})
        return t

    def floor() -> float:
        t, df = timed_call(lambda: floor_join(sl, entity, "pandas"))
        rows_seen["floor"].append(len(df))
        return t

    def feast(store: str) -> Any:
        def case() -> float:
            proc = subprocess.run([str(py), "-c", FEAST_OFFLINE_SCRIPT, str(sl / "view_a.parquet"),
                                   str(sl / "view_b.parquet"), str(pit), store],
                                  capture_output=True, text=True, timeout=3600, env=peer_env())
            if proc.returncode != 0:
                raise RuntimeError(f"Feast ({store}) failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:300])
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            rows_seen[f"feast_{store}"].append(out["rows"])
            values[f"feast_{store}"].append({k: out[k] for k in ("a0_n", "b0_n", "a0_sum", "b0_sum")})
            firsts[f"feast_{store}"].append(out["first_s"])
            return out["offline_s"]
        return case

    ours()  # the first call of this client is measured in offline(); here the steady state
    rows_seen["mainsail"].clear()
    times = rounds({"floor": floor, "mainsail": ours, "feast_file": feast("file"), "feast_duckdb": feast("duckdb")},
                   n_rounds)
    c.close()
    out: dict[str, Any] = {"entity_rows": e_rows, "feature_rows": f_rows, "rounds": times, "rows": rows_seen,
                           "values": values, "feast_first_s": firsts, "ratios": {}, "checks": {}}
    want = values["mainsail"][0]
    for k in ("feast_file", "feast_duckdb"):  # every row back, and the same values joined as Mainsail's (same TTL)
        bad = [f"returned {r:,} of {e_rows:,} entity rows" for r in rows_seen[k] if r != e_rows]
        for v in values[k]:
            bad += [f"{c}: {v[c]:,} non-null values vs Mainsail's {want[c]:,}" for c in ("a0_n", "b0_n") if v[c] != want[c]]
            bad += [f"{c}: {v[c]:.6g} vs Mainsail's {want[c]:.6g}" for c in ("a0_sum", "b0_sum")
                    if abs(v[c] - want[c]) > 1e-6 * max(1.0, abs(want[c]))]
        out["checks"][f"Feast {k.removeprefix('feast_')} store"] = True if not bad else bad[0]
    for k in ("feast_file", "feast_duckdb", "floor"):
        out["ratios"][f"{k} / mainsail"] = ratio_spread(times[k], times["mainsail"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entity-rows", type=int, default=1_000_000)
    ap.add_argument("--feature-rows", type=int, default=10_000_000)
    ap.add_argument("--entities", type=int, default=100_000, help="distinct entity ids")
    ap.add_argument("--reads", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peer-entity-rows", type=int, default=100_000)
    ap.add_argument("--peer-feature-rows", type=int, default=1_000_000)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--redis-url", help="a Redis db for a scratch key prefix (default $MAINSAIL_BENCH_REDIS or db 13)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--first-call", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.first_call:
        os.environ["MAINSAIL_HOME"] = a.home
        print(first_call_child(a.first_call, Path(a.data), Path(a.home)))
        return 0
    if a.smoke:
        a.entity_rows, a.feature_rows, a.entities, a.reads, a.rounds = 20_000, 200_000, 5_000, 300, 3
        a.no_peer = a.no_http = True
    loads = [print_load()]
    feast = None
    notes = []
    if not a.no_peer:
        feast = peer_python("feast", "/tmp/feast-venv")
        if feast is None:
            notes.append(skip("feast", missing("feast")))
    d = gen(a.entity_rows, a.feature_rows, a.entities)
    with tempfile.TemporaryDirectory(prefix="mainsail-bench-features-") as tmp:
        home = Path(tmp)
        os.environ["MAINSAIL_HOME"] = str(home)
        res: dict[str, Any] = {"offline": offline(d, a.rounds, home, fresh=not a.smoke)}
        res["online"] = online(d, a.reads, a.rounds, a.entities, home, not a.no_http, feast, a.redis_url)
        if feast:
            try:
                res["peer"] = peer_offline(d, feast, a.peer_entity_rows, a.peer_feature_rows, a.entities, a.rounds, home)
            except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
                notes.append(skip("feast offline", str(exc)))
    loads.append(print_load())
    res["notes"] = notes + res["online"].pop("notes")
    res["load"] = loads
    if a.json:
        print(json.dumps(res, indent=2, default=str))
    else:
        report(res, a)
    return finish(res, a)


def finish(res: dict[str, Any], a: argparse.Namespace) -> int:
    """Hand the headline ratios to ``python -m benchmarks``; exit code from the output checks."""
    o, on, p = res["offline"], res["online"], res.get("peer")
    rows = [[f"Mainsail ÷ floor (raw DuckDB ASOF JOIN), steady state, {o['entity_rows']:,} × {a.feature_rows:,}, "
             "Arrow out", fmt_spread(o["ratio"]), "≤ 1.2x"]]
    if "first_ratio" in o:
        rows.append(["a single call in a fresh process ÷ the floor's, same size", fmt_spread(o["first_ratio"]), "≤ 1.2x"])
    if p:
        n = f"{p['entity_rows']:,} × {p['feature_rows']:,}, pandas out"
        rows += [[f"Feast 0.67 `duckdb` offline store ÷ Mainsail, {n}", fmt_spread(p["ratios"]["feast_duckdb / mainsail"]), ""],
                 [f"Feast 0.67 `file` (Dask) offline store ÷ Mainsail, {n}", fmt_spread(p["ratios"]["feast_file / mainsail"]), ""],
                 [f"floor ÷ Mainsail, {n}", fmt_spread(p["ratios"]["floor / mainsail"]), ""]]
    for label, sp in on["ratios"].items():
        rows.append([f"online, 1 entity × 10 features: {label}", fmt_spread(sp), "≤ 2x" if "floor" in label else ""])
    if "redis" in on:
        rows.append(["online: Mainsail Redis p99 ÷ raw HMGET p99 (all reads)",
                     f"{on['redis']['p99_us'] / on['redis_floor']['p99_us']:.2f}x", ""])
    for key, label in (("sqlite", "Mainsail in-process (SQLite)"), ("sqlite_floor", "raw sqlite3 lookup"),
                       ("feast", "Feast get_online_features")):
        if v := on.get(key):
            rows.append([f"online p50 / p99, {label}", f"{v['p50_us']:,.0f} / {v['p99_us']:,.0f} µs", ""])
    if c8 := on.get("http", {}).get("clients_8"):
        rows.append(["online over HTTP, 8 SDK clients (threads of one process): p50 / p99",
                     f"{c8['p50_us'] / 1e3:.2f} / {c8['p99_us'] / 1e3:.2f} ms", ""])
    if r8 := on.get("http", {}).get("raw_8"):
        rows.append(["online over HTTP, 8 client processes: p99, Mainsail",
                     fmt_spread({k: v / 1e3 for k, v in r8["ours"].items()}, " ms", 2), "p99 < 5 ms"])
        rows.append(["online over HTTP, 8 client processes: p99, floor (bare Starlette, fixed answer)",
                     fmt_spread({k: v / 1e3 for k, v in r8["floor"].items()}, " ms", 2), ""])
    checks: dict[str, bool | str] = dict(p["checks"]) if p else {}
    ours_ok = not p or all(r == p["entity_rows"] for k in ("mainsail", "floor") for r in p["rows"][k])
    summary("Features: point-in-time join (2 views × 5 features, TTL 30 days) and online reads; ratios per "
            "interleaved round", ["comparison", "median (min–max)", "goal"], rows,
            checks={"Mainsail and floor (row counts, values joined, online values)": ours_ok, **checks},
            notes=res["notes"], load=res["load"])
    return verdict(ours_ok, checks)


def report(res: dict[str, Any], a: argparse.Namespace) -> None:
    o = res["offline"]

    def sec(xs: list[float]) -> str:
        s = spread(xs)
        return f"{s['median']:.3f} s ({s['min']:.3f}–{s['max']:.3f})"

    print(f"offline: {o['entity_rows']:,} entity rows x {a.feature_rows:,} feature rows (2 views, 10 features), "
          f"Arrow out, median (min–max) of {len(o['rounds']['mainsail'])} interleaved rounds")
    print(f"  mainsail get_historical_features  {sec(o['rounds']['mainsail'])}")
    print(f"  floor: raw DuckDB ASOF JOIN       {sec(o['rounds']['floor'])}")
    print(f"  mainsail / floor per round        {fmt_spread(o['ratio'])}  (goal ≤ 1.2x)")
    if "firsts" in o:
        print(f"  single call in a fresh process    {sec(o['firsts']['mainsail'])}; floor {sec(o['firsts']['floor'])}")
        print(f"  single call / floor single call   {fmt_spread(o['first_ratio'])}  (goal ≤ 1.2x)")
    else:
        print(f"  first call of a fresh Client      {o['first_s']:.3f} s; the floor's first call {o['floor_first_s']:.3f} s")
    on = res["online"]
    print(f"online: 1 entity x 10 features, {a.reads:,} reads (materialized {on['materialize_rows']:,} rows "
          f"in {on['materialize_s']:.2f} s)")
    for label, key in (("mainsail in-process (sqlite)", "sqlite"), ("floor: raw sqlite3 PK lookup", "sqlite_floor"),
                       ("Feast get_online_features (sqlite)", "feast"), ("mainsail in-process (redis)", "redis"),
                       ("floor: raw redis HMGET", "redis_floor"), ("mainsail over HTTP (sqlite)", "http")):
        if v := on.get(key):
            print(f"  {label:<36} p50 {v['p50_us']:8.1f} us  p99 {v['p99_us']:8.1f} us")
    if c8 := on.get("http", {}).get("clients_8"):
        print(f"  {'mainsail over HTTP, 8 SDK threads':<36} p50 {c8['p50_us']:8.1f} us  p99 {c8['p99_us']:8.1f} us  "
              "(one client process: its GIL queues the 8)")
    if r8 := on.get("http", {}).get("raw_8"):
        p50 = on["http"]["raw_8_p50"]
        for label, k in (("mainsail over HTTP, 8 processes", "ours"), ("floor: bare Starlette, 8 processes", "floor")):
            print(f"  {label:<36} p50 {fmt_spread(p50[k], ' us', 0)}  p99 {fmt_spread(r8[k], ' us', 0)}"
                  + ("  (goal p99 < 5 ms)" if k == "ours" else ""))
    if "redis" in on:
        print(f"  redis p99 / HMGET floor p99: {on['redis']['p99_us'] / on['redis_floor']['p99_us']:.2f}x")
    for label, s in on["ratios"].items():
        print(f"  {label:<52} {fmt_spread(s)}")
    if p := res.get("peer"):
        print(f"peer: {p['entity_rows']:,} entity rows x {p['feature_rows']:,} feature rows, pandas out, "
              f"median (min–max) of {len(p['rounds']['mainsail'])} interleaved rounds")
        labels = {"mainsail": "Mainsail get_historical_features", "floor": "floor: raw DuckDB ASOF JOIN",
                  "feast_file": "Feast 0.67, file (Dask) offline store", "feast_duckdb": "Feast 0.67, duckdb offline store"}
        for k, label in labels.items():
            rows = p["rows"][k]
            bad = [r for r in rows if r != p["entity_rows"]]
            check = "rows ok" if not bad else f"WRONG: returned {bad[0]:,} of {p['entity_rows']:,} entity rows"
            verdict_ = p["checks"].get(f"Feast {k.removeprefix('feast_')} store")
            if verdict_ is not None:
                check = "rows and values ok" if verdict_ is True else f"WRONG: {verdict_}"
            print(f"  {label:<40} {sec(p['rounds'][k])}   {check}")
        for label, s in p["ratios"].items():
            print(f"  {label:<40} {fmt_spread(s)}")
        for k, xs in p["feast_first_s"].items():
            print(f"  {k} first call in its process (not in the ratios) {sec(xs)}")
    for note in res["notes"]:
        print(note)
    print(" / ".join(res["load"]))


if __name__ == "__main__":
    sys.exit(main())
