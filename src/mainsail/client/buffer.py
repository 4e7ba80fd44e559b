"""Metric buffering for the fluent SDK.

``log_metric`` appends to a deque and returns: it acknowledges that the point is *buffered* in this
process, not that the store has it. A background thread sends the buffer in batches every interval
(or at once when enough rows wait), and also sends each live run's heartbeat. ``flush()`` and the end
of a run are the durability point: they return only once every buffered point is stored, and raise
(keeping the points) if the store cannot be reached within ``flush_timeout``.

Nothing taken from the buffer is lost: rows move into *pending* batches (one run, at most ``batch``
points, one idempotency key each) and leave only when the store confirmed them, or refused them
for good (a 4xx such as an ended run), which is logged and raised at the caller's next call. A batch
that failed to send is resent first, with its same key, so a write the server committed before the
connection dropped is not stored twice."""

from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
import weakref
from collections import deque
from dataclasses import dataclass

from mainsail.client.backends import Backend
from mainsail.core.background import Periodic
from mainsail.core.errors import Conflict, MainsailError, ServiceUnavailable

log = logging.getLogger(__name__)
Row = tuple[str, str, float, int, float]
_all: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()


@dataclass
class _Batch:
    run_id: str
    rows: list[Row]
    key: str  # idempotency key, the same on every resend
    failures: int = 0  # server-side errors met (an unreachable store does not count)


MAX_FAILURES = 5  # a batch that keeps failing on the store's side is dropped, not retried forever


def _transient(exc: Exception, batch: _Batch) -> bool:
    """Worth retrying: the store is unreachable (always), or failed on its side (a 5xx, an
    in-process database error: up to MAX_FAILURES times, so one poisoned batch cannot block the
    buffer). A 4xx is a refusal of the input: never retried."""
    if isinstance(exc, ServiceUnavailable):
        return True
    if isinstance(exc, MainsailError) and exc.status < 500:
        return False
    batch.failures += 1
    return batch.failures < MAX_FAILURES


