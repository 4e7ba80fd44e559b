"""Adaptive micro-batching on the event loop.

A request's rows join a pending list and a flush is scheduled with ``call_soon``: it runs after every
request handler that was already ready in this loop iteration has added its rows, so a lone request
waits for nothing and concurrent requests share one ``predict``. While requests are still being read
(``arriving`` is above 0) the flush waits up to ``max_wait`` seconds for them.
The model runs inline: while it runs, new requests gather in the socket and form the next batch, so
batches grow with load. A batch that fails is retried request by request, so one bad request never
fails the others."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np


class MicroBatcher:
    def __init__(self, predict: Callable[[np.ndarray], Any], *, max_batch: int = 256, max_wait: float = 0.0015,
                 on_batch: Callable[[int], None] | None = None, arriving: Callable[[], int] | None = None):
        self.predict = predict
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.on_batch = on_batch
        self.arriving = arriving  # how many requests are being read and may still submit
        self._pending: list[tuple[np.ndarray, asyncio.Future[Any]]] = []
        self._rows = 0
        self._handle: asyncio.Handle | asyncio.TimerHandle | None = None
        self._deadline = 0.0

    async def submit(self, x: np.ndarray) -> Any:
        """The model's prediction for the rows of ``x``, computed together with concurrent requests."""
        if self.max_batch <= 1:
            return self.predict(x)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.append((x, fut))
        self._rows += len(x)
        if self._rows >= self.max_batch:
            self._schedule(loop, 0.0)
        elif self._handle is None:
            self._deadline = loop.time() + self.max_wait
            self._schedule(loop, 0.0)
        return await fut

    def _schedule(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = loop.call_soon(self._flush) if delay <= 0 else loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        loop = asyncio.get_event_loop()
        self._handle = None
        if not self._pending:
            return
        waiting = self.arriving() if self.arriving else 0
        now = loop.time()
        if waiting > 0 and self._rows < self.max_batch and now < self._deadline:
            self._schedule(loop, min(self._deadline - now, 0.0005))  # more requests are on their way
            return
        batch, self._pending, self._rows = self._pending, [], 0
        if self.on_batch:
            self.on_batch(len(batch))
        if len(batch) == 1:
            x, fut = batch[0]
            self._run_one(x, fut)
            return
        try:
            out = np.asarray(self._out(self.predict(np.concatenate([x for x, _ in batch]))))
        except Exception:  # noqa: BLE001 - isolate the request that broke the batch
            for x, fut in batch:
                self._run_one(x, fut)
            return
        start = 0
        for x, fut in batch:
            if not fut.done():
                fut.set_result(out[start:start + len(x)])
            start += len(x)

    def _run_one(self, x: np.ndarray, fut: asyncio.Future[Any]) -> None:
        try:
            result = self.predict(x)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request
            if not fut.done():
                fut.set_exception(exc)
            return
        if not fut.done():
            fut.set_result(result)

    @staticmethod
    def _out(pred: Any) -> Any:
        return pred.to_numpy() if hasattr(pred, "to_numpy") else pred
