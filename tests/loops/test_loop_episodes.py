"""Loop episodes over SQLite and PostgreSQL, driven the way a server's loop host drives them (events
delivered to the subscriber, then ticks): a drift episode starts one retrain whatever the repeats,
redeliveries and concurrent servers; the canary's end (here a rollback by hand) ends the episode; a
cooldown holds the next one; and every failure (retrain, pipeline gate, policy gate, nothing new) is
recorded with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _loops_support import deliver, drift_event, retrain, retrain_pipeline, tick
from _serving_support import churn_data, register
from sklearn.linear_model import LogisticRegression

from mainsail import Client


@pytest.fixture(params=["sqlite", "postgres"])
def looped(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Client, object]]:
    """churn v1 (champion, served by deployment ``api``) and v2, and pipeline ``retrain`` naming v2."""
    uri = request.getfixturevalue("pg_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 'meta.db'}"
    client = Client(uri, artifact_root=str(tmp_path / "artifacts"))
    x, y = churn_data()
    register(client, tmp_path, LogisticRegression().fit(x.to_numpy(), y))
    register(client, tmp_path, LogisticRegression().fit(x.to_numpy(), 1 - y))
    client.set_model_alias("churn", "champion", 1)
    client.create_deployment("api", "models:/churn@champion")
    client.apply_pipeline(retrain_pipeline())
    yield client, client._backend.runtime
    client.close()


def _policy(client: Client, name: str = "api-fresh", pipeline: str = "retrain", **kw: object) -> None:
    opts: dict = {"candidate_task": "register", "metric": "accuracy", "margin": 0.05, "steps": [50, 100],
                  "step_seconds": 0, "cooldown": 600, **kw}
    client.create_loop(name, deployment="api", pipeline=pipeline, **opts)


def test_one_episode_per_drift_whatever_the_repeats(looped: tuple[Client, object]) -> None:
    client, rt = looped
    _policy(client)
    first = drift_event(rt)
    with ThreadPoolExecutor(2) as pool:  # two servers deliver the same event at once
        started = [r for rs in pool.map(lambda _: deliver(rt, first), range(2)) for r in rs]
    assert len(started) == 1
    run_id = started[0]
    assert deliver(rt, first) == []  # redelivered (at least once): nothing new, not even a count
    for _ in range(2):  # the drift goes on while the retrain runs: counted, not acted on
        assert deliver(rt, drift_event(rt)) == []
    runs = client.list_loop_runs("api-fresh").items
    assert [r.id for r in runs] == [run_id] and runs[0].suppressed == 2
    assert runs[0].state == "running" and runs[0].stage == "retraining"
    assert [s.step for s in runs[0].steps] == ["detected", "retrain_started"]
    assert runs[0].trigger["monitor"] == "api-drift" and runs[0].trigger["event_id"] == first.id
    assert "75% of features drifted (charges, tenure)" in runs[0].steps[0].detail
    pruns = client.list_pipeline_runs("retrain").items
    assert len(pruns) == 1 and pruns[0].trigger["kind"] == "loop" and pruns[0].trigger["loop_run"] == run_id
    assert client.get_loop("api-fresh").active_run_id == run_id

    ep = retrain(client, rt, run_id)  # the pipeline runs; the tick registers and starts the canary
    assert ep.stage == "canary" and ep.candidate == "models:/churn/2" and ep.champion_version == 1, ep
    assert [s.step for s in ep.steps] == ["detected", "retrain_started", "retrain_finished", "registered",
                                          "gate_passed", "canary_started", "canary_step"]
    d = client.get_deployment("api")
    assert d.rollout.state == "running" and d.rollout.id == ep.rollout_id and d.rollout.candidate == "models:/churn/2"
    assert d.rollout.guards.quality[0].metric == "accuracy" and d.rollout.guards.quality[0].margin == 0.05
    assert tick(rt) == 0  # nothing new: the canary holds (no labels)
    client.rollback_deployment("api", reason="operator said no")
    assert tick(rt) == 1
    ep = client.get_loop_run(run_id[:8])  # a prefix works as in the CLI
    assert ep.state == "rolled_back" and "operator said no" in ep.reason and ep.steps[-1].step == "rolled_back"
    assert ep.finished_at is not None and ep.seconds is not None and ep.seconds >= 0
    assert client.get_loop("api-fresh").active_run_id is None

    assert deliver(rt, drift_event(rt)) == []  # cooling down: counted on the last episode
    assert client.get_loop_run(run_id).suppressed == 3
    _policy(client, cooldown=0, replace=True)  # no cooldown: the next detection starts the next episode
    again = deliver(rt, drift_event(rt))
    assert len(again) == 1 and again[0] != run_id
    assert [r.id for r in client.list_loop_runs(deployment="api").items] == [again[0], run_id]
    assert len(client.list_pipeline_runs("retrain").items) == 2
    assert [r.id for r in client.list_loop_runs(state="rolled_back").items] == [run_id]


@pytest.mark.parametrize("looped", ["sqlite"], indirect=True)
def test_failures_are_recorded_with_their_reason(looped: tuple[Client, object]) -> None:
    client, rt = looped
    client.apply_pipeline(retrain_pipeline("retrain-fails", fail=True))
    client.apply_pipeline(retrain_pipeline("retrain-gated", gate_auc=0.55))
    _policy(client, "fails", "retrain-fails")
    _policy(client, "pipeline-gate", "retrain-gated")
    _policy(client, "policy-gate", gate={"accuracy": ">= 0.99"})
    _policy(client, "nothing-new", params={"version": 1})
    started = deliver(rt, drift_event(rt))  # every policy of the deployment reacts to its drift
    assert len(started) == 4
    for run_id in started:
        retrain(client, rt, run_id)
    runs = {r.policy: r for r in client.list_loop_runs(deployment="api").items}
    assert all(r.state == "failed" and r.finished_at for r in runs.values()), runs
    fails = runs["fails"]
    assert "retrain_failed" in [s.step for s in fails.steps] and "at task ingest" in fails.reason
    assert fails.pipeline_run_id in fails.reason and "/nonexistent/fresh.parquet" in fails.reason
    gated = runs["pipeline-gate"]
    assert [s.step for s in gated.steps][-2:] == ["gate_failed", "failed"]
    assert gated.reason.startswith("gate failed") and "auc" in gated.reason
    policy_gate = runs["policy-gate"]
    assert "gate_failed" in [s.step for s in policy_gate.steps] and policy_gate.candidate_version == 2
    assert "accuracy = missing is not >= 0.99" in policy_gate.reason
    assert "registered no new version: v1" in runs["nothing-new"].reason
    assert client.get_deployment("api").rollout is None  # no canary started for any of them
    assert all(client.get_loop(n).active_run_id is None for n in runs)


@pytest.mark.parametrize("looped", ["sqlite"], indirect=True)
def test_an_alert_of_the_named_rule_starts_an_episode(looped: tuple[Client, object]) -> None:
    from _loops_support import deliver as handle

    from mainsail.core.events import emit, list_events

    client, rt = looped
    client.create_alert_rule("api-drift-high", "value > 0.2", selector={"deployment": "api", "kind": "drift"})
    _policy(client, "on-alert", trigger="alert", alert_rule="api-drift-high")

    def alert(rule: str, deployment: str) -> object:
        with rt.transaction() as ctx:
            emit(ctx.session, "alert.fired", rule, {"rule": rule, "summary": "charges psi 0.4 > 0.2",
                                                    "labels": {"deployment": deployment, "feature": "charges"}})
        with rt.transaction(write=False) as ctx:
            return list_events(ctx.session, type="alert.fired", limit=100_000)[-1]

    assert handle(rt, alert("another-rule", "api")) == []
    assert handle(rt, alert("api-drift-high", "elsewhere")) == []  # about another deployment
    assert handle(rt, drift_event(rt)) == []  # drift is not this policy's trigger
    (run_id,) = handle(rt, alert("api-drift-high", "api"))
    run = client.get_loop_run(run_id)
    assert run.trigger["type"] == "alert.fired" and run.trigger["rule"] == "api-drift-high"
    assert run.steps[0].detail == "alert api-drift-high fired: charges psi 0.4 > 0.2"
