"""``mainsail features …`` as a user types it (real subprocesses, embedded), with Python and YAML
definitions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

PY_DEFS = '''
from mainsail.features.schemas import Entity, FeatureService, FeatureView

driver = Entity(name="driver", join_key="driver_id", type="int64")
driver_stats = FeatureView(name="driver_stats", entities=[driver], source="{path}",
                           features={{"trips": "int64", "rating": "float64"}}, ttl="30d", owner="ops")
'''

YAML_DEFS = """
services:
  - name: eta_model
    features: ["driver_stats:rating"]
"""


def cli(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "mainsail.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"mainsail {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_apply_list_show_materialize_get(tmp_path: Path) -> None:
    data = tmp_path / "drivers.parquet"
    pd.DataFrame({"driver_id": [1, 2, 1], "event_timestamp": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]),
                  "trips": [5, 7, 9], "rating": [4.5, 4.9, 4.6]}).to_parquet(data)
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "drivers.py").write_text(PY_DEFS.format(path=data))
    (defs / "services.yaml").write_text(YAML_DEFS)
    env = {**os.environ, "MAINSAIL_URI": f"sqlite:///{tmp_path / 'meta.db'}", "COLUMNS": "200"}
    out = cli("features", "apply", str(defs), env=env).stdout
    assert "created entity driver" in out and "created view driver_stats" in out and "created service eta_model" in out
    assert "unchanged" in cli("features", "apply", str(defs), env=env).stdout
    listed = json.loads(cli("features", "list", "--json", env=env).stdout)
    assert [v["name"] for v in listed["views"]] == ["driver_stats"]
    assert "driver_stats" in cli("features", "list", env=env).stdout
    m = json.loads(cli("features", "materialize", "--start", "2025-12-01", "--end", "2026-02-01", "--json",
                       env=env).stdout)
    assert m["views"][0]["rows"] == 2
    got = json.loads(cli("features", "get", "driver_id=1", "driver_id=2", "-s", "eta_model", "--json", env=env).stdout)
    assert got == [{"driver_id": "1", "rating": 4.6}, {"driver_id": "2", "rating": 4.9}]
    table = cli("features", "get", "driver_id=1", "-f", "driver_stats", env=env).stdout
    assert "trips" in table and "9" in table
    shown = cli("features", "show", "driver_stats", env=env).stdout
    assert "materialized until" in shown and "rating" in shown and "reads online" in shown
    # a breaking change is refused with the reason; --force applies it
    (defs / "drivers.py").write_text(PY_DEFS.format(path=data).replace('"rating": "float64"', '"rating": "string"'))
    bad = cli("features", "apply", str(defs), env=env, check=False)
    assert bad.returncode == 1 and "breaking_change" in bad.stderr and "eta_model" in bad.stderr
    assert "forced" in cli("features", "apply", str(defs), "--force", env=env).stdout
    missing = cli("features", "get", "driver_id=1", "-f", "driver_stat:rating", env=env, check=False)
    assert missing.returncode == 1 and "driver_stats" in missing.stderr
