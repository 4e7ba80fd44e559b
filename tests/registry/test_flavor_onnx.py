"""onnx flavor: ModelProto, bytes or a .onnx path, run with onnxruntime."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from _services import require_service
from sklearn.linear_model import LogisticRegression

from mainsail.core.errors import InvalidInput
from mainsail.registry.packaging import load_package, save_model


def _lib(name: str, extra: str = "onnx") -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        require_service(name, f"{exc}; pip install 'mainsail[{extra}]'")
        raise


@pytest.fixture(scope="module")
def converted() -> tuple[np.ndarray, LogisticRegression, object]:
    _lib("onnxruntime")
    skl2onnx = _lib("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType

    X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    model = LogisticRegression().fit(X, y)
    proto = skl2onnx.convert_sklearn(model, initial_types=[("input", FloatTensorType([None, 4]))],
                                     target_opset=17)
    return X, model, proto


def test_onnx_model_proto_round_trip(converted, tmp_path: Path):
    X, model, proto = converted
    package = save_model(proto, tmp_path / "onnx", input_example=X[:3])
    assert package.flavor == "onnx" and package.files.keys() == {"model.onnx"}
    assert package.signature["inputs"] == {"type": "tensor", "dtype": "float32", "shape": [-1, 4]}
    assert {"onnx", "onnxruntime"} <= package.libraries.keys()
    pm = load_package(tmp_path / "onnx")
    for data in (X, X.astype(np.float64), X.tolist(), pd.DataFrame(X, columns=list("abcd"))):
        np.testing.assert_array_equal(pm.predict(data), model.predict(X))
    np.testing.assert_allclose(pm.predict_proba(X), model.predict_proba(X), atol=1e-5)  # ZipMap → array


def test_onnx_from_bytes_and_path(converted, tmp_path: Path):
    X, model, proto = converted
    save_model(proto.SerializeToString(), tmp_path / "b")
    (tmp_path / "m.onnx").write_bytes(proto.SerializeToString())
    save_model(str(tmp_path / "m.onnx"), tmp_path / "p")
    for folder in ("b", "p"):
        pm = load_package(tmp_path / folder)
        assert pm.flavor == "onnx" and pm.package.signature is None
        np.testing.assert_array_equal(pm.predict(X), model.predict(X))
    with pytest.raises(InvalidInput, match="not a valid ONNX model"):
        save_model(b"not onnx at all", tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_onnx_named_inputs_take_columns(tmp_path: Path):
    _lib("onnxruntime")
    onnx = _lib("onnx")
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 1]) for n in ("a", "b")]
    out = helper.make_tensor_value_info("total", TensorProto.FLOAT, [None, 1])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["total"])], "add", inputs, [out])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    package = save_model(proto, tmp_path / "add", input_example=[{"a": 1.0, "b": 2.0}])
    assert package.signature["inputs"] == [{"name": "a", "type": "float64"}, {"name": "b", "type": "float64"}]
    pm = load_package(tmp_path / "add")
    np.testing.assert_allclose(pm.predict([{"b": 2.0, "a": 1.5}, {"a": 0, "b": 0}]), [[3.5], [0.0]])
    with pytest.raises(InvalidInput, match="'b'"):
        pm.predict([{"a": 1.0}])
