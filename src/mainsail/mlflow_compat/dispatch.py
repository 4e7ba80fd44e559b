"""Routing of MLflow REST calls to handlers, request parsing and MLflow's error shape."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError

from mainsail.api.routes import caller
from mainsail.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MainsailError,
    NotFound,
    ServiceUnavailable,
    TooLarge,
    Unauthorized,
)
from mainsail.core.principal import require
from mainsail.core.runtime import Ctx, Runtime
from mainsail.core.types import unstorable_text

log = logging.getLogger(__name__)
# URL prefix -> the base of the route table's paths (3.0 calls have no routes: they answer ENDPOINT_NOT_FOUND)
PREFIXES = {"/api/2.0/mlflow-artifacts": "/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts": "/mlflow-artifacts",
            "/api/2.0/mlflow": "/mlflow", "/ajax-api/2.0/mlflow": "/mlflow", "/api/2.0/preview/mlflow": "/mlflow",
            "/api/3.0/mlflow": "/v3/mlflow", "/ajax-api/3.0/mlflow": "/v3/mlflow",
            # the MLflow UI's artifact downloads (outside the REST API)
            "/get-artifact": "/get-artifact", "/model-versions/get-artifact": "/model-versions/get-artifact"}
STATUS = {"RESOURCE_DOES_NOT_EXIST": 404, "RESOURCE_ALREADY_EXISTS": 400, "INVALID_PARAMETER_VALUE": 400,
          "ENDPOINT_NOT_FOUND": 404, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403,
          "TEMPORARILY_UNAVAILABLE": 503, "INTERNAL_ERROR": 500, "BAD_REQUEST": 400}


class MlflowError(Exception):
    """An error already in MLflow's terms."""

    def __init__(self, error_code: str, message: str):
        super().__init__(message)
        self.error_code, self.message = error_code, message


def page_token(offset: int) -> str:
    """MLflow's page token shape: base64 of ``{"offset": n}``."""
    return base64.b64encode(orjson.dumps({"offset": offset})).decode()


def invalid(message: str) -> MlflowError:
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def bad_value(key: str, value: Any, hint: str = "") -> MlflowError:
    """MLflow's message for a parameter of the wrong type or shape (the value as compact JSON)."""
    try:
        shown = orjson.dumps(value).decode()
    except TypeError:
        shown = repr(value)
    return invalid(f"Invalid value {shown[:200]} for parameter '{key}' supplied.{' ' + hint if hint else ''}")


