"""Existing MLflow code, unchanged, against ``mainsail server``: every call's result is checked through
Mainsail's own Client (same experiments, runs, artifacts, registered versions, stages and aliases)."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from mainsail import Client

REQS = ["scikit-learn"]  # skips MLflow's requirement inference (a slow subprocess, client-side only)


def test_tracking_calls_land_on_mainsail_runs(mlflow_server, tmp_path: Path) -> None:
    import mlflow

    mlflow.set_experiment("churn")
    note = tmp_path / "note.txt"
    note.write_text("hello")
    (tmp_path / "plots" / "roc").mkdir(parents=True)
    (tmp_path / "plots" / "roc" / "a.csv").write_text("fpr,tpr\n0,0\n")
    (tmp_path / "plots" / "b.txt").write_text("b")
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("model", "lr")
        mlflow.log_params({"C": 0.5, "max_iter": 100})
        mlflow.log_metric("auc", 0.91)
        mlflow.log_metrics({"acc": 0.8, "f1": 0.7}, step=1)
        for i in range(20):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=False)
        mlflow.flush_async_logging()
        mlflow.set_tag("team", "growth")
        mlflow.log_artifact(str(note))
        mlflow.log_artifacts(str(tmp_path / "plots"), artifact_path="plots")
    with mlflow.start_run(run_name="second"):
        mlflow.log_param("model", "rf")
        mlflow.log_metric("auc", 0.85)
    with mlflow.start_run(run_name="third"):
        mlflow.log_param("model", "lr")
        mlflow.log_metric("auc", 0.7)

    ms = Client(mlflow_server.url)
    exp = ms.get_experiment_by_name("churn")
    got = ms.get_run(run.info.run_id)
    assert got.experiment_id == exp.id and got.name == "first" and got.status == "finished"
    assert got.params == {"C": "0.5", "max_iter": "100", "model": "lr"}
    assert got.metrics["auc"] == pytest.approx(0.91) and got.metrics["f1"] == pytest.approx(0.7)
    assert got.metrics["loss"] == pytest.approx(1 / 20)
    assert got.tags["team"] == "growth" and "mlflow.source.name" in got.tags
    history = ms.get_metric_history(run.info.run_id, "loss")
    assert sorted(set(history.step)) == list(range(20))
    assert {a.path for a in ms.list_artifacts(run.info.run_id)} == {"note.txt", "plots/b.txt", "plots/roc/a.csv"}
    assert ms.read_artifact(run.info.run_id, "plots/roc/a.csv") == b"fpr,tpr\n0,0\n"

    # MLflow reads back what it wrote, through the same objects.
    client = mlflow.MlflowClient()
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")][-1] == 19
    assert {f.path for f in client.list_artifacts(run.info.run_id)} == {"note.txt", "plots"}
    assert {f.path for f in client.list_artifacts(run.info.run_id, "plots")} == {"plots/b.txt", "plots/roc"}
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="plots", dst_path=str(tmp_path / "dl"))
    assert (Path(local) / "roc" / "a.csv").read_text() == "fpr,tpr\n0,0\n"
    mlrun = client.get_run(run.info.run_id)
    assert mlrun.data.params["model"] == "lr" and mlrun.data.metrics["auc"] == pytest.approx(0.91)
    assert mlrun.info.status == "FINISHED" and mlrun.info.run_name == "first"

    df = mlflow.search_runs(filter_string="metrics.auc > 0.8 and params.model = 'lr'")
    assert list(df["run_id"]) == [run.info.run_id]
    df = mlflow.search_runs(experiment_names=["churn"], order_by=["metrics.auc DESC"])
    assert list(df["tags.mlflow.runName"]) == ["first", "second", "third"]
    runs = client.search_runs([exp.id], "params.model = 'lr'", order_by=["metrics.auc ASC"], max_results=1)
    assert [r.info.run_name for r in runs] == ["third"] and runs.token
    nxt = client.search_runs([exp.id], "params.model = 'lr'", order_by=["metrics.auc ASC"], page_token=runs.token)
    assert [r.info.run_name for r in nxt] == ["first"]


def test_inputs_nested_runs_and_logged_dicts(mlflow_server) -> None:
    import mlflow
    import pandas as pd

    mlflow.set_experiment("extras")
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    with mlflow.start_run() as parent:
        mlflow.log_input(mlflow.data.from_pandas(df, name="train", targets="y"), context="training")
        mlflow.log_dict({"depth": 3}, "cfg/config.json")
        with mlflow.start_run(nested=True) as child:
            mlflow.log_metric("x", 1.0)
    got = mlflow.get_run(parent.info.run_id)
    [ds] = got.inputs.dataset_inputs
    assert ds.dataset.name == "train" and [t.value for t in ds.tags] == ["training"]
    assert mlflow.artifacts.load_dict(f"runs:/{parent.info.run_id}/cfg/config.json") == {"depth": 3}
    ms = Client(mlflow_server.url)
    assert ms.get_run(child.info.run_id).parent_run_id == parent.info.run_id
    assert ms.read_artifact(parent.info.run_id, "cfg/config.json") == b'{\n  "depth": 3\n}'


def test_sklearn_model_registry_alias_stage_and_load(mlflow_server) -> None:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(0)
    X = rng.rand(60, 3)
    y = (X[:, 0] > 0.5).astype(int)
    model = LogisticRegression().fit(X, y)
    mlflow.set_experiment("registry")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name="churn-model",
                                        input_example=X[:2], pip_requirements=REQS)
    assert str(info.registered_model_version) == "1"
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("churn-model", "champion", 1)
    client.transition_model_version_stage("churn-model", 1, "Production")

    loaded = mlflow.pyfunc.load_model("models:/churn-model@champion")
    assert list(loaded.predict(X[:5])) == list(model.predict(X[:5]))
    assert loaded.metadata.get_input_schema() is not None  # the signature came with the model

    ms = Client(mlflow_server.url)
    v = ms.get_model_version("churn-model", 1)
    assert v.stage == "production" and v.aliases == ["champion"] and v.run_id == run.info.run_id
    assert v.framework == "mlflow.sklearn" and "MLmodel" in v.files
    assert ms.get_model_version_by_alias("churn-model", "champion").version == 1
    assert {a.path.split("/")[0] for a in ms.list_artifacts(run.info.run_id)} == {"model"}

    mv = client.get_model_version("churn-model", "1")
    assert mv.current_stage == "Production" and mv.run_id == run.info.run_id and mv.aliases == ["champion"]
    assert client.get_latest_versions("churn-model", ["Production"])[0].version == "1"
    assert [m.name for m in client.search_registered_models("name LIKE 'churn%'")] == ["churn-model"]
    assert [v.version for v in client.search_model_versions(f"run_id = '{run.info.run_id}'")] == ["1"]

    # A second version from runs:/ (MLflow 2 style), archiving the first when it goes to production.
    with mlflow.start_run() as run2:
        mlflow.sklearn.log_model(model, name="clf", pip_requirements=REQS)
    mv2 = mlflow.register_model(f"runs:/{run2.info.run_id}/clf", "churn-model")
    assert mv2.version == "2"
    client.transition_model_version_stage("churn-model", 2, "Production", archive_existing_versions=True)
    assert ms.get_model_version("churn-model", 1).stage == "deprecated"
    assert client.get_model_version("churn-model", "1").current_stage == "Archived"
    client.set_registered_model_alias("churn-model", "champion", 2)
    assert mlflow.pyfunc.load_model("models:/churn-model/Production").predict(X[:3]) is not None
    client.update_model_version("churn-model", "2", description="second")
    client.set_model_version_tag("churn-model", "2", "validated", "yes")
    assert ms.get_model_version("churn-model", 2).tags["validated"] == "yes"
    client.delete_registered_model_alias("churn-model", "champion")
    assert ms.get_registered_model("churn-model").aliases == {}

    # the MLflow UI's artifact downloads: a run's file and a version's file, byte for byte
    mlmodel = ms.read_artifact(run.info.run_id, "model/MLmodel")
    got = httpx.get(f"{mlflow_server.url}/get-artifact",
                    params={"path": "model/MLmodel", "run_uuid": run.info.run_id}, timeout=30)
    assert got.status_code == 200 and got.content == mlmodel
    got = httpx.get(f"{mlflow_server.url}/model-versions/get-artifact",
                    params={"path": "MLmodel", "name": "churn-model", "version": "1"}, timeout=30)
    assert got.status_code == 200 and got.content == mlmodel
    bad = httpx.get(f"{mlflow_server.url}/get-artifact",
                    params={"path": "../../etc/passwd", "run_uuid": run.info.run_id}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_lifecycle_and_errors_in_mlflow_shape(mlflow_server) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    exp_id = client.create_experiment("lifecycle", tags={"owner": "ana"})
    with pytest.raises(MlflowException) as err:
        client.create_experiment("lifecycle")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    client.rename_experiment(exp_id, "lifecycle-2")
    client.set_experiment_tag(exp_id, "stage", "dev")
    ms = Client(mlflow_server.url)
    assert ms.get_experiment(exp_id).name == "lifecycle-2"
    assert ms.get_experiment(exp_id).tags == {"owner": "ana", "stage": "dev"}
    assert [e.name for e in client.search_experiments(filter_string="name LIKE 'life%' and tags.owner = 'ana'")] == ["lifecycle-2"]
    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    assert "lifecycle-2" not in [e.name for e in client.search_experiments()]
    client.restore_experiment(exp_id)
    assert client.get_experiment_by_name("lifecycle-2").experiment_id == exp_id

    run = client.create_run(exp_id, run_name="r")
    client.set_tag(run.info.run_id, "tmp", "1")
    client.delete_tag(run.info.run_id, "tmp")
    assert "tmp" not in ms.get_run(run.info.run_id).tags
    with pytest.raises(MlflowException, match="No tag with name: tmp"):
        client.delete_tag(run.info.run_id, "tmp")
    client.log_param(run.info.run_id, "lr", "0.1")
    with pytest.raises(MlflowException) as err:  # a param, once logged, keeps its value (as in MLflow)
        client.log_param(run.info.run_id, "lr", "0.2")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE" and "lr" in err.value.message
    client.set_terminated(run.info.run_id, "KILLED")
    assert ms.get_run(run.info.run_id).status == "killed"
    client.delete_run(run.info.run_id)
    assert client.search_runs([exp_id]) == []
    with pytest.raises(MlflowException) as err:  # a deleted run answers as a missing one
        client.delete_tag(run.info.run_id, "team")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.restore_run(run.info.run_id)
    assert [r.info.run_id for r in client.search_runs([exp_id])] == [run.info.run_id]

    with pytest.raises(MlflowException) as err:
        client.get_run("0" * 32)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as err:
        client.search_runs([exp_id], "metrics.auc >")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"

    with mlflow.start_run() as default_run:  # no experiment set: MLflow's experiment "0" is Mainsail's Default
        mlflow.log_metric("x", 1)
    assert ms.get_experiment(ms.get_run(default_run.info.run_id).experiment_id).name == "Default"

    for prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow"):
        r = httpx.post(mlflow_server.url + prefix + "/traces/search", json={})
        assert r.status_code == 404
        assert r.json()["error_code"] == "ENDPOINT_NOT_FOUND" and "/traces/search" in r.json()["message"]
    r = httpx.get(mlflow_server.url + "/ajax-api/2.0/mlflow/experiments/get", params={"experiment_id": exp_id})
    assert r.json()["experiment"]["name"] == "lifecycle-2"
    r = httpx.post(mlflow_server.url + "/api/2.0/mlflow/runs/log-batch", content=b"{not json")
    assert r.status_code == 400 and r.json()["error_code"] == "MALFORMED_REQUEST"
