"""The last line of defence: an unexpected exception becomes a 500 problem+json response and the
connection stays open.

Starlette's ``exception_handler(Exception)`` runs inside ``ServerErrorMiddleware``, which sends the
handler's response and then re-raises the exception "so the server can log it". uvicorn then sees an
exception escape the app after a response was sent and closes the transport, so the client's next
request on the same keep-alive connection is reset. This middleware answers the 500 itself, logs the
traceback once, and returns normally."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from mainsail.core.errors import MainsailError

log = logging.getLogger("mainsail.api")
PROBLEM = "application/problem+json"


class InternalErrorMiddleware:
    """Pure ASGI middleware: any exception the app lets through becomes a logged 500 problem."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def _send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, _send)
        except Exception as exc:  # noqa: BLE001 - this is the catch-all by design
            if started:  # part of a response is on the wire: nothing valid can follow; let uvicorn close
                raise
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            body = orjson.dumps(MainsailError(f"internal error: {type(exc).__name__}").to_problem())
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", PROBLEM.encode()),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
