"""Alias resolve is cached per process, yet every change by any client shows at the next call."""

from __future__ import annotations

from pathlib import Path

import pytest

from mainsail import Client
from mainsail.core.errors import NotFound


def _two_versions(c: Client, tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir(exist_ok=True)
    (pkg / "model.txt").write_text("x")
    for _ in range(2):
        run = c.create_run(c.ensure_experiment("e").id)
        c.log_artifacts(run.id, pkg, "model")
        c.end_run(run.id)
        c.register_model_version("m", source=f"runs:/{run.id}/model", framework="python")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_resolve_sees_every_change_from_any_client(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    uri = request.getfixturevalue("pg_url") if kind == "postgres" else f"sqlite:///{tmp_path / 'm.db'}"
    a = Client(uri, artifact_root=str(tmp_path / "art"))
    b = Client(uri, artifact_root=str(tmp_path / "art"))  # another writer (as another process would be)
    _two_versions(a, tmp_path)
    a.set_model_alias("m", "champion", 1)
    first = a.resolve_model("models:/m@champion")
    assert first.version == 1 and a.resolve_model("models:/m@champion") == first  # cached answer, same value
    b.set_model_alias("m", "champion", 2)
    assert a.resolve_model("models:/m@champion").version == 2  # alias moved
    b.set_model_stage("m", 2, "staging")
    assert a.resolve_model("models:/m@champion").stage.value == "staging"  # the version edited
    b.set_model_alias("m", "prod", 2)
    assert a.resolve_model("models:/m@champion").aliases == ["champion", "prod"]  # another alias on it
    got = a.resolve_model("models:/m@champion")
    got.aliases.append("mutated")  # a caller changing its copy does not change the next answer
    assert a.resolve_model("models:/m@champion").aliases == ["champion", "prod"]
    b.delete_model_alias("m", "champion")
    with pytest.raises(NotFound):
        a.resolve_model("models:/m@champion")
    a.close()
    b.close()
