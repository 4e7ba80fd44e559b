"""Serving fixtures: a Client per back end with two registered churn model versions (v1 ← champion),
and a real replica process (``mainsail serve``) on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _services import free_port, stop_process, wait_ready
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from mainsail import Client

FEATURES = ["tenure", "charges", "calls"]


def churn_data(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"tenure": rng.integers(1, 72, n).astype(float), "charges": rng.normal(60, 20, n),
                      "calls": rng.poisson(2, n).astype(float)})
    return x, ((x["tenure"] < 20) | (x["calls"] > 3)).astype(int).to_numpy()


def register(client: Client, tmp_path: Path, model: object, name: str = "churn",
             lineage: dict[str, object] | None = None) -> int:
    """Package ``model`` (fitted on a numpy matrix, signature from a DataFrame), log it and register it."""
    from mainsail.registry.packaging import save_model

    x, _ = churn_data()
    exp = client.ensure_experiment("serving")
    run = client.create_run(exp.id)
    folder = tmp_path / f"pkg-{run.id}"
    save_model(model, folder, input_example=x.head(3))
    client.log_artifacts(run.id, folder, "model")
    client.end_run(run.id)
    return client.register_model_version(name, source=f"runs:/{run.id}/model", lineage=lineage).version


@pytest.fixture
def client(backend: str) -> Iterator[Client]:
    c = Client(backend)
    yield c
    c.close()


@pytest.fixture
def churn(client: Client, tmp_path: Path) -> Client:
    """churn v1 (logistic regression, alias champion) and v2 (always predicts 1)."""
    x, y = churn_data()
    register(client, tmp_path, LogisticRegression().fit(x.to_numpy(), y))
    register(client, tmp_path, DummyClassifier(strategy="constant", constant=1).fit(x.to_numpy(), y))
    client.set_model_alias("churn", "champion", 1)
    return client


class ReplicaProcess:
    """A real ``mainsail serve DEPLOYMENT`` (uvicorn) subprocess."""

    def __init__(self, uri: str, deployment: str, home: Path, *extra: str, artifact_root: str | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_HOME": str(home)}
        if artifact_root:
            self.env["MAINSAIL_ARTIFACT_ROOT"] = artifact_root
        self.args = [sys.executable, "-m", "mainsail.cli.main", "serve", deployment, "--port", str(self.port),
                     "--poll-interval", "0.3", *extra]
        self.log = home / f"replica-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ReplicaProcess:
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        wait_ready(self.proc, self.url, self.log, "replica", timeout)
        return self

    def stop(self) -> None:
        stop_process(self.proc)
