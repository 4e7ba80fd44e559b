"""Monitoring fixtures: a Client per back end with a training dataset, a model registered with that
dataset in its lineage, a deployment serving it, and inference logs written the way a replica writes
them (the real InferenceLogger, its sink the Client's add_inference_log)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mainsail import Client
from mainsail.serving.inference_log import InferenceLogger, LogSpec

FEATURES = ["tenure", "charges", "calls"]
HOUR = dt.timedelta(hours=1)


def churn_frame(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"tenure": rng.integers(1, 72, n).astype(float), "charges": rng.normal(60, 20, n),
                      "calls": rng.poisson(2, n).astype(float)})
    return x.assign(churned=((x["tenure"] < 20) | (x["calls"] > 3)).astype(int))


def setup_monitored(client: Client, tmp_path: Path) -> dict[str, object]:
    """Dataset ``train``, model ``churn`` v1 trained on it (lineage ``train@<id>``), deployment ``api``."""
    from mainsail.registry.packaging import save_model

    frame = churn_frame()
    version = client.ingest_dataset(frame, "train")
    exp = client.ensure_experiment("monitoring")
    run = client.create_run(exp.id)
    model = LogisticRegression().fit(frame[FEATURES].to_numpy(), frame["churned"])
    folder = tmp_path / f"pkg-{run.id}"
    save_model(model, folder, input_example=frame[FEATURES].head(3))
    client.log_artifacts(run.id, folder, "model")
    client.end_run(run.id)
    client.register_model_version("churn", source=f"runs:/{run.id}/model",
                                  lineage={"dataset_versions": [f"train@{version.id}"]})
    client.create_deployment("api", "models:/churn/1")
    return {"model": model, "frame": frame, "version": version.id}


def write_logs(client: Client, deployment: str, model: object, hours: list[tuple[dt.datetime, pd.DataFrame]],
               per_request: int = 10) -> int:
    """Log each frame's rows as requests of ``per_request`` records in its hour; returns rows logged."""
    loaded = client.load_model("models:/churn/1")
    spec = LogSpec.of(loaded, FEATURES, ["float64"] * len(FEATURES))
    logger = InferenceLogger(deployment, lambda data, rows, first, last: client.add_inference_log(
        deployment, data, rows=rows, first_at=first, last_at=last))
    n = 0
    for start, frame in hours:
        x = frame[FEATURES].to_numpy()
        for i in range(0, len(x), per_request):
            xm = x[i:i + per_request]
            t = start.timestamp() + 1 + (i / max(len(x), 1)) * 3500
            logger.log(f"{start:%H}-{i}", t, "primary", "churn", 1, 1.0, False, 200, xm,
                       model.predict(xm).tolist(), spec)  # type: ignore[attr-defined]
            n += len(xm)
    logger.close()
    return n


def last_hours(k: int) -> list[dt.datetime]:
    """The starts of the ``k`` complete hours before now, oldest first."""
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return [now - HOUR * (k - i) for i in range(k)]


@pytest.fixture
def client(backend: str) -> Iterator[Client]:
    c = Client(backend)
    yield c
    c.close()


@pytest.fixture
def monitored(client: Client, tmp_path: Path) -> dict[str, object]:
    """Three complete hours of logs: two like the training data, the last with ``charges`` shifted."""
    ctx = setup_monitored(client, tmp_path)
    h = last_hours(3)
    live = churn_frame(1500, seed=1)
    drifted = live.iloc[1000:].assign(charges=live["charges"].iloc[1000:] + 40)
    rows = write_logs(client, "api", ctx["model"], [(h[0], live.iloc[:500]), (h[1], live.iloc[500:1000]),
                                                   (h[2], drifted)])
    return {**ctx, "hours": h, "rows": rows}
