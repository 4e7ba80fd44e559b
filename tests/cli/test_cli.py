"""The CLI as a user types it: real subprocesses against an embedded database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def mainsail(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "mainsail.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"mainsail {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MAINSAIL_HOME": str(tmp_path / "home"), "COLUMNS": "200"}


def test_quickstart_then_list_show_compare(env: dict[str, str]) -> None:
    out = " ".join(mainsail("quickstart", "--rows", "1500", "--skip-loop", env=env).stdout.split())  # as one line
    assert "churn models" in out and "best:" in out and "next:" in out
    assert "registered churn v2" in out and "predicts churned=[" in out  # v1: the runner-up, the baseline
    # one pipeline run did it all, every task finished
    pruns = json.loads(mainsail("pipelines", "runs", "churn-quickstart", "--json", env=env).stdout)
    assert len(pruns) == 1 and pruns[0]["status"] == "succeeded"
    prun = json.loads(mainsail("pipelines", "status", pruns[0]["id"][:12], "--json", env=env).stdout)
    tasks = {t["name"]: t for t in prun["tasks"]}
    assert {"ingest", "validate", "features", "materialize", "evaluate", "gate", "register"} <= set(tasks)
    assert all(t["status"] == "succeeded" for t in tasks.values()), [(t["name"], t["status"]) for t in tasks.values()]
    assert f"run {prun['id']} succeeded" in out and "churn-quickstart v1" in out  # the DAG was shown
    exps = json.loads(mainsail("experiments", "list", "--json", env=env).stdout)
    assert [e["name"] for e in exps] == ["churn-quickstart"]
    every = json.loads(mainsail("runs", "list", "-e", "churn-quickstart", "-o", "metrics.auc DESC", "--json",
                                env=env).stdout)
    runs = [r for r in every if not r.get("parent_run_id")]  # the candidates (the evaluation is a child run)
    assert len(runs) == 3 and all(r["status"] == "finished" for r in every)
    aucs = [r["metrics"]["auc"] for r in runs]
    assert aucs == sorted(aucs, reverse=True) and aucs[0] > 0.7
    assert all(r["tags"]["mainsail.pipeline_run_id"] == prun["id"] for r in every)
    evaluation = [r for r in every if r not in runs]
    assert len(evaluation) == 1 and evaluation[0]["parent_run_id"] == tasks["select"]["output"]["run_id"]
    rf = json.loads(mainsail("runs", "list", "-f", "params.model = 'random_forest'", "--json", env=env).stdout)
    assert [r["params"]["model"] for r in rf] == ["random_forest"]
    narrow = {**env, "COLUMNS": "80"}  # room for one metric column: the one the filter names wins
    shown = mainsail("runs", "list", "-f", "metrics.auc > 0.5 and params.model = 'logreg'", env=narrow).stdout
    assert re.search(r"\bauc\b", shown) and "accuracy" not in shown
    shown = mainsail("runs", "show", runs[0]["id"][:12], env=env).stdout
    assert "params" in shown and "model/mainsail-model.json" in shown
    detail = json.loads(mainsail("runs", "show", runs[0]["id"], "--json", env=env).stdout)
    paths = {a["path"] for a in detail["artifacts"]}
    assert {"model/mainsail-model.json", "model/model.pkl"} <= paths
    table = mainsail("runs", "compare", *(r["id"] for r in runs), env=env).stdout
    assert "params.model" in table and "metrics.auc" in table
    gb = next(r for r in runs if r["params"]["model"] == "gradient_boosting")
    assert "val_log_loss" in gb["metrics"]
    # the churn data became a dataset version, profiled and validated; the features' point-in-time join
    # became the training set; the runs are tagged with it and the model's lineage points at both
    versions = json.loads(mainsail("data", "versions", "churn", "--json", env=env).stdout)
    assert len(versions) == 1 and versions[0]["row_count"] == 1500 and versions[0]["has_profile"]
    ref = f"churn@{versions[0]['id']}"
    training = tasks["features"]["output"]["dataset_version"]
    assert training.startswith("churn-training@") and tasks["features"]["output"]["rows"] == 1500
    assert f"dataset {ref}" in out and "checks passed" in out and training in out
    assert all(r["tags"]["mainsail.dataset_version"] == training for r in runs)
    checks = json.loads(mainsail("data", "validate", ref, "--suite", str(suite_file(env)), "--json", env=env).stdout)
    assert checks["passed"]
    model = json.loads(mainsail("models", "show", "churn/2", "--json", env=env).stdout)
    assert model["lineage"]["dataset_versions"] == [ref, training] and model["run_id"] == runs[0]["id"]
    assert model["lineage"]["feature_views"] == ["customer_churn"] and model["stage"] in ("production", "staging")
    lineage = mainsail("models", "lineage", "churn", "2", env=env).stdout
    assert f"dataset_version {ref}" in lineage
    # features: the view is listed and a customer's features are served online
    feats = json.loads(mainsail("features", "list", "--json", env=env).stdout)
    assert [v["name"] for v in feats["views"]] == ["customer_churn"]
    assert [e["name"] for e in feats["entities"]] == ["customer"]
    online = json.loads(mainsail("features", "get", "customer_id=C000042", "-s", "churn-features", "--json",
                                 env=env).stdout)
    assert len(online) == 1 and online[0]["customer_id"] == "C000042"
    assert len(online[0]) == 11 and all(v is not None for v in online[0].values())
    assert "online features of C000042" in out
    # serving: the champion (the runner-up, v1) was deployed, the best (v2) canaried to an end, requests
    # were logged; stage and alias agree afterwards and never favour the weaker model
    dep = json.loads(mainsail("deployments", "show", "churn", "--json", env=env).stdout)
    rollout = dep["rollout"]
    assert rollout["state"] in ("promoted", "rolled_back") and rollout["candidate"] == "models:/churn/2"
    assert [v["model"] for v in dep["variants"]] == ["models:/churn@champion"]
    assert dep["variants"][0]["version"] == (2 if rollout["state"] == "promoted" else 1)
    versions = {v["version"]: v for v in json.loads(mainsail("models", "show", "churn", "--json", env=env).stdout)}
    champion = dep["variants"][0]["version"]
    assert versions[champion]["aliases"] == ["champion"] and versions[champion]["stage"] == "production"
    assert [n for n, v in versions.items() if v["stage"] == "production"] == [champion]
    if rollout["state"] == "promoted":  # the best by the evaluation metric; the baseline archived
        assert versions[1]["stage"] == "deprecated" and versions[2]["metrics"]["auc"] == aucs[0]
    assert f"rollout {rollout['state']}" in out
    logged = re.search(r"([\d,]+) inference logs written", out)
    assert logged and int(logged.group(1).replace(",", "")) > 0, out


def suite_file(env: dict[str, str]) -> Path:
    """The quickstart's suite, as a user would save it."""
    from mainsail.quickstart.data import SUITE

    path = Path(env["MAINSAIL_HOME"]) / "churn-suite.yaml"
    path.write_text(SUITE.to_yaml())
    return path


def test_errors_are_one_clear_line_not_a_traceback(env: dict[str, str]) -> None:
    proc = mainsail("runs", "list", "-f", "metrics.auc >", env=env, check=False)
    assert proc.returncode == 1
    assert "invalid_filter" in proc.stderr and "Traceback" not in proc.stderr
    proc = mainsail("runs", "show", "0" * 32, env=env, check=False)
    assert proc.returncode == 1 and "not found" in proc.stderr


def test_sdk_flushes_buffered_metrics_at_interpreter_exit(tmp_path: Path, env: dict[str, str]) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import mainsail\n"
        "run = mainsail.start_run('no-end')\n"
        "for i in range(5000):\n"
        "    mainsail.log_metric('loss', 1.0 / (i + 1))\n"
        "print(run.id)\n"  # exits with the run still active and metrics still buffered
    )
    env = {**env, "MAINSAIL_METRIC_FLUSH_INTERVAL": "60"}
    run_id = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                            timeout=120, check=True).stdout.strip()
    shown = json.loads(mainsail("runs", "show", run_id, "--json", env=env).stdout)
    assert shown["status"] == "finished"
    assert shown["metrics"]["loss"] == 1.0 / 5000
