"""Data benchmark: ingest + profile + validate a Parquet file of N rows × 20 columns.

Three systems on the same file (generated once with DuckDB and cached under /tmp), each in its own
subprocess so peak memory is its own and the page cache is equally warm:

- **Mainsail**, embedded SQLite: ``ingest_dataset`` (read, canonical Parquet, SHA-256, store, record),
  ``profile_dataset`` (per-column count, nulls, distinct, min, max, mean, std, quantiles, histogram,
  top values) and ``validate_dataset`` with a 17-check suite (types, not null, unique, ranges, allowed
  values, regex, row count);
- **the floor**: raw DuckDB, ``CREATE TABLE AS SELECT * FROM read_parquet(...)`` then ``SUMMARIZE``;
- **the peer**: pandas + pandera (``pd.read_parquet``, the same profile with pandas/numpy, a pandera
  ``DataFrameSchema`` with the same checks), and Great Expectations when a python with it is found.

    python benchmarks/data.py [--rows 10000000] [--smoke] [--peer-python PATH] [--gx-python PATH] [--json]

``--smoke`` (100,000 rows, no peers unless importable here) exits non-zero only when a result is wrong:
the suite does not pass, or the profile disagrees with DuckDB's own aggregates. Peers install in their
own venvs: ``python -m venv /tmp/pandera-venv && /tmp/pandera-venv/bin/pip install pandera pandas pyarrow``
(and ``/tmp/gx-venv`` with ``great_expectations``); they are found there by default.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def run_floor(path: str, threads: int | None) -> dict[str, Any]:
    """Raw DuckDB: read the file into a table, then SUMMARIZE it."""
    import duckdb

    con = duckdb.connect(config={"threads": threads} if threads else {})
    t0 = now()
    con.execute(f"CREATE TEMP TABLE t AS SELECT * FROM read_parquet('{path}')")
    read_s = now() - t0
    t0 = now()
    rows = con.execute("SUMMARIZE t").fetchall()
    summarize_s = now() - t0
    names = [d[0] for d in con.description]
    summary = {r[0]: dict(zip(names, r, strict=True)) for r in rows}
    (n,) = con.execute("SELECT count(*) FROM t").fetchone()  # type: ignore[misc]
    return {"read_s": read_s, "summarize_s": summarize_s, "rows": n, "peak_rss_mb": peak_rss_mb(),
            "summary": {c: {"min": s["min"], "max": s["max"], "avg": s["avg"], "null_percentage": s["null_percentage"]}
                        for c, s in summary.items()}}


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
import tempfile, os
t0 = now()
with tempfile.TemporaryDirectory() as tmp:  # keeping a copy, as a version would
    df.to_parquet(os.path.join(tmp, "copy.parquet"))
out["write_s"] = now() - t0
t0 = now()
qs = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
profile = {}
for name in df.columns:  # the same statistics Mainsail's profile holds
    s = df[name]
    p = {"count": int(s.count()), "nulls": int(s.isna().sum()), "distinct": int(s.nunique())}
    if pd.api.types.is_bool_dtype(s) or not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)):
        p["top"] = {str(k): int(v) for k, v in s.value_counts().head(10).items()}
    else:
        v = s.dropna().to_numpy()
        v = v.astype("int64") if v.dtype.kind == "M" else v.astype("float64")
        p.update(min=float(v.min()), max=float(v.max()), mean=float(v.mean()), std=float(v.std(ddof=1)),
                 quantiles=np.quantile(v, qs).tolist(), histogram=np.histogram(v, 20)[0].tolist())
        if pd.api.types.is_integer_dtype(s) and p["distinct"] <= 10000:
            p["top"] = {str(k): int(v) for k, v in s.value_counts().head(10).items()}
    profile[name] = p
out["profile_s"] = now() - t0
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


def find_python(explicit: str | None, kind: str, module: str) -> str | None:
    """An interpreter with ``module``: the one given, the peer venv, or this one."""
    if explicit:
        return explicit
    if PEER_VENVS[kind].exists():
        return str(PEER_VENVS[kind])
    return sys.executable if importlib.util.find_spec(module) is not None else None


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
    """What is wrong with Mainsail's results: a failed check, or a profile that disagrees with DuckDB."""
    ms, floor = res["mainsail"], res["floor"]
    problems = [] if ms["passed"] else [f"suite failed: {ms['failed']}"]
    if ms["rows"] != floor["rows"]:
        problems.append(f"rows {ms['rows']} != {floor['rows']}")
    for name, s in floor["summary"].items():
        p = ms["profile"][name]
        nulls = floor["rows"] * float(s["null_percentage"] or 0) / 100
        if abs(p["nulls"] - nulls) > max(1.0, floor["rows"] * 1e-4):
            problems.append(f"{name}: nulls {p['nulls']} vs {nulls:.0f}")
        if s["avg"] is not None and p["mean"] is not None and abs(p["mean"] - float(s["avg"])) > 1e-6 * max(1, abs(p["mean"])):
            problems.append(f"{name}: mean {p['mean']} vs {s['avg']}")
        numeric = isinstance(p["min"], int | float) and not isinstance(p["min"], bool)
        if numeric and abs(float(s["min"]) - p["min"]) > 1e-9 * max(1, abs(p["min"])):
            problems.append(f"{name}: min {p['min']} vs {s['min']}")
    return problems


