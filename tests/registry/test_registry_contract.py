"""Registry contract over sqlite, postgres and http: versions, stages, aliases, history, gates,
lineage and cards."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mainsail import Client
from mainsail.core.errors import InvalidInput, NotFound


@pytest.fixture
def client(backend: str):
    c = Client(backend)
    yield c
    c.close()


def _run_with_files(client: Client, tmp_path: Path, auc: float = 0.9, dataset: str | None = None) -> str:
    exp = client.ensure_experiment("reg")
    tags = {"mainsail.dataset_version": dataset, "mainsail.git_commit": "abc123def456"} if dataset else {}
    run = client.create_run(exp.id, params={"model": "rf"}, tags=tags)
    client.log_metrics(run.id, {"auc": auc, "accuracy": auc - 0.05})
    folder = tmp_path / f"pkg-{run.id}"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights" * 100)
    (folder / "conda.yaml").write_text("deps: []")
    client.log_artifact(run.id, folder, "model")
    client.end_run(run.id)
    return run.id


def test_register_versions_from_a_run(client: Client, tmp_path: Path) -> None:
    run_id = _run_with_files(client, tmp_path, dataset="churn@v1")
    v1 = client.register_model_version("churn", source=f"runs:/{run_id}/model", framework="sklearn")
    assert (v1.name, v1.version, v1.stage, v1.framework) == ("churn", 1, "development", "sklearn")
    assert set(v1.files) == {"model.bin", "conda.yaml"}
    assert v1.metrics == {"auc": 0.9, "accuracy": pytest.approx(0.85)} and v1.params == {"model": "rf"}
    assert v1.lineage.run_id == run_id and v1.lineage.dataset_versions == ["churn@v1"]
    assert v1.lineage.git_commit == "abc123def456"
    v2 = client.register_model_version("churn", source=f"runs:/{run_id}/model", framework="sklearn",
                                       metrics={"auc": 0.95})
    assert v2.version == 2 and v2.metrics["auc"] == 0.95
    assert client.get_model_version("churn", 1).id == v1.id
    assert client.get_model_version(v2.id).version == 2
    model = client.get_registered_model("churn")
    assert model.latest_version == 2 and model.stages == {"development": [1, 2]}
    assert [m.name for m in client.list_registered_models().items] == ["churn"]
    assert [v.version for v in client.list_model_versions("churn").items] == [2, 1]


def test_registration_errors_name_what_is_wrong(client: Client, tmp_path: Path) -> None:
    run_id = _run_with_files(client, tmp_path)
    with pytest.raises(InvalidInput) as ei:
        client.register_model_version("churn", source=f"runs:/{run_id}/no-such-dir", framework="sklearn")
    assert ei.value.code == "artifact_not_found" and "no-such-dir" in ei.value.detail
    with pytest.raises(NotFound):
        client.register_model_version("churn", source="runs:/0000/model", framework="sklearn")
    with pytest.raises(InvalidInput) as ei:
        client.register_model_version("churn", artifacts={"m.bin": "f" * 64}, framework="sklearn")
    assert ei.value.errors[0]["loc"] == ["body", "artifacts", "m.bin"]
    with pytest.raises(InvalidInput) as ei:
        client.register_model_version("churn", source=f"runs:/{run_id}/model")
    assert ei.value.errors[0]["loc"] == ["body", "framework"]
    with pytest.raises(InvalidInput) as ei:
        client.register_model_version("bad name!", source=f"runs:/{run_id}/model", framework="sklearn")
    assert ei.value.errors[0]["loc"] == ["body", "name"]
    with pytest.raises(NotFound):
        client.get_registered_model("churn")  # nothing was registered by the failed calls


@pytest.mark.parametrize(("manifest", "field"), [
    (b"not json", None), (b"[1]", None), (b'{"flavor": 5}', "flavor"),
    (b'{"flavor": "x", "signature": [1]}', "signature")])
def test_malformed_manifest_is_invalid_input_naming_the_field(client: Client, tmp_path: Path, manifest: bytes,
                                                              field: str | None) -> None:
    run = client.create_run(client.ensure_experiment("reg").id)
    (tmp_path / "mainsail-model.json").write_bytes(manifest)
    client.log_artifact(run.id, tmp_path / "mainsail-model.json", "pkg")
    with pytest.raises(InvalidInput) as ei:
        client.register_model_version("m", source=f"runs:/{run.id}/pkg")
    assert ei.value.code == "invalid_manifest"
    where = ["body", "source", "mainsail-model.json"]
    assert ([*where, field] if field else where) in [e["loc"] for e in ei.value.errors]
    with pytest.raises(InvalidInput) as ei:
        client.set_model_alias("m", "a", 2**63)
    assert ei.value.errors[0]["loc"] == ["body", "version"]
    with pytest.raises(NotFound):
        client.get_registered_model("m")  # nothing was registered


def test_gate_refuses_registration_and_promotion_listing_failures(client: Client, tmp_path: Path) -> None:
    run_id = _run_with_files(client, tmp_path, auc=0.8)
    with pytest.raises(InvalidInput) as ei:
        client.register_model_version("churn", source=f"runs:/{run_id}/model", framework="sklearn",
                                      gate={"auc": ">= 0.85", "accuracy": "> 0.7", "f1": ">= 0.5"})
    assert ei.value.code == "quality_gate_failed"
    assert sorted(e["loc"][-1] for e in ei.value.errors) == ["auc", "f1"]
    with pytest.raises(NotFound):
        client.get_registered_model("churn")
    v = client.register_model_version("churn", source=f"runs:/{run_id}/model", framework="sklearn",
                                      gate={"auc": ">= 0.75"})
    result = client.check_model_gate("churn", v.version, {"auc": ">= 0.85"})
    assert not result.passed and result.failures[0].metric == "auc" and result.failures[0].actual == 0.8
    with pytest.raises(InvalidInput):
        client.set_model_stage("churn", 1, "production", gate={"auc": ">= 0.85"})
    assert client.get_model_version("churn", 1).stage == "development"
    with pytest.raises(InvalidInput) as ei:
        client.check_model_gate("churn", 1, {"auc": "about 0.8"})
    # refused at the boundary (the OpenAPI pattern of a threshold), naming the metric
    assert ei.value.code in ("invalid_gate", "invalid_input")
    assert any("auc" in [str(p) for p in e["loc"]] for e in ei.value.errors), ei.value.errors


def test_stages_archive_and_unknown_stage(client: Client, tmp_path: Path) -> None:
    run_id = _run_with_files(client, tmp_path)
    for _ in range(3):
        client.register_model_version("churn", source=f"runs:/{run_id}/model", framework="sklearn")
    client.set_model_stage("churn", 1, "production")
    client.set_model_stage("churn", 2, "production", archive_existing=True, reason="better auc")
    assert client.get_model_version("churn", 1).stage == "deprecated"
    assert client.get_latest_model_version("churn", "production").version == 2
    with pytest.raises(InvalidInput) as ei:
        client.set_model_stage("churn", 3, "prod")
    assert "production" in str(ei.value.errors) and ei.value.errors[0]["loc"] == ["body", "stage"]
    with pytest.raises(NotFound, match="churn/9"):
        client.set_model_stage("churn", 9, "staging")
    hist = client.model_history("churn")
    stage_moves = [(t.version, t.from_value, t.to_value) for t in hist if t.kind == "stage"]
    assert stage_moves == [(1, "development", "production"), (1, "production", "deprecated"),
                           (2, "development", "production")]
    assert [t.version for t in hist if t.kind == "registered"] == [1, 2, 3]


def test_aliases_move_atomically_and_resolve(client: Client, tmp_path: Path) -> None:
    run_id = _run_with_files(client, tmp_path)
    for _ in range(2):
        client.register_model_version("churn", source=f"runs:/{run_id}/model", framework="sklearn")
    client.set_model_alias("churn", "champion", 1)
    client.set_model_alias("churn", "challenger", 2)
    assert client.resolve_model("models:/churn@champion").version == 1
    client.set_model_alias("churn", "champion", 2, reason="promoted")
    assert client.resolve_model("models:/churn@champion").version == 2
    assert client.resolve_model("models:/churn/1").version == 1
    assert client.resolve_model("models:/churn").version == 2
    assert client.get_registered_model("churn").aliases == {"challenger": 2, "champion": 2}
    assert client.get_model_version("churn", 2).aliases == ["challenger", "champion"]
    moves = [(t.name, t.from_value, t.to_value) for t in client.model_history("churn") if t.kind == "alias"]
    assert moves == [("champion", None, "1"), ("challenger", None, "2"), ("champion", "1", "2")]
    client.delete_model_alias("churn", "challenger")
    with pytest.raises(NotFound, match="churn@challenger"):
        client.resolve_model("models:/churn@challenger")
    with pytest.raises(InvalidInput):
        client.resolve_model("models:/churn/prod")
    with pytest.raises(InvalidInput):
        client.resolve_model("churn")


def test_concurrent_promotions_leave_one_winner_and_full_history(client: Client, tmp_path: Path) -> None:
    run_id = _run_with_files(client, tmp_path)
    for _ in range(4):
        client.register_model_version("churn", source=f"runs:/{run_id}/model", framework="sklearn")
    errors: list[Exception] = []

    def promote(version: int) -> None:
        try:
            c = Client(client.uri)
            c.set_model_stage("churn", version, "production", archive_existing=True)
            c.set_model_alias("churn", "champion", version)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(v,)) for v in (1, 2, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    model = client.get_registered_model("churn")
    assert len(model.stages["production"]) == 1
    winner = model.stages["production"][0]
    assert sorted(model.stages["deprecated"]) == sorted({1, 2, 3, 4} - {winner})
    to_prod = [t.version for t in client.model_history("churn") if t.kind == "stage" and t.to_value == "production"]
    assert sorted(to_prod) == [1, 2, 3, 4]  # every move is in the history


def test_lineage_and_model_card(client: Client, tmp_path: Path) -> None:
    run_id = _run_with_files(client, tmp_path, dataset="churn@abc")
    v = client.register_model_version("churn", source=f"runs:/{run_id}/model", framework="sklearn",
                                      lineage={"feature_views": ["customer_features"]})
    graph = client.model_lineage("churn", 1)
    types = {n.type for n in graph.nodes}
    assert {"model_version", "run", "experiment", "dataset_version", "feature_view", "git_commit"} <= types
    assert {(e.source, e.relation) for e in graph.edges} >= {(f"run:{run_id}", "produced"),
                                                             ("dataset_version:churn@abc", "trained_on")}
    card = client.model_card("churn", 1)
    assert "# Model card: churn v1" in card.markdown and "| auc | 0.9 |" in card.markdown
    assert "churn@abc" in card.markdown and "_Not yet described._" in card.markdown
    card = client.update_model_card("churn", 1, intended_use="Rank customers by churn risk.", owners=["risk-team"])
    assert "Rank customers by churn risk." in card.markdown and "risk-team" in card.markdown
    card = client.update_model_card("churn", 1, limitations="Trained on 2026 data only.")
    assert card.fields.intended_use == "Rank customers by churn risk."  # earlier edits are kept
    with pytest.raises(InvalidInput):
        client.update_model_card("churn", 1, owners="not-a-list")
    assert v.id == card.version_id
