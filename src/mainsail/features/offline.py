"""The offline store: point-in-time joins, latest values for materialization, and view statistics, all
DuckDB SQL over each view's source (Parquet files, a dataset version, a DuckDB query) plus the Parquet
objects of rows pushed to it.

Time is compared as naive UTC ``TIMESTAMP`` (the connection runs with ``TimeZone=UTC``); columns of
another type (``TIMESTAMPTZ``, nanoseconds, ``DATE``, ISO text) are cast, and only those."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from mainsail.core.errors import InvalidInput
from mainsail.features.online import Row, encode_key
from mainsail.features.schemas import FeatureView

ROW_ID = "__mainsail_row"
ETS = "__mainsail_ts"  # the entity time as naive UTC TIMESTAMP, when a view needs it
DUCK_TYPES = {"int64": "BIGINT", "int32": "INTEGER", "float64": "DOUBLE", "float32": "FLOAT", "string": "VARCHAR",
              "bool": "BOOLEAN", "timestamp": "TIMESTAMP"}


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class ViewSource:
    """A view with where its rows are: ``sql`` is a FROM item (``read_parquet(…)`` or ``(query)``)."""

    view: FeatureView
    keys: list[str]          # join key columns
    key_types: list[str]
    sql: str


_DB: duckdb.DuckDBPyConnection | None = None
_DB_LOCK = threading.Lock()
_NATIVE_TS = ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")


def connect() -> duckdb.DuckDBPyConnection:
    """A cursor on this process's in-memory DuckDB (opening a database costs ~15 ms; a cursor ~15 µs),
    which runs in UTC and caches Parquet footers (validated against the file's modification time), so
    describing a source and then reading it parses its metadata once. Registrations stay per cursor."""
    global _DB
    if _DB is None:
        with _DB_LOCK:
            if _DB is None:
                db = duckdb.connect()
                db.execute("SET GLOBAL TimeZone = 'UTC'").fetchall()
                db.execute("SET GLOBAL parquet_metadata_cache = true").fetchall()
                _DB = db
    return _DB.cursor()


def from_item(base: str | None, push_files: list[str]) -> str:
    """One FROM item over a view's base source (SQL FROM item) and its pushed Parquet files."""
    pushed = f"read_parquet([{', '.join(lit(p) for p in push_files)}], union_by_name = true)" if push_files else None
    if base and pushed:
        return f"(SELECT * FROM {base} UNION ALL BY NAME SELECT * FROM {pushed})"
    return base or pushed or ""


def source_sql(kind: str, path: str | None = None, query: str | None = None) -> str:
    if kind == "sql":
        return f"({query})"
    return f"read_parquet({lit(path or '')})"


def _types(con: duckdb.DuckDBPyConnection, from_sql: str) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {from_sql}").fetchall()}


def _ts(expr: str, typ: str) -> str:
    return expr if typ == "TIMESTAMP" else f"CAST({expr} AS TIMESTAMP)"


def _columns(con: duckdb.DuckDBPyConnection, src: ViewSource) -> dict[str, str]:
    """The source's column types, checked to hold the view's keys, timestamp and features."""
    v = src.view
    if not src.sql:
        return {}
    try:
        types = _types(con, src.sql)
    except duckdb.Error as exc:
        msg = str(exc).strip().splitlines()[0]
        raise InvalidInput(f"feature view {v.name!r}: its source cannot be read: {msg}", code="invalid_source",
                           errors=[{"loc": ["views", v.name, "source"], "msg": msg}]) from None
    for col in [*src.keys, v.timestamp_field, *(f.name for f in v.features)]:
        if col not in types:
            raise InvalidInput(f"feature view {v.name!r}: column {col!r} is not in its source (columns: "
                               f"{', '.join(list(types)[:30])})", code="invalid_source",
                               errors=[{"loc": ["views", v.name, "source", col], "msg": "missing column"}])
    return types


def historical(entity: pa.Table, ts_col: str, reads: list[tuple[ViewSource, list[str], list[str]]]) -> pa.Table:
    """For each entity row, the latest values of each view at or before its ``ts_col`` time and within
    the view's TTL (``reads``: source, features, output names), as one table in the entity rows' order."""
    import numpy as np

    names = entity.column_names
    if ts_col not in names:
        raise InvalidInput(f"the entity frame has no timestamp column {ts_col!r} (columns: {', '.join(names[:30])})",
                           code="missing_timestamp_column", errors=[{"loc": ["entity_df", ts_col], "msg": "missing"}])
    for src, _, _ in reads:
        for k in src.keys:
            if k not in names:
                raise InvalidInput(f"the entity frame has no join key column {k!r} (needed by view {src.view.name!r}; "
                                   f"columns: {', '.join(names[:30])})", code="missing_join_key",
                                   errors=[{"loc": ["entity_df", k], "msg": "missing join key"}])
    outs = [o for _, _, out in reads for o in out]
    clash = sorted(set(outs) & set(names)) or sorted({o for o in outs if outs.count(o) > 1})
    if clash:
        raise InvalidInput(f"feature {clash[0]!r} clashes with another column of the result: pass "
                           "full_feature_names=True", code="duplicate_feature",
                           errors=[{"loc": ["features"], "msg": f"{clash[0]!r} twice"}])
    con = connect()
    try:
        ent = entity.append_column(ROW_ID, pa.array(np.arange(entity.num_rows, dtype=np.int64)))
        con.register("__entity", ent)
        etypes = _types(con, "__entity")
        ety = etypes[ts_col]
        # Times are compared in their own type when the entity frame and a view share one (no per-row
        # work); otherwise both sides as naive UTC TIMESTAMP, the entity's column cast once per row.
        cast_ts = f"CAST({q(ts_col)} AS TIMESTAMP)" if ety != "TIMESTAMP" else None
        select, joins, need_cast = [], [], False
        for i, (src, feats, out) in enumerate(reads):
            v, alias = src.view, f"v{i}"
            stypes = _columns(con, src)
            sty = stypes[v.timestamp_field]
            if sty == ety and ety in _NATIVE_TS:
                vts, ets = q(v.timestamp_field), f"e.{q(ts_col)}"
            else:
                vts, ets = _ts(q(v.timestamp_field), sty), f"e.{q(ETS)}" if cast_ts else f"e.{q(ts_col)}"
                need_cast = need_cast or cast_ts is not None
            keys = [f"{_cast(q(k), stypes[k], etypes[k])} AS {q(k)}" for k in src.keys]
            cols = ", ".join([*keys, f"{vts} AS __ts", *(q(f) for f in feats)])
            on = " AND ".join([*(f"e.{q(k)} = {alias}.{q(k)}" for k in src.keys), f"{ets} >= {alias}.__ts"])
            joins.append(f"ASOF LEFT JOIN (SELECT {cols} FROM {src.sql}) {alias} ON {on}")
            # TIMESTAMPTZ minus an interval is calendar arithmetic per row: compare microseconds instead
            fresh = (f"epoch_us({ets}) - epoch_us({alias}.__ts) <= {int(v.ttl) * 1_000_000}"
                     if vts == q(v.timestamp_field) and sty == "TIMESTAMP WITH TIME ZONE"
                     else f"{alias}.__ts >= {ets} - INTERVAL ({int(v.ttl or 0)}) SECOND")
            for f, o in zip(feats, out, strict=True):
                if v.ttl:
                    select.append(f"CASE WHEN {fresh} THEN {alias}.{q(f)} END AS {q(o)}")
                else:
                    select.append(f"{alias}.{q(f)} AS {q(o)}")
        base = f"(SELECT *, {cast_ts} AS {q(ETS)} FROM __entity)" if need_cast else "__entity"
        hidden = ", ".join([q(ROW_ID), *([q(ETS)] if need_cast else [])])
        sql = (f"SELECT e.* EXCLUDE ({hidden}), {', '.join(select)} FROM {base} e {' '.join(joins)} "
               f"ORDER BY e.{q(ROW_ID)}")
        try:
            return _arrow(con.sql(sql))
        except duckdb.Error as exc:
            msg = str(exc).strip().splitlines()[0]
            raise InvalidInput(f"point-in-time join failed: {msg}", code="invalid_join",
                               errors=[{"loc": ["entity_df"], "msg": msg}]) from None
    finally:
        con.close()


def _cast(expr: str, have: str, want: str) -> str:
    return expr if have == want else f"CAST({expr} AS {want})"


def _arrow(res: Any) -> pa.Table:
    fetch = getattr(res, "to_arrow_table", None) or res.fetch_arrow_table
    out = fetch()
    return out.read_all() if isinstance(out, pa.RecordBatchReader) else out


def _bound(value: dt.datetime) -> str:
    v = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    return f"TIMESTAMP {lit(v.isoformat(sep=' '))}"


def latest_rows(src: ViewSource, start: dt.datetime | None, end: dt.datetime) -> Iterator[Row]:
    """The latest row per entity with an event time in ``[start, end)``, as online-store rows."""
    v = src.view
    con = connect()
    try:
        stypes = _columns(con, src)
        ts = _ts(q(v.timestamp_field), stypes[v.timestamp_field])
        cond = [f"{ts} < {_bound(end)}", f"{ts} IS NOT NULL"] + ([f"{ts} >= {_bound(start)}"] if start else [])
        keys = ", ".join(q(k) for k in src.keys)
        feats = [f.name for f in v.features]
        sql = (f"SELECT {keys}, epoch_us({ts}) AS __ts, {', '.join(q(f) for f in feats)} FROM {src.sql} "
               f"WHERE {' AND '.join(cond)} QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {ts} DESC) = 1")
        reader = con.sql(sql).to_arrow_reader(50_000)
        nk, types = len(src.keys), src.key_types
        for batch in reader:
            cols = [c.to_pylist() for c in batch.columns]
            keycols, tscol, fcols = cols[:nk], cols[nk], cols[nk + 1:]
            for i in range(batch.num_rows):
                key = encode_key([kc[i] for kc in keycols], types)
                yield key, tscol[i], {f: fc[i] for f, fc in zip(feats, fcols, strict=True)}
    finally:
        con.close()


def entity_rows(srcs: list[ViewSource], ts_col: str, start: dt.datetime | None, end: dt.datetime | None
                ) -> pa.Table:
    """Every distinct (join keys, event time) of the views' rows with an event time in ``[start, end)``:
    the entity frame of a training set taken over a period. The views must share their join keys."""
    keys = srcs[0].keys
    con = connect()
    try:
        parts = []
        for src in srcs:
            if src.keys != keys:
                raise InvalidInput(f"feature views {srcs[0].view.name!r} and {src.view.name!r} have different join "
                                   f"keys ({', '.join(keys)} / {', '.join(src.keys)}): give an entity frame",
                                   code="mixed_join_keys", errors=[{"loc": ["entity_df"], "msg": "required"}])
            if not src.sql:
                continue
            stypes = _columns(con, src)
            ts = _ts(q(src.view.timestamp_field), stypes[src.view.timestamp_field])
            cond = [f"{ts} IS NOT NULL", *([f"{ts} >= {_bound(start)}"] if start else []),
                    *([f"{ts} < {_bound(end)}"] if end else [])]
            cols = [f"CAST({q(k)} AS {DUCK_TYPES[t]}) AS {q(k)}" for k, t in zip(keys, src.key_types, strict=True)]
            parts.append(f"SELECT {', '.join(cols)}, {ts} AS {q(ts_col)} FROM {src.sql} WHERE {' AND '.join(cond)}")
        if not parts:
            return pa.table({**{k: pa.array([], arrow_type(t)) for k, t in zip(keys, srcs[0].key_types, strict=True)},
                             ts_col: pa.array([], pa.timestamp("us"))})
        order = ", ".join([q(ts_col), *(q(k) for k in keys)])
        try:
            return _arrow(con.sql(f"SELECT DISTINCT * FROM ({' UNION ALL '.join(parts)}) ORDER BY {order}"))
        except duckdb.Error as exc:
            msg = str(exc).strip().splitlines()[0]
            raise InvalidInput(f"reading the entities of the feature views failed: {msg}", code="invalid_source",
                               errors=[{"loc": ["entity_df"], "msg": msg}]) from None
    finally:
        con.close()


def stats(src: ViewSource) -> dict[str, Any]:
    """Row and entity counts, event time range, and per feature its null rate, distinct count, min,
    max and mean (numeric)."""
    v = src.view
    if not src.sql:
        return {"rows": 0, "entities": 0, "features": [{"name": f.name, "type": f.type} for f in v.features]}
    con = connect()
    try:
        stypes = _columns(con, src)
        ts = _ts(q(v.timestamp_field), stypes[v.timestamp_field])
        keys = ", ".join(q(k) for k in src.keys)
        parts = ["count(*)", f"count(DISTINCT ({keys}))", f"min({ts})", f"max({ts})"]
        for f in v.features:
            c = q(f.name)
            numeric = f.type.startswith(("int", "float"))
            parts += [f"count({c})", f"approx_count_distinct({c})", f"min({c})", f"max({c})",
                      f"avg({c})" if numeric else "NULL"]
        vals = con.execute(f"SELECT {', '.join(parts)} FROM {src.sql}").fetchone() or ()
    finally:
        con.close()
    rows = int(vals[0] or 0)
    out: dict[str, Any] = {"rows": rows, "entities": int(vals[1] or 0), "first_event": _utc(vals[2]),
                           "last_event": _utc(vals[3]),
                           "features": []}
    for i, f in enumerate(v.features):
        nn, distinct, lo, hi, mean = vals[4 + 5 * i: 9 + 5 * i]
        out["features"].append({"name": f.name, "type": f.type, "null_rate": (1 - nn / rows) if rows else None,
                                "distinct": distinct, "min": _plain(lo), "max": _plain(hi),
                                "mean": float(mean) if mean is not None else None})
    return out


def _utc(v: Any) -> Any:
    return v.replace(tzinfo=dt.UTC) if isinstance(v, dt.datetime) and v.tzinfo is None else v


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (dt.datetime, dt.date)) else v


# ---------------------------------------------------------------- push

def arrow_type(t: str) -> pa.DataType:
    return {"int64": pa.int64(), "int32": pa.int32(), "float64": pa.float64(), "float32": pa.float32(),
            "string": pa.string(), "bool": pa.bool_(), "timestamp": pa.timestamp("us")}[t]
