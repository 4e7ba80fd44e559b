"""``mainsail models …`` as a user types it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mainsail import Client


def cli(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "mainsail.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_models_commands(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_HOME": str(tmp_path), "COLUMNS": "200"}
    c = Client(uri)
    run = c.create_run(c.ensure_experiment("e").id)
    c.log_metrics(run.id, {"auc": 0.91})
    (tmp_path / "m.bin").write_bytes(b"x")
    c.log_artifact(run.id, tmp_path / "m.bin", "model")
    for _ in range(2):
        c.register_model_version("churn", source=f"runs:/{run.id}/model", framework="sklearn")

    assert "churn" in cli("models", "list", env=env).stdout
    cli("models", "stage", "churn", "1", "production", "--gate", "auc>=0.9", "--reason", "first", env=env)
    out = cli("models", "stage", "churn", "2", "production", "--gate", "auc>=0.95", env=env, check=False)
    assert out.returncode == 1 and "quality_gate_failed" in out.stderr and "auc" in out.stderr
    cli("models", "alias", "churn", "champion", "1", env=env)
    shown = json.loads(cli("models", "show", "churn/1", "--json", env=env).stdout)
    assert shown["stage"] == "production" and shown["aliases"] == ["champion"]
    table = cli("models", "show", "churn", env=env).stdout
    assert "production" in table and "champion" in table
    hist = cli("models", "history", "churn", env=env).stdout
    assert "first" in hist and "alias champion" in hist
    card = cli("models", "card", "churn", "1", "--set", "intended_use=Rank churn risk", "--set", "owners=a,b",
               "--raw", env=env).stdout
    assert "Rank churn risk" in card and "a, b" in card
    assert "run" in cli("models", "lineage", "churn", "1", env=env).stdout
    bad = cli("models", "stage", "churn", "1", "prod", env=env, check=False)
    assert bad.returncode == 1 and "production" in bad.stderr
