"""``mainsail.autolog()``: a plain ``fit`` logs params, training metrics and the model (signature and
input example) into the active run or a new one; per-library switches; nested fits logged once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mainsail


@pytest.fixture
def sdk(tmp_path: Path):
    mainsail.set_tracking_uri(f"sqlite:///{tmp_path / 'auto.db'}")
    mainsail.set_experiment("auto")
    yield mainsail.get_client()
    mainsail.autolog(disable=True)
    mainsail.set_tracking_uri(None)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    X = rng.rand(80, 4)
    return X, (X[:, 0] + 0.2 * rng.rand(80) > 0.6).astype(int)


def _runs(sdk) -> list:
    return sdk.search_runs([sdk.get_experiment_by_name("auto").id]).items


def test_fit_logs_a_new_run_with_params_metrics_and_model(sdk) -> None:
    from sklearn.linear_model import LogisticRegression

    mainsail.autolog()
    X, y = _data()
    model = LogisticRegression(C=0.5, max_iter=200).fit(X, y)
    [run] = _runs(sdk)
    assert run.status == "finished" and run.tags["mainsail.autolog"] == "sklearn"
    assert run.params["C"] == "0.5" and run.params["max_iter"] == "200"
    assert run.metrics["training_accuracy_score"] == pytest.approx(model.score(X, y))
    assert {"training_f1_score", "training_log_loss", "training_roc_auc"} <= set(run.metrics)
    loaded = mainsail.load_model(f"runs:/{run.id}/model")
    assert list(loaded.predict(X[:5])) == list(model.predict(X[:5]))
    assert loaded.input_schema is not None  # signature from the input example


def test_fit_inside_a_run_logs_there_and_leaves_it_open(sdk) -> None:
    from sklearn.ensemble import RandomForestRegressor

    mainsail.autolog()
    X, y = _data()
    with mainsail.start_run("mine") as run:
        RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y.astype(float))
        assert sdk.get_run(run.id).status == "running"
    got = sdk.get_run(run.id)
    assert got.params["n_estimators"] == "5" and "training_r2_score" in got.metrics
    assert len(_runs(sdk)) == 1


def test_pipeline_and_search_log_once_and_switches_turn_it_off(sdk) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mainsail.autolog()
    X, y = _data()
    make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2).fit(X, y)
    runs = _runs(sdk)
    assert len(runs) == 2  # the steps and the candidates are not runs of their own
    assert any("steps" in r.params for r in runs) and any("param_grid" in r.params for r in runs)

    mainsail.autolog(sklearn=False)
    LogisticRegression().fit(X, y)
    assert len(_runs(sdk)) == 2


def test_failed_fit_raises_and_marks_the_run_failed(sdk) -> None:
    from sklearn.linear_model import LogisticRegression

    mainsail.autolog()
    with pytest.raises(ValueError):
        LogisticRegression().fit(np.array([[1.0], [2.0]]), np.array([1, 1]))  # one class only
    [run] = _runs(sdk)
    assert run.status == "failed"


def test_lightgbm_and_xgboost_estimators(sdk) -> None:
    lgb = pytest.importorskip("lightgbm")
    xgb = pytest.importorskip("xgboost")
    mainsail.autolog(sklearn=False)
    X, y = _data()
    lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y)
    xgb.XGBClassifier(n_estimators=5).fit(X, y)
    runs = _runs(sdk)
    assert sorted(r.tags["mainsail.autolog"] for r in runs) == ["lightgbm", "xgboost"]
    for r in runs:
        assert r.params["n_estimators"] == "5" and "training_accuracy_score" in r.metrics
        assert mainsail.load_model(f"runs:/{r.id}/model").predict(X[:3]) is not None
