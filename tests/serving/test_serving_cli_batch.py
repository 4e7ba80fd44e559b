"""The CLI as a user drives it, and batch inference over Parquet with a process pool."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from _serving_support import churn_data, register
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from mainsail import Client
from mainsail.cli.main import app


def test_deployments_cli_and_batch_predict(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'meta.db'}"
    client = Client(uri)
    x, y = churn_data()
    lr = LogisticRegression().fit(x.to_numpy(), y)
    register(client, tmp_path, lr)
    register(client, tmp_path, LogisticRegression(C=0.01).fit(x.to_numpy(), y))
    client.set_model_alias("churn", "champion", 1)
    runner = CliRunner()

    def run(*args: str) -> str:
        r = runner.invoke(app, ["--uri", uri, *args])
        assert r.exit_code == 0, r.output
        return r.output

    assert "churn-api" in run("deployments", "create", "churn-api", "-v", "a=models:/churn@champion:80",
                              "-v", "b=models:/churn/2:20")
    assert "churn-api" in run("deployments", "list")
    out = run("deployments", "set-traffic", "churn-api", "a=50", "b=50", "--reason", "even")
    assert "50%" in out
    assert "80%" in run("deployments", "rollback", "churn-api")  # no rollout: back to the previous split
    out = run("deployments", "show", "churn-api", "--history")
    assert "traffic" in out and "rolled_back" in out
    run("deployments", "create", "solo", "--model", "models:/churn@champion")
    out = run("deployments", "rollout", "solo", "models:/churn/2", "--steps", "20,100", "--metric", "drift<=0.2")
    assert "rollout running" in out and "step 1/2 (20%)" in out
    assert "rolled_back" in run("deployments", "rollback", "solo", "--reason", "manual")
    r = runner.invoke(app, ["--uri", uri, "deployments", "create", "bad", "-m", "models:/churn@nope"])
    assert r.exit_code == 1 and "churn@nope" in r.output
    r = runner.invoke(app, ["--uri", uri, "deployments", "set-traffic", "solo", "zz=1"])
    assert r.exit_code == 1 and "weights.zz" in r.output

    src = tmp_path / "in.parquet"
    big = pd.concat([x] * 5, ignore_index=True)
    big.to_parquet(src)
    out = run("batch-predict", "models:/churn@champion", str(src), "-o", str(tmp_path / "out.parquet"),
              "--chunk-rows", "300", "--workers", "2", "--proba")
    assert "2,000 rows in 7 chunks" in out
    scored = pq.read_table(tmp_path / "out.parquet").to_pandas()
    assert list(scored.columns) == [*x.columns, "prediction", "prediction_proba"]
    assert (scored["prediction"].to_numpy() == lr.predict(big.to_numpy())).all()
    run("batch-predict", "solo", str(src), "-o", str(tmp_path / "out2.parquet"), "--workers", "0")
    assert len(pq.read_table(tmp_path / "out2.parquet")) == 2000
    inp = tmp_path / "in.json"
    x.head(3).to_json(inp, orient="records")
    import json

    assert json.loads(run("predict", "solo", "--input", str(inp), "--json")) == lr.predict(x.head(3).to_numpy()).tolist()
