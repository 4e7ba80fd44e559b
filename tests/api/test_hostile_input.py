"""Hostile input answers a clear 4xx on SQLite and PostgreSQL alike: NUL bytes and lone surrogates in
any string, version numbers past what is stored, absolute or climbing artifact paths; 405s say what
is allowed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mainsail.api.app import create_app
from mainsail.core.errors import InvalidInput
from mainsail.core.settings import Settings

BOTH = pytest.mark.parametrize("runtime_settings", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def api(runtime_settings: Settings) -> Iterator[TestClient]:
    """An app over the backend under test, seeded with experiment ``seed``, a running run (param ``p``,
    artifact ``a.txt``) and model ``seed`` version 1."""
    app: FastAPI = create_app(runtime_settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        exp = c.post("/api/v1/experiments", json={"name": "seed"}).json()["id"]
        run = c.post("/api/v1/tracking-runs", json={"experiment_id": exp, "params": {"p": "1"}}).json()["id"]
        digest = c.put(f"/api/v1/tracking-runs/{run}/artifacts/a.txt", content=b"hi").json()["digest"]
        r = c.post("/api/v1/models", json={"name": "seed", "framework": "sklearn", "run_id": run,
                                           "artifacts": {"a.txt": digest}})
        assert r.status_code == 201, r.text
        c.seeds = {"exp": exp, "run": run, "digest": digest}  # type: ignore[attr-defined]
        yield c
    app.state.runtime.dispose()


def _refused(r: Any, loc: list[Any]) -> None:
    assert r.status_code == 422, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    assert loc in [e["loc"] for e in r.json()["errors"]], r.json()


@BOTH
def test_nul_in_any_string_is_a_422_naming_the_field(api: TestClient) -> None:
    run, exp = api.seeds["run"], api.seeds["exp"]  # type: ignore[attr-defined]
    _refused(api.post("/api/v1/experiments", json={"name": "a\x00b"}), ["body", "name"])
    _refused(api.put("/api/v1/experiments/by-name/a%00b"), ["path", "name"])
    _refused(api.post("/api/v1/tracking-runs", json={"experiment_id": exp, "params": {"p": "x\x00"}}),
             ["body", "params", "p"])
    _refused(api.post("/api/v1/tracking-runs", json={"experiment_id": exp, "tags": {"t": "\x00"}}),
             ["body", "tags", "t"])
    _refused(api.get("/api/v1/tracking-runs", params={"filter": "params.p = 'x\x00'"}), ["query", "filter"])
    _refused(api.get("/api/v1/tracking-runs/compare", params={"run_ids": [run, "x\x00"]}), ["query", "run_ids", 1])
    _refused(api.put(f"/api/v1/tracking-runs/{run}/artifacts/a%00.txt", content=b"x"), ["path", "path"])
    _refused(api.get(f"/api/v1/tracking-runs/{run}%00"), ["path", "run_id"])
    _refused(api.post("/api/v1/datasets/x/versions", params={"description": "a\x00"}, content=b"a\n1\n"),
             ["query", "description"])
    # a lone surrogate cannot be encoded for the database either
    r = api.patch(f"/api/v1/tracking-runs/{run}", content=b'{"name": "x\\udc00"}',
                  headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    # nothing was stored, and the run still answers
    assert api.get(f"/api/v1/tracking-runs/{run}").json()["params"] == {"p": "1"}


@BOTH
@pytest.mark.parametrize(("number", "status"), [(2**31 - 1, 404), (2**31, 422), (2**63, 422)])
def test_version_numbers_past_what_is_stored_are_refused_not_500(api: TestClient, number: int, status: int) -> None:
    """Version numbers are stored as INTEGER: the API types them 1..2^31-1 (and says so in its schema)."""
    assert api.get(f"/api/v1/registered-models/seed/versions/{number}").status_code == status
    assert api.put("/api/v1/registered-models/seed/aliases/a", json={"version": number}).status_code == status
    r = api.post("/api/v1/deployments", json={"name": "d", "variants": [
        {"name": "main", "model": f"models:/seed/{number}", "weight": 100}]})
    assert r.status_code < 500, r.text
    doc = api.get("/openapi.json").json()
    param = next(p for p in doc["paths"]["/api/v1/registered-models/{name}/versions/{version}"]["get"]["parameters"]
                 if p["name"] == "version")
    assert param["schema"]["maximum"] == 2**31 - 1


@BOTH
@pytest.mark.parametrize("path", ["/etc/x", "../x", "a/../../x", "a/%252e%252e/x", "C:/x"])
def test_artifact_write_paths_refuse_absolute_and_climbing_keys(api: TestClient, path: str, tmp_path: Path) -> None:
    run, digest = api.seeds["run"], api.seeds["digest"]  # type: ignore[attr-defined]
    r = api.put(f"/api/v1/tracking-runs/{run}/artifacts/{path}", content=b"x")
    assert r.status_code in (404, 422), r.text  # '/../' may be normalised away by the URL before routing
    r = api.post("/api/v1/models", json={"name": "m", "run_id": run, "artifacts": {path: digest}})
    assert r.status_code == 422, r.text
    assert [e["loc"][:3] for e in r.json()["errors"]] == [["body", "artifacts", path]]
    assert [a["path"] for a in api.get(f"/api/v1/tracking-runs/{run}/artifacts").json()] == ["a.txt"]


def test_log_artifact_refuses_an_absolute_artifact_path(sqlite_settings: Settings, tmp_path: Path) -> None:
    from mainsail import Client

    client = Client(sqlite_settings.uri, artifact_root=sqlite_settings.artifact_root)
    run = client.create_run(client.create_experiment("e").id)
    f = tmp_path / "f.txt"
    f.write_text("x")
    for bad in ("/etc", "../up", "a/../../b"):
        with pytest.raises(InvalidInput) as err:
            client.log_artifact(run.id, f, artifact_path=bad)
        assert err.value.errors[0]["loc"] == ["artifact_path"]
    assert client.list_artifacts(run.id) == []
    assert [a.path for a in client.log_artifact(run.id, f, artifact_path="./sub//dir/")] == ["sub/dir/f.txt"]


def test_405_carries_allow_with_every_method_of_the_path(sqlite_settings: Settings) -> None:
    with TestClient(create_app(sqlite_settings)) as c:
        r = c.delete("/api/v1/experiments")
        assert r.status_code == 405
        assert r.headers["allow"] == "GET, POST"
        assert r.headers["content-type"] == "application/problem+json"
        assert c.patch("/health").headers["allow"] == "GET"
        assert c.get("/api/v1/feature-sets/online").headers["allow"] == "POST"


BAD_NAMES = ["../x", "<script>", "a\x00b", "a b", "a/b", "-x", ".x", "x" * 300]


@BOTH
def test_one_name_rule_for_every_object(api: TestClient) -> None:
    """Experiments, datasets, models, entities, feature views and services, pipelines and deployments
    refuse the same names with a 422 naming the field; the quickstart's names pass everywhere."""
    creates = {  # object -> (method, url template, body for a name)
        "experiment": lambda n: api.post("/api/v1/experiments", json={"name": n}),
        "experiment by name": lambda n: api.put(f"/api/v1/experiments/by-name/{quote(n, safe='')}"),
        "dataset": lambda n: api.post("/api/v1/datasets", json={"name": n}),
        "model": lambda n: api.post("/api/v1/models", json={"name": n, "source": "runs:/x/model"}),
        "entity": lambda n: api.post("/api/v1/feature-sets", json={"entities": [{"name": n}]}),
        "pipeline": lambda n: api.post("/api/v1/pipelines", json={"name": n, "tasks": [
            {"name": "t", "operator": "noop"}]}),
        "deployment": lambda n: api.post("/api/v1/deployments", json={"name": n, "variants": [
            {"name": "main", "model": "models:/seed/1", "weight": 100}]}),
    }
    for what, create in creates.items():
        for bad in BAD_NAMES:
            if what == "experiment by name" and "/" in bad:
                continue  # the URL's '/' is a path separator: another route (404)
            r = create(bad)
            assert r.status_code == 422, (what, bad, r.status_code, r.text)
            assert any(e["loc"][-1] == "name" for e in r.json()["errors"]), (what, bad, r.json())
    for what, create in creates.items():
        if what != "experiment by name":
            r = create("churn-quickstart_v1.2")
            assert r.status_code < 400 or r.status_code == 404, (what, r.text)  # the model's run is unknown
