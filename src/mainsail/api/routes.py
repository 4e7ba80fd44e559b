"""Derive FastAPI routes from declared operations: one route per :class:`Operation`, no handwritten
endpoint bodies. The route validates input (FastAPI/pydantic), runs the service function in one
transaction on a worker thread, and returns its result as the declared response type."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from mainsail.audit import service as audit
from mainsail.core import idempotency
from mainsail.core.errors import body_not_json
from mainsail.core.ops import Operation, OpSet
from mainsail.core.principal import LOCAL
from mainsail.core.runtime import Runtime
from mainsail.core.types import check_name

PROBLEM_MEDIA = "application/problem+json"


class ProblemItem(BaseModel):
    """One thing wrong with the input: where (``loc``, e.g. ``["body", "metrics", "step", 0]``) and what."""

    model_config = ConfigDict(extra="allow")
    loc: list[str | int]
    msg: str
    type: str | None = None


class Problem(BaseModel):
    """An error (RFC 9457 problem details) with a stable machine-readable ``code``."""

    type: str = Field(examples=["urn:mainsail:problem:run_not_found"])
    title: str
    status: int
    detail: str
    code: str = Field(examples=["run_not_found"])
    errors: list[ProblemItem] | None = Field(None, description="Present when specific fields are at fault.")


PROBLEM_DESCRIPTIONS = {401: "Not authenticated", 403: "Not allowed", 404: "Not found",
                        409: "Conflict, or stored data failed its integrity check",
                        413: "Content too large: the body (or metric batch) is over this route's limit",
                        415: "The body is not JSON (the detail names the Content-Type header sent)",
                        422: "Invalid input; `errors` names each field at fault",
                        429: "Too many attempts (failed logins): the detail says when to try again",
                        503: "Service unavailable: a dependency is down or not installed"}


def problem_responses(op: Operation) -> dict[int | str, dict[str, Any]]:
    """The documented error responses of ``op`` (see :attr:`Operation.problem_statuses`), each an
    ``application/problem+json`` document as :mod:`mainsail.api.app` renders it."""
    content = {PROBLEM_MEDIA: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    statuses = op.problem_statuses + ([415] if _json_body(op) else [])
    return {status: {"description": PROBLEM_DESCRIPTIONS[status], "content": content} for status in sorted(statuses)}


def _json_body(op: Operation) -> bool:
    return any(p.where == "body" for p in op.params)


def is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class JsonBodyRoute(APIRoute):
    """A route whose body is JSON whatever ``Content-Type`` the client declared: ``curl -d '{…}'`` and
    ``curl -d @file.json`` send JSON labelled ``application/x-www-form-urlencoded``. A body that parses
    as JSON is read as JSON; one that does not is a 415 naming the ``Content-Type`` header (never a
    422 about the body's shape that hides the cause)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def read_as_json(request: Request) -> Response:
            declared = request.headers.get("content-type")
            if declared is not None and not is_json_type(declared):
                body = await request.body()
                if body.strip():
                    try:
                        orjson.loads(body)
                    except orjson.JSONDecodeError:
                        raise body_not_json(declared) from None
                scope = dict(request.scope)
                scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
                scope["headers"].append((b"content-type", b"application/json"))
                request = Request(scope, request.receive)
                request._body = body  # read once: the route's own parsing reuses it
            return await handler(request)

        return read_as_json


def problem_schemas() -> dict[str, Any]:
    """OpenAPI component schemas for :class:`Problem` (the problem responses refer to them by name)."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**schema.pop("$defs", {}), "Problem": schema}


def _invoke(runtime: Runtime, op: Operation, kwargs: dict[str, Any], caller: Caller,
            idem_key: str | None = None) -> Any:
    # FastAPI has parsed the request; bind() applies the constraints it does not carry over
    # (e.g. annotated-types bounds on query parameters) with the exact rules the clients use.
    kwargs = op.bind(kwargs)
    if op.fast is not None and idem_key is None and (found := op.shortcut(
            runtime, caller.get("principal", LOCAL), caller.get("project") or runtime.settings.project, kwargs)) is not None:
        return found
    if idem_key is None:
        with runtime.transaction(write=op.write, **caller) as ctx:
            result = op.invoke(ctx, kwargs)
            audit.record(ctx, op, kwargs, result)  # a write's row, in its transaction (a read: nothing)
            return result
    who = caller.get("principal", LOCAL)  # a key is the sender's own in its project (see core.idempotency)
    scope = {"project": caller.get("project") or runtime.settings.project, "principal": f"{who.kind}:{who.name}"}
    for attempt in (1, 2):
        try:
            with runtime.transaction(write=True, **caller) as ctx:
                seen = idempotency.lookup(ctx.session, idem_key, op.name, **scope)
                if seen is not None:
                    return _Replay(seen.response)
                result = op.invoke(ctx, kwargs)
                audit.record(ctx, op, kwargs, result)
                idempotency.remember(ctx.session, idem_key, op.name, op.status_code, op.dump_response(result),
                                     **scope)
                return result
        except SAIntegrityError:
            if attempt == 2:  # a concurrent request with the same key committed first: replay it
                raise
    raise AssertionError("unreachable")


Caller = dict[str, Any]  # the transaction's actor, principal, project and remote address


def caller(request: Request) -> Caller:
    """Who calls, as :meth:`Runtime.transaction` takes it: the principal the auth middleware resolved
    (the local admin when auth is off), the project (``Mainsail-Project`` header, else the server's
    default), the recorded actor and the client's address."""
    state = request.state
    principal = getattr(state, "principal", LOCAL)
    actor = getattr(state, "actor", None)
    if actor is None and principal is not LOCAL:
        actor = principal.name
    project = request.headers.get("mainsail-project") or None
    if project is not None:
        project = check_name(project, "project", "mainsail-project", max_length=128)
    return {"actor": actor, "principal": principal, "project": project,
            "remote": request.client.host if request.client else None}


class _Replay:
    """A stored response being sent again for a repeated idempotency key."""

    def __init__(self, body: str | None):
        self.body = body


def _endpoint(op: Operation) -> Any:
    raw = next((p.name for p in op.params if p.where == "raw"), None)

    async def endpoint(request: Request, **kwargs: Any) -> Any:
        if raw:
            kwargs[raw] = await request.body()
        kwargs.pop("authorized_", None)
        idem_key = kwargs.pop("idempotency_key", None)
        runtime: Runtime = request.app.state.runtime
        result = await run_in_threadpool(_invoke, runtime, op, kwargs, caller(request), idem_key)
        if isinstance(result, _Replay):
            if result.body is None:
                return Response(status_code=op.status_code, headers={"idempotent-replay": "true"})
            return Response(result.body, status_code=op.status_code, media_type="application/json",
                            headers={"idempotent-replay": "true"})
        if op.response is bytes:
            return Response(result, media_type="application/octet-stream")
        if op.response is None:
            return Response(status_code=op.status_code)
        return result

    params = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
    if op.role is not None:  # 401/403 before the input is validated: a caller without the role learns nothing
        params.append(inspect.Parameter("authorized_", inspect.Parameter.KEYWORD_ONLY, annotation=None,
                                        default=Depends(_authorizer(op))))
    if op.write and not op.secret:  # a response holding a secret is never stored to be replayed
        params.append(inspect.Parameter(
            "idempotency_key", inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
            default=Header(None, alias="Idempotency-Key", min_length=1, max_length=200,
                           description="Send the same key when retrying: the write happens once.")))
    for p in op.params:
        if p.where == "raw":
            continue
        # Annotated[T, Path()] (not ``= Path()``): FastAPI then keeps T's own constraints (Ge/Le,
        # StringConstraints) in the OpenAPI document, so the document says what the server accepts.
        where = {"path": Path, "body": Body}.get(p.where, Query)
        default = inspect.Parameter.empty if p.required else p.default
        params.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY,
                                        annotation=Annotated[p.annotation, where()], default=default))
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = op.name
    return endpoint


