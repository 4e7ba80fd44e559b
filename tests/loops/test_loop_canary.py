"""The loop's canary end to end with a real ``mainsail serve`` replica answering real requests and
labels pushed for them: a retrained candidate worse than the champion is rolled back with the quality
guard's reason; a better one is promoted (alias champion moves, the replica serves it)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from _loops_support import deliver, drift_event, retrain, retrain_pipeline, tick
from _serving_support import ReplicaProcess, churn_data, register
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from mainsail import Client


def _episode(client: Client, rt: object, rep: ReplicaProcess, offset: int) -> object:
    """A drift event → retrain → canary; live traffic with labels until the episode ends."""
    run_id = deliver(rt, drift_event(rt))[0]
    ep = retrain(client, rt, run_id)
    assert ep.stage == "canary", ep
    x, y = churn_data(400)
    records = x.to_dict("records")
    deadline = time.monotonic() + 60
    sent = 0
    with httpx.Client(base_url=rep.url, timeout=10) as http:
        while (ep := client.get_loop_run(run_id)).state == "running":
            assert time.monotonic() < deadline, ep
            batch = {}
            for _ in range(40):
                i = (offset + sent) % len(records)
                rid = f"e{offset}-{sent}"
                r = http.post("/predict", json={"records": [records[i]], "request_id": rid})
                assert r.status_code == 200, r.text
                batch[rid] = int(y[i])
                sent += 1
            client.push_labels("api", batch)  # pushed before the logs arrive: stored, joined later
            time.sleep(0.3)
            tick(rt)  # the server's loop ticker; the replica's reports tick the rollout
    return ep


def test_worse_candidate_rolled_back_better_one_promoted(tmp_path: Path) -> None:
    uri, root = f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts")
    client = Client(uri, artifact_root=root)
    rt = client._backend.runtime
    x, y = churn_data(400)
    register(client, tmp_path, DummyClassifier(strategy="most_frequent").fit(x.to_numpy(), y))  # v1: weak
    register(client, tmp_path, LogisticRegression(max_iter=500).fit(x.to_numpy(), 1 - y))  # v2: inverted, worse
    register(client, tmp_path, LogisticRegression(max_iter=500).fit(x.to_numpy(), y))  # v3: good
    client.set_model_alias("churn", "champion", 1)
    client.set_model_stage("churn", 1, "production")
    client.create_deployment("api", "models:/churn@champion")
    client.apply_pipeline(retrain_pipeline())
    opts = {"deployment": "api", "pipeline": "retrain", "candidate_task": "register", "metric": "accuracy",
            "margin": 0.05, "min_labels": 20, "steps": [50, 100], "step_seconds": 0, "min_requests": 10,
            "cooldown": 0}
    client.create_loop("api-fresh", params={"version": 2}, **opts)
    rep = ReplicaProcess(uri, "api", tmp_path, artifact_root=root).start()
    try:
        worse = _episode(client, rt, rep, 0)
        assert worse.state == "rolled_back", worse
        assert worse.reason.startswith("quality guard accuracy (from labels): candidate"), worse.reason
        assert [s.step for s in worse.steps][-1] == "rolled_back"
        quality = worse.steps[-1].data["quality"][0]
        assert quality["candidate"] < quality["champion"] - 0.05
        assert client.get_model_version_by_alias("churn", "champion").version == 1

        client.create_loop("api-fresh", params={"version": 3}, replace=True, **opts)
        better = _episode(client, rt, rep, 1000)
        assert better.state == "promoted", better
        assert better.candidate == "models:/churn/3" and better.reason.startswith("all steps passed")
        steps = [s.step for s in better.steps]
        assert steps[:2] == ["detected", "retrain_started"] and steps[-1] == "promoted"
        assert steps.count("canary_step") == 2  # 50 %, then 100 %
        assert [s.at for s in better.steps] == sorted(s.at for s in better.steps)
        champion = client.get_model_version_by_alias("churn", "champion")
        assert (champion.version, champion.stage) == (3, "production")
        deadline = time.monotonic() + 20
        while True:  # the replica follows the alias
            v = httpx.post(rep.url + "/predict", json={"records": [x.iloc[0].to_dict()]}, timeout=10).json()["version"]
            if v == 3:
                break
            assert time.monotonic() < deadline, v
            time.sleep(0.3)
    finally:
        rep.stop()
        client.close()


@pytest.mark.parametrize("source", ["labels"])
def test_loop_listed_in_the_cli(tmp_path: Path, source: str) -> None:
    """``mainsail loops list|show|runs`` and ``mainsail monitors show DEPLOYMENT`` show the episode."""
    import os

    from _services import run_cli

    uri, root = f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts")
    client = Client(uri, artifact_root=root)
    rt = client._backend.runtime
    x, y = churn_data(400)
    register(client, tmp_path, LogisticRegression(max_iter=500).fit(x.to_numpy(), y))
    register(client, tmp_path, LogisticRegression(max_iter=500).fit(x.to_numpy(), 1 - y))
    client.set_model_alias("churn", "champion", 1)
    client.create_deployment("api", "models:/churn@champion")
    client.create_monitor("api-drift", deployment="api", reference={"kind": "window", "start": "2026-01-01T00:00:00Z",
                                                                     "end": "2026-01-02T00:00:00Z"}, rows=100)
    client.apply_pipeline(retrain_pipeline())
    env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_ARTIFACT_ROOT": root, "COLUMNS": "200"}
    out = run_cli("loops", "create", "api-fresh", "-d", "api", "-p", "retrain", "--candidate-task", "register",
                  "--metric", "accuracy", "--source", source, "--margin", "0.05", "--steps", "50,100", env=env).stdout
    assert "loop api-fresh" in out and "accuracy from labels, margin 0.05" in " ".join(out.split())
    bad = run_cli("loops", "create", "x", "-d", "api", "-p", "retrain", "--margin", "-1", env=env, check=False)
    assert bad.returncode != 0 and "margin" in bad.stdout + bad.stderr
    run_id = deliver(rt, drift_event(rt))[0]
    retrain(client, rt, run_id)
    client.rollback_deployment("api", reason="not today")
    tick(rt)
    listed = " ".join(run_cli("loops", "list", env=env).stdout.split())
    assert "api-fresh" in listed and "rolled_back" in listed
    shown = " ".join(run_cli("loops", "show", "api-fresh", env=env).stdout.split())
    for step in ("detected", "retrain_started", "retrain_finished", "registered", "canary_started", "rolled_back"):
        assert step in shown, (step, shown)
    assert "not today" in shown
    assert run_id[:12] in run_cli("loops", "runs", "api-fresh", env=env).stdout
    monitors = " ".join(run_cli("monitors", "show", "api", env=env).stdout.split())
    assert "loop runs of deployment api" in monitors and "canary_started" in monitors
    client.close()
