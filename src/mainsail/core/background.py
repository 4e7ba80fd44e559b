"""One way to run work periodically on a daemon thread (metric flushes, event dispatch, replica
syncs, rollout ticks, inference-log writes)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("mainsail")


class Periodic:
    """Call ``fn`` every ``interval`` seconds, or at once after ``wake()``, until ``stop()``.

    An exception is logged (prefixed with ``what``) and the loop goes on: background work must
    survive a briefly unreachable database or server. ``run_first`` calls ``fn`` before the first wait.
    """

    def __init__(self, name: str, fn: Callable[[], object], interval: float, what: str, *,
                 run_first: bool = False):
        self.name, self.fn, self.interval, self.what, self.run_first = name, fn, interval, what, run_first
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        first = self.run_first
        while True:
            if not first:
                self._wake.wait(self.interval)
                self._wake.clear()
            first = False
            if self._stopped:
                return
            try:
                self.fn()
            except Exception:  # noqa: BLE001 - see the class docstring
                log.exception("%s failed; will retry", self.what)

    def start(self) -> Periodic:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Run ``fn`` now instead of at the end of the current wait."""
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        """Stop looping (an ``fn`` call in progress finishes) and wait up to ``timeout`` seconds."""
        self._stopped = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