class MetricBuffer:
    """Buffers ``(run_id, key, value, step, timestamp)`` rows for one backend, and keeps the
    heartbeats of the runs registered with :meth:`watch`."""

    def __init__(self, backend: Backend, interval: float = 1.0, max_rows: int = 20_000, batch: int = 10_000,
                 flush_timeout: float = 30.0, heartbeat_interval: float = 30.0):
        self.backend = backend
        self.interval = interval
        self.max_rows = max_rows
        self.batch = max(1, batch)
        self.flush_timeout = flush_timeout
        self.heartbeat_interval = heartbeat_interval
        self.rows: deque[Row] = deque()
        self.pending: deque[_Batch] = deque()
        self.error: MainsailError | None = None  # a refusal since the last raise (those rows are dropped)
        self.last_failure: Exception | None = None  # why the last send failed (rows kept)
        self.runs: dict[str, float] = {}  # watched run id -> monotonic time of its last contact
        self._flush_lock = threading.Lock()
        self._woken = False
        self._loop = Periodic("mainsail-metrics", self._background, interval, "background metric flush").start()
        _all.add(self)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        if len(self.rows) == self.max_rows:  # wake the flusher once, not on every later append
            self._woken = True
            self._loop.wake()

    @property
    def unsent(self) -> int:
        """Points buffered or pending, not yet confirmed stored."""
        return len(self.rows) + sum(len(b.rows) for b in self.pending)

    # ------------------------------------------------------------ sending
    def _take(self) -> None:
        """Move every buffered row into pending batches (per run, in logging order)."""
        n = len(self.rows)
        if not n:
            return
        take = self.rows.popleft  # rows appended meanwhile stay for the next take
        taken = [take() for _ in range(n)]
        runs = {r[0] for r in taken}
        by_run: dict[str, list[Row]] = {runs.pop(): taken} if len(runs) == 1 else {}
        if runs:  # several runs: split, keeping each run's logging order
            for r in taken:
                by_run.setdefault(r[0], []).append(r)
        for run_id, rows in by_run.items():
            for i in range(0, len(rows), self.batch):
                self.pending.append(_Batch(run_id, rows[i:i + self.batch], uuid.uuid4().hex))

    def _send_pending(self) -> bool:
        """Send pending batches oldest first. False at the first transient failure (that batch and
        every later one stay pending); a refused batch is dropped, logged and remembered."""
        while self.pending:
            b = self.pending[0]
            try:
                self.backend.log_metric_rows(b.run_id, b.rows, idempotency_key=b.key)
            except Exception as exc:  # noqa: BLE001 - sorted into transient (kept) and refused (dropped)
                if _transient(exc, b):
                    self.last_failure = exc
                    return False
                log.error("dropping %d metric points for run %s: %s", len(b.rows), b.run_id, exc)
                self.error = self.error or (exc if isinstance(exc, MainsailError) else MainsailError(str(exc)))
            else:
                if b.run_id in self.runs:  # the server took it as a heartbeat too
                    self.runs[b.run_id] = time.monotonic()
            self.pending.popleft()
        self.last_failure = None
        return True

    def flush(self, raise_error: bool = True, timeout: float | None = None) -> None:
        """Store every buffered point now, retrying an unreachable store for up to ``timeout``
        seconds (default ``flush_timeout``). Raises :class:`ServiceUnavailable` if points remain
        unsent (they stay buffered: flush again later), or the error that made the store refuse
        points since the last raise. Points logged (by other threads) while it runs are left to the
        next flush."""
        deadline = time.monotonic() + (self.flush_timeout if timeout is None else timeout)
        delay = 0.25
        with self._flush_lock:
            self._take()
            while not self._send_pending() and raise_error and time.monotonic() < deadline:
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 2.0)
            unsent = sum(len(b.rows) for b in self.pending)
        if not raise_error:
            return
        if self.error is not None:
            err, self.error = self.error, None
            raise err
        if unsent:
            raise ServiceUnavailable(
                f"{unsent} metric points could not be stored ({self.last_failure}); they stay "
                "buffered in this process: call flush() again once the store is reachable")

    # ------------------------------------------------------------ heartbeats
    def watch(self, run_id: str) -> None:
        """Send heartbeats for ``run_id`` until :meth:`unwatch` (a batch of its points counts as one).
        The first goes out at the next background tick: its answer carries the store's timeout, and
        the interval shrinks to a quarter of it if it is shorter than ours."""
        self.runs[run_id] = float("-inf")

    def unwatch(self, run_id: str) -> None:
        self.runs.pop(run_id, None)

    def _heartbeats(self) -> None:
        now = time.monotonic()
        for run_id, last in list(self.runs.items()):
            if now - last >= self.heartbeat_interval and run_id in self.runs:
                try:
                    beat = self.backend.heartbeat(run_id)
                except Conflict:  # the run was ended elsewhere: nothing to keep alive
                    self.unwatch(run_id)
                except Exception as exc:  # noqa: BLE001 - tried again next interval
                    log.debug("heartbeat for run %s failed: %s", run_id, exc)
                else:
                    if run_id in self.runs:
                        self.runs[run_id] = now
                    if 0 < beat.timeout < 4 * self.heartbeat_interval:
                        self.heartbeat_interval = beat.timeout / 4

    def _background(self) -> None:
        self.flush(raise_error=False)
        if self._woken:  # woken to send rows (they count as contact): heartbeats wait for the clock's tick
            self._woken = False
            return
        self._heartbeats()

    def close(self) -> None:
        """Stop the background thread after a last flush (errors are logged: nobody is left to raise to)."""
        self._loop.stop(0)  # no join: the flush below (under the same lock) does the work
        try:
            self.flush()
        except MainsailError as exc:
            log.error("metrics buffer closed with points unsent: %s", exc)


@atexit.register
def _flush_all_at_exit() -> None:
    for buf in list(_all):
        if not buf.unsent and buf.error is None:
            continue
        try:  # a store that just failed the runs' end() gets no second wait
            buf.flush(timeout=0 if buf.last_failure else buf.flush_timeout)
        except Exception as exc:  # noqa: BLE001
            log.error("metrics could not be stored before exit, they are lost: %s", exc)
