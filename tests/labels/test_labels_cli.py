"""``mainsail labels push FILE`` and ``mainsail labels performance`` as a user types them (real
subprocesses, embedded), with CSV and Parquet files and a bad column named."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
from _labels_support import write_logs
from _services import run_cli as cli
from _serving_support import churn_data, register
from sklearn.linear_model import LogisticRegression

from mainsail import Client


def test_push_csv_and_parquet_then_performance(tmp_path: Path) -> None:
    uri, root = f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts")
    env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_ARTIFACT_ROOT": root}
    with Client(uri, artifact_root=root) as c:
        x, y = churn_data()
        register(c, tmp_path, LogisticRegression().fit(x.to_numpy(), y))
        c.create_deployment("api", "models:/churn/1")
        write_logs(c, "api", [(f"{i:04d}", "primary", i % 2) for i in range(8)])
    pd.DataFrame({"request_id": ["0000", "0001", "0002", "0003"], "label": [0, 1, 1, 1]}).to_csv(
        tmp_path / "a.csv", index=False)
    pd.DataFrame({"rid": ["0004", "0005", "zzz"], "y": [0, 1, 0]}).to_parquet(tmp_path / "b.parquet")
    out = cli("labels", "push", str(tmp_path / "a.csv"), "-d", "api", env=env).stdout
    assert "4 labels for api: 4 new, 0 replaced" in out
    res = json.loads(cli("labels", "push", str(tmp_path / "b.parquet"), "-d", "api", "--request-id-column", "rid",
                         "--label-column", "y", "--json", env=env).stdout)
    assert (res["received"], res["unknown"], res["unknown_sample"]) == (3, 1, ["zzz"])
    rep = json.loads(cli("labels", "performance", "api", "--json", env=env).stdout)
    acc = next(r for r in rep["results"] if r["test"] == "accuracy")
    assert (acc["value"], acc["labeled"], rep["unmatched_labels"]) == (5 / 6, 6, 1)
    table = cli("labels", "performance", "api", env=env).stdout
    assert "accuracy" in table and "primary" in table
    bad = cli("labels", "push", str(tmp_path / "a.csv"), "-d", "api", "--label-column", "truth", env=env, check=False)
    assert bad.returncode != 0 and "'truth'" in bad.stderr + bad.stdout
