"""Alert test helpers: synthetic ``monitor.completed`` events, a real HTTP receiver and a real SMTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short backoff so retries happen within a test (set before any server process starts)."""
    monkeypatch.setenv("MAINSAIL_ALERT_RETRY_BASE", "0.05")
    monkeypatch.setenv("MAINSAIL_ALERT_RETRY_CAP", "0.2")
    monkeypatch.setenv("MAINSAIL_ALERT_RETRY_ATTEMPTS", "3")


def database_of(backend: str, tmp_path: Path) -> tuple[str, str]:
    """(metadata URI, artifact root) behind a contract-test back end (the http server's own SQLite file)."""
    from _services import behind

    return behind(backend, tmp_path)


def result(kind: str, feature: str | None, test: str | None, value: float, status: str, *,
           threshold: float | None = 0.2, variant: str | None = None, estimated: bool = False) -> dict[str, Any]:
    return {"kind": kind, "feature": feature, "test": test, "variant": variant, "value": value,
            "threshold": threshold, "status": status, "estimated": estimated}


def emit_completed(uri: str, artifacts: str, results: list[dict[str, Any]], *, monitor: str = "churn-drift",
                   deployment: str | None = "churn") -> None:
    """Write a ``monitor.completed`` event with the contract's payload, as a monitor run would."""
    from mainsail.core.events import emit
    from mainsail.core.runtime import Runtime
    from mainsail.core.settings import Settings

    rt = Runtime.for_settings(Settings.from_env().with_uri(uri, artifacts))
    with rt.transaction() as ctx:
        emit(ctx.session, "monitor.completed", monitor, {
            "monitor": monitor, "deployment": deployment, "dataset": None,
            "window_start": "2026-12-01T00:00:00+00:00", "window_end": "2026-12-01T01:00:00+00:00",
            "results": results})


class Receiver:
    """A real HTTP server recording JSON POSTs; ``fail`` answers 500 that many times first."""

    def __init__(self, fail: int = 0):
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.fail = fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.paths.append(self.path)
                if receiver.fail > 0:
                    receiver.fail -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        from email import message_from_bytes, policy

        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, int, Mailbox]]:
    """aiosmtpd running as a real SMTP server on a free port."""
    from _services import free_port
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield "127.0.0.1", port, box
    controller.stop()
