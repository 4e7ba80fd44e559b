"""``mainsail deployments rollout --follow`` shows a canary live until it ends, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from _serving_support import churn_data, register
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from mainsail import Client
from mainsail.serving.schemas import LATENCY_BUCKETS_MS


def _stats(requests: int) -> dict[str, object]:
    return {"requests": requests, "errors": 0, "latency_buckets": [requests] + [0] * (len(LATENCY_BUCKETS_MS) - 1)}


def _follow(uri: str, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "MAINSAIL_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "--uri", uri, "deployments", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_running(c: Client, name: str, proc: subprocess.Popen[str], step: int = 0) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r = c.get_deployment(name).rollout
        if r is not None and r.state == "running" and r.step_index == step:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("the rollout did not start")


def test_rollout_follow_tails_steps_until_promoted_or_rolled_back(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'meta.db'}"
    c = Client(uri)
    x, y = churn_data()
    register(c, tmp_path, LogisticRegression().fit(x.to_numpy(), y))
    register(c, tmp_path, DummyClassifier(strategy="constant", constant=1).fit(x.to_numpy(), y))
    c.set_model_alias("churn", "champion", 1)
    c.create_deployment("api", "models:/churn@champion")

    proc = _follow(uri, tmp_path, "rollout", "api", "models:/churn/2", "--steps", "50,100", "--step-seconds", "0",
                   "--min-requests", "1", "--follow", "--poll", "0.1")
    _wait_running(c, "api", proc)
    time.sleep(0.5)  # the follower shows step 1 before it passes
    c.report_replica("api", "r1", {"stats": {"canary": _stats(1)}})  # step 1 passes
    _wait_running(c, "api", proc, step=1)
    time.sleep(0.5)
    c.report_replica("api", "r1", {"stats": {"canary": _stats(5)}})  # the last step passes: promoted
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    lines = out.splitlines()
    assert any("step 1/2 (50%)" in line for line in lines) and any("step 2/2 (100%)" in line for line in lines)
    assert any(line.startswith("promoted models:/churn/2 on api") for line in lines), out  # on its own line
    assert c.get_model_version_by_alias("churn", "champion").version == 2
    assert "step 50% passed: 1 request, 0 errors" in [h.reason for h in c.deployment_history("api")]

    proc = _follow(uri, tmp_path, "rollout", "api", "models:/churn/1", "--follow", "--poll", "0.1")
    _wait_running(c, "api", proc)
    c.rollback_deployment("api", reason="seen enough")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "rolled back models:/churn/1 on api: seen enough" in " ".join(err.split())

    proc = _follow(uri, tmp_path, "rollout", "api", "models:/churn/1")  # without --follow: returns at once
    assert proc.wait(timeout=120) == 0 and "rollout running" in proc.communicate()[0]
    proc = _follow(uri, tmp_path, "show", "api", "--follow")  # attach to the running one
    first = proc.stdout.readline() if proc.stdout else ""
    assert "rollout running of models:/churn/1" in first, first
    c.rollback_deployment("api", reason="stop")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "stop" in err, first + out + err
