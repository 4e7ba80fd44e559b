"""``mainsail costs …`` and ``mainsail gc`` as a user types them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

from _services import run_cli as cli

from mainsail import Client
from mainsail.pipelines.ops import ops as pipeline_ops


def test_costs_commands(tmp_path: Path) -> None:
    uri, art = f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "art")
    env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_ARTIFACT_ROOT": art, "COLUMNS": "200"}
    c = Client(uri, artifact_root=art)
    now = dt.datetime.now(dt.UTC)
    c.record_usage([{"kind": "task", "pipeline": "train", "task": "fit", "started_at": now - dt.timedelta(hours=2),
                     "ended_at": now - dt.timedelta(hours=1), "wall_seconds": 3600.0, "cpu_seconds": 30.0,
                     "peak_memory": 64 << 20, "retries": 3}])
    orphan = c.call(pipeline_ops.put_code, digest=hashlib.sha256(b"print(1)").hexdigest(), data=b"print(1)").digest

    out = cli("costs", "prices", "--cpu-hour", "1", "--memory-gb-hour", "0", "--team", "risk", env=env).stdout
    assert "cpu_hour" in out and "risk" in out
    rep = json.loads(cli("costs", "report", "--by", "pipeline", "--since", "1d", "--json", env=env).stdout)
    assert rep["lines"][0]["key"] == "train" and rep["total"] == 1.0  # 1 reserved core-hour; memory is free
    assert "train" in cli("costs", "report", "--by", "pipeline", env=env).stdout
    assert "risk" in cli("costs", "report", "--by", "team", env=env).stdout
    bad = cli("costs", "report", "--since", "yesterday-ish", env=env, check=False)
    assert bad.returncode != 0 and "--since" in bad.stderr + bad.stdout
    bad = cli("costs", "report", "--by", "colour", env=env, check=False)
    assert bad.returncode != 0 and "--by" in bad.stderr + bad.stdout

    recs = json.loads(cli("costs", "recommend", "--json", env=env).stdout)
    assert {r["kind"] for r in recs} == {"right_size", "spot"}  # 64 MiB of 2 GiB; 1 h and retry-safe
    assert "right_size" in cli("costs", "recommend", env=env).stdout

    assert "alerts through rule budget-default-monthly" in cli("costs", "budgets", "create", "monthly", "--amount",
                                                              "1.5", "--threshold", "0.5", env=env).stdout
    assert "monthly" in cli("costs", "budgets", "list", env=env).stdout
    checked = json.loads(cli("costs", "budgets", "check", "--json", env=env).stdout)
    assert checked[0]["reached"] == [0.5] and len(checked[0]["alerts_fired"]) == 1
    assert "budget 50%" in cli("alerts", "list", env=env).stdout or c.list_alerts().items

    assert "runs 30 days" in cli("costs", "retention", "--runs-days", "30", env=env).stdout
    # one rule changed at a time keeps the other; 0 keeps for ever; a negative number names its option
    assert "runs 30 days, inference logs 7 days" in cli("costs", "retention", "--inference-logs-days", "7",
                                                         env=env).stdout
    assert "runs kept, inference logs 7 days" in cli("costs", "retention", "--runs-days", "0", env=env).stdout
    bad = cli("costs", "retention", "--runs-days", "-3", env=env, check=False)
    assert bad.returncode != 0 and "--runs-days" in bad.stderr + bad.stdout
    assert c.get_retention().inference_logs_days == 7  # unchanged by the refused call
    assert "runs 30 days" in cli("costs", "retention", "--runs-days", "30", env=env).stdout
    for args, option in ((("usage", "--kind", "jobs"), "--kind"), (("budgets", "create", "y", "--amount", "1",
                                                                    "--period", "year"), "--period")):
        bad = cli("costs", *args, env=env, check=False)
        assert bad.returncode != 0 and option in bad.stderr + bad.stdout, args
    assert "1 cpu 2 GiB" in cli("costs", "usage", env=env).stdout  # what the task reserved
    assert "no usage recorded" in cli("costs", "report", "--since", "2020-01-01", "--until", "2020-02-01",
                                      env=env).stdout
    dry = json.loads(cli("gc", "--dry-run", "--grace", "0h", "--json", env=env).stdout)
    assert dry["dry_run"] and dry["deleted"] == [orphan]  # pipeline code no pipeline names
    assert "gc in project default" in (out := cli("gc", "--dry-run", "--grace", "0h", env=env).stdout)
    assert "would delete 1" in out
    assert "deleted 1" in cli("gc", "--grace", "0h", env=env).stdout
    assert json.loads(cli("gc", "--grace", "0h", "--json", env=env).stdout)["deleted"] == []
    bad = cli("gc", "--grace", "soon", env=env, check=False)
    assert bad.returncode != 0 and "--grace" in bad.stderr + bad.stdout
    c.close()
