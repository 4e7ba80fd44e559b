"""What ``mainsail server`` hosts for pipelines: the cron scheduler, the event-trigger subscriber and
a local executor. Each can be switched off (``MAINSAIL_PIPELINE_EXECUTOR=0`` leaves tasks to
``mainsail worker`` processes; ``MAINSAIL_PIPELINE_SCHEDULER=0`` leaves schedules to another server)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from mainsail.core.events import Event, subscribe, unsubscribe
from mainsail.core.runtime import Runtime

log = logging.getLogger(__name__)
SUBSCRIBER = "pipelines.triggers"


def _on(name: str, default: bool = True) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.lower() not in ("0", "false", "no", "off")


def trigger_handler(runtime: Runtime) -> Callable[[Event], None]:
    """The event subscriber: start the runs an event triggers (idempotent on the event id)."""
    from mainsail.pipelines import service

    def handle(ev: Event) -> None:
        if ev.type.startswith("pipeline_run."):
            return  # a run's own lifecycle never triggers runs (no loops)
        with runtime.transaction(actor="scheduler") as ctx:
            service.handle_event(ctx, ev)

    return handle


def _scheduler_loop(runtime: Runtime, stop: threading.Event, interval: float) -> None:
    from mainsail.pipelines import service

    while not stop.is_set():
        try:
            with runtime.transaction(actor="scheduler") as ctx:
                service.fire_due_schedules(ctx)
        except Exception:  # noqa: BLE001 - keep scheduling; the next tick retries
            log.exception("cron scheduler tick failed")
        stop.wait(interval)


def start_background(runtime: Runtime, *, executor: bool | None = None, scheduler: bool | None = None,
                     processes: int | None = None) -> Callable[[], None]:
    """Start the pipeline services in this process; return a function that stops them."""
    stop = threading.Event()
    threads: list[threading.Thread] = []
    if _on("MAINSAIL_PIPELINE_SCHEDULER") if scheduler is None else scheduler:
        subscribe(SUBSCRIBER, trigger_handler(runtime))
        threads.append(threading.Thread(target=_scheduler_loop, args=(runtime, stop, 1.0), daemon=True,
                                        name="mainsail-cron"))
    if _on("MAINSAIL_PIPELINE_EXECUTOR") if executor is None else executor:
        from mainsail.pipelines.worker import Worker

        worker = Worker(runtime, processes=processes)
        threads.append(threading.Thread(target=worker.run, args=(stop,), daemon=True, name="mainsail-executor"))
    for t in threads:
        t.start()

    def shutdown() -> None:
        stop.set()
        unsubscribe(SUBSCRIBER)
        for t in threads:
            t.join(10)

    return shutdown
