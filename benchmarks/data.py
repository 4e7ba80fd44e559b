"""Data benchmark: ingest + profile + validate a Parquet file of N rows × 20 columns.

Three systems on the same file (generated once with DuckDB and cached under /tmp), each in its own
subprocess so peak memory is its own and the page cache is equally warm:

- **Mainsail**, embedded SQLite: ``ingest_dataset`` (read, canonical Parquet, SHA-256, store, record),
  ``profile_dataset`` (per-column count, nulls, distinct, min, max, mean, std, quantiles, histogram,
  top values) and ``validate_dataset`` with a 17-check suite (types, not null, unique, ranges, allowed
  values, regex, row count);
- **the floor**: raw DuckDB + pyarrow doing equal work the same way: ingest = a Parquet copy + SHA-256;
  profile = footer min/max/nulls, quantiles on a ~200k-row Bernoulli sample, one scan for distinct and
  sums, one for histograms, one for top values (no validation floor);
- **the peers**: pandas + pandera (``pd.read_parquet`` + a Parquet copy + SHA-256, the same statistics
  computed the same way with pandas/numpy, a pandera ``DataFrameSchema`` with the same checks), and
  pandas + Great Expectations (read + validate: GX 1.x has no profiler).

Every system runs in its own subprocess, ``--rounds`` (at least 3) interleaved rounds; ratios per round,
median (min–max).

    python benchmarks/data.py [--rows 10000000] [--rounds 3] [--smoke] [--no-peers] [--json]

``--smoke`` (100,000 rows, no peers) exits non-zero only when a result is wrong: the suite does not pass,
or the profile disagrees with the floor's. Peers come from their own venvs: ``/work/peers/pandera``
(``pip install pandera pandas pyarrow``) and ``/work/peers/gx`` (``great_expectations``), or
``$MAINSAIL_PEER_PANDERA`` / ``$MAINSAIL_PEER_GX``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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

CACHE = Path(os.environ.get("MAINSAIL_BENCH_CACHE", "/tmp/mainsail-bench-data"))
PEER_VENVS = {"pandera": Path("/tmp/pandera-venv/bin/python"), "gx": Path("/tmp/gx-venv/bin/python")}
PLANS = ["basic", "pro", "team", "enterprise", "free"]
REGIONS = [f"region_{i}" for i in range(50)]
now = time.perf_counter

# One suite, written three ways below (Mainsail YAML-equivalent dict, pandera schema, GX expectations).
SUITE: dict[str, Any] = {"name": "bench", "checks": [
    {"type": "row_count", "min": 1},
    {"type": "column_type", "column": "id", "dtype": "integer"},
    {"type": "column_type", "column": "f1", "dtype": "float"},
    {"type": "column_type", "column": "plan", "dtype": "string"},
    {"type": "column_type", "column": "ts", "dtype": "timestamp"},
    {"type": "column_type", "column": "flag", "dtype": "boolean"},
    {"type": "not_null", "column": "id"},
    {"type": "not_null", "column": "ts"},
    {"type": "unique", "column": "id"},
    {"type": "range", "column": "f1", "min": 0, "max": 1100},
    {"type": "range", "column": "f5", "min": 0, "max": 1100},
    {"type": "range", "column": "i0", "min": 0, "max": 9},
    {"type": "range", "column": "i3", "min": 0, "max": 9999},
    {"type": "allowed_values", "column": "plan", "values": PLANS},
    {"type": "allowed_values", "column": "region", "values": REGIONS},
    {"type": "regex", "column": "city", "pattern": "^city_[0-9]+$"},
    {"type": "not_null", "column": "city"},
]}


def source_file(rows: int) -> Path:
    """The benchmark's input: ``rows`` × 20 columns (id, 10 floats with 1% nulls in f0, 4 ints, 3
    strings of 5/50/1000 values, a timestamp, a boolean), written by DuckDB once and cached."""
    import duckdb

    path = CACHE / f"source-{rows}.parquet"
    if path.is_file():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    floats = ", ".join(
        f"CASE WHEN {i} = 0 AND hash(range) % 100 = 0 THEN NULL ELSE (hash(range * {i + 3}) % 1000000) / 1000.0 + {i} END"
        f" AS f{i}" for i in range(10))
    ints = ", ".join(f"(hash(range * {i + 17}) % {10 ** (i + 1)})::BIGINT AS i{i}" for i in range(4))
    plans = "[" + ", ".join(f"'{p}'" for p in PLANS) + "]"
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT range AS id, {floats}, {ints},
        {plans}[((hash(range * 31) % 5) + 1)::BIGINT] AS plan,
        'region_' || (hash(range * 37) % 50)::VARCHAR AS region,
        'city_' || (hash(range * 41) % 1000)::VARCHAR AS city,
        TIMESTAMP '2026-01-01' + to_seconds((hash(range * 43) % 31536000)::BIGINT) AS ts,
        hash(range * 47) % 2 = 0 AS flag
        FROM range({rows})) TO '{tmp}' (FORMAT parquet)""")
    con.close()
    os.replace(tmp, path)
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------ the systems

