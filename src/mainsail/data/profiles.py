"""Column profiles computed with DuckDB over the version's Parquet file, in a few scans for all columns:

1. count, nulls, min, max — from the Parquet footer's row-group statistics, no data scan (a scan only
   for columns without complete statistics);
2. a uniform Bernoulli sample of about 200,000 rows (all rows when fewer): the quantiles, estimated top
   values of high-cardinality strings, and a shift (the sample mean) for step 3's sums;
3. one scan: distinct (exact up to a million rows, HyperLogLog above), mean and std (from shifted sums,
   cheaper than ``stddev_samp``); one more for exact 20-bin histograms (numeric and temporal; edges
   from step 1);
4. one scan: exact top values of every string, boolean or integer column with at most 10,000 distinct
   values.
"""
from __future__ import annotations

import datetime as dt
import decimal
import math
import time
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mainsail.core.types import finite_float
from mainsail.data.storage import connect, quote, scan_sql, to_arrow

SAMPLE_ROWS = 200_000
EXACT_DISTINCT_ROWS = 1_000_000
TOP_K = 10
TOP_EXACT_MAX_DISTINCT = 10_000
BINS = 20
QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}


def kind_of(t: pa.DataType) -> str:
    """``numeric``, ``temporal``, ``boolean``, ``string`` or ``other``: how a column is profiled."""
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "temporal"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    return "other"


def jsonable(v: Any) -> Any:
    """A JSON-safe scalar: NaN/inf → None, datetimes → ISO text, decimals → float, bytes → hex."""
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, decimal.Decimal | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def num_expr(name: str, kind: str) -> str:
    """The column as DOUBLE: numbers as they are, timestamps and dates as seconds since the epoch."""
    if kind == "temporal":
        return f"epoch({quote(name)})"
    return f"{quote(name)}::DOUBLE"


def _from_epoch(seconds: float) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=float(seconds))).isoformat()


def sample(con: duckdb.DuckDBPyConnection, path: str, exprs: dict[str, str], rows: int,
           n: int = SAMPLE_ROWS) -> dict[str, pa.ChunkedArray]:
    """``exprs`` (alias → SQL) over all rows, or a uniform sample of about ``n`` rows (seeded)."""
    if not exprs:
        return {}
    cols = ", ".join(f"{e} AS {quote(a)}" for a, e in exprs.items())
    # Bernoulli (each row kept with probability n/rows) is ~1.5x faster than a reservoir of exactly n rows
    using = f" USING SAMPLE {100 * n / rows!r}% (bernoulli, 42)" if rows > n else ""
    table = to_arrow(con.sql(f"SELECT {cols} FROM {scan_sql(path)}{using}"))
    return {a: table.column(a) for a in exprs}


def numeric_values(col: pa.ChunkedArray) -> np.ndarray:
    """Non-null, finite values as float64."""
    arr = col.drop_null().to_numpy(zero_copy_only=False).astype("float64", copy=False)
    return arr[np.isfinite(arr)]


