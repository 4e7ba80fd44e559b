"""xgboost flavor: sklearn wrappers and raw Boosters round-trip through UBJSON."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from _services import require_service

from mainsail.registry.packaging import MANIFEST, load_package, save_model


def _lib(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        require_service(name, f"{exc}; pip install 'mainsail[{name}]'")
        raise


@pytest.fixture(scope="module")
def xgb() -> ModuleType:
    return _lib("xgboost")


def _frame(n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"tenure": rng.normal(12, 4, n), "tickets": rng.integers(0, 6, n).astype(np.int64),
                         "spend": rng.exponential(30, n)})


def test_xgb_classifier_round_trip(xgb, tmp_path: Path):
    df = _frame()
    y = (df.tenure + df.tickets > 14).astype(int)
    model = xgb.XGBClassifier(n_estimators=8, max_depth=2, n_jobs=1).fit(df, y)
    package = save_model(model, tmp_path / "xgb", input_example=df.head(3))
    assert package.flavor == "xgboost" and package.files.keys() == {"model.ubj"}
    assert package.loader == {"file": "model.ubj", "format": "ubj", "class": "XGBClassifier"}
    assert package.libraries["xgboost"] == xgb.__version__
    assert json.loads((tmp_path / "xgb" / MANIFEST).read_text())["signature"]["inputs"][1] == {
        "name": "tickets", "type": "int64"}
    pm = load_package(tmp_path / "xgb")
    assert isinstance(pm.raw, xgb.XGBClassifier)
    expected = model.predict(df)
    for data in (df, df.to_dict("records"), df.to_dict("list"), df.to_numpy()):
        np.testing.assert_array_equal(pm.predict(data), expected)
    np.testing.assert_allclose(pm.predict_proba(df.to_dict("records")), model.predict_proba(df), rtol=1e-6)


def test_xgb_booster_round_trip_on_arrays(xgb, tmp_path: Path):
    X = _frame().to_numpy(dtype=np.float32)
    booster = xgb.train({"max_depth": 2, "nthread": 1, "objective": "reg:squarederror"},
                        xgb.DMatrix(X, label=X[:, 0] * 2), num_boost_round=8)
    package = save_model(booster, tmp_path / "b", input_example=X[:2])
    assert package.loader["class"] == "Booster"
    assert package.signature["inputs"] == {"type": "tensor", "dtype": "float32", "shape": [-1, 3]}
    pm = load_package(tmp_path / "b")
    expected = booster.predict(xgb.DMatrix(X))
    np.testing.assert_allclose(pm.predict(X), expected, rtol=1e-6)
    np.testing.assert_allclose(pm.predict(X.tolist()), expected, rtol=1e-6)
    assert not hasattr(pm, "predict_proba")


def test_xgb_regressor_inside_sklearn_pipeline_is_sklearn(xgb, tmp_path: Path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = _frame()
    model = make_pipeline(StandardScaler(), xgb.XGBRegressor(n_estimators=5, n_jobs=1)).fit(df, df.spend)
    package = save_model(model, tmp_path / "p", input_example=df.head(2))
    assert package.flavor == "sklearn" and package.libraries["xgboost"] == xgb.__version__
    np.testing.assert_allclose(load_package(tmp_path / "p").predict(df), model.predict(df))
