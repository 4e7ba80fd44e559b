"""Loop policies over every back end (sqlite, postgres, http): create, read, replace, delete, the runs
list, and bad input named by its field."""

from __future__ import annotations

import pytest
from _loops_support import retrain_pipeline

from mainsail import Client
from mainsail.core.errors import Conflict, InvalidInput, NotFound


def _create(client: Client, name: str = "api-fresh", **kw: object) -> object:
    opts: dict = {"deployment": "api", "pipeline": "retrain", "candidate_task": "register", "margin": 0.02,
                  "min_labels": 50, "steps": [20, 100], "step_seconds": 5, **kw}
    return client.create_loop(name, **opts)


def test_policies_read_replace_delete(churn: Client) -> None:
    churn.create_deployment("api", "models:/churn@champion")
    churn.apply_pipeline(retrain_pipeline())
    p = _create(churn, gate={"auc": ">= 0.7"}, params={"version": 2}, cooldown=120)
    assert (p.deployment, p.pipeline, p.trigger, p.cooldown_seconds) == ("api", "retrain", "drift", 120)
    q = p.canary.guards.quality[0]
    assert (q.metric, q.source, q.margin, q.min_labels) == ("roc_auc", "labels", 0.02, 50)
    assert p.canary.steps == [20, 100] and p.gate == {"auc": ">= 0.7"} and p.active_run_id is None
    assert churn.get_loop("api-fresh") == p
    assert [x.name for x in churn.list_loops()] == ["api-fresh"] and churn.list_loops(deployment="other") == []
    with pytest.raises(Conflict):
        _create(churn)
    p2 = _create(churn, source="estimated", metric="accuracy", replace=True)
    assert p2.id == p.id and p2.canary.guards.quality[0].source == "estimated"
    assert churn.list_loop_runs("api-fresh").items == [] and churn.tick_loops() == 0
    with pytest.raises(NotFound):
        churn.get_loop_run("0123456789abcdef0123456789abcdef")
    churn.delete_loop("api-fresh")
    with pytest.raises(NotFound):
        churn.get_loop("api-fresh")


def test_bad_input_names_the_field(churn: Client) -> None:
    churn.create_deployment("api", "models:/churn@champion")
    churn.apply_pipeline(retrain_pipeline())
    cases = [({"deployment": "nope"}, ["body", "deployment"], "deployment 'nope'"),
             ({"pipeline": "nope"}, ["body", "pipeline"], "pipeline 'nope'"),
             ({"candidate_task": "train"}, ["body", "candidate_task"], "its tasks: prepare, register"),
             ({"margin": -0.1}, ["body", "canary", "guards", "quality", 0, "margin"], "margin"),
             ({"metric": "auc"}, ["body", "canary", "guards", "quality", 0, "metric"], "metric"),
             ({"quality": []}, ["body", "canary", "guards"], "at least one quality guard"),
             ({"gate": {"auc": "high"}}, ["body", "gate", "auc"], "'>= 0.85'"),
             ({"trigger": "alert"}, ["body"], "needs alert_rule"),
             ({"trigger": "alert", "alert_rule": "nope"}, ["body", "alert_rule"], "alert rule 'nope'"),
             ({"steps": [50, 10]}, ["body", "canary", "steps"], "steps must increase"),
             ({"cooldown": -1}, ["body", "cooldown_seconds"], "cooldown_seconds")]
    for kw, loc, text in cases:
        with pytest.raises(InvalidInput) as ei:
            _create(churn, "bad", **kw)
        err = ei.value
        assert any(e["loc"][:len(loc)] == loc for e in err.errors), (kw, err.errors)
        assert text in err.detail or any(text in str(e) for e in err.errors), (kw, err.detail, err.errors)
    with pytest.raises(InvalidInput):
        _create(churn, "bad\x00name")
    assert churn.list_loops() == []
