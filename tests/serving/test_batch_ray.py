"""Batch inference with ``executor="ray"``: one Ray task per chunk, predictions equal the model's and
rows stay in input order, through the SDK and the CLI. One local cluster (2 CPUs, no dashboard) per
test session, as in tests/pipelines/test_ray.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from _serving_support import churn_data, register
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from mainsail import Client
from mainsail.cli.main import app

ray = pytest.importorskip("ray", reason="the Ray executor needs ray (pip install 'mainsail[ray]')",
                          exc_type=ImportError)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """A local Ray cluster for the whole session; its GCS address."""
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_batch_predict_on_ray_keeps_order(ray_cluster: str, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'meta.db'}"
    client = Client(uri, artifact_root=str(tmp_path / "art"))
    x, y = churn_data()
    lr = LogisticRegression().fit(x.to_numpy(), y)
    register(client, tmp_path, lr)
    big = pd.concat([x] * 5, ignore_index=True)
    src = tmp_path / "in.parquet"
    big.assign(row=np.arange(len(big))).to_parquet(src, row_group_size=250)
    seen: list[tuple[int, int]] = []

    r = client.batch_predict("models:/churn/1", str(src), str(tmp_path / "out.parquet"), chunk_rows=150,
                             executor="ray", ray_address=ray_cluster, progress=lambda d, t: seen.append((d, t)))
    assert (r.rows, r.model, r.version) == (2000, "churn", 1) and r.chunks >= 14
    assert seen[0] == (0, 2000) and seen[-1] == (2000, 2000) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    scored = pq.read_table(tmp_path / "out.parquet").to_pandas()
    assert list(scored.columns) == [*x.columns, "row", "prediction"]
    assert scored["row"].tolist() == list(range(2000))
    assert (scored["prediction"].to_numpy() == lr.predict(big.to_numpy())).all()

    res = CliRunner().invoke(app, ["--uri", uri, "batch-predict", "models:/churn/1", str(src), "-o",
                                   str(tmp_path / "cli.parquet"), "--chunk-rows", "300", "--proba",
                                   "--executor", "ray", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "2,000 rows in" in res.output
    cli = pq.read_table(tmp_path / "cli.parquet").to_pandas()
    assert cli["row"].tolist() == list(range(2000))
    assert np.allclose(cli["prediction_proba"], lr.predict_proba(big.to_numpy())[:, 1])
    client.close()
