"""Reading a deployment's inference logs as a table (DuckDB over its Parquet files).

:func:`read_logs` has the signature of ``monitoring.logs.read_logs`` (the monitoring domain's typed
reader); it reads both log formats: files with typed columns (a ``prediction`` column, ``proba_<class>``
columns) pass through, files with JSON ``outputs`` text are exploded to one row per predicted record.
A request that predicted one record keeps its request id; record ``i`` (0-based) of a request of
several is ``<request id>#<i>``: that is the id its label is pushed under."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb
import pyarrow as pa

from mainsail.core.runtime import Ctx
from mainsail.data.storage import cached_file, sql_str
from mainsail.serving import service as serving

BASE = ["request_id", "time", "variant", "model", "version", "latency_ms", "shadow", "status"]


def log_paths(ctx: Ctx, deployment: str, start: dt.datetime | None = None,
              end: dt.datetime | None = None) -> list[str]:
    """Local paths of the deployment's log files that can hold rows in [start, end)."""
    files = serving.list_inference_logs(ctx, deployment, since=start)
    cache = ctx.settings.home / "cache"
    return [cached_file(ctx.store, f.digest, cache) for f in files if end is None or f.first_at < end]


def _json_sql(src: str, where: str) -> str:
    """One row per predicted record of JSON-``outputs`` files (successful requests only)."""
    return f"""
        WITH ex AS (
            SELECT {', '.join(BASE)}, json_extract(outputs, '$[*]') AS preds
            FROM {src} WHERE {where} AND status = 200 AND json_valid(outputs)
                AND json_type(outputs::JSON) = 'ARRAY'),
        flat AS (
            SELECT {', '.join(BASE)}, len(preds) AS n, unnest(preds) AS p, generate_subscripts(preds, 1) AS i
            FROM ex)
        SELECT CASE WHEN n = 1 THEN request_id ELSE request_id || '#' || CAST(i - 1 AS VARCHAR) END
                   AS request_id, {', '.join(BASE[1:])}, json_extract_string(p, '$') AS prediction
        FROM flat"""


def read_logs(ctx: Ctx, deployment: str, start: dt.datetime | None = None, end: dt.datetime | None = None,
              columns: Sequence[str] | None = None, variant: str | None = None) -> pa.Table:
    """The deployment's logged predictions with ``time`` in [start, end) as an Arrow table: the
    columns of :data:`BASE`, ``prediction`` and any ``proba_<class>`` columns (``columns`` selects)."""
    paths = log_paths(ctx, deployment, start, end)
    if not paths:
        return pa.table({c: pa.array([], t) for c, t in [("request_id", pa.string()), ("time", pa.timestamp(
            "us", tz="UTC")), ("variant", pa.string()), ("status", pa.int16()), ("prediction", pa.string())]})
    src = f"read_parquet([{', '.join(sql_str(p) for p in paths)}], union_by_name = true)"
    conds, params = ["TRUE"], []
    if start is not None:
        conds.append("time >= ?")
        params.append(start)
    if end is not None:
        conds.append("time < ?")
        params.append(end)
    if variant is not None:
        conds.append("variant = ?")
        params.append(variant)
    where = " AND ".join(conds)
    con = duckdb.connect(config={"threads": 2})
    try:
        names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
        if "prediction" in names and "outputs" in names:  # typed files and older JSON files
            extra = ", ".join(c for c in ("inputs", "outputs") if c in names)
            sql = (f"SELECT * EXCLUDE ({extra}) FROM {src} WHERE {where} AND prediction IS NOT NULL "
                   f"UNION ALL BY NAME {_json_sql(src, where + ' AND prediction IS NULL')}")
            params = params * 2
        elif "prediction" in names:  # typed logs
            sql = f"SELECT * FROM {src} WHERE {where}"
        else:
            sql = _json_sql(src, where)
        table = con.sql(sql, params=params).to_arrow_table()
    finally:
        con.close()
    if columns is not None:
        table = table.select([c for c in columns if c in table.column_names])
    return table


def logs(ctx: Ctx, deployment: str, start: dt.datetime | None = None, end: dt.datetime | None = None,
         columns: Sequence[str] | None = None, variant: str | None = None) -> pa.Table:
    """The deployment's logged predictions keyed for labels: the monitoring domain's typed reader when it
    is installed (answered and shadow requests alike), else :func:`read_logs`. Files with one row per
    record (a ``row`` column) get the label key of this module's rule: the request id for a request of
    one record, ``<request id>#<row>`` for each record of a larger one."""
    try:
        from mainsail.monitoring.logs import read_logs as typed  # type: ignore[import-not-found]
    except ImportError:
        table = read_logs(ctx, deployment, start, end, None, variant)
    else:
        table = typed(ctx, deployment, start, end, variant=variant, shadow=None)
    if "row" in table.column_names and table.num_rows:
        con = duckdb.connect(config={"threads": 2})
        try:
            con.register("t", table)
            table = con.sql("""SELECT * REPLACE (CASE WHEN count(*) OVER (PARTITION BY request_id, variant) = 1
                                   THEN request_id ELSE request_id || '#' || CAST("row" AS VARCHAR) END
                                   AS request_id) FROM t""").to_arrow_table()
        finally:
            con.close()
    if columns is not None:
        table = table.select([c for c in columns if c in table.column_names])
    return table
