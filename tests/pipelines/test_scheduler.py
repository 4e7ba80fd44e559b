"""Cron schedules and event triggers: each event (or cron tick) starts at most one run, even when it is
delivered again after a crash; end to end through ``mainsail server``."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from _pipelines_support import BackgroundServer

from mainsail import Client
from mainsail.core.errors import InvalidInput
from mainsail.core.events import Dispatcher, Subscription, emit, list_events
from mainsail.core.runtime import Runtime
from mainsail.core.settings import Settings
from mainsail.pipelines import service
from mainsail.pipelines.host import trigger_handler


@pytest.fixture
def runtime(runtime_settings: Settings) -> Runtime:
    return Runtime.for_settings(runtime_settings)


def _client(runtime: Runtime) -> Client:
    return Client(runtime.settings.uri, artifact_root=runtime.settings.artifact_root)


@pytest.mark.parametrize("runtime_settings", ["sqlite", "postgres"], indirect=True)
def test_event_trigger_starts_one_run_per_event_even_when_redelivered(runtime: Runtime) -> None:
    c = _client(runtime)
    c.apply_pipeline({"name": "retrain", "params": {"model": None},
                      "tasks": [{"name": "t", "operator": "noop", "params": {"value": "${params.model}"}}]})
    trig = c.schedule_pipeline("retrain", event="drift.*", filter={"model": "churn"},
                               params={"model": "${event.model}"})
    assert trig.kind == "event" and trig.event == "drift.*"
    with runtime.transaction() as ctx:
        emit(ctx.session, "drift.detected", "m1", {"model": "churn"})
        emit(ctx.session, "drift.detected", "m2", {"model": "other"})  # filtered out
        emit(ctx.session, "alert.fired", "a1", {"model": "churn"})  # another type
    subs = {"t": Subscription("t", trigger_handler(runtime))}
    Dispatcher(runtime, subscriptions=subs).run_once()
    runs = c.list_pipeline_runs("retrain").items
    assert len(runs) == 1 and runs[0].params == {"model": "churn"} and runs[0].trigger["kind"] == "event"
    # redelivery (a crash before the cursor moved): the same event starts nothing new
    with runtime.transaction(write=False) as ctx:
        event = next(e for e in list_events(ctx.session) if e.type == "drift.detected")
    trigger_handler(runtime)(event)
    with runtime.transaction() as ctx:
        assert service.handle_event(ctx, event) == []
    assert len(c.list_pipeline_runs("retrain").items) == 1
    assert c.list_pipeline_schedules("retrain")[0].last_fired_at is not None
    c.delete_pipeline_schedule(trig.id)
    assert c.list_pipeline_schedules() == []


@pytest.mark.parametrize("runtime_settings", ["sqlite", "postgres"], indirect=True)
def test_cron_fires_once_per_tick(runtime: Runtime) -> None:
    c = _client(runtime)
    c.apply_pipeline({"name": "nightly", "tasks": [{"name": "t", "operator": "noop"}]})
    s = c.schedule_pipeline("nightly", cron="*/5 * * * *")
    assert s.next_fire_at is not None and s.next_fire_at.minute % 5 == 0
    due = s.next_fire_at + dt.timedelta(seconds=1)
    with runtime.transaction() as ctx:
        assert len(service.fire_due_schedules(ctx, due)) == 1
    with runtime.transaction() as ctx:
        assert service.fire_due_schedules(ctx, due) == []  # the next tick is 5 minutes later
    runs = c.list_pipeline_runs("nightly").items
    assert len(runs) == 1 and runs[0].trigger["kind"] == "cron"
    assert c.list_pipeline_schedules()[0].next_fire_at > s.next_fire_at
    with pytest.raises(InvalidInput) as ei:
        c.schedule_pipeline("nightly", cron="every day")
    assert ei.value.errors[0]["loc"] == ["body", "cron"]
    with pytest.raises(InvalidInput):
        c.schedule_pipeline("nightly", cron="* * * * *", params={"nope": 1})


def test_server_runs_triggered_pipelines_end_to_end(tmp_path: Path) -> None:
    srv = BackgroundServer(f"sqlite:///{tmp_path / 's.db'}", str(tmp_path / "art"), tmp_path).start()
    try:
        c = Client(srv.url)
        c.apply_pipeline({"name": "target", "tasks": [{"name": "t", "operator": "noop", "params": {"value": 1}}]})
        c.schedule_pipeline("target", event="pipeline.applied", filter={"name": "other"})
        c.apply_pipeline({"name": "other", "tasks": [{"name": "x", "operator": "noop"}]})  # emits the event
        deadline = time.monotonic() + 30
        runs: list = []
        while time.monotonic() < deadline:
            runs = c.list_pipeline_runs("target").items
            if runs and runs[0].status == "succeeded":
                break
            time.sleep(0.2)
        assert len(runs) == 1 and runs[0].status == "succeeded" and runs[0].trigger["kind"] == "event"
    finally:
        srv.stop()
