"""Reading a deployment's inference logs as one typed Arrow table: DuckDB over the deployment's Parquet
files, with only the files whose time range (first/last request, from the serving index) meets the
asked range opened, and the time/variant filter and the column projection pushed into the scan.

Files written before typed columns (one row per request, inputs and outputs as JSON text) are
flattened here into the same columns (one row per record)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from mainsail.core.errors import InvalidInput
from mainsail.core.runtime import Ctx
from mainsail.serving.inference_log import FORMAT_KEY, META, RAW, feature_column

BASE_COLUMNS = tuple(META.names)


def _files(ctx: Ctx, deployment: str, start: dt.datetime | None, end: dt.datetime | None) -> list[Any]:
    from mainsail.serving import service as serving

    files = serving.list_inference_logs(ctx, deployment, since=start)
    return [f for f in files if end is None or f.first_at < end]


def _path(ctx: Ctx, digest: str) -> str:
    from mainsail.data.service import version_file

    return version_file(ctx, digest)


def _legacy_rows(table: pa.Table) -> pa.Table:
    """A file of format 1 flattened: one row per record, a column per input field, ``prediction``."""
    out: list[dict[str, Any]] = []
    d = table.to_pydict()
    n = table.num_rows
    for i in range(n):
        base = {k: d[k][i] for k in LEGACY_META if k in d}
        try:
            inputs = orjson.loads(d["inputs"][i]) if d.get("inputs") and d["inputs"][i] else None
            outputs = orjson.loads(d["outputs"][i]) if d.get("outputs") and d["outputs"][i] else None
        except orjson.JSONDecodeError:
            inputs = outputs = None
        records: list[dict[str, Any]] | None = None
        if isinstance(inputs, dict) and "records" in inputs:
            inputs = inputs["records"]
        if isinstance(inputs, list) and inputs and all(isinstance(r, dict) for r in inputs):
            records = inputs
        elif isinstance(inputs, dict) and inputs and all(isinstance(v, list) for v in inputs.values()):
            k = len(next(iter(inputs.values())))
            records = [{c: (v[j] if j < len(v) else None) for c, v in inputs.items()} for j in range(k)]
        preds = outputs if isinstance(outputs, list) and records is not None and len(outputs) == len(records) \
            and not any(isinstance(p, list | dict) for p in outputs) else None
        if records is None:
            out.append({**base, "row": 0, "prediction": None, "inputs": d["inputs"][i] if "inputs" in d else None,
                        "outputs": d["outputs"][i] if "outputs" in d else None})
            continue
        for j, rec in enumerate(records):
            row = {**base, "row": j, **{feature_column(str(c)): v for c, v in rec.items()},
                   "prediction": preds[j] if preds else None, "inputs": None,
                   "outputs": None if preds or j else d["outputs"][i]}
            out.append(row)
    return pa.Table.from_pylist(out) if out else pa.schema(list(META) + list(RAW)).empty_table()


LEGACY_META = [n for n in META.names if n != "row"]


def _filter(table: pa.Table, start: dt.datetime | None, end: dt.datetime | None, variant: str | None,
            shadow: bool | None) -> pa.Table:
    import pyarrow.compute as pc

    mask = None

    def both(m: Any) -> None:
        nonlocal mask
        mask = m if mask is None else pc.and_(mask, m)

    if start is not None:
        both(pc.greater_equal(table["time"], pa.scalar(start, META.field("time").type)))
    if end is not None:
        both(pc.less(table["time"], pa.scalar(end, META.field("time").type)))
    if variant is not None:
        both(pc.equal(table["variant"], variant))
    if shadow is not None and "shadow" in table.column_names:
        both(pc.equal(table["shadow"], shadow))
    return table if mask is None else table.filter(mask)


def available_columns(ctx: Ctx, deployment: str, start: dt.datetime | None = None,
                      end: dt.datetime | None = None) -> list[str]:
    """The columns the deployment's log files in the range hold (the union over files)."""
    names: dict[str, None] = dict.fromkeys(BASE_COLUMNS)
    for f in _files(ctx, deployment, start, end):
        path = _path(ctx, f.digest)
        schema = pq.read_schema(path)
        if (schema.metadata or {}).get(FORMAT_KEY) is None:
            names.update(dict.fromkeys(_legacy_rows(pq.read_table(path)).column_names))
        else:
            names.update(dict.fromkeys(schema.names))
    return list(names)