def ratios(res: dict[str, Any]) -> dict[str, tuple[float, str]]:
    ms, f = res["mainsail"], res["floor"]
    ms_total = ms["ingest_s"] + ms["profile_s"] + ms["validate_s"]
    f_total = f["read_s"] + f["summarize_s"]
    out = {"mainsail total / floor total": (ms_total / f_total, "(goal ≤ 2x)"),
           "mainsail ingest / floor read": (ms["ingest_s"] / f["read_s"], ""),
           "mainsail profile + validate / floor SUMMARIZE": ((ms["profile_s"] + ms["validate_s"]) / f["summarize_s"], "")}
    for key, label in (("pandera", "pandas + pandera"), ("gx", "pandas + Great Expectations")):
        if p := res.get(key):
            total = p["ingest_s"] + p.get("profile_s", 0.0) + p["validate_s"]
            goal = "(goal ≥ 5x)" if key == "pandera" else ""
            out[f"{label} total / mainsail total"] = (total / ms_total, goal)
            if "write_s" in p:
                out[f"{label} total + Parquet copy / mainsail total"] = ((total + p["write_s"]) / ms_total, "")
            if "profile_s" in p:
                out[f"{label} profile / mainsail profile"] = (p["profile_s"] / ms["profile_s"], "")
            out[f"{label} validate / mainsail validate"] = (p["validate_s"] / ms["validate_s"], "")
    return out


def render(res: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 170)
    n = res["rows"]
    table = Table(title=f"Data: ingest + profile + validate {n:,} rows × 20 columns ({res['source_mb']:,.0f} MB Parquet)")
    for col in ("system", "ingest s", "profile s", "validate s", "total s", "ingest rows/s", "profile rows/s",
                "validate rows/s", "total rows/s", "peak RSS MB", "result"):
        table.add_column(col, justify="left" if col in ("system", "result") else "right")

    def rate(s: float | None) -> str:
        return "—" if not s else f"{n / s:,.0f}"

    def sec(s: float | None) -> str:
        return "—" if s is None else f"{s:.2f}"

    ok = {True: "[green]suite passed[/]", False: "[red]suite FAILED[/]"}
    ms = res["mainsail"]
    total = ms["ingest_s"] + ms["profile_s"] + ms["validate_s"]
    table.add_row("Mainsail, embedded", sec(ms["ingest_s"]), sec(ms["profile_s"]), sec(ms["validate_s"]), sec(total),
                  rate(ms["ingest_s"]), rate(ms["profile_s"]), rate(ms["validate_s"]), rate(total),
                  f"{ms['peak_rss_mb']:,.0f}", ok[ms["passed"]])
    f = res["floor"]
    total = f["read_s"] + f["summarize_s"]
    table.add_row("Floor: DuckDB read + SUMMARIZE", sec(f["read_s"]), sec(f["summarize_s"]), "—", sec(total),
                  rate(f["read_s"]), rate(f["summarize_s"]), "—", rate(total), f"{f['peak_rss_mb']:,.0f}", "—")
    for key in ("pandera", "gx"):
        if p := res.get(key):
            total = p["ingest_s"] + p.get("profile_s", 0.0) + p["validate_s"]
            table.add_row(p["version"], sec(p["ingest_s"]), sec(p.get("profile_s")), sec(p["validate_s"]), sec(total),
                          rate(p["ingest_s"]), rate(p.get("profile_s")), rate(p["validate_s"]), rate(total),
                          f"{p['peak_rss_mb']:,.0f}", ok[p["passed"]])
    console.print(table)
    for note in res["notes"]:
        console.print(note)
    for label, (val, goal) in res["ratios"].items():
        console.print(f"  {label:<58} {val:8.2f}x   {goal}")
    for problem in res["problems"]:
        console.print(f"[red]wrong:[/] {problem}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--smoke", action="store_true", help="100,000 rows; peers only if importable here")
    ap.add_argument("--peer-python", help=f"a python with pandera (default: {PEER_VENVS['pandera']})")
    ap.add_argument("--gx-python", help=f"a python with great_expectations (default: {PEER_VENVS['gx']})")
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
    rows = 100_000 if args.smoke else args.rows
    path = source_file(rows)
    res: dict[str, Any] = {"rows": rows, "source_mb": path.stat().st_size / 1e6, "notes": []}
    res["floor"] = child("floor", str(path), args.threads)
    res["mainsail"] = child("mainsail", str(path), args.threads)
    peers = [("pandera", args.peer_python, "pandera", PEER_SCRIPT)]
    if not args.no_gx:
        peers.append(("gx", args.gx_python, "great_expectations", GX_SCRIPT))
    for key, explicit, module, script in peers:
        python = None if args.smoke and not explicit and importlib.util.find_spec(module) is None else \
            find_python(explicit, key, module)
        if python is None:
            res["notes"].append(f"{module} not installed — peer skipped (see the docstring for its venv)")
            continue
        try:
            res[key] = run_script(python, script, str(path))
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            res["notes"].append(f"{module} run failed — skipped: {exc}")
    if "gx" in res:
        res["notes"].append("Great Expectations 1.x has no profiler: its row shows read + validate only.")
    res["notes"].append("Mainsail's ingest reads the file and writes, hashes and stores the canonical Parquet "
                        "version; the peers' ingest is pd.read_parquet into memory (pandera's df.to_parquet of a "
                        "copy, the nearest equivalent of storing a version, is timed apart: "
                        f"{res['pandera']['write_s']:.2f} s)." if "pandera" in res else
                        "Mainsail's ingest reads the file and writes, hashes and stores the canonical Parquet version.")
    res["ratios"] = ratios(res)
    res["problems"] = check(res)
    if args.json:
        print(json.dumps({**res, "ratios": {k: v for k, (v, _) in res["ratios"].items()}}, indent=2, default=str))
    else:
        render(res)
    return 1 if res["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
