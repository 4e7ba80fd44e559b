"""Pipeline tasks act as the principal that started the run, in the run's project: an editor's run cannot
move a model into production (an admin's can), a viewer can neither start a run nor schedule one, and
the run names its starter."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from mainsail import Client
from mainsail.core.errors import Forbidden
from mainsail.core.principal import Principal


def _as(uri: str, root: str, principal: Principal) -> Client:
    client = Client(uri, artifact_root=root, project="team")
    client._backend.principal = principal  # type: ignore[attr-defined]  (what the server's auth sets)
    client._backend.actor = principal.name  # type: ignore[attr-defined]
    return client


PROMOTE = {"name": "promote", "tasks": [
    {"name": "train", "operator": "model_training", "params": {
        "data": "cancer", "target": "target", "experiment": "promote",
        "estimator": "sklearn.linear_model.LogisticRegression", "estimator_params": {"max_iter": 300},
        "metrics": ["accuracy"]}},
    {"name": "register", "operator": "model_registration", "params": {
        "name": "clf", "source": "${tasks.train.model_uri}", "stage": "production"}},
]}


@pytest.fixture()
def store(tmp_path: Path) -> tuple[str, str]:
    uri, root = f"sqlite:///{tmp_path / 'p.db'}", str(tmp_path / "art")
    frame = load_breast_cancer(as_frame=True).frame.iloc[:200, [0, 1, -1]]
    frame.columns = ["radius", "texture", "target"]
    with Client(uri, artifact_root=root, project="team") as admin:
        admin.ingest_dataset(frame, "cancer", profile=False)
        admin.apply_pipeline(PROMOTE)
    return uri, root


def test_a_run_acts_as_its_starter(store: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINSAIL_PIPELINE_PROCESSES", "1")
    uri, root = store
    editor = _as(uri, root, Principal("erin", roles={"team": "editor"}))
    run = editor.run_pipeline("promote", timeout=300)
    assert run.started_by == "erin" and run.status == "failed"
    tasks = {t.name: t for t in run.tasks}
    assert tasks["train"].status == "succeeded"  # editor work: done as erin, in project team
    assert tasks["register"].status == "failed" and "'admin' role" in (tasks["register"].error or "")
    assert editor.get_experiment_by_name("promote").created_by == "erin"

    admin = _as(uri, root, Principal("ada", roles={"team": "admin"}))
    run = admin.run_pipeline("promote", timeout=300)
    assert run.started_by == "ada" and run.status == "succeeded", run
    assert admin.get_latest_model_version("clf", "production").created_by == "ada"
    with Client(uri, artifact_root=root) as default:  # the default project holds none of it
        assert default.list_registered_models().items == [] and default.list_pipelines().items == []
    editor.close()
    admin.close()


def test_a_viewer_gets_no_code_run(store: tuple[str, str]) -> None:
    uri, root = store
    viewer = _as(uri, root, Principal("vic", roles={"team": "viewer"}))
    with pytest.raises(Forbidden, match="'editor' role"):
        viewer.run_pipeline("promote", wait=False)
    with pytest.raises(Forbidden, match="'editor' role"):
        viewer.schedule_pipeline("promote", cron="* * * * *")
    assert viewer.list_pipeline_runs().items == []
    outsider = _as(uri, root, Principal("olga", roles={"other": "admin"}))
    with pytest.raises(Forbidden, match="project 'team'"):
        outsider.run_pipeline("promote", wait=False)
    viewer.close()
    outsider.close()
