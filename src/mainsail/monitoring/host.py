"""What ``mainsail server`` hosts for monitoring: a loop running monitors whose cron time has come, and
an event subscriber running dataset monitors on each new version (``dataset.version_created``).
``MAINSAIL_MONITOR_SCHEDULER=0`` leaves them to another server."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable

from mainsail.core.background import Periodic
from mainsail.core.db import utcnow
from mainsail.core.events import Event, subscribe, unsubscribe
from mainsail.core.runtime import Runtime

log = logging.getLogger(__name__)
SUBSCRIBER = "monitoring.datasets"


def run_one(runtime: Runtime, name: str, trigger: str, version: str | None = None, project: str | None = None) -> None:
    """Run monitor ``name``; a failure is recorded as a failed run (and logged), never raised. A dataset's
    first version (nothing before it to compare with) is no failure: there is just nothing to do yet."""
    from mainsail.core.errors import InvalidInput
    from mainsail.monitoring import service
    from mainsail.monitoring.schemas import MonitorRunRequest

    started = utcnow()
    try:
        with runtime.transaction(write=False, actor="scheduler", project=project) as ctx:
            service.execute(ctx, name, MonitorRunRequest(version=version), trigger)
    except InvalidInput as exc:
        if exc.code == "no_reference" and trigger == "event":
            return
        _failed(runtime, name, exc, trigger, started, project)
    except Exception as exc:  # noqa: BLE001 - one monitor's failure never stops the others
        _failed(runtime, name, exc, trigger, started, project)


def _failed(runtime: Runtime, name: str, exc: Exception, trigger: str, started: dt.datetime,
            project: str | None = None) -> None:
    from mainsail.monitoring import service

    log.warning("monitor %s failed: %s: %s", name, type(exc).__name__, exc)
    try:
        with runtime.transaction(actor="scheduler", project=project) as ctx:
            service.record_failure(ctx, name, f"{type(exc).__name__}: {exc}", trigger, started)
    except Exception:  # noqa: BLE001
        log.exception("recording monitor %s's failure failed", name)


def tick(runtime: Runtime) -> list[str]:
    """Run every monitor whose cron time has come; returns their names."""
    from mainsail.monitoring import service

    with runtime.transaction(actor="scheduler") as ctx:
        due = service.claim_due_in(ctx)
    for project, name in due:
        run_one(runtime, name, "schedule", project=project)
    return [name for _, name in due]


def dataset_handler(runtime: Runtime) -> Callable[[Event], None]:
    """The subscriber: run the monitors of a dataset that got a new version (a rerun of the same
    version replaces its results, so redelivery is harmless)."""
    from mainsail.monitoring import service

    def handle(ev: Event) -> None:
        dataset, _, version = ev.subject.partition("@")
        project = str(ev.payload.get("project") or "default")  # the dataset's project
        with runtime.transaction(write=False, project=project) as ctx:
            names = service.monitors_of_dataset(ctx, dataset)
        for name in names:
            run_one(runtime, name, "event", version or None, project=project)

    return handle


def start_background(runtime: Runtime, *, interval: float = 5.0) -> Callable[[], None]:
    """Start the monitor scheduler in this process; return a function that stops it."""
    if os.environ.get("MAINSAIL_MONITOR_SCHEDULER", "1").lower() in ("0", "false", "no", "off"):
        return lambda: None
    loop = Periodic("mainsail-monitors", lambda: tick(runtime), interval, "monitor schedule").start()
    subscribe(SUBSCRIBER, dataset_handler(runtime), ["dataset.version_created"])

    def stop() -> None:
        unsubscribe(SUBSCRIBER)
        loop.stop()

    return stop
