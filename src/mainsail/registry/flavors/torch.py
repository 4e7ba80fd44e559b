"""PyTorch ``nn.Module``: TorchScript when the module scripts (or traces cleanly on the input example),
else its ``state_dict`` plus the importable class, rebuilt with a no-argument constructor.

The state dict is read with ``torch.load(weights_only=True)``; TorchScript with ``torch.jit.load``.
Both only after every digest has been verified."""

from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mainsail.core.errors import IntegrityError, InvalidInput
from mainsail.registry.flavors.base import loaded, require, to_array

NAME = "torch"
EXTRA = "torch"
LIBRARIES = ("torch",)
SCRIPT_FILE = "model.pt"
STATE_FILE = "state_dict.pt"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """TorchScript still works in torch 2.13 but warns on every call that it is deprecated."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
        yield


def detect(model: Any) -> bool:
    torch = loaded("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _script(torch: Any, model: Any, example: Any) -> tuple[Any, str] | None:
    if isinstance(model, torch.jit.ScriptModule):
        return model, "torchscript"
    try:
        return torch.jit.script(model), "torchscript"
    except Exception:  # noqa: BLE001  (scripting raises many types for unsupported Python)
        pass
    if example is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", torch.jit.TracerWarning)  # data-dependent paths: do not trust
            return torch.jit.trace(model, example, check_trace=True), "traced"
    except Exception:  # noqa: BLE001
        return None


def _class_path(model: Any) -> str:
    cls = type(model)
    path = f"{cls.__module__}:{cls.__qualname__}"
    problem = None
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        problem = "it is defined in __main__ or inside a function"
    else:
        try:
            _import_class(path)().load_state_dict(model.state_dict())
        except Exception as exc:  # noqa: BLE001
            problem = f"{path}() cannot be rebuilt with a no-argument constructor ({exc})"
    if problem:
        raise InvalidInput(f"cannot package torch module {cls.__qualname__}: TorchScript failed and {problem}; "
                           "make it scriptable, pass an input_example to trace it, or move the class into an "
                           "importable module (code_paths=) with defaults for every constructor argument",
                           code="unsupported_model", errors=[{"loc": ["model"], "msg": problem}])
    return path


def _import_class(path: str) -> Any:
    module, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def save(model: Any, folder: Path, *, input_example: Any = None) -> dict[str, Any]:
    torch = require("torch", EXTRA)
    was_training = model.training
    model.eval()
    try:
        example = None if input_example is None else _as_input(torch, model, input_example)
        with _quiet():
            scripted = _script(torch, model, example)
        if scripted is not None:
            with _quiet():
                torch.jit.save(scripted[0], str(folder / SCRIPT_FILE))
            return {"file": SCRIPT_FILE, "mode": scripted[1]}
        path = _class_path(model)
        torch.save(model.state_dict(), folder / STATE_FILE)
        return {"file": STATE_FILE, "mode": "state_dict", "class": path}
    finally:
        model.train(was_training)


def load(folder: Path, loader: dict[str, Any]) -> Any:
    torch = require("torch", EXTRA)
    path = folder / loader["file"]
    if loader.get("mode") == "state_dict":
        try:
            cls = _import_class(loader["class"])
        except (ImportError, AttributeError) as exc:
            raise InvalidInput(f"torch model class {loader['class']!r} is not importable: {exc}",
                               code="flavor_unavailable") from None
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
            raise IntegrityError(f"torch loader class {loader['class']!r} is not an nn.Module")
        model = cls()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    else:
        with _quiet():
            model = torch.jit.load(str(path), map_location="cpu")
    return model.eval()


def _param_dtype(torch: Any, model: Any) -> np.dtype:
    param = next(iter(model.parameters()), None)
    dtype = param.dtype if param is not None else torch.float32
    return np.dtype(str(dtype).removeprefix("torch."))


def _as_input(torch: Any, model: Any, data: Any) -> Any:
    """A tensor of ``data``; floats (and objects) take the dtype of the module's parameters, integers
    (e.g. embedding indices) stay integers."""
    arr = to_array(data)
    if arr.dtype.kind in "fO":  # float64 examples feed a float32 model
        arr = arr.astype(_param_dtype(torch, model))
    return torch.as_tensor(arr)


def predict(model: Any, data: Any) -> Any:
    torch = require("torch", EXTRA)
    with torch.inference_mode():
        out = model(_as_input(torch, model, data))
    if isinstance(out, tuple | list):
        return [o.numpy() for o in out]
    if isinstance(out, dict):
        return {k: v.numpy() for k, v in out.items()}
    return out.numpy()
