"""LightGBM ``Booster`` and scikit-learn wrappers, stored as LightGBM's text model (no pickle).

A wrapper (``LGBMClassifier`` …) loads back as ``LightGBMEstimator``: the booster plus the classes,
so ``predict`` returns labels and ``predict_proba`` probabilities, as the wrapper did."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mainsail.registry.flavors.base import loaded, require

NAME = "lightgbm"
EXTRA = "lightgbm"
LIBRARIES = ("lightgbm",)
FILE = "model.txt"


@dataclass
class LightGBMEstimator:
    """A loaded scikit-learn-style LightGBM model: ``booster_`` and, for classifiers, ``classes_``."""

    booster_: Any
    estimator: str
    classes_: np.ndarray | None = None

    def predict_proba(self, data: Any) -> np.ndarray:
        if self.classes_ is None:
            raise AttributeError(f"{self.estimator} has no predict_proba")
        proba = np.asarray(self.booster_.predict(data))
        return np.column_stack([1.0 - proba, proba]) if proba.ndim == 1 else proba

    def predict(self, data: Any) -> np.ndarray:
        if self.classes_ is None:
            return self.booster_.predict(data)
        return self.classes_[np.argmax(self.predict_proba(data), axis=1)]


def detect(model: Any) -> bool:
    lgb = loaded("lightgbm")
    return lgb is not None and isinstance(model, lgb.Booster | lgb.LGBMModel)


def save(model: Any, folder: Path, *, input_example: Any = None) -> dict[str, Any]:
    lgb = require("lightgbm", EXTRA)
    if isinstance(model, lgb.Booster):
        model.save_model(str(folder / FILE))
        return {"file": FILE, "class": "Booster"}
    model.booster_.save_model(str(folder / FILE))
    loader: dict[str, Any] = {"file": FILE, "class": type(model).__name__}
    if hasattr(model, "classes_"):
        loader["classes"] = np.asarray(model.classes_).tolist()
    return loader


def load(folder: Path, loader: dict[str, Any]) -> Any:
    lgb = require("lightgbm", EXTRA)
    booster = lgb.Booster(model_file=str(folder / loader["file"]))
    if loader.get("class", "Booster") == "Booster":
        return booster
    classes = np.asarray(loader["classes"]) if "classes" in loader else None
    return LightGBMEstimator(booster, loader["class"], classes)


def predict(model: Any, data: Any) -> Any:
    return model.predict(data)


def has_proba(model: Any) -> bool:
    return getattr(model, "classes_", None) is not None and hasattr(model, "predict_proba")


def predict_proba(model: Any, data: Any) -> Any:
    return model.predict_proba(data)
