"""Model flavors, in detection order: the first whose ``detect(model)`` is true packages the model.

The specific libraries come before ``sklearn`` (XGBoost's and LightGBM's wrappers subclass its
``BaseEstimator``), and ``python`` (anything with ``predict``) is the fallback."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from mainsail.core.errors import IntegrityError, InvalidInput
from mainsail.registry.flavors import lightgbm, onnx, python, sklearn, torch, xgboost

FLAVORS: dict[str, ModuleType] = {m.NAME: m for m in (onnx, torch, xgboost, lightgbm, sklearn, python)}


def _supported() -> str:
    return ", ".join(FLAVORS) + " (any object with a predict method is packaged as python)"


def get_flavor(name: str, *, stored: bool = False) -> ModuleType:
    """The flavor module called ``name``; ``stored`` marks a name read from a manifest."""
    try:
        return FLAVORS[name]
    except KeyError:
        if stored:
            raise IntegrityError(f"model package names unknown flavor {name!r}; known: {', '.join(FLAVORS)}",
                                 code="unknown_flavor") from None
        raise InvalidInput(f"unknown flavor {name!r}; supported flavors: {_supported()}", code="unknown_flavor",
                           errors=[{"loc": ["flavor"], "msg": f"one of {', '.join(FLAVORS)}"}]) from None


def detect_flavor(model: Any, flavor: str | None = None) -> ModuleType:
    """The flavor that packages ``model`` (checked against ``flavor`` when one is named)."""
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    if flavor is not None:
        module = get_flavor(flavor)
        if not module.detect(model):
            raise InvalidInput(f"a {kind} is not a {flavor} model", code="unsupported_model",
                               errors=[{"loc": ["flavor"], "msg": f"{kind} is not a {flavor} model"}])
        return module
    for module in FLAVORS.values():
        if module.detect(model):
            return module
    raise InvalidInput(f"cannot package a {kind}: no flavor recognizes it; supported flavors: {_supported()}",
                       code="unsupported_model", errors=[{"loc": ["model"], "msg": f"unsupported type {kind}"}])


__all__ = ["FLAVORS", "detect_flavor", "get_flavor"]