def _authorizer(op: Operation) -> Callable[[Request], None]:
    def authorize(request: Request) -> None:
        who = caller(request)
        op.authorize(who["principal"], who["project"] or request.app.state.runtime.settings.project)

    return authorize


BEARER = {"bearerAuth": {"type": "http", "scheme": "bearer",
                         "description": "An API token (`mainsail login`, `mainsail tokens create`, MAINSAIL_TOKEN). "
                                        "Needed when the server runs with auth on."}}


def build_router(opset: OpSet) -> APIRouter:
    """An ``APIRouter`` with one route per operation of ``opset``."""
    router = APIRouter(tags=[opset.tag])
    for op in opset.ops.values():
        extra: dict[str, Any] = {"openapi_extra": {"security": [{"bearerAuth": []}] if op.role else [],
                                                   "x-mainsail-role": op.role or "public"}}
        if any(p.where == "raw" for p in op.params):
            extra["openapi_extra"]["requestBody"] = {"required": True, "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
        kwargs: dict[str, Any] = {}
        problems = problem_responses(op)
        if op.response is bytes:
            kwargs["response_class"] = Response
            kwargs["responses"] = {**problems, 200: {"content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}, "description": "The file's bytes"}}
        elif op.response is None:
            kwargs["response_class"] = Response
            kwargs["responses"] = {**problems, op.status_code: {"description": "Done"}}
        else:
            kwargs["response_model"] = op.response
            kwargs["responses"] = problems
        if _json_body(op):
            kwargs["route_class_override"] = JsonBodyRoute
        router.add_api_route(op.path, _endpoint(op), methods=[op.method], status_code=op.status_code,
                             name=op.operation_id, operation_id=op.operation_id, summary=op.summary,
                             **kwargs, **extra)
    return router


def tighten_schema(doc: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what pydantic enforces but does not write down, in place:

    - a dict whose keys have a pattern is emitted as ``patternProperties`` (other keys still allowed by
      JSON Schema): state it as ``propertyNames`` with that pattern and the values' schema;
    - a discriminated union's tag (``type`` of a suite check) has a default in each member, so it is
      not listed as required, yet a member without it cannot be told apart: list it as required."""
    components = doc.get("components", {}).get("schemas", {})

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            pattern_props = node.get("patternProperties")
            if isinstance(pattern_props, dict) and len(pattern_props) == 1 and "additionalProperties" not in node:
                (pattern, values), = pattern_props.items()
                del node["patternProperties"]
                node["propertyNames"] = {**node.get("propertyNames", {}), "pattern": pattern}
                node["additionalProperties"] = values
            disc = node.get("discriminator")
            if isinstance(disc, dict):
                for ref in disc.get("mapping", {}).values():
                    member = components.get(ref.rsplit("/", 1)[-1], {})
                    required = member.setdefault("required", [])
                    if disc["propertyName"] not in required:
                        required.append(disc["propertyName"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(doc)
    return doc
