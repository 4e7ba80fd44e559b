"""torch flavor: TorchScript when the module scripts or traces cleanly, else state_dict + class."""

from __future__ import annotations

import importlib
from importlib import metadata
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from _services import require_service

from mainsail.core.errors import InvalidInput
from mainsail.registry.packaging import load_package, save_model

try:
    import torch
except ImportError:  # the tests below ask for the torch fixture, which skips (or fails in CI)
    torch = None


@pytest.fixture(scope="module")
def th() -> ModuleType:
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        require_service("torch", f"{exc}; pip install 'mainsail[torch]'")
        raise


if torch is not None:
    class Unscriptable(torch.nn.Module):
        """``getattr`` with a computed name defeats torch.jit.script; tracing it is fine."""

        def __init__(self, act: str = "tanh"):
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)
            self.act = act

        def forward(self, x):
            return getattr(torch, self.act)(self.linear(x))


def _net(th: ModuleType):
    th.manual_seed(0)
    return th.nn.Sequential(th.nn.Linear(4, 8), th.nn.ReLU(), th.nn.Linear(8, 3))


def _reference(th: ModuleType, model, X: np.ndarray) -> np.ndarray:
    with th.no_grad():
        return model(th.as_tensor(X, dtype=th.float32)).numpy()


def test_torch_scripted_round_trip(th, tmp_path: Path):
    model = _net(th)
    X = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    package = save_model(model, tmp_path / "net", input_example=X[:2])
    assert package.flavor == "torch" and package.loader == {"file": "model.pt", "mode": "torchscript"}
    assert package.signature == {"inputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 4]},
                                 "outputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 3]}}
    assert package.libraries["torch"] == metadata.version("torch")  # the pip pin, not "+cu130"
    pm = load_package(tmp_path / "net")
    expected = _reference(th, model, X)
    for data in (X, X.astype(np.float64), X.tolist(), th.as_tensor(X)):
        np.testing.assert_allclose(pm.predict(data), expected, rtol=1e-5, atol=1e-6)
    assert model.training  # saving put it back in the mode it was in


def test_torch_unscriptable_module_traces_with_example_else_state_dict(th, tmp_path: Path):
    th.manual_seed(1)
    model = Unscriptable()
    X = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    expected = _reference(th, model, X)

    traced = save_model(model, tmp_path / "traced", input_example=X[:3])
    assert traced.loader == {"file": "model.pt", "mode": "traced"}
    np.testing.assert_allclose(load_package(tmp_path / "traced").predict(X), expected, rtol=1e-5, atol=1e-6)

    package = save_model(model, tmp_path / "state")  # no example: cannot trace
    assert package.loader == {"file": "state_dict.pt", "mode": "state_dict",
                              "class": f"{Unscriptable.__module__}:Unscriptable"}
    pm = load_package(tmp_path / "state")
    assert isinstance(pm.raw, Unscriptable) and not pm.raw.training
    np.testing.assert_allclose(pm.predict(X), expected, rtol=1e-5, atol=1e-6)


def test_torch_integer_inputs_stay_integers(th, tmp_path: Path):
    th.manual_seed(2)
    model = th.nn.Sequential(th.nn.Embedding(10, 3), th.nn.Flatten(), th.nn.Linear(6, 1))
    idx = np.array([[1, 2], [3, 9], [0, 0]], dtype=np.int64)
    package = save_model(model, tmp_path / "emb", input_example=idx)
    assert package.signature["inputs"] == {"type": "tensor", "dtype": "int64", "shape": [-1, 2]}
    pm = load_package(tmp_path / "emb")
    with th.no_grad():
        expected = model(th.as_tensor(idx)).numpy()
    np.testing.assert_allclose(pm.predict(idx.tolist()), expected, rtol=1e-6)


def test_torch_module_that_cannot_be_rebuilt_is_refused(th, tmp_path: Path):
    class Local(th.nn.Module):
        def __init__(self, width: int):
            super().__init__()
            self.linear = th.nn.Linear(width, 1)
            self.fn = "relu"

        def forward(self, x):
            return getattr(th, self.fn)(self.linear(x))

    with pytest.raises(InvalidInput, match="TorchScript failed and it is defined in __main__ or inside a function"):
        save_model(Local(3), tmp_path / "local")
    assert not (tmp_path / "local").exists()