def run_mainsail(path: str, threads: int | None) -> dict[str, Any]:
    """Ingest, profile and validate through the SDK on a fresh embedded SQLite + local store."""
    with tempfile.TemporaryDirectory(prefix="bench-data-") as home:
        os.environ["MAINSAIL_HOME"] = home
        from mainsail import Client

        client = Client(f"sqlite:///{home}/m.db")
        client.list_datasets()  # migrations, outside the timings
        out: dict[str, Any] = {}
        t0 = now()
        v = client.ingest_dataset(path, "bench", profile=False)
        out["ingest_s"] = now() - t0
        t0 = now()
        p = client.profile_dataset("bench")
        out["profile_s"] = now() - t0
        t0 = now()
        r = client.validate_dataset("bench", SUITE)
        out["validate_s"] = now() - t0
        out.update(rows=v.row_count, size=v.size, passed=r.passed,
                   failed=[c.name for c in r.checks if not c.passed], peak_rss_mb=peak_rss_mb(),
                   profile={c.name: {"count": c.count, "nulls": c.nulls, "min": c.min, "max": c.max, "mean": c.mean}
                            for c in p.columns})
        client.close()
    return out


FLOOR_SAMPLE_ROWS = 200_000  # as Mainsail's profile: quantiles on a ~200k-row Bernoulli sample


