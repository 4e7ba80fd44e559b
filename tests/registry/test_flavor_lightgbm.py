"""lightgbm flavor: sklearn wrappers and raw Boosters round-trip through the text model format."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from _services import require_service

from mainsail.core.errors import ServiceUnavailable
from mainsail.registry.packaging import load_package, save_model


def _lib(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        require_service(name, f"{exc}; pip install 'mainsail[{name}]'")
        raise


@pytest.fixture(scope="module")
def lgb() -> ModuleType:
    return _lib("lightgbm")


def _frame(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"tenure": rng.normal(12, 4, n), "tickets": rng.integers(0, 6, n),
                         "spend": rng.exponential(30, n)})


@pytest.fixture(scope="module")
def classifier(lgb):
    df = _frame()
    y = np.select([df.tenure > 14, df.tickets > 3], ["loyal", "angry"], "neutral")  # three string classes
    return df, lgb.LGBMClassifier(n_estimators=10, num_leaves=4, min_child_samples=5, n_jobs=1,
                                  verbose=-1).fit(df, y)


def test_lgbm_classifier_round_trip_keeps_string_labels(classifier, tmp_path: Path):
    df, model = classifier
    package = save_model(model, tmp_path / "lgb", input_example=df.head(3))
    assert package.flavor == "lightgbm" and package.files.keys() == {"model.txt"}
    assert package.loader["class"] == "LGBMClassifier"
    assert sorted(package.loader["classes"]) == ["angry", "loyal", "neutral"]
    assert package.signature["outputs"] == {"type": "tensor", "dtype": "string", "shape": [-1]}
    pm = load_package(tmp_path / "lgb")
    expected = model.predict(df)
    for data in (df, df.to_dict("records"), df.to_dict("list"), df.to_numpy()):
        np.testing.assert_array_equal(pm.predict(data), expected)
    np.testing.assert_allclose(pm.predict_proba(df), model.predict_proba(df), rtol=1e-9)
    np.testing.assert_array_equal(pm.raw.classes_, model.classes_)


def test_lgbm_binary_classifier_and_booster(lgb, tmp_path: Path):
    df = _frame()
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, n_jobs=1, verbose=-1).fit(df, df.tenure > 12)
    save_model(model, tmp_path / "bin", input_example=df.head(2))
    pm = load_package(tmp_path / "bin")
    np.testing.assert_array_equal(pm.predict(df), model.predict(df))
    np.testing.assert_allclose(pm.predict_proba(df), model.predict_proba(df))

    X = df.to_numpy()
    booster = lgb.train({"objective": "regression", "num_leaves": 4, "verbose": -1, "num_threads": 1},
                        lgb.Dataset(X, label=X[:, 2]), num_boost_round=5)
    package = save_model(booster, tmp_path / "booster", input_example=X[:2])
    assert package.loader == {"file": "model.txt", "class": "Booster"}
    pm = load_package(tmp_path / "booster")
    assert isinstance(pm.raw, lgb.Booster)
    np.testing.assert_allclose(pm.predict(X), booster.predict(X))
    np.testing.assert_allclose(pm.predict(X.tolist()), booster.predict(X))
    assert not hasattr(pm, "predict_proba")


def test_lgbm_regressor_has_no_proba_and_missing_library_names_extra(lgb, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch):
    df = _frame()
    model = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, n_jobs=1, verbose=-1).fit(df, df.spend)
    save_model(model, tmp_path / "reg", input_example=df.head(2))
    pm = load_package(tmp_path / "reg")
    np.testing.assert_allclose(pm.predict(df.to_dict("records")), model.predict(df))
    assert not hasattr(pm, "predict_proba")
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # as if lightgbm were not installed
    with pytest.raises(ServiceUnavailable, match=r"pip install 'mainsail\[lightgbm\]'"):
        load_package(tmp_path / "reg")
