"""The online store and its read path.

One record per view per entity holds the view's latest values and their event time: a row of a small
SQLite file (embedded default, beside the metadata database) or a Redis hash (``MAINSAIL_ONLINE_STORE=
redis://host:port/db?prefix=…``). Writes are upserts that never replace a newer event time with an
older one, so a materialization or push can be repeated, or interrupted and rerun, with the same end
state. Reads are one lookup per view per entity, with no ORM, no transaction and no pydantic on the
path; resolved definitions are cached per process (``MAINSAIL_FEATURE_CACHE_SECONDS``, default 5,
and dropped at once when this process applies definitions)."""

from __future__ import annotations

import atexit
import collections
import contextlib
import hashlib
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import orjson

from mainsail.core.errors import InvalidInput, ServiceUnavailable, redact
from mainsail.core.runtime import Runtime

Row = tuple[str, int, dict[str, Any]]  # entity key, event time (µs since epoch), values
KEY_SEP = "\x1f"


class OnlineStore(Protocol):
    url: str

    def write(self, view: str, rows: Iterable[Row]) -> int: ...
    def read(self, view: str, keys: Sequence[str], features: Sequence[str]) -> list[list[Any] | None]: ...
    def read1(self, view: str, key: str, features: Sequence[str]) -> list[Any] | None: ...
    def getter(self, view: str, features: Sequence[str]) -> Callable[[str], Sequence[Any] | None]: ...
    def close(self) -> None: ...


def _picker(features: Sequence[str]) -> Callable[[dict[str, Any]], Sequence[Any]]:
    """``features``' values from a stored record, ``None`` for a feature the record lacks (added to the
    view after it was written): one ``itemgetter`` call in the common case."""
    if len(features) == 1:
        f = features[0]
        return lambda vals: (vals.get(f),)
    get = operator.itemgetter(*features)

    def pick(vals: dict[str, Any]) -> Sequence[Any]:
        try:
            return get(vals)  # type: ignore[no-any-return]
        except KeyError:
            return [vals.get(f) for f in features]

    return pick