def read_logs(ctx: Ctx, deployment: str, start: dt.datetime | None = None, end: dt.datetime | None = None,
              columns: list[str] | None = None, variant: str | None = None, *,
              shadow: bool | None = False) -> pa.Table:
    """The deployment's logged records with ``start <= time < end`` as one Arrow table: request_id, row,
    time, variant, model, version, latency_ms, shadow, status, one column per input feature, prediction,
    proba_<class> (and inputs/outputs JSON for what is not tabular). ``columns`` picks columns (an unknown
    one is named with the known ones listed); ``variant`` keeps one variant; ``shadow`` keeps only the
    answered requests (False, the default), only the shadows' (True) or both (None)."""
    from mainsail.data.storage import connect, quote, sql_str, to_arrow

    files = _files(ctx, deployment, start, end)
    typed: list[str] = []
    legacy: list[pa.Table] = []
    known: dict[str, None] = dict.fromkeys(BASE_COLUMNS)
    for f in files:
        path = _path(ctx, f.digest)
        schema = pq.read_schema(path)
        if (schema.metadata or {}).get(FORMAT_KEY) is None:
            t = _filter(_legacy_rows(pq.read_table(path)), start, end, variant, shadow)
            legacy.append(t)
            known.update(dict.fromkeys(t.column_names))
        else:
            typed.append(path)
            known.update(dict.fromkeys(schema.names))
    if columns is not None:
        if not columns:
            raise InvalidInput("columns: give at least one column (or None for all)",
                               errors=[{"loc": ["columns"], "msg": "empty list"}])
        missing = [c for c in columns if c not in known]
        if missing and files:
            raise InvalidInput(f"unknown column {missing[0]!r} in the inference logs of deployment {deployment!r}; "
                               f"known: {', '.join(known)}", code="unknown_column",
                               errors=[{"loc": ["columns", c], "msg": "no such column"} for c in missing])
    parts: list[pa.Table] = []
    if typed:
        cond = []
        if start is not None:
            cond.append(f"time >= {sql_str(start.astimezone(dt.UTC).isoformat())}::TIMESTAMPTZ")
        if end is not None:
            cond.append(f"time < {sql_str(end.astimezone(dt.UTC).isoformat())}::TIMESTAMPTZ")
        if variant is not None:
            cond.append(f"variant = {sql_str(variant)}")
        if shadow is not None:
            cond.append(f"shadow = {'true' if shadow else 'false'}")
        con = connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET enable_progress_bar = false")
            files_sql = "[" + ", ".join(sql_str(p) for p in typed) + "]"
            present = dict.fromkeys(n for n in known if n in _typed_names(typed))
            wanted = [c for c in (columns or list(present)) if c in present]
            sel = ", ".join(quote(c) for c in wanted) or "NULL AS _none"
            sql = f"SELECT {sel} FROM read_parquet({files_sql}, union_by_name=true)"
            if cond:
                sql += " WHERE " + " AND ".join(cond)
            parts.append(to_arrow(con.sql(sql)))
        finally:
            con.close()
    for t in legacy:
        parts.append(t.select([c for c in (columns or t.column_names) if c in t.column_names]))
    if not parts:
        names = columns or [*BASE_COLUMNS, "prediction"]
        return pa.table({c: pa.array([], META.field(c).type if c in META.names else pa.float64()) for c in names})
    table = pa.concat_tables([_utc(p) for p in parts], promote_options="permissive") if len(parts) > 1 else parts[0]
    if columns is not None:  # every asked column, in the asked order (all-null where no file has it)
        table = pa.table({c: table[c] if c in table.column_names else pa.nulls(table.num_rows) for c in columns})
    return _utc(table)


_schema_cache: dict[str, list[str]] = {}


def _typed_names(paths: list[str]) -> set[str]:
    names: set[str] = set()
    for p in paths:
        if p not in _schema_cache:
            _schema_cache[p] = pq.read_schema(p).names
        names.update(_schema_cache[p])
    return names


def _utc(table: pa.Table) -> pa.Table:
    """``time`` as microsecond UTC timestamps whatever the reader made of it."""
    if "time" in table.column_names and table.schema.field("time").type != META.field("time").type:
        i = table.column_names.index("time")
        table = table.set_column(i, "time", table["time"].cast(META.field("time").type))
    return table
