"""The events outbox: written in the change's transaction, delivered at least once, in order."""

from __future__ import annotations

import pytest

from mainsail.core import events
from mainsail.core.errors import Conflict
from mainsail.core.events import Dispatcher, Subscription
from mainsail.core.runtime import Runtime
from mainsail.tracking import service
from mainsail.tracking.schemas import ExperimentCreate, RunCreate, RunUpdate


@pytest.fixture(params=["sqlite", "postgres"])
def runtime(request: pytest.FixtureRequest, tmp_path):
    from mainsail.core.settings import Settings

    uri = request.getfixturevalue("pg_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 'e.db'}"
    rt = Runtime(Settings.from_env().with_uri(uri, str(tmp_path / "a")))
    yield rt
    rt.dispose()


def _types(rt: Runtime) -> list[str]:
    with rt.transaction(write=False) as ctx:
        return [e.type for e in events.list_events(ctx.session, limit=1000)]


def test_event_is_written_with_the_change_and_not_without_it(runtime: Runtime) -> None:
    with runtime.transaction() as ctx:
        exp = service.create_experiment(ctx, ExperimentCreate(name="e"))
        run = service.create_run(ctx, RunCreate(experiment_id=exp.id))
    with pytest.raises(Conflict), runtime.transaction() as ctx:  # rolled back: no event either
        service.create_experiment(ctx, ExperimentCreate(name="e"))
    with runtime.transaction() as ctx:
        service.update_run(ctx, run.id, RunUpdate(status="finished"))
    assert _types(runtime) == ["experiment.created", "run.started", "run.finished"]


def test_dispatcher_delivers_at_least_once_in_order_and_retries_failures(runtime: Runtime) -> None:
    with runtime.transaction() as ctx:
        exp = service.create_experiment(ctx, ExperimentCreate(name="e"))
        for _ in range(3):
            service.create_run(ctx, RunCreate(experiment_id=exp.id))
    seen: list[int] = []
    fail_once = {"armed": True}

    def flaky(ev: events.Event) -> None:
        if ev.type == "run.started" and fail_once["armed"] and len(seen) == 2:
            fail_once["armed"] = False
            raise RuntimeError("subscriber down")
        seen.append(ev.id)

    everything: list[str] = []
    subs = {"flaky": Subscription("flaky", flaky, frozenset({"run.*"})),
            "all": Subscription("all", lambda ev: everything.append(ev.type))}
    d = Dispatcher(runtime, subscriptions=subs)
    d.run_once()  # flaky fails on its third run event; "all" still gets everything
    assert everything == ["experiment.created"] + ["run.started"] * 3
    assert len(seen) == 2
    d.run_once()  # the failed event is redelivered; nothing is skipped or duplicated
    assert len(seen) == 3 and seen == sorted(seen)
    assert d.run_once() == 0
    # A new dispatcher (e.g. after a restart) resumes from the stored cursors.
    with runtime.transaction() as ctx:
        service.create_run(ctx, RunCreate(experiment_id=exp.id))
    assert Dispatcher(runtime, subscriptions=subs).run_once() == 2
    assert len(seen) == 4 and len(everything) == 5


def test_events_of_project_b_record_b_and_stay_out_of_as_feed(runtime: Runtime) -> None:
    """A sample of operations in project B (tracking, datasets, pipelines and the run a worker finishes,
    collaboration, alerts): every event they emit records project B, even those whose payload names no
    project, and none shows in project A's (default's) activity feed; A's own events stay A's."""
    from mainsail import Client

    uri, root = runtime.url, runtime.settings.artifact_root
    a, b = Client(uri, artifact_root=root), Client(uri, artifact_root=root, project="b")
    try:
        a.create_experiment("a-only")
        with runtime.transaction(write=False) as ctx:
            first = max([e.id for e in events.list_events(ctx.session, limit=100_000)], default=0)
        exp = b.create_experiment("shared")
        run = b.create_run(exp.id)
        b.end_run(run.id)
        b.create_dataset("rows")
        b.apply_pipeline({"name": "p", "tasks": [{"name": "t", "operator": "noop", "params": {"value": 1}}]})
        prun = b.run_pipeline("p")
        b.wait_pipeline_run(prun.id, timeout=120)  # finished by the worker: a transaction of no project
        b.add_comment("run", run.id, "looks good")
        b.watch("dataset", "rows")
        b.create_alert_rule("r", "value > 1", selector={"monitor": "m"})
        with runtime.transaction(write=False) as ctx:
            emitted = events.list_events(ctx.session, after=first, limit=100_000)
        kinds = {e.type for e in emitted}
        assert {"experiment.created", "run.started", "run.finished", "dataset.created", "pipeline.applied",
                "pipeline_run.created", "pipeline_run.finished", "comment.created"} <= kinds, kinds
        assert [(e.type, e.project) for e in emitted if e.project != "b"] == []
        with runtime.transaction(write=False) as ctx:
            assert {e.type for e in events.list_events(ctx.session, after=first, limit=100_000, project="b")} == kinds
            assert events.list_events(ctx.session, after=first, limit=100_000, project="default") == []
            assert [e.project for e in events.recent_events(ctx.session, project="b")] == ["b"] * len(emitted)

        feed_a = a.activity(limit=500).items
        assert [x.type for x in feed_a] == ["experiment.created"] and feed_a[0].object.label == "a-only"
        feed_b = b.activity(limit=500).items
        assert {x.type for x in feed_b} == kinds and len(feed_b) == len(emitted)
    finally:
        a.close()
        b.close()
