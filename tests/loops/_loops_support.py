"""Helpers for the loop tests: a retrain pipeline whose candidate task names a version, drift events
emitted as a monitor emits them, and driving episodes the way a server's loop host does."""

from __future__ import annotations

from typing import Any

from mainsail import Client
from mainsail.core.events import Event, emit, list_events
from mainsail.core.runtime import Runtime


def retrain_pipeline(name: str = "retrain", *, gate_auc: float | None = None, fail: bool = False) -> dict[str, Any]:
    """A stand-in retrain: its ``register`` task outputs ``{"name": "churn", "version": ${params.version}}``
    (the version a real retrain would have registered); ``gate_auc`` adds a quality_gate task on that
    value (>= 0.7); ``fail`` makes the ingest task fail (a missing source file)."""
    tasks: list[dict[str, Any]] = [{"name": "prepare", "operator": "noop", "params": {"value": {"rows": 10}}}]
    if fail:
        tasks.append({"name": "ingest", "operator": "data_ingestion", "depends_on": ["prepare"],
                      "params": {"source": "/nonexistent/fresh.parquet", "name": "fresh"}})
    if gate_auc is not None:
        tasks.append({"name": "gate", "operator": "quality_gate", "depends_on": ["prepare"],
                      "params": {"metrics": {"auc": gate_auc}, "thresholds": {"auc": ">= 0.7"}}})
    tasks.append({"name": "register", "operator": "noop", "depends_on": [t["name"] for t in tasks],
                  "params": {"value": {"name": "churn", "version": "${params.version}"}}})
    return {"name": name, "params": {"version": 2}, "tasks": tasks}


def drift_event(runtime: Runtime, deployment: str = "api", monitor: str = "api-drift") -> Event:
    """Emit ``drift.detected`` for ``deployment`` as a monitor run does; returns the stored event."""
    with runtime.transaction() as ctx:
        emit(ctx.session, "drift.detected", monitor, {
            "monitor": monitor, "deployment": deployment, "window_start": "2026-12-03T10:00:00+00:00",
            "window_end": "2026-12-03T11:00:00+00:00", "share_drifted": 0.75, "features": ["charges", "tenure"]})
    with runtime.transaction(write=False) as ctx:
        return list_events(ctx.session, type="drift.detected", limit=100_000)[-1]


def deliver(runtime: Runtime, ev: Event) -> list[str]:
    """What the loop host's subscriber does with one event (its own transaction)."""
    from mainsail.loops import service

    with runtime.transaction(actor="loops") as ctx:
        return service.handle_event(ctx, ev)


def tick(runtime: Runtime) -> int:
    from mainsail.loops import service

    with runtime.transaction(actor="loops") as ctx:
        return service.tick(ctx)


def retrain(client: Client, runtime: Runtime, run_id: str) -> Any:
    """Execute the episode's pipeline run here (as an executor would) and tick the loop once."""
    episode = client.get_loop_run(run_id)
    assert episode.pipeline_run_id
    client.wait_pipeline_run(episode.pipeline_run_id, timeout=120)
    tick(runtime)
    return client.get_loop_run(run_id)
