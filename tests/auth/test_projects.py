"""Projects over the contract back ends (embedded SQLite, PostgreSQL, HTTP): every object belongs to the
project the client works in; two projects each hold an object of the same name; a list shows only the
project's objects; an object of another project is not found by name nor by id; ``models:/x@alias``
resolves in the current project."""

from __future__ import annotations

import pytest

from mainsail import Client
from mainsail.core.errors import InvalidInput, NotFound


def _clients(uri: str, tmp_path) -> tuple[Client, Client]:
    root = str(tmp_path / "artifacts")
    return Client(uri, artifact_root=root), Client(uri, artifact_root=root, project="team-b")


def test_same_names_in_two_projects(backend: str, tmp_path) -> None:
    a, b = _clients(backend, tmp_path)
    assert (a.project, b.project) == ("default", "team-b")
    ea, eb = a.create_experiment("churn"), b.create_experiment("churn")
    assert ea.id != eb.id and (ea.project, eb.project) == ("default", "team-b")
    ra = a.create_run(ea.id)
    a.log_batch(ra.id, [("auc", 0.8, 0, 1.0)])
    rb = b.create_run(eb.id)
    b.log_batch(rb.id, [("auc", 0.6, 0, 1.0)])
    assert [e.id for e in a.list_experiments().items] == [ea.id]
    assert [e.id for e in b.list_experiments().items] == [eb.id]
    assert [r.id for r in a.search_runs([ea.id, eb.id]).items] == [ra.id]
    assert [r.id for r in b.search_runs().items] == [rb.id]

    blob = tmp_path / "model.bin"
    blob.write_bytes(b"weights")
    va = a.register_model("clf", framework="python", artifacts=[blob], metrics={"auc": 0.8})
    vb = b.register_model("clf", framework="python", artifacts=[blob], metrics={"auc": 0.6})
    assert (va.version, vb.version) == (1, 1) and va.id != vb.id
    a.set_model_alias("clf", "champion", 1)
    b.set_model_alias("clf", "champion", 1)
    assert a.resolve_model("models:/clf@champion").id == va.id
    assert b.resolve_model("models:/clf@champion").id == vb.id
    assert [m.name for m in b.list_registered_models().items] == ["clf"]

    da, db = a.create_dataset("events"), b.create_dataset("events")
    assert da.id != db.id and db.project == "team-b"
    assert [d.id for d in a.list_datasets().items] == [da.id]
    a.close()
    b.close()


def test_another_projects_objects_are_not_found(backend: str, tmp_path) -> None:
    a, b = _clients(backend, tmp_path)
    exp = a.create_experiment("only-in-default")
    run = a.create_run(exp.id)
    blob = tmp_path / "m.bin"
    blob.write_bytes(b"x")
    version = a.register_model("private", framework="python", artifacts=[blob])
    a.create_dataset("secret-data")
    for call in (lambda: b.get_experiment(exp.id), lambda: b.get_experiment_by_name("only-in-default"),
                 lambda: b.get_run(run.id), lambda: b.log_batch(run.id, [("m", 1.0, 0, 1.0)]),
                 lambda: b.create_run(exp.id), lambda: b.get_registered_model("private"),
                 lambda: b.get_model_version(version.id), lambda: b.resolve_model("models:/private/1"),
                 lambda: b.get_dataset("secret-data")):
        with pytest.raises(NotFound):
            call()
    assert b.list_experiments().items == [] and b.list_registered_models().items == []
    assert b.list_datasets().items == []
    assert a.get_run(run.id).id == run.id  # still there for its own project
    a.close()
    b.close()


@pytest.mark.parametrize("bad", ["../x", "a b", "x" * 200, "a\x00b"])
def test_a_bad_project_name_is_refused(tmp_path, bad: str) -> None:
    with pytest.raises(InvalidInput, match="project"):
        Client(f"sqlite:///{tmp_path / 'm.db'}", project=bad)


def test_feature_views_and_their_rows_per_project(backend: str, tmp_path) -> None:
    import datetime as dt

    from mainsail.features.schemas import Entity, FeatureView

    a, b = _clients(backend, tmp_path)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for c, water in ((a, 0.4), (b, 0.9)):
        plant = Entity(name="plant", type="string")
        c.apply_features([plant, FeatureView(name="live", entities=[plant], features={"water": "float64"},
                                             source="push")])
        c.push_features("live", [{"plant": "P1", "event_timestamp": t0, "water": water}])
    assert a.get_online_features([{"plant": "P1"}], ["live:water"]).columns["water"] == [0.4]
    assert b.get_online_features([{"plant": "P1"}], ["live:water"]).columns["water"] == [0.9]
    assert b.feature_view_stats("live").pushed_rows == 1
    c = Client(backend, artifact_root=str(tmp_path / "artifacts"), project="empty")
    assert c.list_feature_sets().views == []
    with pytest.raises(NotFound):
        c.get_feature_view("live")
    for x in (a, b, c):
        x.close()
