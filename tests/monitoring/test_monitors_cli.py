"""``mainsail monitors create|list|run|show`` as a user types them (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from _monitoring_support import churn_frame, last_hours, setup_monitored, write_logs

from mainsail import Client


def mainsail(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "mainsail.cli.main", *args], env={**os.environ, "COLUMNS": "200"},
                          capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"mainsail {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_create_run_show_list(tmp_path: Path) -> None:
    c = Client()
    ctx = setup_monitored(c, tmp_path)
    h = last_hours(4)
    live = churn_frame(2000, seed=1)
    write_logs(c, "api", ctx["model"], [(h[i], live.iloc[i * 500:(i + 1) * 500].assign(
        charges=lambda f, i=i: f["charges"] + 15 * i)) for i in range(4)])
    c.close()
    out = mainsail("monitors", "create", "churn", "-d", "api", "--target", "churned", "--test", "calls=psi",
                   "--threshold", "psi=0.3").stdout
    assert "monitor churn watches deployment api (every 1h, reference training), on demand" in " ".join(out.split())
    run = json.loads(mainsail("monitors", "run", "churn", "--start", h[0].isoformat(), "--json").stdout)
    assert run["windows"] == 4 and run["rows"] == 2000
    shown = mainsail("monitors", "show", "churn", "--kind", "drift").stdout
    line = next(ln for ln in shown.splitlines() if "charges" in ln and "wasserstein" in ln)
    assert "▁" in line and "█" in line and "drift" in line  # the shift grows: a rising sparkline
    listed = json.loads(mainsail("monitors", "list", "--json").stdout)
    assert [m["name"] for m in listed] == ["churn"] and listed[0]["drift"]["tests"] == {"calls": "psi"}
    again = mainsail("monitors", "run", "churn").stdout
    assert "0 windows" in again
    bad = mainsail("monitors", "create", "x", "-d", "api", "-f", "nope", check=False)
    assert bad.returncode != 0 and "no column 'nope'" in bad.stderr + bad.stdout and "tenure" in bad.stderr + bad.stdout
    bad = mainsail("monitors", "create", "x", "-d", "api", "--test", "calls", check=False)
    assert bad.returncode != 0 and "KEY=VALUE" in bad.stderr + bad.stdout
