"""Inference logs, written off the request path: the request path appends one tuple to a deque; a
background thread turns what has gathered into a Parquet file every few seconds (or sooner when
many rows wait) and hands it to a sink (the artifact store, indexed by the serving service)."""

from __future__ import annotations

import collections
import datetime as dt
import io
import logging
import threading
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mainsail.core.background import Periodic

log = logging.getLogger(__name__)

SCHEMA = pa.schema([
    ("request_id", pa.string()), ("time", pa.timestamp("us", tz="UTC")), ("deployment", pa.string()),
    ("variant", pa.string()), ("model", pa.string()), ("version", pa.int32()), ("latency_ms", pa.float64()),
    ("shadow", pa.bool_()), ("status", pa.int16()), ("inputs", pa.string()), ("outputs", pa.string()),
])
Sink = Callable[[bytes, int, dt.datetime, dt.datetime], None]


class InferenceLogger:
    """Buffers log rows and flushes them as Parquet. ``log`` costs one deque append."""

    def __init__(self, deployment: str, sink: Sink, *, interval: float = 2.0, max_rows: int = 20_000,
                 max_buffer: int = 1_000_000):
        self.deployment = deployment
        self.sink = sink
        self.interval = interval
        self.max_rows = max_rows
        self.max_buffer = max_buffer
        self.dropped = 0
        self.written = 0
        self._rows: collections.deque[tuple[Any, ...]] = collections.deque()
        self._lock = threading.Lock()
        # on a sink failure the rows stay buffered and the next round retries
        self._loop = Periodic("mainsail-inference-log", self._drain, interval, "writing inference logs")

    def log(self, request_id: str, time: float, variant: str, model: str, version: int, latency_ms: float,
            shadow: bool, status: int, inputs: str, outputs: str) -> None:
        """Record one request (``time`` in seconds since the epoch; inputs and outputs as JSON text)."""
        self._rows.append((request_id, time, variant, model, version, latency_ms, shadow, status, inputs, outputs))
        if len(self._rows) >= self.max_rows:
            self._loop.wake()

    def flush(self) -> int:
        """Write what has gathered now; returns the number of rows written. On a sink failure the rows
        go back to the buffer (the oldest are dropped beyond ``max_buffer``)."""
        with self._lock:
            rows = []
            while self._rows and len(rows) < self.max_rows * 5:
                rows.append(self._rows.popleft())
            if not rows:
                return 0
            cols = list(zip(*rows, strict=True))
            times = [int(t * 1_000_000) for t in cols[1]]
            table = pa.table([pa.array(cols[0], pa.string()), pa.array(times, pa.timestamp("us", tz="UTC")),
                              pa.array([self.deployment] * len(rows), pa.string()),
                              *(pa.array(c, SCHEMA.field(i + 3).type) for i, c in enumerate(cols[2:]))],
                             schema=SCHEMA)
            buf = io.BytesIO()
            pq.write_table(table, buf, compression="zstd")
            first = dt.datetime.fromtimestamp(min(cols[1]), dt.UTC)
            last = dt.datetime.fromtimestamp(max(cols[1]), dt.UTC)
            try:
                self.sink(buf.getvalue(), len(rows), first, last)
            except Exception:
                self._rows.extendleft(reversed(rows))
                while len(self._rows) > self.max_buffer:
                    self._rows.popleft()
                    self.dropped += 1
                raise
            self.written += len(rows)
            return len(rows)

    def _drain(self) -> None:
        while self.flush() >= self.max_rows:
            pass

    def start(self) -> InferenceLogger:
        self._loop.start()
        return self

    def close(self) -> None:
        self._loop.stop()
        try:
            while self.flush():
                pass
        except Exception:  # noqa: BLE001
            log.exception("final inference log flush failed; %d rows lost", len(self._rows))