def run_floor(path: str, threads: int | None) -> dict[str, Any]:
    """Raw DuckDB + pyarrow doing the work Mainsail does, the same way: ingest = copy the file as Parquet and
    SHA-256 it; profile = count/nulls/min/max from the footer, quantiles from a ~200k-row Bernoulli sample,
    one scan for distinct (exact up to 1M rows, HyperLogLog above) and sums (mean, std), one for 20-bin
    histograms, one for the top values of columns with at most 10,000 distinct values."""
    import hashlib
    import math

    import duckdb
    import numpy as np
    import pyarrow.parquet as pq

    con = duckdb.connect(config={"threads": threads} if threads else {})
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        copy = f"{tmp}/copy.parquet"
        t0 = now()
        con.execute(f"COPY (SELECT * FROM read_parquet('{path}')) TO '{copy}' (FORMAT parquet)")
        h = hashlib.sha256()
        with open(copy, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        ingest_s = now() - t0
        t0 = now()
        meta = pq.ParquetFile(copy).metadata
        schema = meta.schema.to_arrow_schema()
        rows = meta.num_rows
        foot: dict[str, dict[str, Any]] = {n: {"nulls": 0, "min": None, "max": None} for n in schema.names}
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            for c in range(rg.num_columns):
                col = rg.column(c)
                st, f = col.statistics, foot[schema.names[c]]
                f["nulls"] += st.null_count
                if st.has_min_max:
                    f["min"] = st.min if f["min"] is None else min(f["min"], st.min)
                    f["max"] = st.max if f["max"] is None else max(f["max"], st.max)
        kinds = {}
        for fld in schema:
            t = str(fld.type)
            kinds[fld.name] = ("bool" if t == "bool" else "temporal" if t.startswith("timestamp") else
                               "numeric" if t.startswith(("int", "uint", "float", "double")) else "string")
        num = [n for n, k in kinds.items() if k in ("numeric", "temporal")]

        def x(n: str) -> str:
            return f'epoch("{n}")' if kinds[n] == "temporal" else f'"{n}"::DOUBLE'

        pct = 100 * FLOOR_SAMPLE_ROWS / rows
        using = f" USING SAMPLE {pct!r}% (bernoulli, 42)" if rows > FLOOR_SAMPLE_ROWS else ""
        smp = con.execute(f"SELECT {', '.join(x(n) for n in num)} FROM read_parquet('{copy}'){using}").fetchnumpy()
        quantiles = {n: np.nanquantile(np.asarray(v, dtype=float), [.01, .05, .25, .5, .75, .95, .99]).tolist()
                     for n, v in zip(num, smp.values(), strict=True)}
        dist = "count(DISTINCT {})" if rows <= 1_000_000 else "approx_count_distinct({})"
        aggs = [dist.format(f'"{n}"') for n in schema.names] + [f"sum({x(n)})" for n in num if kinds[n] == "numeric"] + \
               [f"sum({x(n)} * {x(n)})" for n in num if kinds[n] == "numeric"]
        vals = con.execute(f"SELECT {', '.join(aggs)} FROM read_parquet('{copy}')").fetchone()
        distinct = dict(zip(schema.names, vals[:len(schema.names)], strict=True))
        numeric = [n for n in num if kinds[n] == "numeric"]
        s1 = dict(zip(numeric, vals[len(schema.names):len(schema.names) + len(numeric)], strict=True))
        mean = {n: s1[n] / (rows - foot[n]["nulls"]) for n in numeric}
        hist = []
        for n in num:
            lo, hi = foot[n]["min"], foot[n]["max"]
            if kinds[n] == "temporal":
                lo, hi = lo.timestamp(), hi.timestamp()
            lo, hi = float(lo), float(hi)
            w = (hi - lo) / 20 or 1.0
            if math.isfinite(w):
                hist.append(f"histogram(least(floor(({x(n)} - {lo!r}) / {w!r})::BIGINT, 19))")
        con.execute(f"SELECT {', '.join(hist)} FROM read_parquet('{copy}')").fetchone()
        top = [n for n in schema.names if kinds[n] in ("string", "bool") or (kinds[n] == "numeric" and "int" in
               str(schema.field(n).type)) if distinct[n] <= 10_000]
        if top:
            con.execute(f"SELECT {', '.join(f'histogram({chr(34)}{n}{chr(34)})' for n in top)} "
                        f"FROM read_parquet('{copy}')").fetchone()
        profile_s = now() - t0
    return {"ingest_s": ingest_s, "profile_s": profile_s, "rows": rows, "peak_rss_mb": peak_rss_mb(),
            "quantile_cols": len(quantiles),
            "summary": {n: {"min": foot[n]["min"], "nulls": foot[n]["nulls"], "avg": mean.get(n)} for n in schema.names}}




PEER_SCRIPT = r'''
import json, resource, sys, time
import numpy as np
import pandas as pd
import pandera
import pandera.pandas as pa

path, suite = sys.argv[1], json.loads(sys.argv[2])
now = time.perf_counter
out = {"version": f"pandera {pandera.__version__}, pandas {pd.__version__}"}
t0 = now()
df = pd.read_parquet(path)
out["ingest_s"] = now() - t0
import hashlib, tempfile, os
import pyarrow.parquet as pq
t0 = now()
tmp = tempfile.mkdtemp()
copy = os.path.join(tmp, "copy.parquet")
df.to_parquet(copy)  # keeping a copy and its digest, as a version does
h = hashlib.sha256()
with open(copy, "rb") as fh:
    while chunk := fh.read(1 << 20):
        h.update(chunk)
out["write_s"] = now() - t0
import atexit, shutil
atexit.register(shutil.rmtree, tmp, True)  # the copy is read again below (footer statistics), then removed
t0 = now()
# the same statistics computed the same way as Mainsail's profile: count/nulls/min/max from the footer,
# quantiles on a ~200k-row sample, full-column mean/std and 20-bin histograms, distinct (pandas has no
# approximate distinct: exact nunique), top values of columns with at most 10,000 distinct values
meta = pq.ParquetFile(copy).metadata
foot = {}
for g in range(meta.num_row_groups):
    rg = meta.row_group(g)
    for c in range(rg.num_columns):
        st = rg.column(c).statistics
        f = foot.setdefault(rg.column(c).path_in_schema, {"nulls": 0, "min": None, "max": None})
        f["nulls"] += st.null_count
        if st.has_min_max:
            f["min"] = st.min if f["min"] is None else min(f["min"], st.min)
            f["max"] = st.max if f["max"] is None else max(f["max"], st.max)
smp = df.sample(n=min(len(df), 200_000), random_state=42)
qs = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
profile = {}
for name in df.columns:
    s = df[name]
    p = {"count": len(s) - foot[name]["nulls"], "nulls": foot[name]["nulls"], "min": foot[name]["min"],
         "max": foot[name]["max"], "distinct": int(s.nunique())}
    numeric = (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)) and not pd.api.types.is_bool_dtype(s)
    if numeric:
        v = s.dropna().to_numpy()
        v = v.astype("datetime64[us]").astype("int64") / 1e6 if v.dtype.kind == "M" else v.astype("float64")
        q = smp[name].dropna().to_numpy()
        q = q.astype("datetime64[us]").astype("int64") / 1e6 if q.dtype.kind == "M" else q.astype("float64")
        p.update(mean=float(v.mean()), std=float(v.std(ddof=1)), quantiles=np.quantile(q, qs).tolist(),
                 histogram=np.histogram(v, 20)[0].tolist())
    if (not numeric or pd.api.types.is_integer_dtype(s)) and p["distinct"] <= 10000:
        p["top"] = {str(k): int(v) for k, v in s.value_counts().head(10).items()}
out["profile_s"] = now() - t0
out["means"] = {n: p.get("mean") for n, p in profile.items()}
out["nulls"] = {n: int(p["nulls"]) for n, p in profile.items()}
DTYPES = {"integer": "int64", "float": "float64", "string": str, "timestamp": "datetime64[us]", "boolean": bool}
cols, frame_checks = {}, []
def col(name):
    return cols.setdefault(name, {"dtype": None, "checks": [], "nullable": True, "unique": False})
for c in suite["checks"]:
    t = c["type"]
    if t == "row_count":
        frame_checks.append(pa.Check(lambda d, lo=c.get("min"): len(d) >= lo, name="row_count"))
    elif t == "column_type":
        col(c["column"])["dtype"] = DTYPES[c["dtype"]]
    elif t == "not_null":
        col(c["column"])["nullable"] = False
    elif t == "unique":
        col(c["column"])["unique"] = True
    elif t == "range":
        col(c["column"])["checks"].append(pa.Check.in_range(c["min"], c["max"]))
    elif t == "allowed_values":
        col(c["column"])["checks"].append(pa.Check.isin(c["values"]))
    elif t == "regex":
        col(c["column"])["checks"].append(pa.Check.str_matches(c["pattern"]))
schema = pa.DataFrameSchema({n: pa.Column(v["dtype"], v["checks"], nullable=v["nullable"], unique=v["unique"])
                             for n, v in cols.items()}, checks=frame_checks)
t0 = now()
try:
    schema.validate(df, lazy=True)
    out["passed"] = True
except pa.errors.SchemaErrors as exc:
    out["passed"] = False
    out["failures"] = str(exc.failure_cases.head(10))
out["validate_s"] = now() - t0
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["rows"] = len(df)
print("PEER_JSON " + json.dumps(out))
'''

GX_SCRIPT = r'''
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
import great_expectations as gx
import great_expectations.expectations as gxe

path, suite = sys.argv[1], json.loads(sys.argv[2])
now = time.perf_counter
out = {"version": f"great_expectations {gx.__version__}, pandas {pd.__version__}"}
t0 = now()
df = pd.read_parquet(path)
out["ingest_s"] = now() - t0
ctx = gx.get_context(mode="ephemeral")
batch = (ctx.data_sources.add_pandas("bench").add_dataframe_asset("bench")
         .add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": df}))
TYPES = {"integer": "int64", "float": "float64", "string": "str", "timestamp": "datetime64[us]", "boolean": "bool"}
exps = []
for c in suite["checks"]:
    t = c["type"]
    if t == "row_count":
        exps.append(gxe.ExpectTableRowCountToBeBetween(min_value=c.get("min"), max_value=c.get("max")))
    elif t == "column_type":
        exps.append(gxe.ExpectColumnValuesToBeOfType(column=c["column"], type_=TYPES[c["dtype"]]))
    elif t == "not_null":
        exps.append(gxe.ExpectColumnValuesToNotBeNull(column=c["column"]))
    elif t == "unique":
        exps.append(gxe.ExpectColumnValuesToBeUnique(column=c["column"]))
    elif t == "range":
        exps.append(gxe.ExpectColumnValuesToBeBetween(column=c["column"], min_value=c["min"], max_value=c["max"]))
    elif t == "allowed_values":
        exps.append(gxe.ExpectColumnValuesToBeInSet(column=c["column"], value_set=c["values"]))
    elif t == "regex":
        exps.append(gxe.ExpectColumnValuesToMatchRegex(column=c["column"], regex=c["pattern"]))
s = ctx.suites.add(gx.ExpectationSuite(name="bench", expectations=exps))
t0 = now()
res = batch.validate(s)
out["validate_s"] = now() - t0
out["passed"] = bool(res.success)
if not res.success:
    out["failures"] = [r.expectation_config.type for r in res.results if not r.success]
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["rows"] = len(df)
print("PEER_JSON " + json.dumps(out))
'''


def run_script(python: str, script: str, path: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(script)
    try:
        proc = subprocess.run([python, fh.name, path, json.dumps(SUITE)], capture_output=True, text=True,
                              timeout=3600, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    finally:
        os.unlink(fh.name)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("PEER_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    return json.loads(line.removeprefix("PEER_JSON "))


def child(system: str, path: str, threads: int | None) -> dict[str, Any]:
    """Run one system in a fresh interpreter (its own memory, no warm imports from another system)."""
    proc = subprocess.run([sys.executable, __file__, "--child", system, "--source", path,
                           *(["--threads", str(threads)] if threads else [])],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{system} failed ({proc.returncode}): {proc.stderr.strip()[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ checks, output

def check(res: dict[str, Any]) -> list[str]:
    """What is wrong with Mainsail's results: a failed check, or a profile that disagrees with the floor's."""
    ms, floor = res["mainsail"], res["floor"]
    problems = [] if ms["passed"] else [f"suite failed: {ms['failed']}"]
    if ms["rows"] != floor["rows"]:
        problems.append(f"rows {ms['rows']} != {floor['rows']}")
    for name, s in floor["summary"].items():
        p = ms["profile"][name]
        if p["nulls"] != s["nulls"]:
            problems.append(f"{name}: nulls {p['nulls']} vs {s['nulls']}")
        if s["avg"] is not None and p["mean"] is not None and abs(p["mean"] - float(s["avg"])) > 1e-6 * max(1, abs(p["mean"])):
            problems.append(f"{name}: mean {p['mean']} vs {s['avg']}")
        numeric = isinstance(p["min"], int | float) and not isinstance(p["min"], bool)
        if numeric and abs(float(s["min"]) - p["min"]) > 1e-9 * max(1, abs(p["min"])):
            problems.append(f"{name}: min {p['min']} vs {s['min']}")
    return problems


def peer_checks(res: dict[str, Any]) -> dict[str, bool | str]:
    """Each peer's output against the floor's: every row read, the suite passed (the data satisfies it), and
    pandas' null counts and means equal to the floor's."""
    out: dict[str, bool | str] = {}
    floor = res["floor"]["summary"]
    for key in ("pandera", "gx"):
        for r in res["rounds"].get(key, []):
            wrong = []
            if r.get("rows") != res["rows"]:
                wrong.append(f"read {r.get('rows')} of {res['rows']} rows")
            if not r.get("passed"):
                wrong.append(f"the suite failed: {r.get('failures')}")
            for name, mean in (r.get("means") or {}).items():
                want = floor.get(name, {}).get("avg")
                if mean is not None and want is not None and abs(mean - float(want)) > 1e-6 * max(1, abs(mean)):
                    wrong.append(f"{name}: mean {mean} vs {want}")
            for name, nulls in (r.get("nulls") or {}).items():
                if name in floor and nulls != floor[name]["nulls"]:
                    wrong.append(f"{name}: nulls {nulls} vs {floor[name]['nulls']}")
            out[key] = out.get(key, True) if not wrong else "; ".join(wrong[:3])
    return out


def total(r: dict[str, Any]) -> float:
    """ingest (for the peers: read + Parquet copy + SHA-256, as a version) + profile + validate."""
    return r["ingest_s"] + r.get("write_s", 0.0) + r.get("profile_s", 0.0) + r.get("validate_s", 0.0)


def ratios(rr: dict[str, list[dict[str, Any]]]) -> dict[str, tuple[dict[str, float], str]]:
    ms, f = rr["mainsail"], rr["floor"]

    def col(rows: list[dict[str, Any]], key: str) -> list[float]:
        return [r[key] for r in rows]

    out = {"Mainsail ingest + profile / floor ingest + profile (equal work)": (ratio_spread(
               [r["ingest_s"] + r["profile_s"] for r in ms], [r["ingest_s"] + r["profile_s"] for r in f]), "(goal ≤ 2x)"),
           "Mainsail ingest / floor ingest (copy + SHA-256)": (ratio_spread(col(ms, "ingest_s"), col(f, "ingest_s")), ""),
           "Mainsail profile / floor profile (same statistics)": (ratio_spread(col(ms, "profile_s"), col(f, "profile_s")), "")}
    for key, label in (("pandera", "pandas + pandera"), ("gx", "pandas + Great Expectations")):
        if p := rr.get(key):
            if key == "pandera":
                out[f"{label} total / Mainsail total"] = (ratio_spread([total(r) for r in p], [total(r) for r in ms]),
                                                          "(goal ≥ 5x)")
                out[f"{label} profile / Mainsail profile"] = (ratio_spread(col(p, "profile_s"), col(ms, "profile_s")), "")
            out[f"{label} validate / Mainsail validate"] = (ratio_spread(col(p, "validate_s"), col(ms, "validate_s")), "")
    return out


def render(res: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 170)
    n, rr = res["rows"], res["rounds"]
    table = Table(title=f"Data: ingest + profile + validate {n:,} rows × 20 columns ({res['source_mb']:,.0f} MB "
                        f"Parquet), seconds, median (min–max) of {len(rr['mainsail'])} interleaved rounds")
    for c in ("system", "ingest s", "profile s", "validate s", "total s", "total rows/s", "peak RSS MB", "result"):
        table.add_column(c, justify="left" if c in ("system", "result") else "right")

    def sec(rows: list[dict[str, Any]], fn: Any) -> str:
        vals = [fn(r) for r in rows]
        if any(v is None for v in vals):
            return "—"
        s = spread(vals)
        return f"{s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f})"

    ok = {True: "[green]suite passed[/]", False: "[red]suite FAILED[/]", None: "—"}
    systems = [("mainsail", "Mainsail, embedded"), ("floor", "Floor: DuckDB + pyarrow, same statistics same way")]
    systems += [(k, rr[k][0]["version"]) for k in ("pandera", "gx") if k in rr]
    for key, label in systems:
        rows = rr[key]
        med = spread([total(r) for r in rows])["median"]
        table.add_row(label, sec(rows, lambda r: r["ingest_s"] + r.get("write_s", 0.0)), sec(rows, lambda r: r.get("profile_s")),
                      sec(rows, lambda r: r.get("validate_s")), sec(rows, total), f"{n / med:,.0f}",
                      f"{max(r['peak_rss_mb'] for r in rows):,.0f}", ok[rows[-1].get("passed")])
    console.print(table)
    for note in res["notes"]:
        console.print(note)
    console.print("ratios per round (same load), median (min–max):")
    for label, (val, goal) in res["ratios"].items():
        console.print(f"  {label:<64} {fmt_spread(val)}   {goal}")
    for problem in res["problems"]:
        console.print(f"[red]wrong:[/] {problem}")
    console.print(" / ".join(res["load"]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="100,000 rows, no peers")
    ap.add_argument("--peers", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument("--no-gx", action="store_true", help="skip Great Expectations")
    ap.add_argument("--threads", type=int, help="DuckDB threads for Mainsail and the floor (default: all cores)")
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        fn = run_mainsail if args.child == "mainsail" else run_floor
        print(json.dumps(fn(args.source, args.threads), default=str))
        return 0
    peers = (not args.smoke) if args.peers is None else args.peers
    rows = 100_000 if args.smoke else args.rows
    if args.smoke:  # a smoke checks the answers, not figures: one round
        args.rounds = 1
    loads = [print_load()]
    path = source_file(rows)
    res: dict[str, Any] = {"rows": rows, "source_mb": path.stat().st_size / 1e6, "notes": []}
    cases: dict[str, Any] = {"floor": lambda: child("floor", str(path), args.threads),
                             "mainsail": lambda: child("mainsail", str(path), args.threads)}
    if peers:
        for key, module, script in (("pandera", "pandera", PEER_SCRIPT), ("gx", "great_expectations", GX_SCRIPT)):
            if key == "gx" and args.no_gx:
                continue
            py = peer_python(key, str(PEER_VENVS[key].parent.parent))
            if py is None:
                res["notes"].append(skip(module, missing(key)))
                continue
            cases[key] = lambda py=py, script=script: run_script(str(py), script, str(path))
    try:
        rr = rounds(cases, args.rounds, smoke=args.smoke)
    except RuntimeError as exc:
        res["notes"].append(skip("pandera/gx", str(exc)))
        rr = rounds({k: cases[k] for k in ("floor", "mainsail")}, args.rounds, smoke=args.smoke)
    res["rounds"] = rr
    if "gx" in rr:
        res["notes"].append("Great Expectations 1.x has no profiler: its row shows read + validate only.")
    res["notes"].append("ingest: Mainsail reads the file and writes, hashes and stores the canonical Parquet version; "
                        "the floor copies it with DuckDB COPY and hashes the copy; pandas reads it, writes a Parquet "
                        "copy and hashes it. Profile: the same statistics computed the same way (footer min/max/nulls, "
                        "quantiles on a ~200k-row sample, full scans for mean/std, histograms and top values); "
                        "pandas has no approximate distinct, so it counts distinct values exactly (nunique).")
    res["mainsail"], res["floor"] = rr["mainsail"][-1], rr["floor"][-1]
    res["ratios"] = ratios(rr)
    res["problems"] = check(res)
    res["load"] = loads + [print_load()]
    if args.json:
        print(json.dumps({**res, "ratios": {k: v for k, (v, _) in res["ratios"].items()}}, indent=2, default=str))
    else:
        render(res)
    checks = peer_checks(res)
    summary(f"Data: ingest + profile + validate {rows:,} rows × 20 columns ({res['source_mb']:,.0f} MB Parquet), "
            f"{len(rr['mainsail'])} interleaved rounds, each system in its own process",
            ["comparison (per round)", "median (min–max)", "goal"],
            [[label, fmt_spread(v), goal.strip("()").removeprefix("goal ")] for label, (v, goal) in res["ratios"].items()],
            checks={"Mainsail against the floor (rows, nulls, mean, min; suite passed)": not res["problems"],
                    **checks}, notes=res["notes"], load=res["load"])
    return verdict(not res["problems"], checks)


if __name__ == "__main__":
    sys.exit(main())
