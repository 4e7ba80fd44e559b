"""Deployments contract over sqlite, postgres and http: create, resolve, traffic, history, canary
rollouts driven by replica reports, rollback, replica health, inference log files."""

from __future__ import annotations

import datetime as dt

import pytest

from mainsail import Client
from mainsail.core.errors import Conflict, InvalidInput, NotFound
from mainsail.serving.schemas import LATENCY_BUCKETS_MS


def _stats(requests: int, errors: int = 0, ms: float = 3.0) -> dict:
    buckets = [0] * len(LATENCY_BUCKETS_MS)
    buckets[next(i for i, b in enumerate(LATENCY_BUCKETS_MS) if ms <= b)] = requests
    return {"requests": requests, "errors": errors, "latency_buckets": buckets}


def _events(client: Client, types: set[str]) -> list[str]:
    from mainsail.core.events import list_events

    if client.is_remote:
        return []
    with client._backend.runtime.transaction(write=False) as ctx:  # type: ignore[attr-defined]
        return [e.type for e in list_events(ctx.session, limit=1000) if e.type in types]


def test_create_resolve_list_and_history(churn: Client) -> None:
    d = churn.create_deployment("churn-api", [
        {"name": "a", "model": "models:/churn@champion", "weight": 90},
        {"name": "b", "model": "models:/churn/2", "weight": 10},
        {"name": "s", "model": "models:/churn/2", "role": "shadow"}], description="churn scoring")
    assert (d.name, d.mode, d.status) == ("churn-api", "shadow", "healthy")
    assert [(v.name, v.version, v.weight, v.role) for v in d.variants] == [
        ("a", 1, 90, "primary"), ("b", 2, 10, "primary"), ("s", 2, 100, "shadow")]
    assert d.variants[0].manifest_digest and d.variants[0].model_name == "churn"
    assert [x.name for x in churn.list_deployments().items] == ["churn-api"]
    churn.set_model_alias("churn", "champion", 2)
    assert churn.get_deployment("churn-api").variants[0].version == 2  # aliases resolve at read time
    d = churn.set_traffic("churn-api", {"a": 50, "b": 50}, reason="even split")
    assert [v.weight for v in d.variants] == [50, 50, 100]
    h = churn.deployment_history("churn-api")
    assert [e.kind for e in h] == ["created", "traffic"]
    assert h[1].before == {"a": 90, "b": 10, "s": 100} and h[1].weights["a"] == 50 and h[1].reason == "even split"
    d = churn.rollback_deployment("churn-api")  # no rollout: back to the previous split
    assert [v.weight for v in d.variants] == [90, 10, 100]
    assert _events(churn, {"deployment.created", "traffic.changed"}) in ([], [
        "deployment.created", "traffic.changed"])


def test_bad_input_names_the_field_and_unknowns_are_404(churn: Client) -> None:
    with pytest.raises(InvalidInput) as ei:
        churn.create_deployment("x", [{"name": "a", "model": "churn@champion"}])
    assert ei.value.errors[0]["loc"][:4] == ["body", "variants", 0, "model"]
    with pytest.raises(InvalidInput) as ei:
        churn.create_deployment("x", [{"name": "a", "model": "models:/churn/1", "weight": 120}])
    assert ei.value.errors[0]["loc"][:4] == ["body", "variants", 0, "weight"]
    with pytest.raises(InvalidInput) as ei:
        churn.create_deployment("x", [{"name": "a", "model": "models:/churn/1"}, {"name": "a", "model": "models:/churn/2"}])
    assert ei.value.errors[0]["loc"][:2] == ["body", "variants"] and "unique" in ei.value.errors[0]["msg"]
    with pytest.raises(InvalidInput) as ei:
        churn.create_deployment("bad name!", "models:/churn/1")
    assert ei.value.errors[0]["loc"] == ["body", "name"]
    with pytest.raises(NotFound, match="churn@nope"):
        churn.create_deployment("x", "models:/churn@nope")
    with pytest.raises(NotFound, match="nomodel"):
        churn.create_deployment("x", "models:/nomodel/1")
    with pytest.raises(NotFound, match="churn/9"):
        churn.create_deployment("x", "models:/churn/9")
    with pytest.raises(NotFound, match="'missing'"):
        churn.get_deployment("missing")
    churn.create_deployment("x", "models:/churn@champion")
    with pytest.raises(Conflict):
        churn.create_deployment("x", "models:/churn/1")
    with pytest.raises(InvalidInput) as ei:
        churn.set_traffic("x", {"zzz": 10})
    assert ei.value.errors[0]["loc"] == ["body", "weights", "zzz"]
    with pytest.raises(InvalidInput) as ei:
        churn.set_traffic("x", {"primary": -1})
    assert ei.value.errors[0]["loc"][:2] == ["body", "weights"]
    with pytest.raises(InvalidInput) as ei:
        churn.start_rollout("x", "models:/churn/2", steps=[50, 10])
    assert ei.value.errors[0]["loc"] == ["body", "steps"]
    with pytest.raises(NotFound):
        churn.start_rollout("x", "models:/churn/7")
    assert [v.weight for v in churn.get_deployment("x").variants] == [100]  # nothing changed


