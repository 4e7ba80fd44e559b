"""The quickstart's register task never puts a model in front of a better one, and its canary mode
stages the best against a weaker champion."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mainsail import Client
from mainsail.quickstart.register import register_best


@pytest.fixture
def client() -> Client:
    c = Client()  # embedded, under the test's own MAINSAIL_HOME
    yield c
    c.close()


def _run(c: Client, tmp_path: Path, auc: float) -> dict:
    """A finished run with a model package and the metrics the register task's gate reads."""
    from mainsail.registry.packaging import save_model

    x = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    run = c.create_run(c.ensure_experiment("qs").id)
    save_model(LogisticRegression().fit(x, np.arange(20) % 2), tmp_path / run.id, input_example=x.head(2))
    c.log_artifacts(run.id, tmp_path / run.id, "model")
    c.log_metrics(run.id, {"auc": auc, "accuracy": 0.8})
    c.end_run(run.id)
    return {"run_id": run.id, "model": f"m{auc}", "metrics": {"auc": auc}}


def _register(c: Client, best: dict, runner_up: dict | None, canary: bool) -> dict:
    ctx = SimpleNamespace(client=c, run_id="p1", tags={})
    return register_best(best["run_id"], runner_up, ["d@1"], ["v"], context=ctx, canary=canary)


def _stages(c: Client) -> dict[int, str]:
    return {v.version: v.stage for v in c.list_model_versions("churn").items}


def test_direct_registration_promotes_only_what_beats_the_champion(client: Client, tmp_path: Path) -> None:
    out = _register(client, _run(client, tmp_path, 0.80), None, canary=False)
    assert (out["version"], out["stage"], out["champion"]) == (1, "production", 1)
    worse = _register(client, _run(client, tmp_path, 0.75), None, canary=False)
    assert (worse["version"], worse["stage"], worse["champion"]) == (2, "development", 1)
    assert client.get_model_version_by_alias("churn", "champion").version == 1
    better = _register(client, _run(client, tmp_path, 0.85), None, canary=False)
    assert better["stage"] == "production"
    assert client.get_model_version_by_alias("churn", "champion").version == 3
    assert client.get_latest_model_version("churn", "production").version == 3
    assert _stages(client) == {1: "deprecated", 2: "development", 3: "production"}


def test_canary_mode_stages_the_best_against_a_weaker_baseline(client: Client, tmp_path: Path) -> None:
    best, runner_up = _run(client, tmp_path, 0.85), _run(client, tmp_path, 0.80)
    out = _register(client, best, runner_up, canary=True)
    assert (out["version"], out["stage"], out["candidate"], out["champion"]) == (2, "staging", True, 1)
    assert out["auc"] > out["champion_auc"]  # the canary replaces a weaker model
    champion = client.get_model_version_by_alias("churn", "champion")
    assert (champion.version, champion.stage, champion.run_id) == (1, "production", runner_up["run_id"])
    # a later, worse model is never canaried
    again = _register(client, _run(client, tmp_path, 0.70), _run(client, tmp_path, 0.60), canary=True)
    assert (again["stage"], again["candidate"]) == ("development", False)
    assert len(_stages(client)) == 3  # no second baseline: a champion already exists
