"""Metric buffering for the fluent SDK: ``log_metric`` appends to a deque (thread-safe, no lock); a
background thread flushes in batches every interval or when enough rows wait; ``flush()`` drains
synchronously (run end, interpreter exit)."""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import deque

from mainsail.client.backends import Backend
from mainsail.core.background import Periodic
from mainsail.core.errors import MainsailError, ServiceUnavailable

log = logging.getLogger(__name__)
Row = tuple[str, str, float, int, float]
_all: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()


class MetricBuffer:
    """Buffers ``(run_id, key, value, step, timestamp)`` rows for one backend."""

    def __init__(self, backend: Backend, interval: float = 1.0, max_rows: int = 20_000, batch: int = 50_000):
        self.backend = backend
        self.interval = interval
        self.max_rows = max_rows
        self.batch = batch
        self.rows: deque[Row] = deque()
        self.error: MainsailError | None = None
        self._flush_lock = threading.Lock()
        # a background error is kept in self.error and raised to the caller at its next call
        self._loop = Periodic("mainsail-metrics", lambda: self.flush(raise_error=False), interval,
                              "background metric flush").start()
        _all.add(self)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        if len(self.rows) == self.max_rows:  # wake the flusher once, not on every later append
            self._loop.wake()

    def flush(self, raise_error: bool = True) -> None:
        """Send every buffered row now. Raises the first error a flush met since the last raise."""
        with self._flush_lock:
            while self.rows:
                n = min(len(self.rows), self.batch)
                batch = [self.rows.popleft() for _ in range(n)]
                by_run: dict[str, list[Row]] = {}
                for r in batch:
                    by_run.setdefault(r[0], []).append(r)
                for run_id, rows in by_run.items():
                    try:
                        self.backend.log_metric_rows(run_id, rows)
                    except ServiceUnavailable as exc:
                        # Server unreachable: keep the rows (oldest first) and try again later.
                        self.rows.extendleft(reversed(rows))
                        self.error = self.error or exc
                        break
                    except MainsailError as exc:
                        log.error("dropping %d metric points for run %s: %s", len(rows), run_id, exc)
                        self.error = self.error or exc
                else:
                    continue
                break
        if raise_error and self.error is not None:
            err, self.error = self.error, None
            raise err

    def close(self) -> None:
        self._loop.stop(0)  # no join: the flush below (under the same lock) does the work
        self.flush(raise_error=False)


@atexit.register
def _flush_all_at_exit() -> None:
    for buf in list(_all):
        try:
            buf.flush(raise_error=False)
        except Exception as exc:  # noqa: BLE001
            log.error("metrics could not be flushed at exit: %s", exc)


