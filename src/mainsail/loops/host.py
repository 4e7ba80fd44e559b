"""What ``mainsail server`` hosts for loops: an event subscriber that starts an episode on
``drift.detected`` / ``alert.fired`` and wakes the ticker when a pipeline run or a rollout ends, and a
ticker moving running episodes on (``loops.service.tick``). ``MAINSAIL_LOOPS=0`` switches both off."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from mainsail.core.background import Periodic
from mainsail.core.events import Event, subscribe, unsubscribe
from mainsail.core.runtime import Runtime

log = logging.getLogger("mainsail.loops")
SUBSCRIBER = "loops.policies"
EVENTS = ["drift.detected", "alert.fired", "pipeline_run.finished", "rollout.promoted", "rollout.rolled_back",
          "rollout.started"]


def tick(runtime: Runtime) -> int:
    from mainsail.loops import service

    with runtime.transaction(actor="loops") as ctx:
        return service.tick(ctx)


def event_handler(runtime: Runtime, wake: Callable[[], None] | None = None) -> Callable[[Event], None]:
    """The subscriber: detections start episodes (idempotent on the event id); endings wake the ticker."""
    from mainsail.loops import service

    def handle(ev: Event) -> None:
        if ev.type in service.TRIGGER_EVENTS.values():
            with runtime.transaction(actor="loops") as ctx:
                service.handle_event(ctx, ev)
        if wake is not None:
            wake()

    return handle


def start_background(runtime: Runtime, *, interval: float = 1.0) -> Callable[[], None]:
    """Subscribe the handler and start the ticker; return a function that stops both."""
    if os.environ.get("MAINSAIL_LOOPS", "1").lower() in ("0", "false", "no", "off"):
        return lambda: None
    loop = Periodic("mainsail-loops", lambda: tick(runtime), interval, "loop tick").start()
    subscribe(SUBSCRIBER, event_handler(runtime, loop.wake), EVENTS)

    def stop() -> None:
        unsubscribe(SUBSCRIBER)
        loop.stop()

    return stop
