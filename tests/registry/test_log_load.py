"""log_model → registry → load_model, over every back end, with digest checks before loading."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mainsail
from mainsail.core.errors import IntegrityError, InvalidInput


@pytest.fixture
def sdk(backend: str):
    mainsail.set_tracking_uri(backend)
    yield mainsail.get_client()
    mainsail.set_tracking_uri(None)


def _data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"tenure": rng.integers(1, 72, 300).astype(float), "charges": rng.normal(60, 20, 300)})
    y = (x["tenure"] < 20).astype(int).to_numpy()
    return x, y


def test_log_register_alias_and_load_by_every_uri(sdk) -> None:
    x, y = _data()
    model = LogisticRegression().fit(x, y)
    with mainsail.start_run("train", params={"C": 1.0}) as run:
        mainsail.log_metric("accuracy", float(model.score(x, y)))
        v = mainsail.log_model(model, "model", registered_model_name="churn", input_example=x.head(5),
                               gate={"accuracy": ">= 0.8"}, stage="staging")
    assert (v.version, v.stage, v.framework) == (1, "staging", "sklearn")
    assert v.signature["inputs"][0]["name"] == "tenure" and v.metrics["accuracy"] > 0.8
    assert v.lineage.run_id == run.id and "mainsail-model.json" in v.files
    sdk.set_model_alias("churn", "champion", 1)
    expected = model.predict(x)
    for uri in ("models:/churn@champion", "models:/churn/staging", "models:/churn/1", "models:/churn",
                f"runs:/{run.id}/model"):
        loaded = mainsail.load_model(uri)
        assert (loaded.predict(x) == expected).all(), uri
    loaded = mainsail.load_model("models:/churn@champion")
    assert (loaded.predict(x.to_dict("records")) == expected).all()
    with pytest.raises(InvalidInput, match="charges"):
        loaded.predict([{"tenure": 3.0}])


def test_gate_failure_logs_the_model_but_registers_nothing(sdk) -> None:
    """README: log_model(..., gate=...) "registers only if the gate holds". A failed gate logs the model,
    records the failure on the run, registers nothing, raises nothing, and the run ends finished."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "registers only if the gate holds" in readme  # the promise this test holds the code to
    x, y = _data()
    model = LogisticRegression().fit(x, y)
    with mainsail.start_run() as run:
        mainsail.log_metric("accuracy", 0.5)
        res = mainsail.log_model(model, registered_model_name="churn", gate={"accuracy": ">= 0.9", "auc": "> 0.8"})
    assert res.registered is False and res.name == "churn" and res.model_uri == f"runs:/{run.id}/model"
    assert not res.gate.passed and {f.metric for f in res.gate.failures} == {"accuracy", "auc"}
    assert sdk.list_registered_models().items == []
    stored = sdk.get_run(run.id)
    assert stored.status == "finished" and stored.tags["mainsail.gate"] == "failed"
    assert "accuracy = 0.5 is not >= 0.9" in stored.tags["mainsail.gate_failures"]
    assert "auc = missing" in stored.tags["mainsail.gate_failures"]
    assert (mainsail.load_model(res.model_uri).predict(x) == model.predict(x)).all()  # the model was logged
    with mainsail.start_run() as run:  # the gate holds: registered, and the run says so
        mainsail.log_metric("accuracy", 0.95)
        v = mainsail.log_model(model, registered_model_name="churn", gate={"accuracy": ">= 0.9"})
    assert v.registered and v.version == 1 and sdk.get_run(run.id).tags["mainsail.gate"] == "passed"
    with mainsail.start_run(), pytest.raises(InvalidInput) as ei:  # a malformed gate is still an error
        mainsail.log_model(model, registered_model_name="churn", gate={"accuracy": "at least 0.9"})
    assert ei.value.code == "invalid_gate"


def test_tampered_cached_file_is_refused_before_loading(sdk) -> None:
    x, y = _data()
    with mainsail.start_run():
        mainsail.log_model(LogisticRegression().fit(x, y), registered_model_name="churn")
    folder = sdk.download_model("models:/churn/1")
    mainsail.load_model("models:/churn/1")  # verified once: later loads skip hashing unchanged files
    target = folder / "model.pkl"
    before = target.stat()
    target.write_bytes(b"not the model" + b"\0" * (before.st_size - 13))  # same size, same mtime:
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))       # only ctime gives it away
    with pytest.raises(IntegrityError, match=target.name):
        mainsail.load_model("models:/churn/1")
    manifest = folder / "mainsail-model.json"
    manifest.write_text(manifest.read_text().replace('"sklearn"', '"python"'))
    with pytest.raises(IntegrityError):
        mainsail.load_model("models:/churn/1")
