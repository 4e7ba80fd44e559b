"""Request bodies to model input and predictions to JSON, without a pandas frame per request where the
model allows: ``/predict`` records or columns, and Open Inference Protocol v2 tensors (JSON or the
binary tensor extension). Errors are ``InvalidInput`` naming the field, row or tensor."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mainsail.core.errors import InvalidInput

_NUMERIC = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
            "uint64", "bool"}
_NUM_TYPES = (int, float)  # bool is an int
OIP_TO_NUMPY = {"BOOL": "bool", "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
                "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64", "FP16": "float16",
                "FP32": "float32", "FP64": "float64", "BYTES": "object"}
NUMPY_TO_OIP = {v: k for k, v in OIP_TO_NUMPY.items()}


def bad(loc: list[Any], msg: str) -> InvalidInput:
    where = ".".join(str(p) for p in loc)
    return InvalidInput(f"{where}: {msg}", code="invalid_model_input", errors=[{"loc": loc, "msg": msg}])


@dataclass(frozen=True)
class InputSpec:
    """How a model takes input: named numeric ``columns`` (fast path), a ``tensor`` dtype/shape, or neither."""

    columns: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    numeric: bool = False  # every column numeric: records go straight to a float64 matrix
    tensor: dict[str, Any] | None = None
    fast: bool = False  # the flavor takes a plain ndarray

    @classmethod
    def from_signature(cls, schema: Any, flavor: str) -> InputSpec:
        if isinstance(schema, list) and schema and all("name" in c and "type" in c for c in schema):
            names = tuple(str(c["name"]) for c in schema)
            types = tuple(str(c["type"]) for c in schema)
            numeric = all(t in _NUMERIC for t in types)
            return cls(columns=names, types=types, numeric=numeric, fast=numeric and flavor == "sklearn")
        if isinstance(schema, dict) and schema.get("type") == "tensor":
            return cls(tensor=schema, fast=schema.get("dtype") in _NUMERIC)
        return cls()


# ------------------------------------------------------------------------------------ /predict

PAYLOADS = ("records", "columns", "entity_id", "entities")


def parse_predict(body: Any) -> tuple[str, Any, str | None, str | None]:
    """``(kind, data, key, request_id)`` from a ``/predict`` body: a list of records, or an object with
    ``records`` (a list of objects), ``columns`` (an object of equal-length lists), ``entity_id`` (an id or
    a list of ids) or ``entities`` (join-key rows), optional ``key`` (sticky routing) and ``request_id``."""
    if isinstance(body, list):
        return "records", body, None, None
    if not isinstance(body, dict):
        raise bad(["body"], "expected a list of records or an object with 'records' or 'columns'")
    key, rid = body.get("key"), body.get("request_id")
    if key is not None and not isinstance(key, str | int):
        raise bad(["body", "key"], "expected a string")
    if rid is not None and not isinstance(rid, str):
        raise bad(["body", "request_id"], "expected a string")
    unknown = sorted(set(body) - {*PAYLOADS, "key", "request_id"})
    if unknown:
        raise bad(["body", unknown[0]], "unknown field; expected 'records', 'columns', 'entity_id' or 'entities' "
                                        "(and 'key', 'request_id')")
    given = [k for k in PAYLOADS if k in body]
    if len(given) > 1:
        raise bad(["body", given[1]], f"give one of 'records', 'columns', 'entity_id', 'entities', not {given[0]!r} "
                                      "too")
    if not given:
        raise bad(["body", "records"], "field required ('records', 'columns', 'entity_id' or 'entities')")
    data = body[given[0]]
    if key is None and given[0] == "entity_id" and isinstance(data, str | int):
        key = data  # an entity keeps its variant
    return given[0], data, None if key is None else str(key), rid


def _check_records(records: Any) -> list[Mapping[str, Any]]:
    if not isinstance(records, list) or not records:
        raise bad(["body", "records"], "expected a non-empty list of objects")
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise bad(["body", "records", i], "expected an object")
    return records


def _diagnose_records(records: list[Mapping[str, Any]], spec: InputSpec) -> None:
    for i, r in enumerate(records):
        for c, t in zip(spec.columns, spec.types, strict=True):
            if c not in r:
                raise bad(["body", "records", i, c], "field required")
            v = r[c]
            if v is None and t.startswith("float"):
                continue
            if not isinstance(v, _NUM_TYPES) or (t == "bool" and not isinstance(v, bool | int)):
                raise bad(["body", "records", i, c], f"expected {t}, got {type(v).__name__} {v!r}"[:200])


def records_to_input(records: Any, spec: InputSpec) -> Any:
    """Records as the model takes them: a float64 matrix on the fast path, else the records (the
    package's own signature enforcement shapes them)."""
    records = _check_records(records)
    if not spec.numeric:
        return records
    cols = spec.columns
    try:
        rows = [[r[c] for c in cols] for r in records]
    except KeyError:
        _diagnose_records(records, spec)
        raise
    if not all(type(v) in (float, int) for row in rows for v in row):
        _diagnose_records(records, spec)  # raises for a wrong type; None in float columns means NaN
        rows = [[math.nan if v is None else v for v in row] for row in rows]
    return np.array(rows, dtype=np.float64)


def columns_to_input(columns: Any, spec: InputSpec) -> Any:
    """``{"col": [values…]}`` as a float64 matrix on the fast path, else as the dict of columns."""
    if not isinstance(columns, dict) or not columns:
        raise bad(["body", "columns"], "expected an object of equal-length lists")
    n = None
    for name, values in columns.items():
        if not isinstance(values, list):
            raise bad(["body", "columns", name], "expected a list")
        if n is not None and len(values) != n:
            raise bad(["body", "columns", name], f"has {len(values)} values, other columns have {n}")
        n = len(values)
    if not n:
        raise bad(["body", "columns"], "columns are empty")
    if not spec.numeric:
        return columns
    arrays = []
    for c, t in zip(spec.columns, spec.types, strict=True):
        if c not in columns:
            raise bad(["body", "columns", c], "field required")
        arr = np.asarray(columns[c])
        if arr.dtype.kind not in "biuf":
            if t.startswith("float") and all(v is None or isinstance(v, _NUM_TYPES) for v in columns[c]):
                arr = np.array([math.nan if v is None else v for v in columns[c]], dtype=np.float64)
            else:
                i, v = next((i, v) for i, v in enumerate(columns[c]) if not isinstance(v, _NUM_TYPES))
                raise bad(["body", "columns", c, i], f"expected {t}, got {type(v).__name__} {v!r}"[:200])
        arrays.append(arr.astype(np.float64, copy=False))
    return np.column_stack(arrays)


def rows_of(data: Any) -> int:
    if isinstance(data, np.ndarray):
        return int(data.shape[0])
    if isinstance(data, dict):
        return len(next(iter(data.values())))
    return len(data)


def to_jsonable(pred: Any) -> list[Any]:
    """Predictions as a JSON list (numpy scalars become Python numbers)."""
    if hasattr(pred, "to_numpy"):
        pred = pred.to_numpy()
    if isinstance(pred, np.ndarray):
        return pred.tolist()
    return list(pred)


# ------------------------------------------------------------------------------------ OIP v2

def _tensor_data(t: Mapping[str, Any], i: int, binary: memoryview | None, offset: int) -> tuple[np.ndarray, int]:
    loc = ["body", "inputs", i]
    name = t.get("name")
    dtype_name = t.get("datatype")
    shape = t.get("shape")
    if not isinstance(name, str) or not name:
        raise bad([*loc, "name"], "expected the tensor's name")
    if dtype_name not in OIP_TO_NUMPY:
        raise bad([*loc, "datatype"], f"tensor {name!r}: unknown datatype {dtype_name!r}; one of "
                                      f"{', '.join(OIP_TO_NUMPY)}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise bad([*loc, "shape"], f"tensor {name!r}: expected a list of non-negative integers")
    count = math.prod(shape)
    size = (t.get("parameters") or {}).get("binary_data_size")
    dtype = np.dtype(OIP_TO_NUMPY[dtype_name])
    if size is not None:
        if binary is None or not isinstance(size, int) or offset + size > len(binary):
            raise bad([*loc, "parameters", "binary_data_size"], f"tensor {name!r}: binary data missing or short")
        raw = binary[offset:offset + size]
        offset += size
        if dtype_name == "BYTES":
            items, pos = [], 0
            while pos < len(raw):
                n = int.from_bytes(raw[pos:pos + 4], "little")
                items.append(bytes(raw[pos + 4:pos + 4 + n]).decode("utf-8", "replace"))
                pos += 4 + n
            arr = np.array(items, dtype=object)
        else:
            if size != count * dtype.itemsize:
                raise bad([*loc, "parameters", "binary_data_size"],
                          f"tensor {name!r}: {size} bytes for shape {shape} of {dtype_name}")
            arr = np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
    else:
        data = t.get("data")
        if not isinstance(data, list):
            raise bad([*loc, "data"], f"tensor {name!r}: expected a list of values")
        try:
            arr = np.asarray(data, dtype=dtype).reshape(-1)
        except (ValueError, TypeError):
            raise bad([*loc, "data"], f"tensor {name!r}: values are not {dtype_name}") from None
        if dtype_name != "BYTES" and np.asarray(data).dtype.kind not in "biuf":
            raise bad([*loc, "data"], f"tensor {name!r}: values are not {dtype_name}")
    if arr.size != count:
        raise bad([*loc, "data"], f"tensor {name!r}: {arr.size} values for shape {shape}")
    return arr.reshape(shape), offset


def oip_to_input(body: Mapping[str, Any], spec: InputSpec, binary: memoryview | None = None) -> Any:
    """An OIP v2 ``inputs`` list as model input. Columns models take one tensor per column (shape
    ``[N]`` or ``[N, 1]``) or one ``[N, k]`` tensor; tensor models take one tensor."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise bad(["body", "inputs"], "expected a non-empty list of tensors")
    tensors: dict[str, np.ndarray] = {}
    offset = 0
    for i, t in enumerate(inputs):
        if not isinstance(t, dict):
            raise bad(["body", "inputs", i], "expected a tensor object")
        arr, offset = _tensor_data(t, i, binary, offset)
        if t["name"] in tensors:
            raise bad(["body", "inputs", i, "name"], f"tensor {t['name']!r} given twice")
        tensors[t["name"]] = arr
    if spec.columns:
        if len(tensors) == 1 and next(iter(tensors)) not in spec.columns:
            (name, arr), = tensors.items()
            if arr.ndim != 2 or arr.shape[1] != len(spec.columns):
                raise bad(["body", "inputs", 0, "shape"], f"tensor {name!r}: expected shape [N, {len(spec.columns)}] "
                          f"(columns {', '.join(spec.columns)}) or one tensor per column")
            return arr.astype(np.float64) if spec.numeric else {c: arr[:, j].tolist() for j, c in enumerate(spec.columns)}
        unknown = [n for n in tensors if n not in spec.columns]
        if unknown:
            i = list(tensors).index(unknown[0])
            raise bad(["body", "inputs", i, "name"], f"unknown input tensor {unknown[0]!r}; expected "
                      f"{', '.join(spec.columns)}")
        missing = [c for c in spec.columns if c not in tensors]
        if missing:
            raise bad(["body", "inputs"], f"missing input tensor(s) {', '.join(map(repr, missing))}")
        cols = [tensors[c].reshape(-1) for c in spec.columns]
        if len({len(c) for c in cols}) != 1:
            raise bad(["body", "inputs"], "input tensors have different batch sizes")
        if spec.numeric:
            return np.column_stack([c.astype(np.float64) for c in cols])
        return {c: v.tolist() for c, v in zip(spec.columns, cols, strict=True)}
    if len(tensors) != 1:
        raise bad(["body", "inputs"], f"this model takes one input tensor, got {len(tensors)}")
    arr = next(iter(tensors.values()))
    if spec.tensor is not None and spec.tensor.get("dtype") in _NUMERIC:
        arr = arr.astype(spec.tensor["dtype"])
    return arr


def oip_output(name: str, pred: Any) -> dict[str, Any]:
    arr = np.asarray(pred.to_numpy() if hasattr(pred, "to_numpy") else pred)
    if arr.dtype.kind in "OUS":
        return {"name": name, "shape": list(arr.shape), "datatype": "BYTES", "data": arr.astype(str).reshape(-1).tolist()}
    return {"name": name, "shape": list(arr.shape), "datatype": NUMPY_TO_OIP.get(arr.dtype.name, "FP64"),
            "data": arr.reshape(-1).tolist()}


def oip_inputs_metadata(spec: InputSpec) -> list[dict[str, Any]]:
    if spec.columns:
        return [{"name": c, "datatype": NUMPY_TO_OIP.get(t, "BYTES"), "shape": [-1]}
                for c, t in zip(spec.columns, spec.types, strict=True)]
    if spec.tensor:
        return [{"name": "input", "datatype": NUMPY_TO_OIP.get(spec.tensor.get("dtype", ""), "BYTES"),
                 "shape": list(spec.tensor.get("shape") or [-1])}]
    return []