def test_canary_steps_then_promote_moves_the_alias(churn: Client) -> None:
    churn.create_deployment("api", "models:/churn@champion")
    d = churn.start_rollout("api", "models:/churn/2", steps=[10, 50, 100], step_seconds=0, min_requests=10,
                            max_p95_ms=50)
    assert d.mode == "canary" and d.rollout and d.rollout.weight == 10
    assert {v.name: v.weight for v in d.variants} == {"primary": 90, "canary": 10}
    d = churn.report_replica("api", "r1", {"stats": {"canary": _stats(5)}})
    assert d.rollout.step_index == 0 and d.rollout.stats.requests == 5  # not enough requests yet
    d = churn.report_replica("api", "r2", {"stats": {"canary": _stats(5)}})  # two replicas add up
    assert d.rollout.step_index == 1 and {v.name: v.weight for v in d.variants} == {"primary": 50, "canary": 50}
    d = churn.report_replica("api", "r1", {"stats": {"canary": _stats(10)}})
    assert d.rollout.weight == 100
    d = churn.report_replica("api", "r1", {"stats": {"canary": _stats(10)}})
    assert d.rollout.state == "promoted" and d.mode == "split"
    assert [(v.name, v.model, v.version, v.weight) for v in d.variants] == [("primary", "models:/churn@champion", 2, 100)]
    assert churn.get_model_version_by_alias("churn", "champion").version == 2
    assert [e.kind for e in churn.deployment_history("api")] == [
        "created", "rollout_started", "rollout_step", "rollout_step", "promoted"]
    ev = _events(churn, {"rollout.promoted", "rollout.rolled_back", "alias.moved"})
    assert ev in ([], ["alias.moved", "alias.moved", "rollout.promoted"])


def _promote(client: Client, deployment: str) -> None:
    client.start_rollout(deployment, "models:/churn/2", steps=[100], step_seconds=0, min_requests=1)
    d = client.report_replica(deployment, "r1", {"stats": {"canary": _stats(5)}})
    assert d.rollout is not None and d.rollout.state == "promoted", d.rollout


@pytest.mark.parametrize("follows", ["alias", "stage"])
def test_a_promoted_rollout_leaves_stage_and_alias_coherent(churn: Client, follows: str) -> None:
    """The promoted version takes the stage of the one it replaces (and the alias when the deployment
    follows one); the replaced version is archived; both moves name the rollout."""
    churn.set_model_stage("churn", 1, "production")
    churn.set_model_stage("churn", 2, "staging")
    uri = {"alias": "models:/churn@champion", "stage": "models:/churn/production"}[follows]
    churn.create_deployment("api", uri)
    _promote(churn, "api")
    rollout_id = churn.get_deployment("api").rollout.id
    assert churn.get_latest_model_version("churn", "production").version == 2
    assert churn.get_model_version("churn", 1).stage == "deprecated"
    assert churn.get_model_version("churn", 2).stage == "production"
    assert churn.get_model_version_by_alias("churn", "champion").version == (2 if follows == "alias" else 1)
    d = churn.get_deployment("api")
    assert [(v.model, v.version) for v in d.variants] == [(uri, 2)]  # still follows, now resolves to v2
    moves = [h for h in churn.model_history("churn") if h.kind in ("stage", "alias") and h.reason
             and rollout_id in h.reason]
    expected = {(2, "stage", "staging", "production"), (1, "stage", "production", "deprecated")}
    if follows == "alias":
        expected.add((2, "alias", "1", "2"))
    assert {(h.version, h.kind, h.from_value, h.to_value) for h in moves} == expected


