"""The prediction lane: a replica app whose ``POST /predict`` skips Starlette's generic machinery.

A request through the full app passes ``ServerErrorMiddleware``, the app's middleware, Starlette's
``ExceptionMiddleware`` (a per-request handler stack), the router's match over every route and the
route's request/response wrapper before the endpoint reads the body: tens of microseconds on a request
whose own work (parse, ``predict``, answer) is a few hundred. The lane answers ``POST /predict`` through
the app's own middleware instances' classes (built once, from ``app.user_middleware``: body limits, auth
with the ``predict`` permission, the 500 catch-all) around the same endpoint code the route runs, and
renders errors with the app's own exception handlers. Everything else, and every request once the app
has middleware the lane does not know (a user's), goes through the full app unchanged."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette._utils import get_route_path, is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request

from mainsail.api.auth import AuthMiddleware
from mainsail.api.internal import InternalErrorMiddleware
from mainsail.api.limits import BodyLimitMiddleware

Scope = dict[str, Any]
#: ``(body, headers) -> (status, JSON bytes, extra headers)``; raises for errors, as the route does
Answer = Callable[[bytes, Headers], Awaitable[tuple[int, bytes, list[tuple[bytes, bytes]]]]]
#: middleware the lane runs itself; any other class in ``user_middleware`` sends every request the full way
KNOWN = (BodyLimitMiddleware, AuthMiddleware, InternalErrorMiddleware)
JSON_TYPE = (b"content-type", b"application/json")


class ReplicaApp(FastAPI):
    """A FastAPI app with the prediction lane for ``/predict`` (see the module docstring)."""

    lane_answer: Answer | None = None
    _lane: Any = None  # None: not built yet; False: off (unknown middleware)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if (scope["type"] == "http" and scope["method"] == "POST" and self.lane_answer is not None
                and get_route_path(scope) == "/predict"):
            lane = self._lane if self._lane is not None else self._build_lane()
            if lane:
                await lane(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _build_lane(self) -> Any:
        """The app's middleware (same classes, same options, same order) around :meth:`_answer`."""
        if (any(m.cls not in KNOWN for m in self.user_middleware) or getattr(self, "max_body_size", None)
                or os.environ.get("MAINSAIL_PREDICTION_LANE", "1") == "0"):  # off: for comparisons
            self._lane = False
            return False
        app: Any = self._answer
        for m in reversed(self.user_middleware):
            app = m.cls(app, *m.args, **m.kwargs)
        self._lane = app
        return app

    async def _answer(self, scope: Scope, receive: Any, send: Any) -> None:
        scope["app"] = self
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        try:
            status, body, headers = await self.lane_answer(b"".join(chunks), Headers(scope=scope))  # type: ignore[misc]
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise  # the catch-all middleware answers it, as in the full app
            request = Request(scope)
            response = (await handler(request, exc) if is_async_callable(handler)
                        else await run_in_threadpool(handler, request, exc))
            await response(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(body)).encode()), JSON_TYPE]})
        await send({"type": "http.response.body", "body": body})

    def _handler(self, exc: Exception) -> Any:
        """The app's exception handler for ``exc``, looked up as Starlette does (by class, most specific)."""
        for cls in type(exc).__mro__:
            if cls is not Exception and cls in self.exception_handlers:
                return self.exception_handlers[cls]
        return None
