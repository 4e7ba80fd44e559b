"""Any object with a ``predict`` method, stored with cloudpickle when installed (functions and classes
defined in ``__main__`` survive), else pickle. Only read after its digest has been verified."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from mainsail.registry.flavors.base import require

NAME = "python"
EXTRA = None
LIBRARIES = ("cloudpickle",)
FILE = "model.pkl"


def detect(model: Any) -> bool:
    return callable(getattr(model, "predict", None))


def save(model: Any, folder: Path, *, input_example: Any = None) -> dict[str, Any]:
    try:
        import cloudpickle as serializer
    except ImportError:
        serializer = pickle  # type: ignore[assignment]
    with open(folder / FILE, "wb") as fh:
        serializer.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {"file": FILE, "serializer": serializer.__name__,
            "class": f"{type(model).__module__}.{type(model).__qualname__}"}


def load(folder: Path, loader: dict[str, Any]) -> Any:
    serializer = require("cloudpickle", None) if loader.get("serializer") == "cloudpickle" else pickle
    with open(folder / loader["file"], "rb") as fh:
        return serializer.load(fh)


def predict(model: Any, data: Any) -> Any:
    return model.predict(data)


def has_proba(model: Any) -> bool:
    return callable(getattr(model, "predict_proba", None))


def predict_proba(model: Any, data: Any) -> Any:
    return model.predict_proba(data)
