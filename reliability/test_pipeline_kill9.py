"""kill -9 of a pipeline run at random points: it resumes, finishes, and no finished task runs again."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from _suite import TRIALS, record

from mainsail import Client

STEPS = str(Path(__file__).with_name("_steps.py").resolve())
TASKS = 5


def _executions(marks: Path) -> Counter[str]:
    return Counter(ln.split()[0] for ln in marks.read_text().splitlines()) if marks.exists() else Counter()


def test_kill_9_of_a_pipeline_run_at_random_points(tmp_path: Path) -> None:
    trials = max(1, TRIALS // 2)  # 10 by default
    uri = f"sqlite:///{tmp_path / 'p.db'}"
    c = Client(uri)
    env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_PIPELINE_PROCESSES": "1"}
    rerun_finished = failed = 0
    killed_states: Counter[str] = Counter()
    started = time.monotonic()
    for trial in range(trials):
        marks = tmp_path / f"marks-{trial}"
        c.apply_pipeline({"name": f"chain{trial}", "tasks": [
            {"name": f"t{i}", "operator": "python", "depends_on": [f"t{i - 1}"] if i else [],
             "params": {"callable": f"{STEPS}:mark", "kwargs": {"path": str(marks), "name": f"t{i}", "sleep": 0.4}}}
            for i in range(TASKS)]})
        proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "pipelines", "run", f"chain{trial}"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not c.list_pipeline_runs(f"chain{trial}").items and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(random.Random(trial).uniform(0.0, TASKS * 0.4))  # somewhere in the chain
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        runs = c.list_pipeline_runs(f"chain{trial}").items
        if not runs:
            killed_states["before the run began"] += 1
            continue
        run = runs[0]
        before = {t.name: t.status for t in c.get_pipeline_run(run.id).tasks}
        killed_states[f"{sum(s == 'succeeded' for s in before.values())} of {TASKS} done"] += 1
        if run.status == "succeeded":
            continue
        subprocess.run([sys.executable, "-m", "mainsail.cli.main", "pipelines", "resume", run.id,
                        "--processes", "1"], env=env, capture_output=True, timeout=300)
        after = c.get_pipeline_run(run.id)
        runs_of = _executions(marks)
        failed += after.status != "succeeded"
        rerun_finished += sum(1 for name, status in before.items() if status == "succeeded" and runs_of[name] != 1)
    ok = failed == 0 and rerun_finished == 0
    record("kill -9 of a pipeline run, then resume", "sqlite", ok, trials=trials, not_finished=failed,
           finished_tasks_rerun=rerun_finished, killed_at="; ".join(f"{k}: {v}" for k, v in sorted(killed_states.items())),
           seconds=round(time.monotonic() - started, 1))
    assert failed == 0, f"{failed} of {trials} resumed runs did not finish"
    assert rerun_finished == 0, f"{rerun_finished} finished tasks ran again after resume"
