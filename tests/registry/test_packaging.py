"""Model packages: the manifest, digest verification before any deserialization, signatures and their
enforcement, the sklearn and python flavors. The other flavors: test_flavor_*.py."""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from mainsail.core.errors import IntegrityError, InvalidInput, NotFound, ServiceUnavailable
from mainsail.registry.packaging import (
    MANIFEST,
    ModelPackage,
    PyFuncModel,
    load_package,
    save_model,
    verify_package,
)
from mainsail.registry.signature import infer_schema, infer_signature


def churn_frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"tenure": rng.normal(12, 4, n), "plan": rng.choice(["basic", "pro", "max"], n),
                         "tickets": rng.integers(0, 6, n)})


@pytest.fixture(scope="module")
def churn() -> tuple[pd.DataFrame, np.ndarray, object]:
    df = churn_frame()
    y = np.where(df.tenure + df.tickets > 14, "churn", "stay")
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["plan"]), remainder="passthrough"),
                          LogisticRegression(max_iter=500)).fit(df, y)
    return df, y, model


@pytest.fixture
def churn_pkg(churn, tmp_path: Path) -> Path:
    df, _, model = churn
    save_model(model, tmp_path / "pkg", input_example=df.head(3))
    return tmp_path / "pkg"


class Doubler:
    """A python-flavor model from an importable module."""

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return data["x"].to_numpy() * 2

    def predict_proba(self, data: pd.DataFrame) -> np.ndarray:
        return np.column_stack([data["x"].to_numpy() * 0, data["x"].to_numpy() * 0 + 1])


