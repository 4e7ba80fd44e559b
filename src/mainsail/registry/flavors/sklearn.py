"""scikit-learn estimators and pipelines (and anything built on ``sklearn.base.BaseEstimator``),
stored with joblib. joblib is pickle: the file is only read after its digest has been verified."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mainsail.registry.flavors.base import loaded, require, to_named

NAME = "sklearn"
EXTRA = None  # scikit-learn is a core dependency
LIBRARIES = ("scikit-learn", "joblib")
FILE = "model.joblib"


def detect(model: Any) -> bool:
    base = loaded("sklearn.base")
    return base is not None and isinstance(model, base.BaseEstimator)


def save(model: Any, folder: Path, *, input_example: Any = None) -> dict[str, Any]:
    joblib = require("joblib", None)
    joblib.dump(model, folder / FILE)
    return {"file": FILE, "serializer": "joblib", "class": f"{type(model).__module__}.{type(model).__qualname__}"}


def load(folder: Path, loader: dict[str, Any]) -> Any:
    joblib = require("joblib", None)
    return joblib.load(folder / loader["file"])


def _names(model: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else None


def predict(model: Any, data: Any) -> Any:
    return model.predict(to_named(data, _names(model)))


def has_proba(model: Any) -> bool:
    return hasattr(model, "predict_proba")


def predict_proba(model: Any, data: Any) -> Any:
    return model.predict_proba(to_named(data, _names(model)))
