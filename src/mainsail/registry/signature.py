"""Model signatures: inferred from an input example, enforced on the way into ``predict``.

A signature is ``{"inputs": schema, "outputs": schema}`` where a schema is either a list of named
columns ``[{"name": "tenure", "type": "float64"}, ...]`` or one tensor
``{"type": "tensor", "dtype": "float32", "shape": [-1, 4]}`` (``-1`` is the batch dimension).
Column types are numpy dtype names (``float64``, ``int64``, ``bool``, …) or ``string``,
``datetime``, ``category`` and ``object``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mainsail.core.errors import InvalidInput

Schema = list[dict[str, Any]] | dict[str, Any]


def dtype_name(dtype: Any) -> str:
    """The signature name of a numpy/pandas dtype (unicode and bytes arrays are ``string``)."""
    dt = np.dtype(getattr(dtype, "numpy_dtype", dtype))
    if dt.kind in "US":
        return "string"
    if dt.kind == "M":
        return "datetime"
    return dt.name


def _column_type(s: pd.Series) -> str:
    dt = s.dtype
    if ptypes.is_bool_dtype(dt):
        return "bool"
    if isinstance(dt, pd.CategoricalDtype):
        return "category"
    if ptypes.is_datetime64_any_dtype(dt):
        return "datetime"
    if ptypes.is_numeric_dtype(dt):
        return dtype_name(dt)
    if ptypes.is_string_dtype(dt) and not isinstance(dt, np.dtype):  # pandas' str / string dtypes
        return "string"
    return "string" if pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty") else "object"


def _native(data: Any) -> Any:
    """Torch tensors (and anything else with ``.numpy()``) become numpy arrays."""
    if type(data).__module__.startswith("torch") and hasattr(data, "numpy"):
        return data.detach().cpu().numpy()
    return data


def as_frame(data: Any) -> pd.DataFrame | None:
    """A DataFrame for records, a dict of columns, a single record or a DataFrame; else ``None``."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, Mapping):
        if data and all(np.ndim(v) == 0 for v in data.values()):
            return pd.DataFrame([dict(data)])  # one record
        return pd.DataFrame(dict(data))
    if isinstance(data, list | tuple) and data and all(isinstance(r, Mapping) for r in data):
        return pd.DataFrame.from_records(list(data))
    return None


def tensor_schema(arr: np.ndarray) -> dict[str, Any]:
    """Tensor schema of ``arr`` with a variable (``-1``) first dimension."""
    return {"type": "tensor", "dtype": dtype_name(arr.dtype), "shape": [-1, *arr.shape[1:]]}


def infer_schema(data: Any) -> Schema:
    """Columns for tabular data (DataFrame, records, dict of columns), a tensor for arrays."""
    data = _native(data)
    frame = as_frame(data)
    if frame is not None:
        return [{"name": str(c), "type": _column_type(frame[c])} for c in frame.columns]
    if isinstance(data, Mapping):  # dict of arrays, e.g. a multi-output model
        return [{"name": str(k), **tensor_schema(np.asarray(_native(v)))} for k, v in data.items()]
    try:
        return tensor_schema(np.asarray(data))
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"cannot infer a schema from {type(data).__name__}: {exc}",
                           errors=[{"loc": ["input_example"], "msg": str(exc)}]) from None


def infer_signature(input_example: Any, output: Any = None) -> dict[str, Any]:
    """``{"inputs": ..., "outputs": ...}`` from an example and the model's prediction on it."""
    return {"inputs": infer_schema(input_example),
            "outputs": None if output is None else infer_schema(output)}


def is_columns(schema: Schema | None) -> bool:
    return isinstance(schema, list) and all("name" in c and "type" in c for c in schema)


# -------------------------------------------------------------------------------- enforcement

def _bad(column: str, msg: str) -> InvalidInput:
    return InvalidInput(f"column {column!r}: {msg}", code="invalid_model_input",
                        errors=[{"loc": ["data", column], "msg": msg}])


