"""Versions whose files are elsewhere (``external_source``): registered through Mainsail's own API, read
back with the same source, shown by ``models show``, and refused by ``load_model`` with an error naming
where the files are. Over sqlite, postgres and http."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mainsail import Client
from mainsail.core.errors import InvalidInput, NotFound

S3 = "s3://team-bucket/models/churn/7"


@pytest.fixture
def client(backend: str):
    c = Client(backend)
    yield c
    c.close()


def test_an_external_version_keeps_its_source_and_holds_no_files(client: Client) -> None:
    v = client.register_model_version("churn", external_source=S3, run_id="0" * 32, tags={"team": "risk"})
    assert (v.version, v.source, v.external_source, v.framework) == (1, S3, S3, "external")
    assert v.external and v.files == {} and v.run_id is None and v.external_run_id == "0" * 32
    again = client.get_model_version("churn", 1)
    assert (again.id, again.source, again.external_run_id, again.tags) == (v.id, S3, "0" * 32, {"team": "risk"})
    # stages and aliases work as for any version
    client.set_model_alias("churn", "champion", 1)
    assert client.resolve_model("models:/churn@champion").external_source == S3
    with pytest.raises(InvalidInput) as exc:
        client.load_model("models:/churn@champion")
    assert S3 in exc.value.detail and exc.value.code == "external_model_files"
    with pytest.raises(InvalidInput) as exc:
        client.download_model("models:/churn/1")
    assert S3 in exc.value.detail


def test_an_external_version_links_a_mainsail_run(client: Client) -> None:
    run = client.create_run(client.ensure_experiment("ext").id, params={"depth": "3"})
    client.log_metrics(run.id, {"auc": 0.88})
    v = client.register_model_version("churn", external_source="/mnt/shared/models/churn", run_id=run.id,
                                      framework="sklearn")
    assert (v.run_id, v.external_run_id, v.framework) == (run.id, None, "sklearn")
    assert v.metrics == {"auc": 0.88} and v.params == {"depth": "3"} and v.lineage.run_id == run.id
    # a Mainsail-held version next to it is unchanged
    assert client.get_registered_model("churn").latest_version == 1


def test_an_external_source_with_files_or_a_bad_source_is_refused(client: Client) -> None:
    with pytest.raises(InvalidInput) as exc:
        client.register_model_version("churn", external_source=S3, source="runs:/abc/model")
    assert exc.value.errors[0]["loc"] == ["body", "external_source"]
    with pytest.raises(InvalidInput) as exc:
        client.register_model_version("churn", external_source="x" * 1001)
    assert "external_source" in str(exc.value.errors[0]["loc"])
    with pytest.raises(NotFound):  # nothing was registered
        client.get_registered_model("churn")


def test_models_show_names_where_the_files_are(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    Client(uri).register_model_version("churn", external_source=S3, run_id="abc123")
    env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_HOME": str(tmp_path), "COLUMNS": "200"}

    def cli(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "mainsail.cli.main", *args], env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    detail = cli("models", "show", "churn/1")
    assert f"files elsewhere: {S3}" in detail and "run: abc123" in detail
    assert "abc123" in cli("models", "show", "churn")
    shown = json.loads(cli("models", "show", "churn/1", "--json"))
    assert shown["external_source"] == S3 and shown["files"] == {}