@dataclass
class Req:
    """One call's arguments: the JSON body merged over the query string (MLflow sends GET arguments
    as query parameters and the rest as JSON), plus path parameters and the raw body for uploads."""

    args: dict[str, Any]
    path: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    base_url: str = ""  # the server's URL as the caller reached it (for URLs handed back: multipart parts)
    authorization: str | None = None  # the caller's own header, echoed only to the caller (multipart parts)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.args.get(key)
        return default if value in (None, "") else value

    def text(self, key: str, required: bool = True) -> str | None:
        """A string parameter: missing (when ``required``) or of another type is MLflow's error."""
        value = self.args.get(key)
        if value is None or value == "":
            if required:
                raise invalid(f"Missing value for required parameter '{key}'.")
            return None if value is None else ""
        if not isinstance(value, str):
            raise bad_value(key, value)
        return value

    def need(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise invalid(f"Missing value for required parameter '{key}'.")
        return value

    def int(self, key: str, default: int) -> int:
        value = self.get(key, default)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise invalid(f"Parameter '{key}' must be an integer, got {value!r}.") from None

    def page_size(self, default: int, most: int = 50_000) -> int:
        """``max_results``, checked to lie in 1..``most``."""
        size = self.int("max_results", default)
        if not 1 <= size <= most:
            raise bad_value("max_results", size, f"It must be at most {most} and at least 1.")
        return size

    def offset(self) -> int:
        """The offset a ``page_token`` (from ``page_token()``) holds; 0 without one."""
        token = self.get("page_token")
        if token is None:
            return 0
        try:
            offset = orjson.loads(base64.b64decode(str(token), validate=True))["offset"]
        except Exception:  # noqa: BLE001 - any malformed token is the same error
            raise invalid(f"Invalid page token {str(token)[:100]!r}: use the next_page_token of a previous "
                          "answer") from None
        if not isinstance(offset, int) or offset < 0:
            raise invalid("Invalid page token: the offset must be a non-negative integer")
        return offset

    def list(self, key: str) -> list[Any]:
        value = self.get(key, [])
        return value if isinstance(value, list) else [value]


Handler = Callable[[Ctx, Req], Any]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    write: bool
    raw: bool = False  # the handler returns a Response itself (artifact downloads)
    audit: bool = True  # a write that only creates a default (a search) is not an action to audit
    role: str | None = None  # the role it needs, when not the one its method implies (a search that writes)


ROUTES: list[Route] = []


def route(method: str, path: str, *, write: bool | None = None, raw: bool = False, audit: bool = True,
          role: str | None = None) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``method path``; ``{name}`` in the path is a path parameter (``{name:path}``
    takes the rest, slashes included). Paths are relative to ``/api/2.0``."""
    regex = re.sub(r"{(\w+):path}", r"(?P<\1>.+)", path)
    regex = re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", regex)

    def deco(fn: Handler) -> Handler:
        ROUTES.append(Route(method, re.compile(f"^{regex}$"), fn, method != "GET" if write is None else write,
                            raw, audit, role))
        return fn

    return deco


def _error(error_code: str, message: str) -> Response:
    return Response(orjson.dumps({"error_code": error_code, "message": message}),
                    status_code=STATUS.get(error_code, 400), media_type="application/json")


def _translate(exc: Exception) -> Response:
    if isinstance(exc, MlflowError):
        return _error(exc.error_code, exc.message)
    if isinstance(exc, NotFound):
        m = re.fullmatch(r"(run|experiment) '(.*)' not found", exc.detail)
        if m:  # MLflow's wording, which MLflow code matches on
            return _error("RESOURCE_DOES_NOT_EXIST", f"Run with id={m.group(2)} not found" if m.group(1) == "run"
                          else f"No Experiment with id={m.group(2)} exists")
        return _error("RESOURCE_DOES_NOT_EXIST", exc.detail)
    if isinstance(exc, Conflict):
        code = "RESOURCE_ALREADY_EXISTS" if exc.code.endswith("_exists") else "INVALID_PARAMETER_VALUE"
        return _error(code, exc.detail)
    if isinstance(exc, InvalidInput | TooLarge):  # e.g. a log-batch over MAINSAIL_MAX_BATCH_POINTS
        return _error("INVALID_PARAMETER_VALUE", exc.detail)
    if isinstance(exc, ValidationError):
        from mainsail.core.errors import describe_errors, pydantic_errors

        return _error("INVALID_PARAMETER_VALUE", f"invalid request: {describe_errors(pydantic_errors(exc))}")
    if isinstance(exc, Unauthorized):
        return _error("UNAUTHENTICATED", exc.detail)
    if isinstance(exc, Forbidden):
        return _error("PERMISSION_DENIED", exc.detail)
    if isinstance(exc, ServiceUnavailable):
        return _error("TEMPORARILY_UNAVAILABLE", exc.detail)
    if isinstance(exc, MainsailError):
        return _error("INTERNAL_ERROR", exc.detail)
    log.exception("unhandled error in an MLflow call", exc_info=exc)
    return _error("INTERNAL_ERROR", f"internal error: {type(exc).__name__}")


def _find(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """The route for ``method path``, its path parameters, and whether the path exists for another method."""
    other = False
    for r in ROUTES:
        m = r.pattern.match(path)
        if m:
            if r.method == method:
                return r, m.groupdict(), False
            other = True
    return None, {}, other


def _call(runtime: Runtime, r: Route, req: Req, who: dict[str, Any]) -> Any:
    with runtime.transaction(write=r.write, **who) as ctx:
        # as default_role, in the request's project (Mainsail-Project header; MLflow clients send none: default)
        deletes = r.method == "DELETE" or r.pattern.pattern.endswith("/delete$")  # runs/delete, …
        require(ctx, r.role or ("admin" if deletes else "editor" if r.write else "viewer"))
        result = r.handler(ctx, req)
        if r.write and r.audit:
            from mainsail.audit.service import record

            record(ctx, f"mlflow.{r.handler.__name__}", {"args": req.args, "path": req.path, "body": req.body},
                   None if r.raw else result, "/".join(f"{k}={v}" for k, v in req.path.items()))
        return result


async def handle(request: Request) -> Response:
    """The one endpoint behind every MLflow path."""
    full = request.url.path
    prefix = next(p for p in PREFIXES if full == p or full.startswith(p + "/"))
    rel = PREFIXES[prefix] + full[len(prefix):]
    r, path_args, other = _find(request.method, rel)
    if r is None:
        verb = "does not support" if other else "does not implement"
        return _error("ENDPOINT_NOT_FOUND", f"Mainsail's MLflow-compatible API {verb} {request.method} {full}")
    args: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in args:
            args[key] = [*args[key], value] if isinstance(args[key], list) else [args[key], value]
        else:
            args[key] = value
    body = await request.body()
    if not r.raw and body:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _error("MALFORMED_REQUEST", "the request body is not valid JSON")
        if not isinstance(data, dict):
            return _error("MALFORMED_REQUEST", "the request body must be a JSON object")
        args.update(data)
    unstorable = unstorable_text({k: v for k, v in args.items() if k != "metrics"})  # metric keys: checked later
    if unstorable:  # NUL or a lone surrogate: no database stores it (PostgreSQL would fail mid-call)
        where = ".".join(str(p) for p in unstorable[0]["loc"])
        return _error("INVALID_PARAMETER_VALUE", f"Invalid value for parameter '{where}': {unstorable[0]['msg']}")
    req = Req(args=args, path=path_args, body=body if r.raw else b"", base_url=str(request.base_url),
              authorization=request.headers.get("authorization"))
    try:
        result = await run_in_threadpool(_call, request.app.state.runtime, r, req, caller(request))
    except Exception as exc:  # noqa: BLE001 - every error answers in MLflow's shape
        return _translate(exc)
    if isinstance(result, Response):
        return result
    return Response(orjson.dumps(result if result is not None else {}), media_type="application/json")


def install(app: FastAPI) -> None:
    """Mount the MLflow REST API (``/api/2.0/mlflow``, ``/api/2.0/mlflow-artifacts``, their ``/ajax-api``
    twins, and ``/api/3.0/mlflow`` answering ``ENDPOINT_NOT_FOUND``) on ``app``; kept out of the OpenAPI document, which describes ``/api/v1``."""
    from mainsail.mlflow_compat import (  # noqa: F401  (their routes)
        artifacts,
        logged_models,
        multipart,
        registry,
        tracking,
    )

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    for prefix in PREFIXES:
        if prefix.endswith("get-artifact"):
            app.add_api_route(prefix, handle, methods=["GET"], include_in_schema=False)
        else:
            app.add_api_route(prefix + "/{rest:path}", handle, methods=methods, include_in_schema=False)