def test_promoting_a_pinned_version_keeps_its_stage_coherent(churn: Client) -> None:
    churn.set_model_stage("churn", 1, "staging")
    churn.create_deployment("api", "models:/churn/1")
    _promote(churn, "api")
    assert [v.model for v in churn.get_deployment("api").variants] == ["models:/churn/2"]
    assert [churn.get_model_version("churn", n).stage for n in (1, 2)] == ["deprecated", "staging"]


@pytest.mark.parametrize("breach", ["errors", "latency", "metric"])
def test_a_guard_breach_rolls_back_at_once(churn: Client, breach: str) -> None:
    churn.create_deployment("api", "models:/churn@champion")
    churn.start_rollout("api", "models:/churn/2", steps=[10, 100], step_seconds=3600, min_requests=10,
                        max_error_rate=0.1, max_p95_ms=20, metrics={"drift": "<= 0.2"})
    stats = {"errors": _stats(20, errors=5), "latency": _stats(20, ms=150),
             "metric": {**_stats(3), "metrics": {"drift": 0.4}}}[breach]
    d = churn.report_replica("api", "r1", {"stats": {"canary": stats}})
    assert d.rollout.state == "rolled_back", d.rollout
    assert {"errors": "error rate", "latency": "p95", "metric": "drift"}[breach] in d.rollout.reason
    assert [(v.name, v.weight) for v in d.variants] == [("primary", 100)]
    assert churn.get_model_version_by_alias("churn", "champion").version == 1
    with pytest.raises(Conflict):  # the only earlier split is the canary's, which is never restored
        churn.rollback_deployment("api")


def test_manual_rollback_tick_and_replica_health(churn: Client) -> None:
    churn.create_deployment("api", "models:/churn@champion")
    churn.start_rollout("api", "models:/churn/2", step_seconds=3600)
    with pytest.raises(Conflict):
        churn.start_rollout("api", "models:/churn/2")
    with pytest.raises(Conflict):
        churn.set_traffic("api", {"primary": 50})
    assert churn.tick_rollout("api").rollout.state == "running"
    d = churn.rollback_deployment("api", reason="looks wrong")
    assert d.rollout.state == "rolled_back" and d.rollout.reason == "looks wrong"
    assert [v.name for v in d.variants] == ["primary"]
    d = churn.report_replica("api", "r1", {"status": "degraded", "message": "v3 failed to load", "loaded": {"primary": 1}})
    assert d.status == "degraded" and d.replicas[0].message == "v3 failed to load"
    assert churn.report_replica("api", "r1", {"status": "healthy"}).status == "healthy"


def test_inference_log_files(churn: Client) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    churn.create_deployment("api", "models:/churn@champion")
    buf = io.BytesIO()
    pq.write_table(pa.table({"request_id": ["r1"], "variant": ["primary"]}), buf)
    now = dt.datetime.now(dt.UTC)
    f = churn.add_inference_log("api", buf.getvalue(), rows=1, first_at=now, last_at=now, replica="r1")
    assert f.rows == 1 and len(f.digest) == 64
    assert [x.digest for x in churn.list_inference_logs("api")] == [f.digest]
    assert churn.list_inference_logs("api", since=now + dt.timedelta(hours=1)) == []
    assert list(churn.load_inference_logs("api")["request_id"]) == ["r1"]
    with pytest.raises(NotFound):
        churn.list_inference_logs("nope")


def test_client_errors_do_not_trip_the_canary_and_it_inherits_the_feature_service(churn: Client) -> None:
    d = churn.create_deployment("api", "models:/churn@champion", feature_service="churn_fs")
    assert d.variants[0].feature_service == "churn_fs"
    d = churn.start_rollout("api", "models:/churn/2", steps=[10, 100], step_seconds=3600, min_requests=10)
    assert {v.name: v.feature_service for v in d.variants} == {"primary": "churn_fs", "canary": "churn_fs"}
    d = churn.report_replica("api", "r1", {"stats": {"canary": {**_stats(5), "client_errors": 500}}})
    assert d.rollout.state == "running" and d.rollout.stats.client_errors == 500  # bad requests: not the model's
    d = churn.report_replica("api", "r1", {"stats": {"canary": _stats(5, errors=3)}})
    assert d.rollout.state == "rolled_back" and "error rate 3/10" in (d.rollout.reason or "")