class SqliteOnlineStore:
    """``online_features(view, key, ts, vals)``; ``vals`` is the values as one JSON object."""

    UPSERT = ("INSERT INTO online_features(view, key, ts, vals) VALUES (?, ?, ?, ?) "
              "ON CONFLICT(view, key) DO UPDATE SET ts = excluded.ts, vals = excluded.vals "
              "WHERE excluded.ts >= online_features.ts")
    GET = "SELECT vals FROM online_features WHERE view = ? AND key = ?"

    def __init__(self, path: str):
        self.path = path
        self.url = f"sqlite:///{path}"
        self._local = threading.local()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn().execute("CREATE TABLE IF NOT EXISTS online_features (view TEXT NOT NULL, key TEXT NOT NULL, "
                             "ts INTEGER NOT NULL, vals BLOB NOT NULL, PRIMARY KEY (view, key)) WITHOUT ROWID")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def write(self, view: str, rows: Iterable[Row]) -> int:
        conn, n, batch = self._conn(), 0, []
        dumps = orjson.dumps
        for key, ts, vals in rows:
            batch.append((view, key, ts, dumps(vals)))
            if len(batch) >= 50_000:
                n += self._flush(conn, batch)
                batch = []
        return n + (self._flush(conn, batch) if batch else 0)

    def _flush(self, conn: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> int:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(self.UPSERT, batch)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(batch)

    def read1(self, view: str, key: str, features: Sequence[str]) -> list[Any] | None:
        row = self._conn().execute(self.GET, (view, key)).fetchone()
        if row is None:
            return None
        vals = orjson.loads(row[0])
        return [vals.get(f) for f in features]

    def getter(self, view: str, features: Sequence[str]) -> Callable[[str], Sequence[Any] | None]:
        """A function reading one entity's ``features`` of ``view`` (the in-process hot path): the
        statement, decoder and value picker are bound once, per call only the lookup and one decode."""
        local, conn_of, get, loads = self._local, self._conn, self.GET, orjson.loads
        pick = _picker(features)

        def read1(key: str) -> Sequence[Any] | None:
            conn = getattr(local, "conn", None) or conn_of()
            row = conn.execute(get, (view, key)).fetchone()
            return None if row is None else pick(loads(row[0]))

        return read1

    def read(self, view: str, keys: Sequence[str], features: Sequence[str]) -> list[list[Any] | None]:
        ex, loads, out = self._conn().execute, orjson.loads, []
        for key in keys:
            row = ex(self.GET, (view, key)).fetchone()
            if row is None:
                out.append(None)
            else:
                vals = loads(row[0])
                out.append([vals.get(f) for f in features])
        return out

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


# Set the hash only when the stored event time is not newer: an old write never undoes a new one.
_LUA_UPSERT = """
local cur = redis.call('HGET', KEYS[1], '_ts')
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], '_ts', ARGV[1], unpack(ARGV, 2))
return 1
"""


def _unreachable(url: str, exc: Exception) -> ServiceUnavailable:
    """One line naming the Redis online store that failed and why (password masked)."""
    import redis

    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return ServiceUnavailable(f"cannot reach the Redis online store at {redact(url)}: {exc}",
                                  code="redis_unreachable")
    return ServiceUnavailable(f"the Redis online store at {redact(url)} failed: {exc}", code="redis_error")


class RedisOnlineStore:
    """One hash per view per entity, ``<prefix><view>:<key>``: a field per feature (JSON) and ``_ts``."""

    def __init__(self, url: str):
        import redis

        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.prefix = (query.pop("prefix", ["mainsail:"])[0]) or ""
        self.url = url
        clean = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
        self.r = redis.Redis.from_url(clean, socket_connect_timeout=5)
        try:
            self._upsert = self.r.register_script(_LUA_UPSERT)
        except Exception as exc:  # noqa: BLE001
            raise _unreachable(url, exc) from None

    def key(self, view: str, key: str) -> str:
        return f"{self.prefix}{view}:{key}"

    def write(self, view: str, rows: Iterable[Row]) -> int:
        import redis

        dumps, n = orjson.dumps, 0
        try:
            pipe = self.r.pipeline(transaction=False)
            for key, ts, vals in rows:
                flat: list[Any] = [ts]
                for f, v in vals.items():
                    flat += (f, dumps(v))
                self._upsert(keys=[self.key(view, key)], args=flat, client=pipe)
                n += 1
                if n % 2000 == 0:
                    pipe.execute()
            pipe.execute()
        except redis.RedisError as exc:
            raise _unreachable(self.url, exc) from None
        return n

    def read1(self, view: str, key: str, features: Sequence[str]) -> list[Any] | None:
        return self.read(view, (key,), features)[0]

    def getter(self, view: str, features: Sequence[str]) -> Callable[[str], Sequence[Any] | None]:
        """A function reading one entity's ``features`` of ``view`` with one ``HMGET`` (parsed by hiredis
        when installed); field list, key prefix and decoder bound once."""
        import redis

        hmget, loads, url = self.r.hmget, orjson.loads, self.url
        fields, pre = ["_ts", *features], f"{self.prefix}{view}:"

        def read1(key: str) -> Sequence[Any] | None:
            try:
                vals = hmget(pre + key, fields)
            except redis.RedisError as exc:
                raise _unreachable(url, exc) from None
            return None if vals[0] is None else [None if v is None else loads(v) for v in vals[1:]]

        return read1

    def fetch_many(self, reads: Sequence[tuple[str, str, Sequence[str]]]) -> list[list[Any] | None]:
        """Several views' records of one entity (``(view, key, features)``) in one round trip: a
        pipeline without MULTI/EXEC, one ``HMGET`` per view."""
        import redis

        loads = orjson.loads
        try:
            pipe = self.r.pipeline(transaction=False)
            for view, key, features in reads:
                pipe.hmget(f"{self.prefix}{view}:{key}", ["_ts", *features])
            results = pipe.execute()
        except redis.RedisError as exc:
            raise _unreachable(self.url, exc) from None
        return [None if vals[0] is None else [None if v is None else loads(v) for v in vals[1:]]
                for vals in results]

    def read(self, view: str, keys: Sequence[str], features: Sequence[str]) -> list[list[Any] | None]:
        import redis

        loads = orjson.loads
        try:
            if len(keys) == 1:
                results = [self.r.hmget(self.key(view, keys[0]), ["_ts", *features])]
            else:
                pipe = self.r.pipeline(transaction=False)
                for k in keys:
                    pipe.hmget(self.key(view, k), ["_ts", *features])
                results = pipe.execute()
        except redis.RedisError as exc:
            raise _unreachable(self.url, exc) from None
        return [None if vals[0] is None else [None if v is None else loads(v) for v in vals[1:]]
                for vals in results]

    def close(self) -> None:
        self.r.close()


def store_url(runtime: Runtime) -> str:
    """``MAINSAIL_ONLINE_STORE``, else a SQLite file beside a SQLite metadata database, else one per
    metadata URI under ``$MAINSAIL_HOME/online``."""
    url = os.environ.get("MAINSAIL_ONLINE_STORE")
    if url:
        return url
    uri = runtime.settings.uri
    if uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":
        return f"sqlite:///{uri.removeprefix('sqlite:///')}.online"
    digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
    return f"sqlite:///{runtime.settings.home / 'online' / (digest + '.sqlite')}"


def open_store(url: str) -> OnlineStore:
    if url.startswith("sqlite:///"):
        return SqliteOnlineStore(url.removeprefix("sqlite:///"))
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            return RedisOnlineStore(url)
        except ImportError:
            raise ServiceUnavailable("the Redis online store needs the redis extra: pip install 'mainsail[redis]'") from None
    raise InvalidInput(f"MAINSAIL_ONLINE_STORE {url!r}: use sqlite:///path or redis://host:port/db",
                       errors=[{"loc": ["MAINSAIL_ONLINE_STORE"], "msg": "unsupported URL"}])


def encode_key(values: Sequence[Any], types: Sequence[str]) -> str:
    """The online key of one entity: its join key values, typed, joined by U+001F."""
    parts = []
    for v, t in zip(values, types, strict=True):
        if t.startswith("int"):
            if isinstance(v, bool) or not isinstance(v, int):
                try:
                    iv = int(v)
                    if isinstance(v, float) and iv != v:
                        raise ValueError
                except (TypeError, ValueError):
                    raise ValueError(f"{v!r} is not an integer") from None
                v = iv
            parts.append(str(v))
        else:
            parts.append(v if isinstance(v, str) else str(v))
    return parts[0] if len(parts) == 1 else KEY_SEP.join(parts)


# ---------------------------------------------------------------- the read path

@dataclass(frozen=True)
class ViewRead:
    view: str
    keys: tuple[str, ...]          # join key columns
    key_types: tuple[str, ...]
    features: tuple[str, ...]
    out: tuple[str, ...]           # output column names


@dataclass(frozen=True)
class Plan:
    keys: tuple[str, ...]          # every join key column, in first-mention order
    reads: tuple[ViewRead, ...]
    one: Callable[[dict[str, Any]], dict[str, list[Any]]] | None = None  # compiled read of one entity row


class Reader:
    """Per runtime: the online store, cached definitions and read plans, and usage counters."""

    _cache: dict[tuple[str, str, str], Reader] = {}
    _lock = threading.Lock()

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.url = store_url(runtime)
        self._store: OnlineStore | None = None  # opened on first use: an offline join only counts its reads
        self._store_lock = threading.Lock()
        self.ttl = float(os.environ.get("MAINSAIL_FEATURE_CACHE_SECONDS", "5"))
        self._defs: Any = None
        self._loaded = 0.0
        self._plans: dict[Any, Plan] = {}
        self.usage: dict[tuple[str, str], int] = {}
        self._hits: collections.deque[str] = collections.deque()  # one view name per hot-path read
        self._usage_lock = threading.Lock()
        self._flusher: threading.Thread | None = None

    @property
    def store(self) -> OnlineStore:
        store = self._store
        if store is None:
            with self._store_lock:
                if self._store is None:
                    self._store = open_store(self.url)
                store = self._store
        return store

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> Reader:
        key = (runtime.settings.uri, runtime.settings.artifact_root, store_url(runtime))
        rd = cls._cache.get(key)
        if rd is None:
            with cls._lock:
                rd = cls._cache.get(key)
                if rd is None:
                    rd = cls._cache[key] = cls(runtime)
                    atexit.register(rd.flush_usage)
        return rd

    @classmethod
    def invalidate_all(cls, runtime: Runtime) -> None:
        for rd in list(cls._cache.values()):
            if rd.runtime is runtime or rd.runtime.settings.uri == runtime.settings.uri:
                rd.invalidate()

    def invalidate(self) -> None:
        self._loaded = 0.0

    def fresh(self) -> bool:
        """The cached definitions are still valid (a read will not query the metadata database)."""
        return self._defs is not None and time.monotonic() - self._loaded <= self.ttl

    def defs(self) -> Any:
        now = time.monotonic()
        if self._defs is None or now - self._loaded > self.ttl:
            from mainsail.features import service

            with self.runtime.transaction(write=False) as ctx:
                defs = service.load_defs(ctx)
            if self._defs is None or defs.versions != self._defs.versions:
                self._plans = {}
                self._defs = defs
            self._loaded = now
        return self._defs

    def plan(self, features: Sequence[str] | None, service: str | None, full_names: bool) -> Plan:
        defs = self.defs()
        cache_key = (tuple(features) if features else None, service, full_names)
        plan = self._plans.get(cache_key)
        if plan is not None:
            return plan
        from mainsail.features.definitions import resolve

        reads, keys, seen = [], [], set()
        for vname, fnames in resolve(defs, list(features) if features else None, service):
            view = defs.views[vname]
            ents = [defs.entities[e] for e in view.entities]
            jk = tuple(str(e.join_key) for e in ents)
            keys += [k for k in jk if k not in keys]
            out = tuple(f"{vname}__{f}" if full_names else f for f in fnames)
            for name in out:
                if name in seen:
                    raise InvalidInput(f"feature name {name!r} is requested from two views: "
                                       "pass full_feature_names=True", code="duplicate_feature",
                                       errors=[{"loc": ["features"], "msg": f"{name!r} twice"}])
                seen.add(name)
            reads.append(ViewRead(vname, jk, tuple(e.type for e in ents), tuple(fnames), out))
        plan = Plan(tuple(keys), tuple(reads))
        plan = self._plans[cache_key] = Plan(plan.keys, plan.reads, self._compile(plan))
        return plan

    def _compile(self, plan: Plan) -> Callable[[dict[str, Any]], dict[str, list[Any]]] | None:
        """The read of one entity row as one closure (the in-process hot path): key encoding, store
        statement, value picking and output names are bound here, so a call does the lookup, one
        decode and builds the columns. ``None`` for composite keys (read by the generic path)."""
        if not all(len(r.keys) == 1 for r in plan.reads):
            return None
        if self._flusher is None:
            self._start_flusher()
        hits = self._hits.append
        parts = [(r.keys[0], r.key_types[0][0] == "i", r.key_types, self.store.getter(r.view, r.features), r.out,
                  r.view, r.features) for r in plan.reads]
        if len(parts) == 1:
            k, isint, types, get, out, view, _ = parts[0]

            def one(row: dict[str, Any]) -> dict[str, list[Any]]:
                v = row[k]
                tv = type(v)
                found = get(str(v) if isint and tv is int else v if tv is str and not isint else encode_key((v,), types))
                hits(view)
                cols = {k: [v]}
                if found is None:
                    for o in out:
                        cols[o] = [None]
                else:
                    for o, x in zip(out, found):  # noqa: B905 - same length by construction
                        cols[o] = [x]
                return cols

            return one
        jk = plan.keys
        fetch_many = getattr(self.store, "fetch_many", None)  # Redis: every view in one round trip

        def many(row: dict[str, Any]) -> dict[str, list[Any]]:
            cols = {k: [row[k]] for k in jk}
            keys = []
            for k, isint, types, _, _, _, _ in parts:
                v = row[k]
                tv = type(v)
                keys.append(str(v) if isint and tv is int else v if tv is str and not isint else encode_key((v,), types))
            if fetch_many is not None:
                founds = fetch_many([(p[5], key, p[6]) for p, key in zip(parts, keys)])  # noqa: B905
            else:
                founds = [p[3](key) for p, key in zip(parts, keys)]  # noqa: B905
            for p, found in zip(parts, founds):  # noqa: B905
                hits(p[5])
                if found is None:
                    for o in p[4]:
                        cols[o] = [None]
                else:
                    for o, x in zip(p[4], found):  # noqa: B905
                        cols[o] = [x]
            return cols

        return many

    def get(self, entity_rows: Sequence[dict[str, Any]], features: Sequence[str] | None = None,
            service: str | None = None, full_names: bool = False) -> dict[str, list[Any]]:
        """Columns: each join key, then each feature; one store read per view per entity row."""
        if time.monotonic() - self._loaded > self.ttl:
            self.defs()
        plan = self._plans.get((tuple(features) if features else None, service, full_names)) \
            or self.plan(features, service, full_names)
        if plan.one is not None and len(entity_rows) == 1:
            try:
                return plan.one(entity_rows[0])
            except (KeyError, TypeError, ValueError):
                pass  # the generic path below names the problem
        columns = {}
        for k in plan.keys:
            try:
                columns[k] = [row[k] for row in entity_rows]
            except (KeyError, TypeError):
                i = next(i for i, r in enumerate(entity_rows) if not isinstance(r, dict) or k not in r)
                raise InvalidInput(f"entity row {i} has no join key {k!r}", code="missing_join_key",
                                   errors=[{"loc": ["entity_rows", i, k], "msg": "missing join key"}]) from None
        n = len(entity_rows)
        for vr in plan.reads:
            try:
                if len(vr.keys) == 1:
                    col, t = columns[vr.keys[0]], vr.key_types
                    keys = [encode_key((v,), t) for v in col]
                else:
                    keys = [encode_key(tuple(columns[k][i] for k in vr.keys), vr.key_types) for i in range(n)]
            except ValueError as exc:
                raise InvalidInput(f"join key of view {vr.view!r}: {exc}", code="invalid_join_key",
                                   errors=[{"loc": ["entity_rows"], "msg": str(exc)}]) from None
            found = self.store.read(vr.view, keys, vr.features)
            for j, name in enumerate(vr.out):
                columns[name] = [None if r is None else r[j] for r in found]
            self.count(vr.view, "online", n)
        return columns

    # ------------------------------------------------------------ usage
    def count(self, view: str, kind: str, n: int) -> None:
        key = (view, kind)
        with self._usage_lock:
            self.usage[key] = self.usage.get(key, 0) + n
        if self._flusher is None:
            self._start_flusher()

    def _start_flusher(self) -> None:
        with self._usage_lock:
            if self._flusher is not None:
                return
            self._flusher = threading.Thread(target=self._flush_loop, name="mainsail-feature-usage", daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        while True:
            time.sleep(5.0)
            with contextlib.suppress(Exception):  # kept and counted again at the next flush
                self.flush_usage()

    def pending_usage(self) -> dict[tuple[str, str], int]:
        """The reads counted and not yet flushed to the database."""
        with self._usage_lock:
            self._fold()
            return dict(self.usage)

    def _fold(self) -> None:
        """Move hot-path hits into ``usage`` (under ``_usage_lock``)."""
        hits, usage = self._hits, self.usage
        while hits:
            key = (hits.popleft(), "online")
            usage[key] = usage.get(key, 0) + 1

    def flush_usage(self) -> None:
        """Add the counted reads to the database (the counters are kept if that fails)."""
        with self._usage_lock:
            self._fold()
            pending, self.usage = self.usage, {}
        if not pending:
            return
        from mainsail.features import service

        try:
            with self.runtime.transaction() as ctx:
                service.add_usage(ctx, pending)
        except BaseException:
            with self._usage_lock:
                for k, v in pending.items():
                    self.usage[k] = self.usage.get(k, 0) + v
            raise
