"""Request body limits, per route, enforced before the body is read.

Every route takes a JSON (or other non-upload) body of at most ``Settings.max_json_body`` bytes
(``MAINSAIL_MAX_JSON_BODY``, 16 MiB by default); the octet-stream upload routes (run artifacts,
dataset files, historical-feature entity frames, inference logs, MLflow artifact uploads) take up to
``Settings.max_upload_body`` (``MAINSAIL_MAX_UPLOAD_BODY``, 1 GiB). A larger body is answered ``413`` problem+json with code
``body_too_large``: at once when its ``Content-Length`` says so (uvicorn discards the unread bytes and
the connection stays usable), else as soon as the streamed (chunked) bytes pass the limit."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from mainsail.core.errors import TooLarge

API_PREFIX = "/api/v1"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit (FastAPI re-raises HTTP errors
    from body parsing; the middleware then answers the 413 in place of whatever the app rendered)."""

    def __init__(self) -> None:
        super().__init__(413, "request body too large")


def upload_routes() -> list[tuple[re.Pattern[str], str]]:
    """``(path regex, method)`` of every declared operation that takes a raw octet-stream body."""
    from mainsail.api.registry import OPSETS

    return [(compile_path(API_PREFIX + op.path)[0], op.method)
            for opset in OPSETS for op in opset.ops.values() if any(p.where == "raw" for p in op.params)]


def _mlflow_upload(method: str, path: str) -> bool:
    """True for an upload route of the MLflow-compatible API (a raw-body route that is not a GET)."""
    from mainsail.mlflow_compat.dispatch import PREFIXES, ROUTES

    for prefix, base in PREFIXES.items():
        if path.startswith(prefix + "/"):
            rel = base + path[len(prefix):]
            return any(r.raw and r.method == method != "GET" and r.pattern.match(rel) for r in ROUTES)
    return False


def _problem(limit: int, upload: bool) -> bytes:
    setting = "MAINSAIL_MAX_UPLOAD_BODY" if upload else "MAINSAIL_MAX_JSON_BODY"
    kind = "an upload" if upload else "a request body"
    err = TooLarge(f"request body is larger than {limit:,} bytes, the limit for {kind} on this route "
                   f"(server setting {setting}); send less per request", code="body_too_large")
    return orjson.dumps({**err.to_problem(), "limit": limit})


class BodyLimitMiddleware:
    """Pure ASGI middleware enforcing the per-route body limits described in the module docstring."""

    def __init__(self, app: Any, json_limit: int, upload_limit: int):
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit
        self._uploads: list[tuple[re.Pattern[str], str]] | None = None

    def _upload(self, scope: dict[str, Any]) -> bool:
        path, method = scope["path"], scope["method"]
        if "/mlflow-artifacts/" in path:
            return _mlflow_upload(method, path)
        if not path.startswith(API_PREFIX):
            return False
        if self._uploads is None:  # on first use: a model-server replica never imports every domain
            self._uploads = upload_routes()
        return any(method == m and rx.match(path) for rx, m in self._uploads)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        upload = self._upload(scope)
        limit = self.upload_limit if upload else self.json_limit
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > limit:
            await _answer(send, limit, upload)  # before a single body byte is read
            return
        seen = 0
        exceeded = False
        answered = False

        async def _receive() -> dict[str, Any]:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def _send(message: dict[str, Any]) -> None:
            nonlocal answered
            if not exceeded:
                await send(message)
            elif not answered and message["type"] == "http.response.start":
                answered = True  # whatever the app made of the error, the client gets the 413
                await _answer(send, limit, upload)

        try:
            await self.app(scope, _receive, _send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not answered:
            await _answer(send, limit, upload)


async def _answer(send: Any, limit: int, upload: bool) -> None:
    body = _problem(limit, upload)
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