def _cast(s: pd.Series, kind: str, name: str) -> pd.Series:
    """``s`` cast to the signature type ``kind``; ``InvalidInput`` naming the column if it cannot be."""
    try:
        if kind == "bool":
            if ptypes.is_bool_dtype(s.dtype):
                return s.astype(bool)
            if s.isna().any() or not s.isin([0, 1, True, False]).all():
                raise ValueError("values are not booleans")
            return s.astype(bool)
        if kind == "string":
            if ptypes.is_string_dtype(s.dtype) or s.dtype == object:
                return s
            return s.astype(str).where(s.notna(), None)
        if kind == "datetime":
            return pd.to_datetime(s)
        if kind == "category":
            return s.astype("category")
        if kind == "object":
            return s
        target = np.dtype(kind)
        if not (ptypes.is_numeric_dtype(s.dtype) or ptypes.is_bool_dtype(s.dtype)):
            s = pd.to_numeric(s, errors="raise")
        if target.kind in "iu":
            if s.isna().any():
                raise ValueError("missing values in an integer column")
            if s.dtype.kind == "f" and not np.all(np.mod(s.to_numpy(), 1) == 0):
                raise ValueError("non-integer values")
        return s.astype(target)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _bad(name, f"expected {kind}, got {s.dtype} values that cannot be cast ({exc})") from None


def _enforce_columns(frame: pd.DataFrame, columns: list[dict[str, Any]]) -> pd.DataFrame:
    names = [c["name"] for c in columns]
    frame = frame.rename(columns=str)
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InvalidInput(f"missing column(s) {', '.join(map(repr, missing))}", code="invalid_model_input",
                           errors=[{"loc": ["data", n], "msg": "missing column"} for n in missing])
    return pd.DataFrame({c["name"]: _cast(frame[c["name"]], c["type"], c["name"]) for c in columns},
                        index=frame.index)


def _enforce_tensor(data: Any, schema: dict[str, Any]) -> np.ndarray:
    frame = as_frame(data)
    source = frame.to_numpy() if frame is not None else data
    kind = schema.get("dtype", "float64")
    dtype = np.dtype(object) if kind in ("string", "object") else np.dtype(kind)
    try:
        arr = np.asarray(source, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"input cannot be cast to a {kind} tensor: {exc}", code="invalid_model_input",
                           errors=[{"loc": ["data"], "msg": f"expected {kind} values"}]) from None
    shape = list(schema.get("shape") or [])
    if shape and (arr.ndim != len(shape) or any(w not in (-1, g) for w, g in zip(shape[1:], arr.shape[1:],
                                                                                   strict=False))):
        if arr.ndim == len(shape) - 1 and all(w in (-1, g) for w, g in zip(shape[1:], arr.shape, strict=False)):
            return arr[None, ...]  # one example without the batch dimension
        msg = f"expected shape {shape}, got {list(arr.shape)}"
        raise InvalidInput(f"input {msg}", code="invalid_model_input", errors=[{"loc": ["data"], "msg": msg}])
    return arr


def prepare_input(data: Any, schema: Schema | None) -> Any:
    """Shape ``data`` (records, dict of columns, DataFrame, ndarray) the way ``schema`` says.

    Columns → a DataFrame in signature order with signature types (extra columns dropped; an ndarray
    is taken column by column). Tensor → an ndarray of the signature dtype. No schema → tabular input
    becomes a DataFrame, anything else passes through.
    """
    data = _native(data)
    frame = as_frame(data)
    if is_columns(schema):
        columns: list[dict[str, Any]] = schema  # type: ignore[assignment]
        if frame is None:
            arr = np.asarray(data)
            if arr.ndim == 1:  # one column of values, or one row of all columns
                arr = arr[:, None] if len(columns) == 1 else arr[None, :]
            if arr.ndim != 2 or arr.shape[1] != len(columns):
                msg = f"expected {len(columns)} columns ({', '.join(c['name'] for c in columns)}), got shape {list(arr.shape)}"
                raise InvalidInput(f"input {msg}", code="invalid_model_input", errors=[{"loc": ["data"], "msg": msg}])
            frame = pd.DataFrame({c["name"]: arr[:, i] for i, c in enumerate(columns)})
        return _enforce_columns(frame, columns)
    if isinstance(schema, dict) and schema.get("type") == "tensor":
        return _enforce_tensor(data, schema)
    return frame if frame is not None else data
