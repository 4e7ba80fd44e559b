"""Prometheus metrics for every process: request counts and latency by route template."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response

API_PREFIX = "/api/v1"
REQUESTS = Counter("mainsail_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("mainsail_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
IN_FLIGHT = Gauge("mainsail_http_requests_in_flight", "HTTP requests being served")


class PrometheusMiddleware:
    """Pure ASGI middleware (no per-request task) recording method, route template and status."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def _send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, _send)
        finally:
            IN_FLIGHT.dec()
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"
            if scope["path"].startswith(API_PREFIX) and template.startswith("/") \
                    and not template.startswith(API_PREFIX):
                template = API_PREFIX + template  # included routers report paths relative to their prefix
            method = scope.get("method", "")
            REQUESTS.labels(method, template, str(status["code"])).inc()
            LATENCY.labels(method, template).observe(time.perf_counter() - start)


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
