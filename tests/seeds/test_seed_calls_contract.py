"""The seeds' Python calls, run with only the object renamed (``registry = mainsail.Client()``), the
same embedded (sqlite, postgres) and over http. Each is a spelling of one of our own calls."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import pandas as pd
import pytest

import mainsail
from mainsail.core.errors import InvalidInput, NotFound
from mainsail.features.schemas import Entity, FeatureView

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def registry(backend: str):
    c = mainsail.Client(backend)
    yield c
    c.close()


@pytest.fixture
def users(registry: mainsail.Client) -> mainsail.Client:
    """A ``users`` dataset and a ``user_stats`` view over it (age, total_purchases by user_id)."""
    registry.ingest_dataset(pd.DataFrame({
        "user_id": ["u1", "u1", "u2"], "event_timestamp": [T0, T0 + dt.timedelta(days=1), T0 + dt.timedelta(hours=5)],
        "age": [30, 31, 40], "total_purchases": [1.0, 2.0, 5.0]}), "users")
    registry.apply_features([Entity(name="user_id"), FeatureView(
        name="user_stats", entities=["user_id"], features={"age": "int64", "total_purchases": "float64"},
        source="dataset:users")])
    return registry


def _model_files(tmp_path: Path) -> list[str]:
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    (tmp_path / "preprocessor.pkl").write_bytes(pickle.dumps({"scale": 2.0}))
    return [str(tmp_path / "model.pkl"), str(tmp_path / "preprocessor.pkl")]


def test_register_model(registry: mainsail.Client, tmp_path: Path) -> None:
    model = registry.register_model(name="fraud-detector", framework="sklearn", metrics={"auc": 0.93},
                                    artifacts=_model_files(tmp_path))
    assert (model.name, model.version, model.framework, model.metrics) == ("fraud-detector", 1, "sklearn",
                                                                           {"auc": 0.93})
    assert sorted(model.files) == ["model.pkl", "preprocessor.pkl"]
    folder = registry.download_model(f"models:/fraud-detector/{model.version}", tmp_path / "out")
    assert pickle.loads((folder / "preprocessor.pkl").read_bytes()) == {"scale": 2.0}
    with pytest.raises(InvalidInput) as ei:
        registry.register_model(name="fraud-detector", framework="sklearn", artifacts=[str(tmp_path / "gone.pkl")])
    assert ei.value.code == "artifact_not_found" and "gone.pkl" in ei.value.detail


def test_promote_model(registry: mainsail.Client, tmp_path: Path) -> None:
    first = registry.register_model(name="churn", framework="sklearn", artifacts=_model_files(tmp_path))
    second = registry.register_model(name="churn", framework="sklearn", artifacts=_model_files(tmp_path))
    assert registry.promote_model(first.id, stage="production").stage == "production"
    assert registry.promote_model(second.id, stage="Production").stage == "production"
    assert registry.get_model_version(first.id).stage == "deprecated"  # the one it replaced is archived
    assert registry.promote_model(first.id, stage="Staging").stage == "staging"
    assert registry.promote_model(first.id, stage="Archived").stage == "deprecated"


def test_get_model(registry: mainsail.Client, tmp_path: Path) -> None:
    v1 = registry.register_model(name="churn", framework="sklearn", artifacts=_model_files(tmp_path))
    v2 = registry.register_model(name="churn", framework="sklearn", artifacts=_model_files(tmp_path))
    registry.promote_model(v1.id, stage="production")
    assert registry.get_model("churn", stage="production").id == v1.id
    assert registry.get_model("churn", stage="Production").id == v1.id
    assert registry.get_model("churn").id == v2.id
    assert registry.resolve_model("models:/churn/Production").id == v1.id
    with pytest.raises(NotFound):
        registry.get_model("churn", stage="staging")


def test_create_feature_set(users: mainsail.Client) -> None:
    registry = users
    result = registry.create_feature_set(name="user_features", features=["age", "total_purchases"])
    assert [(c.kind, c.name, c.action) for c in result.changes] == [("service", "user_features", "created")]
    spec = registry.get_feature_definition("services", "user_features").spec
    assert spec["features"] == ["user_stats:age", "user_stats:total_purchases"]
    with pytest.raises(NotFound) as ei:
        registry.create_feature_set(name="typo", features=["agee"])
    assert "'agee'" in ei.value.detail and "did you mean 'age'" in ei.value.detail
    assert "user_stats:total_purchases" in ei.value.detail


def test_get_online_features(users: mainsail.Client) -> None:
    registry = users
    registry.materialize_features()
    one = registry.get_online_features(entities={"user_id": "u1"}, features=["age", "total_purchases"])
    assert one.rows() == [{"user_id": "u1", "age": 31, "total_purchases": 2.0}]
    registry.create_feature_set(name="user_features", features=["age"])
    both = registry.get_online_features(entities={"user_id": ["u1", "u2"]}, features="user_features")
    assert both.to_dict() == {"user_id": ["u1", "u2"], "age": [31, 40]}


def test_get_training_data(users: mainsail.Client) -> None:
    registry = users
    registry.create_feature_set(name="user_features", features=["age", "total_purchases"])
    df = registry.get_training_data(feature_set="user_features", start_date="2026-01-01T03:00:00")
    assert list(df.columns) == ["user_id", "event_timestamp", "age", "total_purchases"]
    assert df[["user_id", "age", "total_purchases"]].to_dict("records") == [
        {"user_id": "u2", "age": 40, "total_purchases": 5.0}, {"user_id": "u1", "age": 31, "total_purchases": 2.0}]
    assert len(registry.get_training_data(feature_set="user_features")) == 3


def test_update_online_features(users: mainsail.Client) -> None:
    registry = users
    registry.materialize_features()
    registry.update_online_features(entity_id="u2", features={"age": 41})
    rows = registry.get_online_features(entities={"user_id": "u2"}, features=["age", "total_purchases"]).rows()
    assert rows == [{"user_id": "u2", "age": 41, "total_purchases": 5.0}]  # the other feature is kept
    with pytest.raises(InvalidInput):
        registry.update_online_features(entity_id="u2", features={"age": "old"})


def test_run_pipeline(registry: mainsail.Client) -> None:
    definition = [{"name": "answer", "operator": "sql_query", "query": "SELECT 42 AS x"},
                  {"name": "echo", "operator": "noop", "value": "done"}]
    if registry.is_remote:  # the test server runs no executor: the run is queued for one
        run = registry.run_pipeline(definition, wait=False)
        assert run.status == "queued" and run.pipeline.startswith("pipeline-")
    else:
        run = registry.run_pipeline(definition, timeout=120)
        assert run.status == "succeeded" and run.task("answer").output["rows"] == [[42]]
    assert registry.get_pipeline_run(run.id).task("echo").depends_on == ["answer"]  # a list is steps
    seed = {"name": "training-pipeline", "tasks": [{"name": "fetch-data", "operator": "data_ingestion"},
                                                   {"name": "train", "operator": "model_training"}]}
    with pytest.raises(InvalidInput) as ei:
        registry.run_pipeline(seed, wait=False)
    assert ei.value.code == "missing_task_param" and "task 'fetch-data' needs 'source', 'name'" in ei.value.detail


def test_run_params_may_refer_to_any_earlier_task(registry: mainsail.Client) -> None:
    chain = {"name": "chain", "tasks": [{"name": "a", "operator": "noop", "value": {"rows": 7}},
                                        {"name": "b", "operator": "noop", "depends_on": ["a"]},
                                        {"name": "c", "operator": "noop", "depends_on": ["b"]}]}
    with pytest.raises(InvalidInput) as ei:
        registry.run_pipeline(chain, {"a": {"value": "${tasks.c}"}}, wait=False)
    assert ei.value.errors[0]["loc"] == ["body", "params", "a", "value"] and "runs before 'a'" in ei.value.detail
    run = registry.run_pipeline(chain, {"c": {"value": "${tasks.a.rows}"}}, wait=not registry.is_remote,
                                timeout=120)
    if not registry.is_remote:
        assert run.status == "succeeded" and run.task("c").output == 7


def weekly_retrain() -> dict:
    return {"retrained": True}


def test_schedule(registry: mainsail.Client) -> None:
    decorated = registry.schedule("0 0 * * 0")(weekly_retrain)
    assert decorated is weekly_retrain and decorated() == {"retrained": True}
    schedules = registry.list_pipeline_schedules("weekly_retrain")
    assert [(s.cron, s.pipeline) for s in schedules] == [("0 0 * * 0", "weekly_retrain")]
    assert weekly_retrain.schedule.next_fire_at is not None
    spec = registry.get_pipeline("weekly_retrain").spec
    assert spec.tasks[0].operator == "python" and spec.tasks[0].params["callable"].endswith(":weekly_retrain")