def _bins(lo: float, hi: float, integer: bool) -> tuple[list[float], str] | None:
    """Histogram edges and the SQL bin index expression template (``{x}`` is the DOUBLE value)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if integer and hi - lo + 1 <= BINS:
        return [lo + i for i in range(int(hi - lo) + 2)], f"({{x}} - {lo!r})::BIGINT"
    if hi == lo:
        return [lo, hi], "0"
    width = (hi - lo) / BINS
    return ([lo + i * width for i in range(BINS)] + [hi],
            f"least(floor(({{x}} - {lo!r}) / {width!r})::BIGINT, {BINS - 1})")


def compute(path: str, threads: int | None = None) -> dict[str, Any]:
    """The profile of the Parquet file at ``path`` (a dict shaped like ``schemas.Profile`` without the
    dataset/version fields)."""
    started = time.perf_counter()
    schema = pq.read_schema(path)
    fields = [(f.name, f.type, kind_of(f.type)) for f in schema]
    con = connect(threads)
    try:
        return _compute(con, path, fields, started)
    finally:
        con.close()


def _compute(con: duckdb.DuckDBPyConnection, path: str, fields: list[tuple[str, pa.DataType, str]],
             started: float) -> dict[str, Any]:
    src = scan_sql(path)
    # 1. counts, min, max: from the Parquet statistics; a scan only for columns without them
    rows, known = _footer_stats(path, fields)
    missing = [(n, k) for n, _, k in fields if n not in known]
    if missing:
        parts = []
        for name, kind in missing:
            q = quote(name)
            parts += [f"count({q})"] + ([f"min({q})", f"max({q})"] if kind != "other" else [])
        it = iter(con.execute(f"SELECT {', '.join(parts)} FROM {src}").fetchall()[0])
        for name, kind in missing:
            known[name] = (int(next(it)), *((next(it), next(it)) if kind != "other" else (None, None)))
    cols: dict[str, dict[str, Any]] = {}
    for name, t, kind in fields:
        count, lo, hi = known[name]
        cols[name] = {"name": name, "type": str(t), "kind": kind, "count": count, "nulls": rows - count,
                      "null_fraction": (rows - count) / rows if rows else 0.0, "_lo": lo, "_hi": hi,
                      "min": jsonable(lo), "max": jsonable(hi), "quantiles": {}, "top_values": []}
        if kind == "temporal" and lo is not None:
            cols[name]["min"], cols[name]["max"] = _iso(lo), _iso(hi)
    # 2. a sample (all rows when few): quantiles, shifts for the sums below, top values of
    #    high-cardinality strings
    exprs = {n: num_expr(n, k) for n, _, k in fields if k in ("numeric", "temporal") and cols[n]["count"]}
    high_card = [n for n, _, k in fields if k == "string" and cols[n]["count"]]
    exprs.update({f"__top_{n}": quote(n) for n in high_card})
    drawn = sample(con, path, exprs, rows)
    sample_rows = len(next(iter(drawn.values()))) if drawn else min(rows, SAMPLE_ROWS)
    shift: dict[str, float] = {}
    for alias, col in drawn.items():
        if alias.startswith("__top_"):
            continue
        vals = numeric_values(col)
        shift[alias] = float(vals.mean()) if vals.size else 0.0
        if vals.size:
            qs = np.quantile(vals, list(QUANTILES.values()))
            kind = cols[alias]["kind"]
            cols[alias]["quantiles"] = {k: (_from_epoch(q) if kind == "temporal" else float(q))
                                        for k, q in zip(QUANTILES, qs, strict=True)}
    # 3. one scan: distinct, mean and std (sums of x - shift and its square: as fast as sum() and, shifted
    #    by the sample mean, free of the cancellation sum(x²) - n·mean² suffers), histograms
    exact = rows <= EXACT_DISTINCT_ROWS
    aggs: list[tuple[str, str, str]] = []  # (column, stat, sql)
    for name, t, kind in fields:
        if kind == "other" or cols[name]["count"] == 0:
            continue
        q = quote(name)
        aggs.append((name, "distinct", f"count(DISTINCT {q})" if exact else f"approx_count_distinct({q})"))
        if kind not in ("numeric", "temporal"):
            continue
        x = num_expr(name, kind)
        if kind == "numeric":
            d = f"({x} - {shift.get(name, 0.0)!r})"
            aggs += [(name, "s1", f"sum({d})"), (name, "s2", f"sum({d} * {d})")]
        lo, hi = _as_float(cols[name]["_lo"], kind), _as_float(cols[name]["_hi"], kind)
        spec = _bins(lo, hi, pa.types.is_integer(t)) if lo is not None and hi is not None else None
        if spec:
            cols[name]["_edges"] = spec[0]
            aggs.append((name, "hist", f"histogram(CASE WHEN isfinite({x}) THEN {spec[1].format(x=x)} END)"))
    # histograms in their own statement: mixed with the sums in one, DuckDB 2.0 peaks at ~2 GB on 10M rows
    # (~280 MB apart) for about the same time
    groups = [[a for a in aggs if a[1] != "hist"], [a for a in aggs if a[1] == "hist"]]
    for group in (g for g in groups if g):
        values = con.execute(f"SELECT {', '.join(a[2] for a in group)} FROM {src}").fetchall()[0]
        for (name, stat, _), v in zip(group, values, strict=True):
            c = cols[name]
            if stat == "distinct":
                c["distinct"], c["distinct_approx"] = int(v), not exact
            elif stat == "hist":
                edges = c.pop("_edges")
                counts = [0] * (len(edges) - 1)
                for b, n in (v or {}).items():
                    if b is not None and 0 <= b < len(counts):
                        counts[int(b)] += int(n)
                c["histogram"] = {"edges": edges, "counts": counts}
            else:
                c[stat] = v
    for name, c in cols.items():
        if "s1" in c:
            c["mean"], c["std"] = _mean_std(c.pop("s1"), c.pop("s2"), c["count"], shift.get(name, 0.0))
    # 4. exact top values of low-cardinality columns; estimated from the sample for the others
    top_cols = [n for n, t, k in fields if (k in ("string", "boolean") or pa.types.is_integer(t))
                and cols[n].get("distinct") is not None and cols[n]["distinct"] <= TOP_EXACT_MAX_DISTINCT]
    if top_cols:
        maps = con.execute("SELECT " + ", ".join(f"histogram({quote(n)})" for n in top_cols) + f" FROM {src}").fetchall()[0]
        for name, m in zip(top_cols, maps or (), strict=True):
            cols[name]["top_values"] = _top(m or {})
    for name in high_card:
        if name in top_cols:
            continue
        counts = drawn[f"__top_{name}"].drop_null().value_counts()
        scale = rows / max(sample_rows, 1)
        cols[name]["top_values"] = _top({v["values"].as_py(): round(v["counts"].as_py() * scale) for v in counts})
        cols[name]["top_values_approx"] = True
    for c in cols.values():
        c.pop("_lo", None)
        c.pop("_hi", None)
        c.pop("_edges", None)
    return {"row_count": rows, "columns": list(cols.values()), "sample_rows": sample_rows,
            "seconds": time.perf_counter() - started}


def _footer_stats(path: str, fields: list[tuple[str, pa.DataType, str]]) -> tuple[int, dict[str, tuple[int, Any, Any]]]:
    """Rows, and per column (non-null count, min, max) from the row-group statistics in the footer, for
    the columns every row group has complete statistics for (a long string's min/max may be left out).
    Parquet statistics leave NaN out, so min and max are those of the other values."""
    meta = pq.read_metadata(path)
    index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    out: dict[str, tuple[int, Any, Any]] = {}
    for name, _, kind in fields:
        i = index.get(name)
        if i is None or kind == "other":
            continue
        count, lo, hi, ok = 0, None, None, True
        for g in range(meta.num_row_groups):
            st = meta.row_group(g).column(i).statistics
            if st is None or not st.has_null_count:
                ok = False
                break
            n = meta.row_group(g).num_rows - st.null_count
            if n == 0:
                continue
            if not st.has_min_max:
                ok = False
                break
            count += n
            lo = st.min if lo is None or st.min < lo else lo
            hi = st.max if hi is None or st.max > hi else hi
        if ok:
            out[name] = (count, lo, hi)
    return meta.num_rows, out


def _mean_std(s1: Any, s2: Any, n: int, shift: float) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation from ``sum(x - shift)`` and ``sum((x - shift)²)`` over ``n`` values
    (None where undefined, or not finite: NaN or infinite values)."""
    if s1 is None or s2 is None or n == 0:
        return None, None
    s1, s2 = float(s1), float(s2)
    mean = jsonable(shift + s1 / n)
    if n < 2 or not (math.isfinite(s1) and math.isfinite(s2)):
        return mean, None
    return mean, math.sqrt(max(s2 - s1 * s1 / n, 0.0) / (n - 1))


def _iso(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=dt.UTC)).isoformat()
    return v.isoformat() if isinstance(v, dt.date) else jsonable(v)


def _as_float(v: Any, kind: str) -> float | None:
    if v is None:
        return None
    if kind == "temporal":
        if isinstance(v, dt.datetime):
            return (v if v.tzinfo else v.replace(tzinfo=dt.UTC)).timestamp()
        if isinstance(v, dt.date):
            return dt.datetime(v.year, v.month, v.day, tzinfo=dt.UTC).timestamp()
        return None
    return finite_float(v)


def _top(counts: dict[Any, int]) -> list[dict[str, Any]]:
    items = [(jsonable(k), int(n)) for k, n in counts.items() if k is not None]
    items.sort(key=lambda kv: (-kv[1], str(kv[0])))
    return [{"value": v, "count": n} for v, n in items[:TOP_K]]
