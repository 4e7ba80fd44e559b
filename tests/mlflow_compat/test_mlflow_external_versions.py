"""MLflow's ``create_model_version`` with a source Mainsail does not hold (``s3://…``, ``models:/…``, a
local path, a run id Mainsail never saw): stored as given, answered with the same source and run id by
get and search, its download URI is the source, and the MLflow client loads a model from it; Mainsail's
Client sees the same version with ``external_source``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mainsail import Client


def test_versions_whose_files_are_elsewhere(mlflow_server, tmp_path: Path) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException
    from sklearn.linear_model import LogisticRegression

    client = mlflow.MlflowClient()
    client.create_registered_model("ext_model")
    foreign_run = "f" * 32  # a run of another tracking server
    v1 = client.create_model_version("ext_model", "s3://team-bucket/models/churn/7", run_id=foreign_run,
                                     tags={"origin": "old-server"}, description="copied")
    assert (v1.version, v1.source, v1.run_id, v1.current_stage) == ("1", "s3://team-bucket/models/churn/7",
                                                                   foreign_run, "None")
    got = client.get_model_version("ext_model", "1")
    assert (got.source, got.run_id, got.tags, got.description) == (v1.source, foreign_run,
                                                                   {"origin": "old-server"}, "copied")
    assert client.get_model_version_download_uri("ext_model", "1") == "s3://team-bucket/models/churn/7"
    v2 = client.create_model_version("ext_model", "models:/other-model/3")
    assert (v2.version, v2.source, v2.run_id or "") == ("2", "models:/other-model/3", "")

    # a local path holding an MLflow model: the client loads it through the version
    X = np.random.RandomState(0).rand(40, 3)
    model = LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int))
    local = tmp_path / "saved-model"
    mlflow.sklearn.save_model(model, str(local), pip_requirements=["scikit-learn"])
    v3 = client.create_model_version("ext_model", str(local))
    client.set_registered_model_alias("ext_model", "champion", v3.version)
    client.transition_model_version_stage("ext_model", v3.version, "Staging")
    loaded = mlflow.pyfunc.load_model("models:/ext_model@champion")
    assert list(loaded.predict(X[:5])) == list(model.predict(X[:5]))

    found = client.search_model_versions(f"run_id = '{foreign_run}'")
    assert [(v.name, v.version, v.source) for v in found] == [("ext_model", "1", v1.source)]
    found = client.search_model_versions("name = 'ext_model'")
    assert sorted((v.version, v.source) for v in found) == [("1", v1.source), ("2", v2.source), ("3", str(local))]

    # a Mainsail run with nothing at the source's path: the version links the run, its source kept
    with mlflow.start_run() as run:
        mlflow.log_metric("auc", 0.7)
    v4 = client.create_model_version("ext_model", f"runs:/{run.info.run_id}/not-logged-yet", run_id=run.info.run_id)
    assert (v4.source, v4.run_id) == (f"runs:/{run.info.run_id}/not-logged-yet", run.info.run_id)

    ms = Client(mlflow_server.url)
    seen = {v.version: v for v in ms.list_model_versions("ext_model").items}
    assert seen[1].external_source == v1.source and seen[1].external_run_id == foreign_run and seen[1].files == {}
    assert seen[3].stage == "staging" and seen[3].aliases == ["champion"] and seen[3].source == str(local)
    assert seen[4].run_id == run.info.run_id and seen[4].metrics == {"auc": 0.7}
    with pytest.raises(Exception) as exc:  # Mainsail cannot fetch s3://team-bucket: the error says where
        ms.load_model("models:/ext_model/1")
    assert "s3://team-bucket/models/churn/7" in str(exc.value)
    with pytest.raises(MlflowException) as err:  # a logged model id that does not exist is still an error
        client.create_model_version("ext_model", "models:/m-nope", model_id="m-nope")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
