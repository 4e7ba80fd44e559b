"""Steady client traffic against a live server while a dependency fails: N threads send requests until stopped,
answers are counted by status (-1: no answer at all), the first error bodies are kept, and each acknowledged
request's own bookkeeping runs."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx

# send(http, client_no, request_no) -> (the answer, what to do once it is acknowledged)
Send = Callable[[httpx.Client, int, int], tuple[httpx.Response, Callable[[], None]]]


class Traffic:
    def __init__(self, send: Send, *, clients: int = 4, pause: float = 0.01, timeout: float = 10):
        self.send, self.pause, self.timeout = send, pause, timeout
        self.statuses: Counter[int] = Counter()
        self.bodies: list[str] = []
        self.acked = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(w,)) for w in range(clients)]

    def _client(self, w: int) -> None:
        with httpx.Client(timeout=self.timeout) as http:
            i = 0
            while not self._stop.is_set():
                try:
                    r, on_ack = self.send(http, w, i)
                except httpx.HTTPError:
                    self.statuses[-1] += 1
                else:
                    self.statuses[r.status_code] += 1
                    if r.status_code < 300:
                        on_ack()
                        self.acked += 1
                    elif r.status_code >= 400 and len(self.bodies) < 5:
                        self.bodies.append(f"{r.status_code} {r.headers.get('content-type')} {r.text[:200]}")
                i += 1
                time.sleep(self.pause)

    def start(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            if t.is_alive():
                t.join(60)

    def wait_acked(self, more_than: int, timeout: float) -> None:
        """Until more than ``more_than`` requests are acknowledged (or ``timeout`` seconds pass)."""
        deadline = time.monotonic() + timeout
        while self.acked <= more_than and time.monotonic() < deadline:
            time.sleep(0.1)

    def failures(self) -> dict[int, int]:
        """Answers other than success and 503 while a dependency is down, and requests with no answer."""
        return {k: v for k, v in self.statuses.items() if (k >= 400 and k != 503) or k == -1}
