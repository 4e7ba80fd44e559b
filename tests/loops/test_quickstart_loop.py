"""``mainsail quickstart`` as a user runs it: the canary has a quality guard on labels pushed for the
traffic, and the closed loop ends in a promotion or a reasoned rollback, every step timed."""

from __future__ import annotations

import os
from pathlib import Path

from _services import run_cli

from mainsail import Client

# the pipeline's quality_gate task, then the policy's gate on the registered version's metrics
LOOP_STEPS = ["detected", "retrain_started", "gate_passed", "retrain_finished", "registered", "gate_passed",
              "canary_started", "canary_step"]


def test_quickstart_closes_the_loop(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "MAINSAIL_HOME": str(home), "COLUMNS": "200"}
    out = " ".join(run_cli("quickstart", "--rows", "1000", env=env, timeout=600).stdout.split())
    # the canary of the best candidate had a quality guard fed by labels pushed for its traffic
    assert "quality: its live roc_auc from the labels" in out and "labels pushed" in out
    assert "rollout promoted" in out or "rollout rolled_back" in out
    assert "closed loop:" in out and "Now the market changes" in out
    client = Client(f"sqlite:///{home / 'mainsail.db'}", artifact_root=str(home / "artifacts"))
    try:
        runs = client.list_loop_runs("churn-retrain").items
        assert len(runs) == 1, runs
        run = runs[0]
        assert run.state in ("promoted", "rolled_back"), run
        assert run.reason and run.seconds is not None
        steps = [s.step for s in run.steps]
        assert steps[:len(LOOP_STEPS)] == LOOP_STEPS and steps[-1] == run.state, steps
        assert [s.at for s in run.steps] == sorted(s.at for s in run.steps)  # each step at its time
        assert run.trigger["monitor"] == "churn-drift" and run.candidate_version is not None
        assert f"loop run {run.id[:12]} {run.state}" in out and "since the first drifted request: detected +" in out
        champion = client.get_model_version_by_alias("churn", "champion").version
        assert champion == (run.candidate_version if run.state == "promoted" else run.champion_version)
        if run.state == "promoted":  # the retrained model's fresh data is now the monitor's reference
            lineage = client.get_model_version("churn", champion).lineage.dataset_versions
            assert lineage and lineage[0].startswith("churn-live@")
        shown = " ".join(run_cli("monitors", "show", "churn", env=env).stdout.split())
        assert "loop runs of deployment churn" in shown and "canary_started" in shown
    finally:
        client.close()
