"""Faults with real processes: a run killed with kill -9 resumes from its last finished task and never
reruns a finished one; a worker killed mid-task loses it to another worker once its lease expires."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from _pipelines_support import step
from steps import executions

from mainsail import Client


def _wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _chain(marks: str, sleeps: list[float]) -> dict:
    tasks = []
    for i, s in enumerate(sleeps):
        tasks.append({"name": f"t{i}", "operator": "python", "depends_on": [f"t{i - 1}"] if i else [],
                      "params": {"callable": step("mark_slow_once"),
                                 "kwargs": {"path": marks, "name": f"t{i}", "sleep": s}}})
    return {"name": "chain", "tasks": tasks}


def test_kill_9_resumes_from_the_last_finished_task(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'k.db'}"
    marks = str(tmp_path / "marks")
    c = Client(uri)
    c.apply_pipeline(_chain(marks, [0, 0, 30, 0]))
    env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_PIPELINE_PROCESSES": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "pipelines", "run", "chain"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: executions(marks) == ["t0", "t1", "t2"], what="t2 to start")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    run = c.list_pipeline_runs("chain").items[0]
    before = {t.name: t.status for t in c.get_pipeline_run(run.id).tasks}
    assert before == {"t0": "succeeded", "t1": "succeeded", "t2": "running", "t3": "pending"}
    time.sleep(0.5)
    assert executions(marks) == ["t0", "t1", "t2"], "the killed run's task process must die with it"
    out = subprocess.run([sys.executable, "-m", "mainsail.cli.main", "pipelines", "resume", run.id,
                          "--processes", "1"], env=env, capture_output=True, text=True, timeout=120)
    after = c.get_pipeline_run(run.id)
    assert after.status == "succeeded", out.stdout + out.stderr
    assert executions(marks) == ["t0", "t1", "t2", "t2", "t3"], "finished tasks never run twice"
    t2 = after.task("t2")
    assert t2.attempt == 2 and t2.failures == 0


def test_dead_worker_task_is_retaken_after_its_lease(tmp_path: Path, pg_url: str) -> None:
    marks = str(tmp_path / "marks")
    c = Client(pg_url, artifact_root=str(tmp_path / "art"))
    c.apply_pipeline({"name": "one", "tasks": [{"name": "t", "operator": "python", "params": {
        "callable": step("mark"), "kwargs": {"path": marks, "name": "t", "sleep": 2.0}}}]})
    run = c.run_pipeline("one", wait=False)
    env = {**os.environ, "MAINSAIL_URI": pg_url, "MAINSAIL_ARTIFACT_ROOT": str(tmp_path / "art"),
           "MAINSAIL_TASK_LEASE": "2"}
    cmd = [sys.executable, "-m", "mainsail.cli.main", "worker", "--processes", "1"]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: executions(marks) == ["t"], what="the first worker to start the task")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = time.monotonic()
        second = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            done = c.wait_pipeline_run(run.id, timeout=60, poll=0.2)
        finally:
            second.terminate()
            second.wait(15)
    finally:
        if first.poll() is None:
            first.kill()
    assert done.status == "succeeded"
    t = done.task("t")
    assert t.attempt == 2 and executions(marks) == ["t", "t"]
    assert time.monotonic() - killed_at >= 1.0  # not before the lease ran out
    assert len({ln.split()[1] for ln in Path(marks).read_text().splitlines()}) == 2  # two different processes