class Evil:
    """Unpickling this creates a directory: proof that a file was deserialized."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


# ------------------------------------------------------------------------------ sklearn round trip

def test_sklearn_pipeline_round_trip_records_frame_ndarray(churn, churn_pkg: Path):
    df, _, model = churn
    pm = load_package(churn_pkg)
    assert isinstance(pm, PyFuncModel) and pm.flavor == "sklearn"
    assert type(pm.raw) is type(model)
    expected = model.predict(df)
    assert list(pm.predict(df)) == list(expected)
    assert list(pm.predict(df.to_dict("records"))) == list(expected)
    assert list(pm.predict(df.to_dict("list"))) == list(expected)
    assert list(pm.predict(df.to_numpy())) == list(expected)  # columns taken in signature order
    assert list(pm.predict(df.iloc[0].to_dict())) == [expected[0]]  # one record
    np.testing.assert_allclose(pm.predict_proba(df), model.predict_proba(df))
    # extra and reordered columns: the signature picks and orders them
    shuffled = df[["tickets", "plan", "tenure"]].assign(extra=1)
    assert list(pm.predict(shuffled)) == list(expected)


def test_manifest_records_flavor_versions_signature_and_digests(churn_pkg: Path):
    manifest = json.loads((churn_pkg / MANIFEST).read_text())
    package = verify_package(churn_pkg)
    assert package == ModelPackage.from_dict(manifest)
    assert package.flavor == "sklearn" and package.python_version.count(".") == 2
    import sklearn

    from mainsail import __version__
    assert package.libraries["scikit-learn"] == sklearn.__version__
    assert package.libraries["numpy"] == np.__version__ and package.libraries["mainsail"] == __version__
    assert set(package.files) == {"model.pkl"}  # the manifest does not list itself
    assert package.loader == {"file": "model.pkl", "serializer": "pickle", "class": "sklearn.pipeline.Pipeline"}
    assert package.signature == {
        "inputs": [{"name": "tenure", "type": "float64"}, {"name": "plan", "type": "string"},
                   {"name": "tickets", "type": "int64"}],
        "outputs": {"type": "tensor", "dtype": "string", "shape": [-1]},
    }
    assert package.created_at.endswith("Z")


def test_sklearn_on_ndarray_gets_a_tensor_signature(tmp_path: Path):
    X = np.random.default_rng(1).normal(size=(40, 3))
    model = LinearRegression().fit(X, X @ [1.0, 2.0, 3.0])
    package = save_model(model, tmp_path / "lin", input_example=X[:2])
    assert package.signature == {"inputs": {"type": "tensor", "dtype": "float64", "shape": [-1, 3]},
                                 "outputs": {"type": "tensor", "dtype": "float64", "shape": [-1]}}
    pm = load_package(tmp_path / "lin")
    np.testing.assert_allclose(pm.predict(X), model.predict(X))
    np.testing.assert_allclose(pm.predict(X.tolist()), model.predict(X))
    np.testing.assert_allclose(pm.predict(pd.DataFrame(X, columns=list("abc"))), model.predict(X))
    np.testing.assert_allclose(pm.predict(X[0]), model.predict(X[:1]))  # one example, no batch dim
    assert not hasattr(pm, "predict_proba")


def test_without_input_example_no_signature_and_predict_still_works(churn, tmp_path: Path):
    df, _, model = churn
    package = save_model(model, tmp_path / "nosig")
    assert package.signature is None
    pm = load_package(tmp_path / "nosig")
    assert list(pm.predict(df.to_dict("records"))) == list(model.predict(df))


# ------------------------------------------------------------------------------------ python flavor

def test_python_flavor_round_trip(tmp_path: Path):
    frame = pd.DataFrame({"x": [1.0, 2.5, -3.0]})
    package = save_model(Doubler(), tmp_path / "py", input_example=frame)
    assert package.flavor == "python" and package.loader["serializer"] == "cloudpickle"
    pm = load_package(tmp_path / "py")
    assert isinstance(pm.raw, Doubler)
    for data in (frame, frame.to_dict("records"), {"x": [1.0, 2.5, -3.0]}, frame.to_numpy()):
        np.testing.assert_array_equal(pm.predict(data), [2.0, 5.0, -6.0])
    assert pm.predict_proba(frame).shape == (3, 2)
    np.testing.assert_array_equal(pm.predict([1.0, 2.5]), [2.0, 5.0])  # 1-D input for one column: rows


def test_python_flavor_class_defined_in_a_function_travels_by_value(tmp_path: Path):
    class Offset:
        def __init__(self, k: float):
            self.k = k

        def predict(self, data):
            return np.asarray(data) + self.k

    save_model(Offset(0.5), tmp_path / "local", input_example=np.zeros((2, 2)))
    np.testing.assert_array_equal(load_package(tmp_path / "local").predict([[1.0, 2.0]]), [[1.5, 2.5]])


def test_code_paths_are_packaged_and_importable_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "mainsail_test_custom.py").write_text(
        "class Tripler:\n    def predict(self, data):\n        return data['x'].to_numpy() * 3\n")
    monkeypatch.setattr(sys, "path", [str(src), *sys.path])
    import mainsail_test_custom

    save_model(mainsail_test_custom.Tripler(), tmp_path / "pkg", code_paths=[str(src / "mainsail_test_custom.py")],
               input_example={"x": [1.0]})
    sys.path.remove(str(src))
    monkeypatch.delitem(sys.modules, "mainsail_test_custom")
    (src / "mainsail_test_custom.py").unlink()
    pm = load_package(tmp_path / "pkg")
    assert pm.package.files.keys() == {"model.pkl", "code/mainsail_test_custom.py"}
    assert list(pm.predict([{"x": 2.0}])) == [6.0]
    assert sys.modules["mainsail_test_custom"].__file__.startswith(str((tmp_path / "pkg" / "code").resolve()))
    monkeypatch.delitem(sys.modules, "mainsail_test_custom")
    # stale bytecode beside the verified source is dropped, not imported
    cache = tmp_path / "pkg" / "code" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "planted.pyc").write_bytes(b"not bytecode")
    assert list(load_package(tmp_path / "pkg").predict([{"x": 1.0}])) == [3.0]
    assert not (cache / "planted.pyc").exists()
    monkeypatch.delitem(sys.modules, "mainsail_test_custom")


# ------------------------------------------------------------------------------------- integrity

def test_one_changed_byte_is_an_integrity_error_naming_the_file(churn_pkg: Path):
    target = churn_pkg / "model.pkl"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model.pkl") as exc:
        load_package(churn_pkg)
    assert exc.value.errors == [{"loc": ["files", "model.pkl"], "msg": "SHA-256 does not match the manifest"}]


def test_tampered_pickle_is_never_deserialized(churn_pkg: Path, tmp_path: Path):
    marker = tmp_path / "unpickled"
    (churn_pkg / "model.pkl").write_bytes(pickle.dumps(Evil(marker)))
    with pytest.raises(IntegrityError, match="model.pkl"):
        load_package(churn_pkg)
    assert not marker.exists()
    import joblib

    joblib.load(churn_pkg / "model.pkl")  # the test has teeth: loading it does run code
    assert marker.exists()


def test_missing_file_unsafe_path_extra_code_and_pinned_manifest(churn_pkg: Path, tmp_path: Path):
    import hashlib

    manifest = churn_pkg / MANIFEST
    pinned = hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert verify_package(churn_pkg, manifest_sha256=pinned).flavor == "sklearn"
    with pytest.raises(IntegrityError, match=MANIFEST):
        verify_package(churn_pkg, manifest_sha256="0" * 64)

    doc = json.loads(manifest.read_text())
    doc["files"]["../outside.bin"] = "0" * 64
    manifest.write_text(json.dumps(doc))
    with pytest.raises(IntegrityError, match="unsafe file path '../outside.bin'"):
        verify_package(churn_pkg)

    del doc["files"]["../outside.bin"]
    doc["loader"]["code"] = "code"
    manifest.write_text(json.dumps(doc))
    (churn_pkg / "code").mkdir()
    (churn_pkg / "code" / "sklearn.py").write_text("raise SystemExit('shadowed')\n")
    with pytest.raises(IntegrityError, match="code/sklearn.py.*not listed"):
        load_package(churn_pkg)

    (churn_pkg / "model.pkl").unlink()
    with pytest.raises(IntegrityError, match="'model.pkl' \\(file is missing\\)"):
        verify_package(churn_pkg)

    with pytest.raises(NotFound, match=MANIFEST):
        load_package(tmp_path / "nowhere")
    manifest.write_text('{"flavor": "sklearn"}')
    with pytest.raises(IntegrityError, match="malformed"):
        verify_package(churn_pkg)


def test_missing_flavor_library_names_the_pip_extra(churn_pkg: Path, monkeypatch: pytest.MonkeyPatch):
    manifest = churn_pkg / MANIFEST
    doc = json.loads(manifest.read_text())
    doc["flavor"] = "xgboost"  # whatever the files: the library is asked for first
    manifest.write_text(json.dumps(doc))
    monkeypatch.setitem(sys.modules, "xgboost", None)  # as if not installed
    with pytest.raises(ServiceUnavailable, match=r"pip install 'mainsail\[xgboost\]'"):
        load_package(churn_pkg)


def test_library_version_drift_warns_at_load(churn_pkg: Path):
    manifest = churn_pkg / MANIFEST
    doc = json.loads(manifest.read_text())
    doc["libraries"]["scikit-learn"] = "0.24.2"
    manifest.write_text(json.dumps(doc))
    with pytest.warns(UserWarning, match="saved with scikit-learn 0.24.2"):
        load_package(churn_pkg)


# ------------------------------------------------------------------------------------- signatures

def test_infer_schema_from_frames_records_columns_and_arrays():
    frame = pd.DataFrame({"f": [1.5, 2.0], "i": [1, 2], "b": [True, False], "s": ["a", "b"],
                          "t": pd.to_datetime(["2024-01-01", "2024-01-02"]), "c": pd.Categorical(["x", "y"]),
                          "f32": np.array([1, 2], dtype=np.float32)})
    assert infer_schema(frame) == [
        {"name": "f", "type": "float64"}, {"name": "i", "type": "int64"}, {"name": "b", "type": "bool"},
        {"name": "s", "type": "string"}, {"name": "t", "type": "datetime"}, {"name": "c", "type": "category"},
        {"name": "f32", "type": "float32"}]
    records = [{"tenure": 3.0, "plan": "pro"}, {"tenure": None, "plan": "basic"}]
    expected = [{"name": "tenure", "type": "float64"}, {"name": "plan", "type": "string"}]
    assert infer_schema(records) == expected
    assert infer_schema({"tenure": [3.0, 4.0], "plan": ["pro", "basic"]}) == expected
    assert infer_schema({"tenure": 3.0, "plan": "pro"}) == expected
    assert infer_schema(np.zeros((5, 4), dtype=np.float32)) == {"type": "tensor", "dtype": "float32", "shape": [-1, 4]}
    assert infer_schema(np.zeros((2, 3, 8), dtype=np.int64))["shape"] == [-1, 3, 8]
    assert infer_signature(frame[["f"]], np.array(["a"])) == {
        "inputs": [{"name": "f", "type": "float64"}],
        "outputs": {"type": "tensor", "dtype": "string", "shape": [-1]}}


def test_missing_column_and_uncastable_values_name_the_column(churn_pkg: Path):
    pm = load_package(churn_pkg)
    with pytest.raises(InvalidInput, match="tenure") as exc:
        pm.predict([{"plan": "pro", "tickets": 1}])
    assert exc.value.errors == [{"loc": ["data", "tenure"], "msg": "missing column"}]
    with pytest.raises(InvalidInput, match="'tenure'") as exc:
        pm.predict([{"tenure": "long", "plan": "pro", "tickets": 1}])
    assert exc.value.errors[0]["loc"] == ["data", "tenure"]
    with pytest.raises(InvalidInput, match="'tickets'.*non-integer"):
        pm.predict([{"tenure": 3.0, "plan": "pro", "tickets": 1.5}])
    with pytest.raises(InvalidInput, match="'tickets'"):
        pm.predict([{"tenure": 3.0, "plan": "pro", "tickets": None}])
    with pytest.raises(InvalidInput, match="expected 3 columns"):
        pm.predict(np.zeros((2, 4)))
    # castable values are cast: numeric strings, whole floats for an int column
    assert len(pm.predict([{"tenure": "3.5", "plan": "pro", "tickets": 2.0}])) == 1


def test_tensor_signature_checks_shape_and_dtype(tmp_path: Path):
    X = np.random.default_rng(2).normal(size=(20, 3))
    save_model(LinearRegression().fit(X, X[:, 0]), tmp_path / "t", input_example=X[:2])
    pm = load_package(tmp_path / "t")
    with pytest.raises(InvalidInput, match=r"expected shape \[-1, 3\], got \[2, 4\]"):
        pm.predict(np.zeros((2, 4)))
    with pytest.raises(InvalidInput, match="float64"):
        pm.predict([["a", "b", "c"]])


# -------------------------------------------------------------------------------- saving errors

def test_unknown_model_type_and_wrong_flavor_are_invalid_input(churn, tmp_path: Path):
    with pytest.raises(InvalidInput, match=r"builtins\.object.*supported flavors: onnx, torch, xgboost, lightgbm, sklearn, python") as exc:
        save_model(object(), tmp_path / "x")
    assert exc.value.code == "unsupported_model"
    _, _, model = churn
    with pytest.raises(InvalidInput, match="not a torch model"):
        save_model(model, tmp_path / "x", flavor="torch")
    with pytest.raises(InvalidInput, match="unknown flavor 'keras'"):
        save_model(model, tmp_path / "x", flavor="keras")
    assert not (tmp_path / "x").exists()
    assert save_model(model, tmp_path / "x", flavor="python").flavor == "python"  # anything with predict


def test_existing_folder_is_refused_and_a_failed_save_leaves_nothing(churn, tmp_path: Path):
    df, _, model = churn
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidInput, match="not an empty folder"):
        save_model(model, tmp_path / "full")
    assert os.listdir(tmp_path / "full") == ["keep.txt"]
    (tmp_path / "empty").mkdir()
    assert save_model(model, tmp_path / "empty").flavor == "sklearn"
    with pytest.raises(InvalidInput, match="predict failed on input_example"):
        save_model(model, tmp_path / "bad", input_example=df[["tenure"]])
    assert sorted(os.listdir(tmp_path)) == ["empty", "full"]  # no half-written package or staging folder
