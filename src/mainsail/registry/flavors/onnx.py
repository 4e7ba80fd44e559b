"""ONNX models (an ``onnx.ModelProto``, the serialized bytes, or a path to a ``.onnx`` file), run with
onnxruntime on the CPU. Converted scikit-learn classifiers (skl2onnx) keep sklearn semantics:
``predict`` returns the label output, ``predict_proba`` the probability output."""

from __future__ import annotations

import shutil
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mainsail.core.errors import InvalidInput
from mainsail.registry.flavors.base import loaded, require, to_array

NAME = "onnx"
EXTRA = "onnx"
LIBRARIES = ("onnxruntime", "onnx")
FILE = "model.onnx"
_TYPES = {"float": np.float32, "double": np.float64, "float16": np.float16, "int64": np.int64,
          "int32": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_,
          "string": np.object_}


def _is_file(model: Any) -> bool:
    return isinstance(model, str | Path) and str(model).endswith(".onnx") and Path(model).is_file()


def detect(model: Any) -> bool:
    onnx = loaded("onnx")
    if onnx is not None and isinstance(model, onnx.ModelProto):
        return True
    return isinstance(model, bytes | bytearray) or _is_file(model)


def save(model: Any, folder: Path, *, input_example: Any = None) -> dict[str, Any]:
    target = folder / FILE
    if isinstance(model, bytes | bytearray):
        target.write_bytes(bytes(model))
    elif isinstance(model, str | Path):
        shutil.copyfile(model, target)
    else:
        target.write_bytes(model.SerializeToString())
    onnx = loaded("onnx") or (require("onnx", EXTRA) if find_spec("onnx") else None)
    if onnx is not None:  # validate when the onnx package is around; onnxruntime alone can run it
        try:
            onnx.checker.check_model(str(target))
        except Exception as exc:  # noqa: BLE001  (the checker raises several types)
            raise InvalidInput(f"not a valid ONNX model: {exc}", code="invalid_model",
                               errors=[{"loc": ["model"], "msg": "invalid ONNX model"}]) from None
    return {"file": FILE, "providers": ["CPUExecutionProvider"]}


def load(folder: Path, loader: dict[str, Any]) -> Any:
    ort = require("onnxruntime", EXTRA)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(folder / loader["file"]), sess_options=options,
                                providers=loader.get("providers") or ["CPUExecutionProvider"])


def _dtype(onnx_type: str) -> Any:
    return _TYPES.get(onnx_type.removeprefix("tensor(").removesuffix(")"), np.float32)


def _feed(session: Any, data: Any) -> dict[str, np.ndarray]:
    inputs = session.get_inputs()
    if len(inputs) == 1:
        arr = to_array(data, _dtype(inputs[0].type))
        return {inputs[0].name: arr[None, :] if arr.ndim == 1 and len(inputs[0].shape) == 2 else arr}
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(f"this ONNX model takes {len(inputs)} named inputs; pass columns named "
                           f"{', '.join(i.name for i in inputs)}", code="invalid_model_input",
                           errors=[{"loc": ["data"], "msg": "expected named columns"}])
    missing = [i.name for i in inputs if i.name not in data.columns]
    if missing:
        raise InvalidInput(f"missing column(s) {', '.join(map(repr, missing))}", code="invalid_model_input",
                           errors=[{"loc": ["data", n], "msg": "missing column"} for n in missing])
    return {i.name: data[i.name].to_numpy(dtype=_dtype(i.type)).reshape(-1, 1) for i in inputs}


def _outputs(session: Any, data: Any) -> dict[str, Any]:
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, _feed(session, data)), strict=True))


def _proba_name(session: Any) -> str | None:
    names = [o.name for o in session.get_outputs()]
    return next((n for n in names[1:] if "probabilit" in n.lower()), None) if len(names) > 1 else None


def predict(session: Any, data: Any) -> Any:
    out = _outputs(session, data)
    if len(out) == 1 or _proba_name(session):
        return next(iter(out.values()))
    return out


def has_proba(session: Any) -> bool:
    return _proba_name(session) is not None


def predict_proba(session: Any, data: Any) -> np.ndarray:
    proba = _outputs(session, data)[_proba_name(session)]  # type: ignore[index]
    if isinstance(proba, list):  # a ZipMap output: one {class: probability} dict per row
        keys = list(proba[0]) if proba else []
        return np.array([[row[k] for k in keys] for row in proba])
    return proba
