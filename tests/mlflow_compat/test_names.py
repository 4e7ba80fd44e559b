"""MLflow's free-text experiment and registered-model names work unchanged through the MLflow API, while
Mainsail's own names stay safe (a slug, with a collision suffix) and carry the MLflow name as a tag."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mainsail import Client
from mainsail.mlflow_compat.names import NAME_TAG, slug

REQS = ["scikit-learn"]


def _cli(url: str, *args: str) -> str:
    import mainsail

    src = str(Path(mainsail.__file__).resolve().parents[1])  # this checkout, whatever the cwd
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "mainsail.cli.main", "--uri", url, *args], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    first = [line.split("│")[1].strip() for line in out.stdout.splitlines() if line.startswith("│")]
    return " ".join(first)  # the first column of the table, wrapped lines joined


def test_slug() -> None:
    assert slug("churn") == "churn"  # a valid Mainsail name is its own slug
    assert slug("My Experiment") == "My-Experiment"
    assert slug("/Users/me@x.com/churn") == "Users-me-x.com-churn"
    assert slug("Run A Lot (parent_run_id=None)") == "Run-A-Lot-parent_run_id-None"
    assert slug("Modèle été") == "Modele-ete"
    assert slug("../../etc") == "etc" and slug("%%%") == "mlflow" and slug("") == "mlflow"
    assert len(slug("x y" * 500)) <= 200


def test_experiment_names_are_free_text(mlflow_server) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    names = ["My Experiment", "/Users/me@x.com/churn", "Run A Lot (x=1)"]
    ids = [client.create_experiment(n, tags={"team": "a"}) for n in names]
    literal = client.create_experiment("My-Experiment")  # a valid name that the first one's slug took
    for name, exp_id in [*zip(names, ids, strict=True), ("My-Experiment", literal)]:
        got = client.get_experiment_by_name(name)
        assert (got.experiment_id, got.name) == (exp_id, name)
        assert client.get_experiment(exp_id).name == name
        assert NAME_TAG not in client.get_experiment(exp_id).tags
    with pytest.raises(MlflowException) as err:
        client.create_experiment("My Experiment")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"

    ms = Client(mlflow_server.url)  # Mainsail's own API: a safe name, and the MLflow name as a tag
    assert ms.get_experiment(ids[0]).name == "My-Experiment"
    assert ms.get_experiment(ids[0]).tags[NAME_TAG] == "My Experiment"
    assert ms.get_experiment(ids[1]).name == "Users-me-x.com-churn"
    assert ms.get_experiment(literal).name == "My-Experiment-2"
    assert ms.get_experiment(literal).tags[NAME_TAG] == "My-Experiment"

    found = client.search_experiments(filter_string="name = 'My Experiment'")
    assert [e.experiment_id for e in found] == [ids[0]]
    found = client.search_experiments(filter_string="name LIKE 'My%'", order_by=["name ASC"])
    assert [e.name for e in found] == ["My Experiment", "My-Experiment"]

    # set_experiment and runs under a free-text name; search_runs by experiment name
    mlflow.set_experiment("/Users/me@x.com/churn")
    with mlflow.start_run(run_name="Run (1)") as run:
        mlflow.log_metric("auc", 0.9)
    assert run.info.experiment_id == ids[1]
    df = mlflow.search_runs(experiment_names=["/Users/me@x.com/churn"])
    assert list(df["run_id"]) == [run.info.run_id]
    assert ms.get_run(run.info.run_id).name == "Run (1)"

    # renames: to free text, then back to a valid name
    client.rename_experiment(ids[2], "Renamed: experiment #3")
    assert client.get_experiment_by_name("Renamed: experiment #3").experiment_id == ids[2]
    assert client.get_experiment_by_name("Run A Lot (x=1)") is None
    assert ms.get_experiment(ids[2]).name == "Renamed-experiment-3"
    client.rename_experiment(ids[2], "plain")
    assert ms.get_experiment(ids[2]).name == "plain" and NAME_TAG not in ms.get_experiment(ids[2]).tags
    with pytest.raises(MlflowException) as err:
        client.rename_experiment(ids[2], "My Experiment")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as err:
        client.set_experiment_tag(ids[0], NAME_TAG, "x")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_registered_model_names_are_free_text(mlflow_server) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(0)
    X = rng.rand(40, 3)
    y = (X[:, 0] > 0.5).astype(int)
    model = LogisticRegression().fit(X, y)
    name = "Churn Model (EU)"
    mlflow.set_experiment("My Experiment")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name, pip_requirements=REQS)
    assert str(info.registered_model_version) == "1"
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(name, "champion", 1)
    client.transition_model_version_stage(name, 1, "Staging")
    for uri in (f"models:/{name}@champion", f"models:/{name}/1", f"models:/{name}/Staging"):
        assert list(mlflow.pyfunc.load_model(uri).predict(X[:4])) == list(model.predict(X[:4]))
    assert client.get_registered_model(name).name == name
    assert client.get_model_version_by_alias(name, "champion").name == name
    assert [m.name for m in client.search_registered_models(f"name = '{name}'")] == [name]
    assert [m.name for m in client.search_registered_models("name ILIKE 'churn model%'")] == [name]
    assert [(v.name, v.version) for v in client.search_model_versions(f"name = '{name}'")] == [(name, "1")]
    assert client.get_latest_versions(name, ["Staging"])[0].name == name

    ms = Client(mlflow_server.url)  # Mainsail's own API sees the slug and the MLflow name tag
    m = ms.get_registered_model("Churn-Model-EU")
    assert m.tags[NAME_TAG] == name and m.aliases == {"champion": 1}
    assert ms.get_model_version("Churn-Model-EU", 1).stage == "staging"

    with pytest.raises(MlflowException) as err:
        client.create_registered_model(name)
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    client.create_registered_model("Churn-Model-EU")  # the literal slug is another model
    assert ms.get_registered_model("Churn-Model-EU-2").tags[NAME_TAG] == "Churn-Model-EU"
    assert client.get_registered_model("Churn-Model-EU").latest_versions == []

    # rename keeps Mainsail's name (and its URIs); the MLflow name moves
    client.rename_registered_model(name, "Churn Model v2")
    assert client.get_registered_model("Churn Model v2").latest_versions[0].version == "1"
    with pytest.raises(MlflowException, match=r"Registered Model with name=Churn Model \(EU\) not found"):
        client.get_registered_model(name)
    assert ms.get_registered_model("Churn-Model-EU").tags[NAME_TAG] == "Churn Model v2"
    assert mlflow.pyfunc.load_model("models:/Churn Model v2@champion") is not None
    listed = _cli(mlflow_server.url, "models", "list")  # Mainsail's CLI shows the MLflow name too
    assert "Churn-Model-EU" in listed and "MLflow: Churn Model v2" in listed
    assert "MLflow: My Experiment" in _cli(mlflow_server.url, "experiments", "list")
    client.delete_registered_model("Churn Model v2")
    assert [m.name for m in client.search_registered_models()] == ["Churn-Model-EU"]
