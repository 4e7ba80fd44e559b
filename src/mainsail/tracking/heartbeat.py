"""Who marks dead runs killed: the server's background loop (:func:`start_reaper`) and, for embedded
use where no server runs, the client just before it reads runs (:func:`reap_if_due`, throttled).
Until one of them has run, reads already show a silent run as killed (see ``service._load_runs``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from mainsail.core.background import Periodic
from mainsail.core.runtime import Runtime
from mainsail.tracking import service

_last: dict[str, float] = {}
_lock = threading.Lock()


def reap(runtime: Runtime) -> list[str]:
    """Mark the runs whose heartbeats stopped as killed; a write transaction only when there are some."""
    with runtime.transaction(write=False) as ctx:
        if not service.has_stale_runs(ctx):
            return []
    with runtime.transaction(write=True) as ctx:
        return service.mark_stale_runs(ctx)


def reap_if_due(runtime: Runtime) -> None:
    """:func:`reap`, at most every ``min(5 s, timeout / 4)`` per store in this process. Call it only
    outside any open transaction (it opens its own)."""
    timeout = runtime.settings.run_heartbeat_timeout
    if timeout <= 0:
        return
    now = time.monotonic()
    with _lock:
        if now - _last.get(runtime.url, -1e9) < min(5.0, timeout / 4):
            return
        _last[runtime.url] = now
    reap(runtime)


def start_reaper(runtime: Runtime) -> Callable[[], None]:
    """Check for dead runs every ``min(60 s, timeout / 5)`` on a daemon thread; return its stop."""
    timeout = runtime.settings.run_heartbeat_timeout
    if timeout <= 0:
        return lambda: None
    loop = Periodic("mainsail-run-reaper", lambda: reap(runtime), min(60.0, timeout / 5),
                    "marking runs without heartbeats killed", run_first=True).start()
    return loop.stop
