"""Feature store benchmark: point-in-time join and online reads.

- **offline**: ``get_historical_features`` of E entity rows against 2 views of F/2 rows each (10 features,
  TTL 30 days) vs **the floor**, the same chained DuckDB ``ASOF LEFT JOIN`` over the same Parquet files
  written by hand, and **the peer**, Feast's ``get_historical_features`` (file offline store) on a
  smaller slice (``--peer-entity-rows``/``--peer-feature-rows``) with Mainsail re-measured on that slice,
  and with ``--peer-full`` at full size too (Feast: minutes and ~12 GB; fixed costs dominate a slice);
- **online**: 1 entity × 10 features, N times, p50/p99: in-process over SQLite and Redis and over HTTP
  (a ``mainsail server`` subprocess) vs raw ``sqlite3`` primary-key lookups and raw Redis ``HMGET``
  (the floors, each call interleaved with ours so both see the same load) and Feast
  ``get_online_features`` (SQLite online store).

    python benchmarks/features.py [--entity-rows 1000000] [--feature-rows 10000000] [--smoke] [--peer-full] [--json]

Feast runs in its own venv (``python -m venv /tmp/feast-venv && /tmp/feast-venv/bin/pip install
feast==0.67.0``), found there by default; it is skipped with a printed reason when missing. ``--smoke``
(small sizes, 300 reads, no peer, no HTTP) exits non-zero only when a result is wrong.
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

CACHE = Path(os.environ.get("MAINSAIL_BENCH_CACHE", "/tmp/mainsail-bench-features"))
FEAST_PY = Path(os.environ.get("FEAST_PYTHON", "/tmp/feast-venv/bin/python"))
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


def floor_join(d: Path, entity: Any) -> tuple[float, Any]:
    import duckdb

    con = duckdb.connect()
    con.register("entity", entity)
    sel = ", ".join([f"a.a{i}" for i in range(5)] + [f"b.b{i}" for i in range(5)])
    sql = (f"SELECT e.*, {sel} FROM entity e "
           f"ASOF LEFT JOIN read_parquet('{d / 'view_a.parquet'}') a ON e.entity_id = a.entity_id AND "
           f"e.event_timestamp >= a.event_timestamp "
           f"ASOF LEFT JOIN read_parquet('{d / 'view_b.parquet'}') b ON e.entity_id = b.entity_id AND "
           f"e.event_timestamp >= b.event_timestamp")
    t = now()
    out = con.sql(sql).to_arrow_table()
    return now() - t, out


def best(fn: Any, reps: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(reps):
        t, out = fn()
        times.append(t)
    return min(times), out


def offline(d: Path, reps: int, home: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from mainsail import Client

    c = Client(f"sqlite:///{home / 'meta.db'}")
    define(c, d)
    entity = pq.read_table(d / "entity.parquet")

    def ours() -> tuple[float, Any]:
        t = now()
        out = c.get_historical_features(entity, FEATURES, as_="arrow")
        return now() - t, out

    t_floor, ref = best(lambda: floor_join(d, entity), reps)
    t_ours, got = best(ours, reps)
    assert got.num_rows == entity.num_rows, "row count differs"
    # the floor has no TTL: compare where both have a value
    import pyarrow.compute as pc

    n_ours = got.num_rows - got["a0"].null_count
    n_floor = ref.num_rows - ref["a0"].null_count
    assert n_ours <= n_floor, "more values than without TTL"
    s_ours = pc.sum(pc.fill_null(got["b0"], 0)).as_py()
    assert s_ours > 0, "no values joined"
    c.close()
    return {"entity_rows": entity.num_rows, "mainsail_s": t_ours, "floor_s": t_floor, "ratio": t_ours / t_floor}


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


def timed_pair(fn: Any, floor: Any, keys: list[int]) -> tuple[dict[str, float], dict[str, float]]:
    """``fn`` and its floor interleaved call by call (alternating which goes first), so both see the
    same background load on a shared machine: the p99 ratio compares like with like."""
    for k in keys[:200]:  # warm-up
        fn(k)
        floor(k)
    a, b = [], []
    for i, k in enumerate(keys):
        for f, out in ((fn, a), (floor, b)) if i % 2 else ((floor, b), (fn, a)):
            t = now()
            f(k)
            out.append(now() - t)
    return pcts(a), pcts(b)


def online(d: Path, n: int, entities: int, home: Path, http: bool) -> dict[str, Any]:
    import random
    import sqlite3

    import pandas as pd

    from mainsail import Client
    from mainsail.features.schemas import Entity, FeatureView

    # one view with 10 features for the online read
    src = d / "online10.parquet"
    if not src.exists():
        import duckdb

        cols = ", ".join([f"random() * 100 AS a{i}" for i in range(5)] + [f"random() AS c{i}" for i in range(5)])
        duckdb.sql(f"COPY (SELECT i::BIGINT AS entity_id, TIMESTAMP '2026-01-01' AS event_timestamp, {cols} "
                   f"FROM range({entities}) t(i)) TO '{src}' (FORMAT parquet)")
    uri = f"sqlite:///{home / 'online-meta.db'}"
    c = Client(uri)
    ent = Entity(name="entity", join_key="entity_id", type="int64")
    c.apply_features([ent, FeatureView(name="view_a", entities=[ent], source=str(src),
                                       features={**{f"a{i}": "float64" for i in range(5)},
                                                 **{f"c{i}": "float64" for i in range(5)}})])
    t = now()
    m = c.materialize_features(end="2026-03-01")
    res: dict[str, Any] = {"materialize_rows": m.views[0].rows, "materialize_s": now() - t}
    rng = random.Random(0)
    keys = [rng.randrange(entities) for _ in range(n)]
    got = c.get_online_features([{"entity_id": keys[0]}], ONLINE).columns
    want = pd.read_parquet(src, filters=[("entity_id", "==", keys[0])]).iloc[0]
    assert abs(got["a0"][0] - want["a0"]) < 1e-9, "online value differs from the source"
    conn = sqlite3.connect(f"{home / 'online-meta.db'}.online")
    q = "SELECT vals FROM online_features WHERE view = ? AND key = ?"
    res["sqlite"], res["sqlite_floor"] = timed_pair(lambda k: c.get_online_features([{"entity_id": k}], ONLINE),
                                                    lambda k: conn.execute(q, ("view_a", str(k))).fetchone(), keys)
    try:
        import redis

        r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        r.ping()
        prefix = f"bench_{os.getpid()}:"
        os.environ["MAINSAIL_ONLINE_STORE"] = f"redis://127.0.0.1:6379/0?prefix={prefix}"
        rc = Client(uri)  # a client's reader is bound to the store configured when it first read
        t = now()
        rc.materialize_features(start="2025-01-01", end="2026-03-01")
        res["redis_materialize_s"] = now() - t
        assert rc.get_online_features([{"entity_id": keys[0]}], ONLINE).columns == got, "redis differs from sqlite"
        fields = ["_ts"] + [f.split(":")[1] for f in ONLINE]
        res["redis"], res["redis_floor"] = timed_pair(lambda k: rc.get_online_features([{"entity_id": k}], ONLINE),
                                                      lambda k: r.hmget(f"{prefix}view_a:{k}", fields), keys)
        for chunk in iter(lambda: list(r.scan_iter(f"{prefix}*", count=10_000))[:10_000], []):
            r.delete(*chunk)
        del os.environ["MAINSAIL_ONLINE_STORE"]
    except Exception as exc:  # noqa: BLE001
        res["redis_skipped"] = str(exc)
    if http:
        res["http"] = http_reads(uri, home, keys)
    c.close()
    return res


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
        c.close()
        return out
    finally:
        proc.terminate()
        proc.wait(10)


FEAST_SCRIPT = r'''
import json, random, sys, time, datetime as dt, tempfile, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.repo_config import RepoConfig
from feast.types import Float64
d, n, entities, pit_entity = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
repo = tempfile.mkdtemp()
cfg = RepoConfig(project="bench", registry=f"{repo}/registry.db", provider="local",
                 online_store={"type": "sqlite", "path": f"{repo}/online.db"}, offline_store={"type": "file"},
                 entity_key_serialization_version=3, repo_path=repo)
store = FeatureStore(config=cfg)
ent = Entity(name="entity", join_keys=["entity_id"], value_type=ValueType.INT64)
def view(name, path, cols, ttl=dt.timedelta(days=30)):
    return FeatureView(name=name, entities=[ent], ttl=ttl, schema=[Field(name=c, dtype=Float64) for c in cols],
                       source=FileSource(path=path, timestamp_field="event_timestamp"), online=True)
a = view("view_a", f"{d}/peer_view_a.parquet", [f"a{i}" for i in range(5)])
b = view("view_b", f"{d}/peer_view_b.parquet", [f"b{i}" for i in range(5)])
o = view("online10", f"{d}/peer_online10.parquet", [f"a{i}" for i in range(5)] + [f"c{i}" for i in range(5)], None)
store.apply([ent, a, b, o])
out = {}
edf = pd.read_parquet(pit_entity)
edf["event_timestamp"] = edf["event_timestamp"].astype("datetime64[us, UTC]")
feats = [f"view_a:a{i}" for i in range(5)] + [f"view_b:b{i}" for i in range(5)]
t = time.perf_counter()
df = store.get_historical_features(entity_df=edf, features=feats).to_df()
out["offline_s"] = time.perf_counter() - t
out["offline_rows"] = len(df)
t = time.perf_counter()
store.materialize(dt.datetime(2025, 12, 1, tzinfo=dt.timezone.utc), dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc), ["online10"])
out["materialize_s"] = time.perf_counter() - t
rng = random.Random(0)
keys = [rng.randrange(entities) for _ in range(n)]
ofeats = [f"online10:a{i}" for i in range(5)] + [f"online10:c{i}" for i in range(5)]
for k in keys[:200]:
    store.get_online_features(features=ofeats, entity_rows=[{"entity_id": k}]).to_dict()
lat = []
for k in keys:
    t = time.perf_counter()
    store.get_online_features(features=ofeats, entity_rows=[{"entity_id": k}]).to_dict()
    lat.append(time.perf_counter() - t)
lat.sort()
out["online_p50_us"] = lat[len(lat) // 2] * 1e6
out["online_p99_us"] = lat[int(len(lat) * 0.99)] * 1e6
print(json.dumps(out))
'''


FEAST_OFFLINE_SCRIPT = r'''
import json, sys, time, datetime as dt, tempfile, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.repo_config import RepoConfig
from feast.types import Float64
va, vb, pit = sys.argv[1:4]
repo = tempfile.mkdtemp()
cfg = RepoConfig(project="bench", registry=f"{repo}/registry.db", provider="local",
                 online_store={"type": "sqlite", "path": f"{repo}/online.db"}, offline_store={"type": "file"},
                 entity_key_serialization_version=3, repo_path=repo)
store = FeatureStore(config=cfg)
ent = Entity(name="entity", join_keys=["entity_id"], value_type=ValueType.INT64)
def view(name, path, cols):
    return FeatureView(name=name, entities=[ent], ttl=dt.timedelta(days=30), schema=[Field(name=c, dtype=Float64) for c in cols],
                       source=FileSource(path=path, timestamp_field="event_timestamp"), online=True)
store.apply([ent, view("view_a", va, [f"a{i}" for i in range(5)]), view("view_b", vb, [f"b{i}" for i in range(5)])])
edf = pd.read_parquet(pit)
edf["event_timestamp"] = edf["event_timestamp"].astype("datetime64[us, UTC]")
t = time.perf_counter()
df = store.get_historical_features(entity_df=edf, features=[f"view_a:a{i}" for i in range(5)] + [f"view_b:b{i}" for i in range(5)]).to_df()
print(json.dumps({"offline_s": time.perf_counter() - t, "rows": len(df)}))
'''


def peer_full(d: Path, home: Path) -> dict[str, Any]:
    """Feast's offline retrieval on the full-size data (minutes, ~12 GB RSS), next to Mainsail on the same
    files (timestamps as TIMESTAMPTZ, as Feast needs them) returning pandas as Feast does."""
    if not FEAST_PY.exists():
        return {"skipped": f"Feast not found at {FEAST_PY}"}
    import duckdb
    import pyarrow.parquet as pq

    from mainsail import Client

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    full = home / "full"
    full.mkdir(exist_ok=True)
    for v in ("view_a", "view_b", "entity"):
        dest = d / f"peer_{v}_full.parquet"
        if not dest.exists():
            con.execute(f"COPY (SELECT * REPLACE (event_timestamp::TIMESTAMPTZ AS event_timestamp) FROM "
                        f"read_parquet('{d / (v + '.parquet')}')) TO '{dest}' (FORMAT parquet)")
        if v != "entity":
            (full / f"{v}.parquet").symlink_to(dest)
    c = Client(f"sqlite:///{home / 'full-meta.db'}")
    define(c, full)
    entity = pq.read_table(d / "peer_entity_full.parquet")
    times, nonnull = [], 0
    for _ in range(2):
        t = now()
        df = c.get_historical_features(entity, FEATURES, as_="pandas")
        times.append(now() - t)
        nonnull = int(df["a0"].notna().sum())
    c.close()
    proc = subprocess.run([str(FEAST_PY), "-c", FEAST_OFFLINE_SCRIPT, str(d / "peer_view_a_full.parquet"),
                           str(d / "peer_view_b_full.parquet"), str(d / "peer_entity_full.parquet")],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        return {"skipped": "Feast failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:300]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"feast_s": out["offline_s"], "feast_rows": out["rows"], "mainsail_s": min(times),
            "mainsail_rows": entity.num_rows, "mainsail_rows_with_values": nonnull}


def peer(d: Path, n: int, entities: int, e_rows: int, f_rows: int, home: Path) -> dict[str, Any]:
    """Feast on a slice (and Mainsail on the same slice, for the ratio)."""
    if not FEAST_PY.exists():
        return {"skipped": f"Feast not found at {FEAST_PY} (python -m venv /tmp/feast-venv && "
                           "/tmp/feast-venv/bin/pip install feast==0.67.0)"}
    import duckdb
    import pyarrow.parquet as pq

    from mainsail import Client

    # Feast (with DuckDB 2) needs one timestamp type on both sides: timestamp[us, UTC] everywhere here
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    tz = "* REPLACE (event_timestamp::TIMESTAMPTZ AS event_timestamp)"
    for v, limit in (("view_a", f_rows // 2), ("view_b", f_rows // 2), ("online10", entities)):
        if not (d / f"peer_{v}.parquet").exists():
            con.execute(f"COPY (SELECT {tz} FROM read_parquet('{d / (v + '.parquet')}') LIMIT {limit}) "
                        f"TO '{d / f'peer_{v}.parquet'}' (FORMAT parquet)")
    pit = d / f"peer_entity_{e_rows}.parquet"
    if not pit.exists():
        con.execute(f"COPY (SELECT {tz} FROM read_parquet('{d / 'entity.parquet'}') LIMIT {e_rows}) TO '{pit}' "
                    "(FORMAT parquet)")
    sl = home / "slice"
    sl.mkdir(exist_ok=True)
    for v in ("view_a", "view_b"):
        link = sl / f"{v}.parquet"
        if not link.exists():
            link.symlink_to(d / f"peer_{v}.parquet")
    c = Client(f"sqlite:///{home / 'peer-meta.db'}")
    define(c, sl)
    entity = pq.read_table(pit)
    times = []
    for _ in range(3):
        t = now()
        c.get_historical_features(entity, FEATURES, as_="pandas")  # Feast returns pandas: same output
        times.append(now() - t)
    c.close()
    proc = subprocess.run([str(FEAST_PY), "-c", FEAST_SCRIPT, str(d), str(n), str(entities), str(pit)],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        return {"skipped": "Feast failed: " + proc.stderr.strip().splitlines()[-1][:300] if proc.stderr.strip() else "?"}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["mainsail_offline_s"] = min(times)
    out["entity_rows"], out["feature_rows"] = e_rows, f_rows
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entity-rows", type=int, default=1_000_000)
    ap.add_argument("--feature-rows", type=int, default=10_000_000)
    ap.add_argument("--entities", type=int, default=100_000, help="distinct entity ids")
    ap.add_argument("--reads", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--peer-entity-rows", type=int, default=100_000)
    ap.add_argument("--peer-feature-rows", type=int, default=1_000_000)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--peer-full", action="store_true", help="also run Feast's offline retrieval at full size "
                    "(minutes, ~12 GB)")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.smoke:
        a.entity_rows, a.feature_rows, a.entities, a.reads, a.reps = 20_000, 200_000, 5_000, 300, 1
        a.no_peer = a.no_http = True
    d = gen(a.entity_rows, a.feature_rows, a.entities)
    with tempfile.TemporaryDirectory(prefix="mainsail-bench-features-") as tmp:
        home = Path(tmp)
        os.environ["MAINSAIL_HOME"] = str(home)
        res: dict[str, Any] = {"offline": offline(d, a.reps, home)}
        res["online"] = online(d, a.reads, a.entities, home, http=not a.no_http)
        res["peer"] = {"skipped": "--no-peer"} if a.no_peer else peer(
            d, a.reads, a.entities, a.peer_entity_rows, a.peer_feature_rows, home)
        if a.peer_full and not a.no_peer:
            res["peer_full"] = peer_full(d, home)
    if a.json:
        print(json.dumps(res, indent=2, default=str))
        return 0
    o = res["offline"]
    print(f"offline: {o['entity_rows']:,} entity rows x {a.feature_rows:,} feature rows (2 views, 10 features)")
    print(f"  mainsail get_historical_features  {o['mainsail_s']:.3f} s   ({o['ratio']:.2f}x the floor)")
    print(f"  floor: raw DuckDB ASOF JOIN       {o['floor_s']:.3f} s")
    on = res["online"]
    print(f"online: 1 entity x 10 features, {a.reads:,} reads (materialized {on['materialize_rows']:,} rows "
          f"in {on['materialize_s']:.2f} s)")

    def line(label: str, key: str, floor: str | None = None) -> None:
        if key not in on:
            return
        v = on[key]
        ratio = f"  p99 {v['p99_us'] / on[floor]['p99_us']:.2f}x the floor" if floor and floor in on else ""
        print(f"  {label:<34} p50 {v['p50_us']:8.1f} us  p99 {v['p99_us']:8.1f} us{ratio}")

    line("mainsail in-process (sqlite)", "sqlite", "sqlite_floor")
    line("floor: raw sqlite3 PK lookup", "sqlite_floor")
    line("mainsail in-process (redis)", "redis", "redis_floor")
    line("floor: raw redis HMGET", "redis_floor")
    if "redis_skipped" in on:
        print(f"  redis skipped: {on['redis_skipped']}")
    line("mainsail over HTTP (sqlite)", "http")
    p = res["peer"]
    if "skipped" in p:
        print(f"peer (Feast 0.67) skipped: {p['skipped']}")
    else:
        print(f"peer: Feast 0.67 on {p['entity_rows']:,} entity rows x {p['feature_rows']:,} feature rows")
        print(f"  Feast get_historical_features     {p['offline_s']:.3f} s   mainsail {p['mainsail_offline_s']:.3f} s "
              f"({p['offline_s'] / p['mainsail_offline_s']:.1f}x faster)")
        print(f"  Feast get_online_features (sqlite) p50 {p['online_p50_us']:8.1f} us  p99 {p['online_p99_us']:8.1f} us"
              f"   (mainsail p99 {on['sqlite']['p99_us']:.1f} us)")
        print(f"  Feast materialize {entities_fmt(a.entities)} rows {p['materialize_s']:.2f} s")
    pf = res.get("peer_full")
    if pf and "skipped" in pf:
        print(f"peer at full size skipped: {pf['skipped']}")
    elif pf:
        print(f"peer at full size: {a.entity_rows:,} entity rows x {a.feature_rows:,} feature rows, pandas out")
        print(f"  Feast get_historical_features     {pf['feast_s']:.3f} s ({pf['feast_rows']:,} rows)   mainsail "
              f"{pf['mainsail_s']:.3f} s ({pf['mainsail_rows']:,} rows, {pf['mainsail_rows_with_values']:,} with "
              f"values) = {pf['feast_s'] / pf['mainsail_s']:.1f}x faster")
    return 0


def entities_fmt(n: int) -> str:
    return f"{n:,}"


if __name__ == "__main__":
    sys.exit(main())
