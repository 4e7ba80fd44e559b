"""The FastAPI app: ``/api/v1`` routes derived from every domain's operations, problem+json errors,
``/health``, ``/ready`` and ``/metrics``."""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, compile_path

from mainsail import __version__
from mainsail.api.internal import InternalErrorMiddleware
from mainsail.api.limits import BodyLimitMiddleware
from mainsail.api.metrics import PrometheusMiddleware, metrics_response
from mainsail.api.registry import OPSETS
from mainsail.api.routes import BEARER, build_router, problem_schemas, tighten_schema
from mainsail.core.errors import InvalidInput, MainsailError, describe_errors, without_union_members
from mainsail.core.runtime import Runtime
from mainsail.core.settings import Settings

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def _problem(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _clean_validation(errors: list[Any]) -> list[dict[str, Any]]:
    return without_union_members([{"loc": list(e.get("loc", [])), "msg": e.get("msg", ""),
                                   "type": e.get("type", "")} for e in errors])


def allowed_methods(request: Request) -> str:
    """The ``Allow`` header value for ``request``'s path: the methods of every route matching it."""
    methods = {m for pattern, ms in _allow_index(request.app) if pattern.match(request.url.path) for m in ms}
    return ", ".join(sorted(methods))


def _allow_index(app: Any) -> list[tuple[re.Pattern[str], set[str]]]:
    """(path regex, methods) of every route: the declared operations and the app's own routes."""
    index = [(compile_path("/api/v1" + op.path)[0], {op.method}) for opset in OPSETS for op in opset.ops.values()]
    return index + [(r.path_regex, set(r.methods)) for r in app.router.routes if isinstance(r, Route) and r.methods]


def install_error_handlers(app: FastAPI) -> None:
    """Every error becomes ``application/problem+json`` with a stable ``code``."""

    @app.exception_handler(MainsailError)
    async def _mainsail(_: Request, exc: MainsailError) -> JSONResponse:
        return _problem(exc.status, exc.to_problem())

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean_validation(list(exc.errors()))
        err = InvalidInput(f"invalid request: {describe_errors(errors)}", errors=errors)
        return _problem(422, err.to_problem())

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not read the body (e.g. not UTF-8): bad input like any other
            errors = [{"loc": ["body"], "msg": str(exc.detail), "type": "body_unreadable"}]
            return _problem(422, InvalidInput(f"invalid request: body: {exc.detail}", errors=errors).to_problem())
        code = {404: "route_not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = _problem(exc.status_code, {"type": f"urn:mainsail:problem:{code}", "title": str(exc.detail),
                                              "status": exc.status_code, "detail": str(exc.detail), "code": code})
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # RFC 9110: every method the path answers, not only the first route's
            response.headers["Allow"] = allowed_methods(request)
        return response

    # Not ``exception_handler(Exception)``: Starlette re-raises after it, and uvicorn then drops the
    # keep-alive connection (see mainsail.api.internal).
    app.add_middleware(InternalErrorMiddleware)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None, *,
               auth: bool | None = None) -> FastAPI:
    """Build the API app over ``runtime`` (or a runtime for ``settings``, default from the environment).
    ``auth`` (default: the settings' ``auth``, MAINSAIL_AUTH) makes every request authenticate."""
    runtime = runtime or Runtime.for_settings(settings or Settings.from_env())
    app = FastAPI(title="Mainsail", version=__version__, docs_url="/docs", openapi_url="/openapi.json",
                  description="End-to-end MLOps: tracking, registry, data, features, pipelines, serving, "
                              "monitoring. Errors are application/problem+json with a stable `code`.")
    app.state.runtime = runtime
    app.state.extra_metrics = []  # callables returning more Prometheus text (deployments hosted in-process)
    from mainsail.monitoring.prometheus import metrics_text

    app.state.extra_metrics.append(metrics_text(runtime))  # drift, model metrics, quality, alerts: from the database
    install_error_handlers(app)
    limits = getattr(runtime, "settings", None) or Settings()  # (a placeholder runtime builds the OpenAPI doc)
    app.add_middleware(BodyLimitMiddleware, json_limit=limits.max_json_body, upload_limit=limits.max_upload_body)
    if auth if auth is not None else limits.auth:
        from mainsail.api.auth import AuthMiddleware
        from mainsail.auth.cache import Authenticator

        app.state.authenticator = Authenticator(runtime)
        app.add_middleware(AuthMiddleware, authenticator=app.state.authenticator, metrics_auth=limits.metrics_auth,
                           project=limits.project)
    app.add_middleware(PrometheusMiddleware)
    from mainsail.features.http import routes as feature_routes

    app.router.routes.extend(feature_routes())  # hot paths served without pydantic, ahead of the derived routes
    for opset in OPSETS:
        app.include_router(build_router(opset), prefix="/api/v1")
    from mainsail.mlflow_compat import install as install_mlflow_api

    install_mlflow_api(app)  # MLflow's REST API on the same objects (/api/2.0/mlflow, /api/2.0/mlflow-artifacts)
    from mainsail.ui import install as install_ui

    install_ui(app)  # the web UI's pages at / and its static files at /ui/static
    fastapi_openapi = app.openapi

    def openapi() -> dict[str, Any]:  # FastAPI's document plus the Problem schemas the error responses use
        if app.openapi_schema is None:
            doc = fastapi_openapi()
            doc.setdefault("components", {}).setdefault("schemas", {}).update(problem_schemas())
            doc["components"]["securitySchemes"] = BEARER
            tighten_schema(doc)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/health", tags=["ops"], summary="Liveness")
    def health() -> dict[str, str | int]:
        return {"status": "ok", "version": __version__, "pid": os.getpid()}

    @app.get("/ready", tags=["ops"], summary="Readiness: the metadata database answers",
             responses={503: {"description": "Not ready"}})
    def ready() -> Response:
        if runtime.ping():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "detail": "metadata database unreachable"}, 503)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        response = metrics_response()
        if app.state.extra_metrics:
            response.body += b"".join(text() for text in app.state.extra_metrics)
            response.headers["content-length"] = str(len(response.body))
        return response

    return app
