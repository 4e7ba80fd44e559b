"""What ``mainsail server`` hosts for alerts: the rule evaluator (an event subscriber on
``monitor.completed``) and the delivery loop that sends queued notifications off the evaluating
transaction, retrying failures with exponential backoff. ``MAINSAIL_ALERTS=0`` switches both off."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from mainsail.core.background import Periodic
from mainsail.core.events import Event, subscribe, unsubscribe
from mainsail.core.runtime import Runtime

log = logging.getLogger("mainsail.alerts")
SUBSCRIBER = "alerts.rules"


def rule_handler(runtime: Runtime, on_fired: Callable[[], None] | None = None) -> Callable[[Event], None]:
    """The event subscriber: evaluate the rules on one event (idempotent on the event id)."""
    from mainsail.alerts import service

    def handle(ev: Event) -> None:
        with runtime.transaction(actor="alerts") as ctx:
            report = service.handle_event(ctx, ev)
        if (report.fired or report.resolved) and on_fired:
            on_fired()  # send at once instead of at the next tick

    return handle


def start_background(runtime: Runtime, interval: float = 1.0) -> Callable[[], None]:
    """Subscribe the rule evaluator and start the delivery loop; return a function that stops both."""
    if os.environ.get("MAINSAIL_ALERTS", "1").lower() in ("0", "false", "no", "off"):
        return lambda: None
    from mainsail.alerts import service
    from mainsail.alerts.delivery import deliver_due

    loop = Periodic("mainsail-alert-delivery", lambda: deliver_due(runtime), interval, "alert delivery")
    subscribe(SUBSCRIBER, rule_handler(runtime, loop.wake), types=[service.EVENT])
    loop.start()

    def shutdown() -> None:
        unsubscribe(SUBSCRIBER)
        loop.stop(10)

    return shutdown
