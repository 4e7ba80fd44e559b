"""Quality guards in canary rollouts: the candidate's live metric (from labels) against the champion's.
A worse candidate rolls back naming the metric and both values; an equal one promotes once labels
arrive; without labels the rollout holds. Over every back end with logged predictions, and once end to
end with a real ``mainsail serve`` replica answering real requests."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from _labels_support import write_logs
from _serving_support import ReplicaProcess, churn_data, register
from sklearn.linear_model import LogisticRegression

from mainsail import Client
from mainsail.core.errors import InvalidInput
from mainsail.monitoring.performance import LOWER_IS_BETTER, METRICS
from mainsail.serving import rollout
from mainsail.serving.schemas import Guards, QualityMetric, QualityReading

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _decide(guards: Guards, readings: list[QualityReading], requests: int = 50) -> rollout.Decision:
    return rollout.decide(steps=[50, 100], step_index=0, step_started_at=NOW, step_seconds=0, guards=guards,
                          stats={"requests": requests}, now=NOW, quality=readings)


def test_decide_with_quality_guards() -> None:
    g = Guards(min_requests=10, quality=[{"metric": "accuracy", "margin": 0.02, "min_labels": 20}])
    worse = QualityReading(metric="accuracy", source="labels", candidate=0.61, champion=0.85, candidate_n=40,
                           champion_n=60)
    d = _decide(g, [worse], requests=1)  # a quality breach rolls back even before the step's requests
    assert d.action == "rollback" and "accuracy" in d.reason and "0.61" in d.reason and "0.85" in d.reason
    within = worse.model_copy(update={"candidate": 0.835})
    assert _decide(g, [within]).action == "advance"
    few = within.model_copy(update={"candidate_n": 5})
    d = _decide(g, [few])
    assert d.action == "hold" and "5/20" in d.reason
    few_and_worse = worse.model_copy(update={"candidate_n": 5})
    assert _decide(g, [few_and_worse]).action == "hold"  # too few labels to judge either way
    rmse = Guards(min_requests=10, quality=[{"metric": "rmse", "margin": 0.5, "min_labels": 1}])
    r = QualityReading(metric="rmse", source="labels", candidate=3.0, champion=2.0, candidate_n=9, champion_n=9)
    assert _decide(rmse, [r]).action == "rollback"  # lower is better
    assert _decide(rmse, [r.model_copy(update={"candidate": 2.4})]).action == "advance"


def test_metric_names_agree_with_monitoring() -> None:
    assert set(QualityMetric.__args__) == set(METRICS)
    assert rollout.LOWER_IS_BETTER == LOWER_IS_BETTER
    with pytest.raises(ValueError):
        Guards(quality=[{"metric": "accuracy"}, {"metric": "accuracy"}])


def _start(client: Client, **quality: object) -> None:
    client.start_rollout("api", "models:/churn/2", steps=[50, 100], step_seconds=0, min_requests=5,
                         quality=[{"metric": "accuracy", "margin": 0.02, "min_labels": 20, **quality}])


def _logged(client: Client, n: int, rng: np.random.Generator, candidate_acc: float) -> dict[str, int]:
    truth, rows = {}, []
    for i in range(n):
        variant = "canary" if i % 2 else "primary"
        y = int(rng.integers(0, 2))
        right = rng.random() < (0.9 if variant == "primary" else candidate_acc)
        rows.append((f"q{i}", variant, y if right else 1 - y))
        truth[f"q{i}"] = y
    write_logs(client, "api", rows)
    return truth


def test_worse_candidate_rolls_back_naming_the_metric(churn: Client) -> None:
    churn.create_deployment("api", "models:/churn@champion")
    _start(churn)
    truth = _logged(churn, 200, np.random.default_rng(1), candidate_acc=0.6)
    d = churn.report_replica("api", "r1", {"stats": {"canary": {"requests": 100}}})
    assert d.rollout.state == "running" and d.rollout.step_index == 0  # no labels yet: holds
    assert d.rollout.stats.quality[0].candidate_n == 0
    churn.push_labels("api", truth)
    d = churn.tick_rollout("api")
    assert d.rollout.state == "rolled_back", d.rollout
    reason = d.rollout.reason
    assert reason.startswith("quality guard accuracy (from labels): candidate 0.")
    q = d.rollout.stats.quality[0]
    assert q.candidate < 0.75 < q.champion and f"{q.candidate:.4g}" in reason and f"{q.champion:.4g}" in reason
    assert [v.name for v in d.variants] == ["primary"]


def test_as_good_candidate_promotes_once_labels_arrive(churn: Client) -> None:
    churn.create_deployment("api", "models:/churn@champion")
    _start(churn)
    truth = _logged(churn, 200, np.random.default_rng(2), candidate_acc=0.9)
    churn.push_labels("api", truth)
    d = churn.report_replica("api", "r1", {"stats": {"canary": {"requests": 100}}})
    assert d.rollout.step_index == 1, d.rollout
    d = churn.report_replica("api", "r1", {"stats": {"canary": {"requests": 100}}})
    assert d.rollout.state == "promoted", d.rollout
    with pytest.raises(InvalidInput) as ei:
        churn.start_rollout("api", "models:/churn/1", quality=[{"metric": "auc"}])
    assert ei.value.errors[0]["loc"][:4] == ["body", "guards", "quality", 0]


def test_real_replica_canary_with_a_worse_model_rolls_back(tmp_path: Path) -> None:
    uri, root = f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts")
    client = Client(uri, artifact_root=root)
    x, y = churn_data(400)
    register(client, tmp_path, LogisticRegression(max_iter=500).fit(x.to_numpy(), y))
    register(client, tmp_path, LogisticRegression(max_iter=500).fit(x.to_numpy(), 1 - y))  # inverted: worse
    client.set_model_alias("churn", "champion", 1)
    client.create_deployment("api", "models:/churn@champion")
    rep = ReplicaProcess(uri, "api", tmp_path, artifact_root=root).start()
    try:
        client.start_rollout("api", "models:/churn/2", steps=[50, 100], step_seconds=0, min_requests=10,
                             quality=[{"metric": "accuracy", "margin": 0.05, "min_labels": 20}])
        deadline = time.monotonic() + 20
        while len(client.get_deployment("api").variants) < 2 or not rep_has_canary(rep.url):
            assert time.monotonic() < deadline, "replica did not load the canary"
            time.sleep(0.2)
        records = x.to_dict("records")
        with httpx.Client(base_url=rep.url, timeout=10) as http:
            for i, rec in enumerate(records[:200]):
                r = http.post("/predict", json={"records": [rec], "request_id": f"live-{i}"})
                assert r.status_code == 200, r.text
        deadline = time.monotonic() + 20
        while sum(f.rows for f in client.list_inference_logs("api")) < 200:
            assert time.monotonic() < deadline, "inference logs did not arrive"
            time.sleep(0.2)
        d = client.get_deployment("api")
        assert d.rollout.state == "running", d.rollout  # enough requests, but no labels yet
        pushed = client.push_labels("api", {f"live-{i}": int(y[i]) for i in range(200)})
        assert pushed.unknown == 0
        deadline = time.monotonic() + 20
        while (d := client.get_deployment("api")).rollout.state == "running":  # the replica's sync decides
            assert time.monotonic() < deadline, d.rollout
            time.sleep(0.3)
        assert d.rollout.state == "rolled_back" and "quality guard accuracy" in d.rollout.reason, d.rollout
        q = d.rollout.stats.quality[0]
        assert q.candidate < 0.5 < q.champion
        assert [e.kind for e in client.deployment_history("api")][-1] == "rolled_back"
    finally:
        rep.stop()
        client.close()


def rep_has_canary(url: str) -> bool:
    try:
        return "canary" in httpx.get(url + "/metrics", timeout=2).text
    except httpx.HTTPError:
        return False


def test_estimated_guard_rolls_back_an_unsure_candidate_before_any_label(churn: Client) -> None:
    """Typed logs with probabilities: CBPE calibrated on the champion's labeled history estimates
    both variants' accuracy since the rollout started; no label of the rollout is needed."""
    from _labels_support import write_typed_logs

    rng = np.random.default_rng(7)
    churn.create_deployment("api", "models:/churn@champion")
    q = rng.beta(0.4, 0.4, 600)  # a confident, calibrated champion
    ids = write_typed_logs(churn, "api", "primary", q, at=time.time() - 600, prefix="ref-")
    churn.push_labels("api", dict(zip(ids, (rng.random(q.size) < q).astype(int).tolist(), strict=True)))
    # the performance report reads typed logs: roc_auc and log loss from the probability columns
    rep = churn.get_performance("api", start=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert {"roc_auc", "log_loss", "accuracy"} <= {r.test for r in rep.results if r.value is not None}
    churn.start_rollout("api", "models:/churn/2", steps=[50, 100], step_seconds=0, min_requests=5,
                        quality=[{"metric": "accuracy", "source": "estimated", "margin": 0.05, "min_labels": 50}])
    now = time.time() + 1
    write_typed_logs(churn, "api", "primary", rng.beta(0.4, 0.4, 200), at=now, prefix="cur-a-")
    write_typed_logs(churn, "api", "canary", rng.uniform(0.4, 0.6, 200), at=now, prefix="cur-c-")
    d = churn.report_replica("api", "r1", {"stats": {"canary": {"requests": 200}}})
    assert d.rollout.state == "rolled_back", d.rollout
    assert d.rollout.reason.startswith("quality guard accuracy (estimated): candidate 0.")
    q = d.rollout.stats.quality[0]
    assert q.candidate < 0.65 < 0.75 < q.champion and (q.candidate_n, q.champion_n) == (200, 200)
    # the same estimates in the performance report, marked estimated, next to the labeled metrics
    rep = churn.get_performance("api", start=d.rollout.started_at, end=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
                                estimate=True)
    est = {r.variant: r for r in rep.results if r.kind == "estimated_performance" and r.test == "accuracy"}
    assert est["canary"].estimated and est["canary"].value == pytest.approx(q.candidate)
    assert est["primary"].value == pytest.approx(q.champion) and est["canary"].labeled == 0
    assert not any(r.estimated for r in rep.results if r.kind == "performance")
    early = churn.get_performance("api", start=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2), estimate=True)
    assert "reference of 100 labeled predictions" in early.notes[0]
