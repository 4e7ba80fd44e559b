"""What ``mainsail server`` runs for collaboration: an event subscriber that keeps the activity feed
projected and notifies watchers as events arrive (each delivery catches the projection up, idempotent on
its own cursor). ``MAINSAIL_COLLAB=0`` switches it off (feed reads still catch up themselves)."""

from __future__ import annotations

import os
from collections.abc import Callable

from mainsail.core.events import Event, subscribe, unsubscribe
from mainsail.core.runtime import Runtime

SUBSCRIBER = "collab.activity"


def start_background(runtime: Runtime) -> Callable[[], None]:
    """Subscribe the projection to every event; return a function that unsubscribes it."""
    if os.environ.get("MAINSAIL_COLLAB", "1").lower() in ("0", "false", "no", "off"):
        return lambda: None
    from mainsail.collab.feed import sync

    done = [0]  # the newest event this process has seen projected: later deliveries of older ones skip

    def handle(ev: Event) -> None:
        if ev.id > done[0]:
            done[0] = sync(runtime).last_event_id  # up to and past ``ev``: once per batch of events

    subscribe(SUBSCRIBER, handle)
    return lambda: unsubscribe(SUBSCRIBER)
