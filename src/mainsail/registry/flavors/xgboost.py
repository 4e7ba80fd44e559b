"""XGBoost ``Booster`` and scikit-learn wrappers (``XGBClassifier``, ``XGBRegressor``, …), stored with
XGBoost's own ``save_model`` in UBJSON (no pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mainsail.core.errors import IntegrityError
from mainsail.registry.flavors.base import loaded, require, to_named

NAME = "xgboost"
EXTRA = "xgboost"
LIBRARIES = ("xgboost",)
FILE = "model.ubj"


def detect(model: Any) -> bool:
    xgb = loaded("xgboost")
    return xgb is not None and isinstance(model, xgb.Booster | xgb.XGBModel)


def save(model: Any, folder: Path, *, input_example: Any = None) -> dict[str, Any]:
    xgb = require("xgboost", EXTRA)
    model.save_model(folder / FILE)
    kind = "Booster" if isinstance(model, xgb.Booster) else type(model).__name__
    if kind != "Booster" and not isinstance(getattr(xgb, kind, None), type):
        kind = next(c.__name__ for c in type(model).__mro__ if getattr(xgb, c.__name__, None) is c)
    return {"file": FILE, "format": "ubj", "class": kind}


def load(folder: Path, loader: dict[str, Any]) -> Any:
    xgb = require("xgboost", EXTRA)
    path = str(folder / loader["file"])
    kind = loader.get("class", "Booster")
    if kind == "Booster":
        return xgb.Booster(model_file=path)
    cls = getattr(xgb, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, xgb.XGBModel)):
        raise IntegrityError(f"xgboost loader names unknown estimator class {kind!r}")
    model = cls()
    model.load_model(path)
    return model


def _booster(model: Any) -> Any:
    return model if type(model).__name__ == "Booster" else model.get_booster()


def predict(model: Any, data: Any) -> Any:
    xgb = require("xgboost", EXTRA)
    booster = _booster(model)
    data = to_named(data, booster.feature_names)
    if isinstance(model, xgb.Booster):
        return model.predict(xgb.DMatrix(data, feature_names=booster.feature_names))
    return model.predict(data)


def has_proba(model: Any) -> bool:
    return hasattr(model, "predict_proba")


def predict_proba(model: Any, data: Any) -> Any:
    return model.predict_proba(to_named(data, _booster(model).feature_names))
