"""A worker's own small HTTP endpoint: ``/health`` (the loop is turning), ``/ready`` (its last turn reached the
database) and ``/metrics`` (Prometheus text), for orchestrators' probes and scrapes.

A worker has no API, so this is a stdlib HTTP server on a thread: no FastAPI import, no event loop, nothing on
the task path. The loop reports each turn to :class:`WorkerHealth`; the handler only reads it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class WorkerHealth:
    """What the loop last did, read by the probe handler. ``stale`` seconds without a turn means stuck."""

    owner: str
    stale: float = 30.0
    started: float = field(default_factory=time.monotonic)
    last_turn: float = field(default_factory=time.monotonic)
    last_ok: float | None = None
    last_error: str | None = None
    turns: int = 0
    errors: int = 0
    executed: int = 0
    inflight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def turned(self, *, executed: int, inflight: int, error: BaseException | None = None) -> None:
        with self.lock:
            now = time.monotonic()
            self.last_turn, self.turns, self.executed, self.inflight = now, self.turns + 1, executed, inflight
            if error is None:
                self.last_ok, self.last_error = now, None
            else:
                self.errors += 1
                self.last_error = f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"

    def alive(self) -> bool:
        return time.monotonic() - self.last_turn < self.stale

    def ready(self) -> bool:
        return self.alive() and self.last_error is None and self.last_ok is not None

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            now = time.monotonic()
            return {"owner": self.owner, "uptime_s": round(now - self.started, 3),
                    "seconds_since_turn": round(now - self.last_turn, 3), "turns": self.turns,
                    "errors": self.errors, "last_error": self.last_error, "tasks_executed": self.executed,
                    "tasks_running": self.inflight}

    def metrics(self) -> str:
        s = self.snapshot()
        lines = []
        for name, kind, value, text in (
                ("mainsail_worker_up", "gauge", 1 if self.ready() else 0, "1 when the last turn reached the database"),
                ("mainsail_worker_turns_total", "counter", s["turns"], "loop turns"),
                ("mainsail_worker_errors_total", "counter", s["errors"], "turns that failed (database unreachable)"),
                ("mainsail_worker_tasks_executed_total", "counter", s["tasks_executed"], "tasks started here"),
                ("mainsail_worker_tasks_running", "gauge", s["tasks_running"], "tasks running now"),
                ("mainsail_worker_seconds_since_turn", "gauge", s["seconds_since_turn"], "age of the last turn")):
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(lines) + "\n"


def serve(health: WorkerHealth, host: str, port: int) -> ThreadingHTTPServer:
    """Start the probe endpoint on a daemon thread and return its server (``server_address`` has the port)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            path = self.path.split("?", 1)[0]
            if path == "/health":
                ok = health.alive()
                self._send(200 if ok else 503, {"status": "ok" if ok else "stuck", **health.snapshot()})
            elif path == "/ready":
                ok = health.ready()
                body = {"status": "ready" if ok else "not ready", **health.snapshot()}
                if not ok:
                    body = {"type": "about:blank", "title": "Service Unavailable", "status": 503,
                            "detail": health.last_error or "no turn has reached the database yet", **body}
                self._send(200 if ok else 503, body, problem=not ok)
            elif path == "/metrics":
                data = health.metrics().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self._send(404, {"type": "about:blank", "title": "Not Found", "status": 404,
                                 "detail": f"{path[:100]!r}: a worker answers /health, /ready and /metrics"},
                           problem=True)

        def _send(self, status: int, body: dict[str, Any], problem: bool = False) -> None:
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/problem+json" if problem else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:  # probes every few seconds would flood the worker's log
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="worker-health", daemon=True).start()
    return server
