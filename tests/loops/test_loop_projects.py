"""Loops per project: two projects hold a policy of the same name on a deployment of the same name; a drift
detected in project B starts an episode of B's policy only, and every object it touches (pipeline run,
registered version, rollout) is B's. Over HTTP with auth on, a member of A cannot see B's loops."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _loops_support import deliver, retrain, retrain_pipeline, tick
from _serving_support import churn_data, register
from sklearn.linear_model import LogisticRegression

from mainsail import Client
from mainsail.core.errors import NotFound
from mainsail.core.events import Event, emit, list_events
from mainsail.core.runtime import Runtime

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "auth"))


def _project(client: Client, tmp_path: Path) -> None:
    """churn v1 (champion, served by ``api``) and v2, pipeline ``retrain`` and loop ``api-fresh``."""
    x, y = churn_data()
    register(client, tmp_path, LogisticRegression().fit(x.to_numpy(), y))
    register(client, tmp_path, LogisticRegression().fit(x.to_numpy(), 1 - y))
    client.set_model_alias("churn", "champion", 1)
    client.create_deployment("api", "models:/churn@champion")
    client.apply_pipeline(retrain_pipeline())
    client.create_loop("api-fresh", deployment="api", pipeline="retrain", candidate_task="register",
                       metric="accuracy", margin=0.05, steps=[50, 100], step_seconds=0, cooldown=600)


def _drift(runtime: Runtime, project: str) -> Event:
    """``drift.detected`` on deployment ``api`` as project ``project``'s monitor emits it."""
    with runtime.transaction(project=project) as ctx:
        emit(ctx.session, "drift.detected", "api-drift", {
            "monitor": "api-drift", "project": project, "deployment": "api", "share_drifted": 0.5,
            "window_start": "2026-12-03T10:00:00+00:00", "window_end": "2026-12-03T11:00:00+00:00"})
    with runtime.transaction(write=False) as ctx:
        return list_events(ctx.session, type="drift.detected", limit=100_000)[-1]


@pytest.fixture(params=["sqlite", "postgres"])
def two(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Client, Client, Runtime]]:
    uri = request.getfixturevalue("pg_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 'meta.db'}"
    a = Client(uri, artifact_root=str(tmp_path / "artifacts"))
    b = Client(uri, artifact_root=str(tmp_path / "artifacts"), project="b")
    _project(a, tmp_path / "a")
    _project(b, tmp_path / "b")
    yield a, b, a._backend.runtime
    a.close()
    b.close()


def test_an_episode_in_project_b_touches_only_bs_objects(two: tuple[Client, Client, Runtime]) -> None:
    a, b, rt = two
    assert a.get_loop("api-fresh").id != b.get_loop("api-fresh").id  # the same name in each project
    started = deliver(rt, _drift(rt, "b"))
    assert len(started) == 1
    run_id = started[0]
    assert b.get_loop("api-fresh").active_run_id == run_id and a.get_loop("api-fresh").active_run_id is None
    assert [r.id for r in b.list_loop_runs().items] == [run_id] and a.list_loop_runs().items == []
    with pytest.raises(NotFound):
        a.get_loop_run(run_id)
    with pytest.raises(NotFound):
        a.get_loop_run(run_id[:8])  # nor by a prefix
    assert a.list_pipeline_runs("retrain").items == []  # the retrain is B's pipeline's
    assert [p.trigger["loop_run"] for p in b.list_pipeline_runs("retrain").items] == [run_id]

    ep = retrain(b, rt, run_id)  # the ticker (acting for every project) moves it on in B
    assert ep.stage == "canary" and ep.candidate == "models:/churn/2", ep
    assert b.get_deployment("api").rollout.id == ep.rollout_id
    assert a.get_deployment("api").rollout is None  # A's deployment of the same name is untouched
    assert a.tick_loops() == 0  # a tick asked for in A moves none of B's episodes
    b.rollback_deployment("api", reason="not now")
    assert a.tick_loops() == 0 and b.get_loop_run(run_id).state == "running"
    assert tick(rt) == 1
    assert b.get_loop_run(run_id).state == "rolled_back"

    assert deliver(rt, _drift(rt, "default")) != []  # A's drift starts A's episode, not B's
    assert len(a.list_loop_runs().items) == 1 and len(b.list_loop_runs().items) == 1


def test_a_member_of_another_project_cannot_see_its_loops(tmp_path: Path) -> None:
    from _auth_support import auth_world

    world = auth_world(tmp_path)
    w = next(world)
    try:
        other = Client(w.uri, artifact_root=w.root, project="other")
        _project(w.local, tmp_path / "default")
        _project(other, tmp_path / "other")
        rt = w.local._backend.runtime
        run_id = deliver(rt, _drift(rt, "default"))[0]
        with w.http("outsider") as http:  # an admin of project "other" only
            r = http.get("/api/v1/loop-runs")
            assert r.status_code == 403 and r.json()["code"] == "role_required", r.text
            r = http.get(f"/api/v1/loop-runs/{run_id}", headers={"mainsail-project": "other"})
            assert r.status_code == 404, r.text
            r = http.get("/api/v1/loop-runs", headers={"mainsail-project": "other"})
            assert r.status_code == 200 and r.json()["items"] == [], r.text
            r = http.get("/api/v1/loops/api-fresh", headers={"mainsail-project": "other"})
            assert r.status_code == 200 and r.json()["id"] == other.get_loop("api-fresh").id
            assert r.json()["active_run_id"] is None
        with w.http("viewer") as http:  # a viewer of default sees default's run, but nothing of "other"
            assert http.get(f"/api/v1/loop-runs/{run_id}").status_code == 200
            r = http.get("/api/v1/loops", headers={"mainsail-project": "other"})
            assert r.status_code == 403, r.text
        other.close()
    finally:
        world.close()
