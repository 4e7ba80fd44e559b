"""``mainsail data …`` as a user types it: real subprocesses, embedded and against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SUITE = """name: customers-basic
checks:
  - {type: row_count, min: 100, max: 100000}
  - {type: not_null, column: customer_id}
  - {type: unique, column: customer_id}
  - {type: range, column: age, min: 18, max: 100}
  - {type: allowed_values, column: plan, values: [basic, pro, team]}
  - {type: regex, column: customer_id, pattern: '^C[0-9]{6}$'}
"""


def cli(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "mainsail.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"mainsail {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def customers(n: int = 2000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": [f"C{i:06d}" for i in range(n)],
        "age": rng.integers(18, 90, n),
        "plan": rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2]),
        "spend": rng.gamma(2, 30, n).round(2),
    })


@pytest.fixture
def files(tmp_path: Path) -> Path:
    customers().to_csv(tmp_path / "customers.csv", index=False)
    v2 = customers(seed=2)
    v2["spend"] = v2["spend"] * 1.5
    v2.loc[[7, 11], "plan"] = "gold"
    v2["region"] = "eu"
    v2.drop(columns=["age"]).to_csv(tmp_path / "customers_v2.csv", index=False)
    (tmp_path / "suite.yaml").write_text(SUITE)
    return tmp_path


def run_session(files: Path, env: dict[str, str]) -> None:
    """ingest → versions → profile → validate → diff → head, checking what a user would read."""
    out = cli("data", "ingest", str(files / "customers.csv"), "--name", "customers", env=env).stdout
    assert "created customers@" in out and "2,000 rows × 4 columns" in out
    v1 = json.loads(cli("data", "versions", "customers", "--json", env=env).stdout)[0]
    again = cli("data", "ingest", str(files / "customers.csv"), "--name", "customers", env=env).stdout
    assert "unchanged" in again and v1["id"] in again  # same data, same version

    got = json.loads(cli("data", "ingest", str(files / "customers_v2.csv"), "--name", "customers", "--json",
                         env=env).stdout)
    v2 = got["version"]
    assert v2["number"] == 2 and v2["row_count"] == 2000 and got["validation"] is None

    table = cli("data", "versions", "customers", env=env).stdout
    assert "customers: 2 versions" in table and v1["id"] in table and v2["id"] in table
    assert "customers_v2.csv" in table and "2,000 × 4" in table

    prof = cli("data", "profile", f"customers@{v1['id'][:8]}", env=env).stdout
    assert f"customers@{v1['id']}" in prof and "2,000 rows" in prof
    assert "age" in prof and "basic" in prof
    p = json.loads(cli("data", "profile", f"customers@{v1['id']}", "--json", env=env).stdout)
    age = next(c for c in p["columns"] if c["name"] == "age")
    assert age["min"] >= 18 and age["max"] < 90 and age["nulls"] == 0 and age["histogram"]["counts"]

    ok = cli("data", "validate", f"customers@{v1['id']}", "--suite", str(files / "suite.yaml"), env=env)
    assert ok.returncode == 0 and "passed" in ok.stdout
    bad = cli("data", "validate", "customers", "--suite", str(files / "suite.yaml"), env=env, check=False)
    assert bad.returncode == 1, bad.stderr
    assert "failed" in bad.stdout and "FAIL" in bad.stdout
    assert "allowed_values(plan)" in bad.stdout and "row 7: gold" in bad.stdout
    assert "column 'age' is not in the dataset" in bad.stdout
    res = json.loads(cli("data", "validate", "customers", "--suite", str(files / "suite.yaml"), "--json",
                         env=env, check=False).stdout)
    failed = {c["name"]: c for c in res["checks"] if not c["passed"]}
    assert set(failed) == {"range(age)", "allowed_values(plan)"}
    assert failed["allowed_values(plan)"]["failing_count"] == 2
    assert [r["row"] for r in failed["allowed_values(plan)"]["failing_rows"]] == [7, 11]

    shown = cli("data", "diff", "customers", v1["id"], v2["id"], env=env)
    assert shown.stderr == "", shown.stderr  # no library warning in front of the table
    diff = shown.stdout
    assert "rows 2,000 → 2,000" in diff and "+ region" in diff and "- age" in diff
    assert "spend" in diff and "distribution shift" in diff
    d = json.loads(cli("data", "diff", "customers", v1["id"][:6], "latest", "--json", env=env).stdout)
    spend = next(s for s in d["shifts"] if s["column"] == "spend")
    assert spend["mean_change"] > 10 and spend["ks"] > 0.1
    plan = next(s for s in d["shifts"] if s["column"] == "plan")
    assert any(t["value"] == "gold" for t in plan["top_values"])

    head = json.loads(cli("data", "head", "customers", "--columns", "customer_id,plan", "--where", "plan = 'gold'",
                          "--json", env=env).stdout)
    assert head == [{"customer_id": "C000007", "plan": "gold"}, {"customer_id": "C000011", "plan": "gold"}]
    listed = json.loads(cli("data", "list", "--json", env=env).stdout)
    assert [(d["name"], d["version_count"], d["latest_version"]) for d in listed] == [("customers", 2, v2["id"])]


def test_data_commands_embedded(files: Path, tmp_path: Path) -> None:
    env = {**os.environ, "MAINSAIL_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    run_session(files, env)


def test_data_commands_against_a_server(files: Path, http_server, tmp_path: Path) -> None:
    env = {**os.environ, "MAINSAIL_HOME": str(tmp_path / "client-home"), "MAINSAIL_URI": http_server.url,
           "COLUMNS": "200"}
    run_session(files, env)


def test_ingest_with_suite_schema_and_sql(files: Path, tmp_path: Path) -> None:
    env = {**os.environ, "MAINSAIL_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    bad = cli("data", "ingest", str(files / "customers_v2.csv"), "--name", "c", "--suite",
              str(files / "suite.yaml"), env=env, check=False)
    assert bad.returncode == 1 and "created c@" in bad.stdout and "FAIL" in bad.stdout  # stored, then judged
    import sqlite3

    db = tmp_path / "src.db"
    with sqlite3.connect(db) as con:
        customers().to_sql("customers", con, index=False)
    out = cli("data", "ingest", f"sqlite:///{db}", "--name", "pros", "--query",
              "SELECT customer_id, age FROM customers WHERE plan = 'pro'", "--schema", "age=int32", "--json",
              env=env).stdout
    v = json.loads(out)["version"]
    assert v["source"]["kind"] == "sql" and {c["name"]: c["type"] for c in v["columns"]} == {
        "customer_id": "string", "age": "int32"}
    table = cli("data", "versions", "pros", env=env).stdout
    assert "sql: SELECT customer_id, age FROM customers" in table


@pytest.mark.parametrize(("args", "fragments"), [
    (["data", "ingest", "missing.csv", "--name", "d"], ["source_not_found", "missing.csv"]),
    (["data", "ingest", "bad.csv", "--name", "d"], ["invalid_csv", "line 4"]),
    (["data", "ingest", "bad.csv", "--name", "bad name"], ["invalid dataset name"]),
    (["data", "ingest", "quote.csv", "--name", "q"], ["invalid_csv", "line 3", "never closed"]),
    (["data", "ingest", "good.csv", "--name", "d", "--schema", "b=int64"], ["invalid_csv", "line 2, column 2 ('b')", "int64"]),
    (["data", "ingest", "good.csv", "--name", "d", "--schema", "nonsense"], ["COLUMN=TYPE"]),
    (["data", "versions", "nope"], ["dataset_not_found", "'nope'"]),
    (["data", "profile", "nope@abcd"], ["not found"]),
    (["data", "validate", "d", "--suite", "bad.yaml"], ["invalid_suite", "line 4"]),
    (["data", "head", "d", "--where", "nope > 1"], ["invalid_filter", "nope"]),
])
def test_errors_are_one_clear_line(tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    env = {**os.environ, "MAINSAIL_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    (tmp_path / "good.csv").write_text("a,b\n1,x\n2,y\n")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,4\n5,6,7\n8,9\n")
    (tmp_path / "quote.csv").write_text('a,b\n1,x\n2,"y\n3,z\n')
    (tmp_path / "bad.yaml").write_text("name: s\nchecks:\n  - {type: not_null, column: a\n")
    cli("data", "ingest", str(tmp_path / "good.csv"), "--name", "d", env=env)
    args = [str(tmp_path / a) if a.endswith((".csv", ".yaml")) else a for a in args]
    proc = cli(*args, env=env, check=False)
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)
    if "--schema" in args and "nonsense" in args:  # a usage error, as typer reports them
        assert proc.returncode == 2
        return
    assert proc.returncode == 1
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith("error (") and any(f in first for f in fragments), proc.stderr
