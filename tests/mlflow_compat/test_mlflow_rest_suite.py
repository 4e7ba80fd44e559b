"""Scenarios from MLflow's own REST tracking tests (``tests/tracking/test_rest_tracking.py`` in MLflow,
written anew here) run with the real MLflow client against one real ``mainsail server`` (SQLite, one
server for the module: the scenarios use their own experiments). MLflow's tests whose subject Mainsail
does not serve are listed at the end and skip with the reason."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _services import ServerProcess

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
mlflow = pytest.importorskip("mlflow", reason="the mlflow test extra is not installed (pip install -e '.[mlflow]')")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("rest-suite")
    srv = ServerProcess(f"sqlite:///{tmp / 's.db'}", str(tmp / "art"), tmp).start(timeout=120)
    yield srv.url
    srv.stop()


@pytest.fixture
def client(url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.chdir(tmp_path)
    return mlflow.MlflowClient(url, url)


def _name(what: str) -> str:
    return f"{what} {uuid.uuid4().hex[:8]}"


def _post(url: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/api/2.0/mlflow{path}", json=body, timeout=60)


def test_experiments_create_get_search_delete_restore(client) -> None:
    from mlflow.entities import ViewType

    name = _name("My Experiment")
    exp_id = client.create_experiment(name, tags={"key1": "val1", "key2": "val2"})
    exp = client.get_experiment(exp_id)
    assert (exp.name, exp.tags, exp.lifecycle_stage) == (name, {"key1": "val1", "key2": "val2"}, "active")
    assert client.get_experiment_by_name(name).experiment_id == exp_id
    assert name in {e.name for e in client.search_experiments()}
    client.delete_experiment(exp_id)
    assert name not in {e.name for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)}
    assert name in {e.name for e in client.search_experiments(view_type=ViewType.DELETED_ONLY)}
    assert name in {e.name for e in client.search_experiments(view_type=ViewType.ALL)}
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    client.rename_experiment(exp_id, name + " renamed")
    assert client.get_experiment(exp_id).name == name + " renamed"

    first = client.search_experiments(max_results=1, view_type=ViewType.ALL)
    assert len(first) == 1 and first.token
    second = client.search_experiments(max_results=1, view_type=ViewType.ALL, page_token=first.token)
    assert len(second) == 1 and {e.name for e in first} != {e.name for e in second}


@pytest.mark.parametrize(("body", "message"), [
    ({"name": 123}, "Invalid value 123 for parameter 'name'"),
    ({}, "Missing value for required parameter 'name'"),
    ({"name": "x", "tags": "5"}, "for parameter 'tags'"),
])
def test_experiment_create_validation(url: str, body: dict, message: str) -> None:
    r = _post(url, "/experiments/create", body)
    assert r.status_code == 400 and message in r.json()["message"], r.text


def test_create_run_with_all_arguments(client) -> None:
    from mlflow.utils.mlflow_tags import MLFLOW_SOURCE_NAME, MLFLOW_USER

    exp_id = client.create_experiment(_name("Run A Lot (x=1)"))
    tags = {MLFLOW_USER: "username", MLFLOW_SOURCE_NAME: "Hello", "my": "tag", "other": "tag"}
    created = client.create_run(exp_id, start_time=456, run_name="my name", tags=tags)
    fetched = client.get_run(created.info.run_id)
    for run in (created, fetched):
        assert (run.info.experiment_id, run.info.start_time, run.info.run_name) == (exp_id, 456, "my name")
        assert run.info.run_id == created.info.run_id
        assert run.info.user_id == "username"
        assert {k: run.data.tags[k] for k in tags} == tags
    assert [r.info.run_id for r in client.search_runs([exp_id])] == [created.info.run_id]


def test_metrics_params_tags_and_history(client) -> None:
    run_id = client.create_run(client.create_experiment(_name("Oh My"))).info.run_id
    client.log_metric(run_id, key="metric", value=123.456, timestamp=789, step=2)
    client.log_metric(run_id, key="nan_metric", value=float("nan"))
    client.log_metric(run_id, key="inf_metric", value=float("inf"))
    client.log_metric(run_id, key="-inf_metric", value=-float("inf"))
    client.log_metric(run_id, key="stepless-metric", value=987.654, timestamp=321)
    client.log_param(run_id, "param", "value")
    client.log_param(run_id, "empty", "")
    client.set_tag(run_id, "taggity", "do-dah")
    client.set_tag(run_id, "empty_tag", "")
    data = client.get_run(run_id).data
    assert data.metrics["metric"] == 123.456 and math.isnan(data.metrics["nan_metric"])
    assert data.metrics["inf_metric"] >= 1.7976931348623157e308
    assert data.metrics["-inf_metric"] <= -1.7976931348623157e308
    assert data.params == {"param": "value", "empty": ""}
    assert data.tags["taggity"] == "do-dah" and data.tags["empty_tag"] == ""
    [point] = client.get_metric_history(run_id, "metric")
    assert (point.key, point.value, point.timestamp, point.step) == ("metric", 123.456, 789, 2)
    [point] = client.get_metric_history(run_id, "stepless-metric")
    assert (point.timestamp, point.step) == (321, 0)
    assert client.get_metric_history(run_id, "a_test_accuracy") == []


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/runs/log-metric", {"run_id": 31, "key": "metric", "value": 41, "timestamp": 59, "step": 26},
     "Invalid value 31 for parameter 'run_id' supplied"),
    ("/runs/log-metric", {"key": 31, "value": 41, "timestamp": 59, "step": 26},
     "Invalid value 31 for parameter 'key' supplied"),
    ("/runs/log-metric", {"key": "foo", "value": 31, "timestamp": 59, "step": "foo"},
     "for parameter 'step'"),
    ("/runs/log-metric", {"key": "foo", "value": 31, "timestamp": "foo", "step": 41},
     "for parameter 'timestamp'"),
    ("/runs/log-metric", {"run_id": None, "key": "foo", "value": 31, "timestamp": 59, "step": 41},
     "Missing value for required parameter 'run_id'"),
    ("/runs/log-metric", {"value": 31, "timestamp": 59, "step": 41}, "Missing value for required parameter 'key'"),
    ("/runs/log-parameter", {"run_id": 31, "key": "param", "value": 41},
     "Invalid value 31 for parameter 'run_id' supplied"),
    ("/runs/log-parameter", {"key": 31, "value": 41}, "Invalid value 31 for parameter 'key' supplied"),
])
def test_log_validation(client, url: str, path: str, body: dict, message: str) -> None:
    run_id = client.create_run(client.create_experiment(_name("validation"))).info.run_id
    r = _post(url, path, {"run_id": run_id, **body})
    assert r.status_code == 400 and message in r.json()["message"], r.text
    assert client.get_run(run_id).data.metrics == {} and client.get_run(run_id).data.params == {}


def test_log_batch_and_delete_tag(client) -> None:
    from mlflow.entities import Metric, Param, RunTag

    run_id = client.create_run(client.create_experiment(_name("Batch"))).info.run_id
    client.log_batch(run_id, metrics=[Metric("m", 1.0, 10, 0), Metric("m", 2.0, 20, 1)],
                     params=[Param("p", "v")], tags=[RunTag("t", "x"), RunTag("gone", "y")])
    client.delete_tag(run_id, "gone")
    run = client.get_run(run_id)
    assert run.data.metrics == {"m": 2.0} and run.data.params == {"p": "v"}
    assert run.data.tags["t"] == "x" and "gone" not in run.data.tags
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "m")] == [(0, 1.0), (1, 2.0)]
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.delete_tag(run_id, "gone")


def test_search_runs_filter_order_and_pages(client) -> None:
    exp_id = client.create_experiment(_name("search"))
    ids = []
    for i in range(5):
        run = client.create_run(exp_id, run_name=f"r{i}")
        client.log_metric(run.info.run_id, "auc", i / 10)
        client.log_param(run.info.run_id, "parity", "even" if i % 2 == 0 else "odd")
        ids.append(run.info.run_id)
    found = client.search_runs([exp_id], "params.parity = 'even'", order_by=["metrics.auc DESC"])
    assert [r.info.run_id for r in found] == [ids[4], ids[2], ids[0]]
    found = client.search_runs([exp_id], "metrics.auc > 0.15 and attributes.run_name LIKE 'r%'",
                               order_by=["metrics.auc ASC"])
    assert [r.info.run_id for r in found] == ids[2:]
    page1 = client.search_runs([exp_id], order_by=["metrics.auc ASC"], max_results=2)
    page2 = client.search_runs([exp_id], order_by=["metrics.auc ASC"], max_results=2, page_token=page1.token)
    assert [r.info.run_id for r in page1] + [r.info.run_id for r in page2] == ids[:4]


def test_update_delete_restore_run(client) -> None:
    from mlflow.entities import ViewType

    exp_id = client.create_experiment(_name("lifecycle"))
    run_id = client.create_run(exp_id).info.run_id
    client.update_run(run_id, status="FINISHED", name="renamed")
    info = client.get_run(run_id).info
    assert (info.status, info.run_name) == ("FINISHED", "renamed") and info.end_time
    client.delete_run(run_id)
    assert client.search_runs([exp_id], run_view_type=ViewType.ACTIVE_ONLY) == []
    client.restore_run(run_id)
    assert [r.info.run_id for r in client.search_runs([exp_id])] == [run_id]


def test_artifacts_log_list_download(client, tmp_path: Path) -> None:
    run_id = client.create_run(client.create_experiment(_name("artifacts"))).info.run_id
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "a.txt").write_text("A")
    (tmp_path / "dir" / "sub" / "b.txt").write_text("B")
    client.log_artifacts(run_id, str(tmp_path / "dir"), "out")
    assert [(f.path, f.is_dir) for f in client.list_artifacts(run_id, "out")] == [("out/a.txt", False),
                                                                                   ("out/sub", True)]
    local = Path(client.download_artifacts(run_id, "out", str(tmp_path / "dl")))
    assert (local / "a.txt").read_text() == "A" and (local / "sub" / "b.txt").read_text() == "B"


def test_registered_model_and_versions(client) -> None:
    run = client.create_run(client.create_experiment(_name("reg")))
    client.log_text(run.info.run_id, "flavors: {}\n", "model/MLmodel")
    name = _name("Reg Model")
    client.create_registered_model(name, tags={"team": "a"}, description="first")
    v = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    assert (v.version, v.run_id) == ("1", run.info.run_id)
    client.set_registered_model_alias(name, "champion", "1")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    client.update_registered_model(name, description="second")
    client.set_model_version_tag(name, "1", "k", "v")
    got = client.get_registered_model(name)
    assert (got.description, got.tags, got.aliases) == ("second", {"team": "a"}, {"champion": "1"})
    assert client.get_model_version(name, "1").tags == {"k": "v"}
    client.rename_registered_model(name, name + " b")
    assert [m.name for m in client.search_registered_models(f"name = '{name} b'")] == [name + " b"]
    client.delete_registered_model_alias(name + " b", "champion")
    client.delete_model_version(name + " b", "1")
    assert client.search_model_versions(f"name = '{name} b'") == []
    client.delete_registered_model(name + " b")
    with pytest.raises(mlflow.exceptions.MlflowException) as err:
        client.get_registered_model(name + " b")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


NOT_RUN = {
    "test_delete_restore_experiment_cli, test_rename_experiment_cli":
        "drive MLflow's own CLI module from MLflow's test utilities, which the mlflow wheel does not ship",
    "test_create_get_search_experiment (artifact_location)":
        "Mainsail keeps every artifact in its content-addressed store: a per-experiment artifact_location is "
        "not stored (the rest of that scenario runs above)",
    "file-store parametrization": "MLflow's file backend is MLflow's own storage; Mainsail has one store",
    "traces, assessments, prompts, gateway, workspaces": "not served (answer ENDPOINT_NOT_FOUND)",
    "test_get_metric_history_bulk_interval, sampled steps": "the UI's sampled-history call is not served",
}


@pytest.mark.parametrize("group", list(NOT_RUN))
def test_groups_that_do_not_run_here(group: str) -> None:
    pytest.skip(f"{group}: {NOT_RUN[group]}")
