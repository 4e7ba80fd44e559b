"""``mainsail pipelines …`` as a user types it (real subprocesses, embedded database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from _pipelines_support import step


def mainsail(*args: str, env: dict[str, str], code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "mainsail.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == code, f"mainsail {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_apply_run_status_logs_schedule(tmp_path: Path) -> None:
    env = {**os.environ, "MAINSAIL_HOME": str(tmp_path / "home"), "MAINSAIL_URI": f"sqlite:///{tmp_path / 'c.db'}",
           "COLUMNS": "200", "MAINSAIL_PIPELINE_PROCESSES": "2"}
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"name": "cli", "params": {"msg": "hi"}, "tasks": [
        {"name": "fetch-data", "operator": "noop", "params": {"value": 7}},
        {"name": "say", "operator": "notify", "params": {"message": "${params.msg} ${tasks.fetch-data}"}},
        {"name": "add", "operator": "python", "params": {"callable": step("add"),
                                                         "kwargs": {"a": "${tasks.fetch-data}", "b": 1}}},
    ]}))
    assert "cli v1  new version" in mainsail("pipelines", "apply", str(f), env=env).stdout
    assert "unchanged" in mainsail("pipelines", "apply", str(f), env=env).stdout
    assert "cli" in mainsail("pipelines", "list", env=env).stdout
    out = mainsail("pipelines", "run", "cli", "-p", "msg=hello", env=env).stdout
    assert "succeeded" in out and "fetch-data" in out
    assert any(line.startswith("run ") and "succeeded in" in line for line in out.splitlines()), out  # own line
    run = json.loads(mainsail("pipelines", "runs", "cli", "--json", env=env).stdout)[0]
    assert run["status"] == "succeeded" and run["params"] == {"msg": "hello"}
    status = json.loads(mainsail("pipelines", "status", run["id"], "--json", env=env).stdout)
    assert {t["name"]: t["output"] for t in status["tasks"]}["add"] == 8
    assert "hello 7" in mainsail("pipelines", "logs", run["id"], "say", env=env).stdout
    assert "hello 7" in mainsail("pipelines", "logs", run["id"][:8], env=env).stdout  # a unique prefix
    assert "hello 7" in mainsail("pipelines", "logs", run["id"][:8], "say", "--follow", env=env).stdout
    assert "say" in mainsail("pipelines", "status", run["id"][:8], env=env).stdout
    assert "cron" in mainsail("pipelines", "schedule", "cli", "--cron", "0 3 * * *", env=env).stdout
    assert "0 3 * * *" in mainsail("pipelines", "schedules", env=env).stdout

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "bad", "tasks": [{"name": "a", "operator": "noop", "depends_on": ["b"]}]}))
    err = mainsail("pipelines", "apply", str(bad), env=env, code=1).stderr
    assert "tasks.0.depends_on.0" in err and "'b'" in err

    detached = mainsail("pipelines", "run", "cli", "--detach", env=env).stdout
    run_id = detached.split()[2]
    waited = mainsail("pipelines", "status", run_id, "--watch", env=env).stdout
    assert "succeeded" in waited
