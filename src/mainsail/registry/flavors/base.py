"""What every flavor module shares: lazy imports with an install hint, versions, input coercion.

A flavor module defines ``NAME``, ``EXTRA`` (the pip extra), ``LIBRARIES`` (distributions whose
versions the manifest records), and ``detect(model)``, ``save(model, folder, *, input_example)``
→ loader dict, ``load(folder, loader)`` → native model, ``predict(native, data)``; optionally
``has_proba(native)`` and ``predict_proba(native, data)``.
"""

from __future__ import annotations

import functools
import importlib
import sys
from importlib import metadata
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from mainsail.core.errors import ServiceUnavailable


def require(module: str, extra: str | None) -> ModuleType:
    """Import ``module`` or raise ``ServiceUnavailable`` with the pip command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = f"pip install 'mainsail[{extra}]'" if extra else f"pip install {module}"
        raise ServiceUnavailable(f"this model needs {module}, which is not installed: {hint} ({exc})",
                                 code="flavor_unavailable") from exc


def loaded(module: str) -> ModuleType | None:
    """``module`` if it has already been imported (a model of its types cannot exist otherwise)."""
    return sys.modules.get(module)


@functools.lru_cache(maxsize=64)
def version(dist: str) -> str | None:
    """The installed version of ``dist`` (cached: reading a distribution's metadata parses its METADATA
    file, ~1-7 ms, on every model load otherwise; what is imported cannot change within a process)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """A 2-D-or-more ndarray from a DataFrame or array-like."""
    if isinstance(data, pd.DataFrame):
        return data.to_numpy(dtype=dtype)
    return np.asarray(data, dtype=dtype)


def to_named(data: Any, names: list[str] | None) -> Any:
    """Match the model's training input: a DataFrame with ``names`` when it was fitted on named
    columns, a plain array when it was not."""
    if names:
        if isinstance(data, pd.DataFrame):
            return data
        arr = np.asarray(data)
        arr = arr[None, :] if arr.ndim == 1 else arr
        if arr.ndim == 2 and arr.shape[1] == len(names):
            return pd.DataFrame(arr, columns=names)
        return data
    return data.to_numpy() if isinstance(data, pd.DataFrame) else data
