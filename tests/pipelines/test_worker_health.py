"""A worker's probe endpoint: /health and /ready answer while it takes tasks, /metrics counts what it ran, and
the endpoint never answers paths it does not know with anything but a problem document."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from _pipelines_support import step
from steps import executions

from mainsail import Client


def _endpoint(proc: subprocess.Popen, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if m := re.search(r"health endpoint (http://\S+)/health", line):
            return m.group(1)
        if not line and proc.poll() is not None:
            break
    raise AssertionError("the worker never printed its health endpoint")


def test_worker_answers_probes_and_counts_tasks(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'w.db'}"
    marks = str(tmp_path / "marks")
    c = Client(uri, artifact_root=str(tmp_path / "art"))
    c.apply_pipeline({"name": "two", "tasks": [
        {"name": f"t{i}", "operator": "python",
         "params": {"callable": step("mark"), "kwargs": {"path": marks, "name": f"t{i}", "sleep": 0.0}}}
        for i in range(2)]})
    env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_ARTIFACT_ROOT": str(tmp_path / "art"), "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "worker", "--processes", "1",
                             "--health-port", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        base = _endpoint(proc)
        health = httpx.get(f"{base}/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        deadline = time.monotonic() + 30
        while (ready := httpx.get(f"{base}/ready", timeout=10)).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready.status_code == 200, ready.text
        run = c.run_pipeline("two", wait=False)
        assert c.wait_pipeline_run(run.id, timeout=60, poll=0.1, execute=False).status == "succeeded"
        assert sorted(executions(marks)) == ["t0", "t1"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            metrics = httpx.get(f"{base}/metrics", timeout=10).text
            if "mainsail_worker_tasks_executed_total 2" in metrics:
                break
            time.sleep(0.1)
        assert "mainsail_worker_tasks_executed_total 2" in metrics, metrics
        assert "mainsail_worker_up 1" in metrics
        missing = httpx.get(f"{base}/../../etc/passwd", timeout=10)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
    finally:
        proc.terminate()
        proc.wait(20)
