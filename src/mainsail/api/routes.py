"""Derive FastAPI routes from declared operations: one route per :class:`Operation`, no handwritten
endpoint bodies. The route validates input (FastAPI/pydantic), runs the service function in one
transaction on a worker thread, and returns its result as the declared response type."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from mainsail.core import idempotency
from mainsail.core.ops import Operation, OpSet
from mainsail.core.runtime import Runtime


class Problem(BaseModel):
    """An error (RFC 9457 problem details) with a stable machine-readable ``code``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": desc, "content": {"application/problem+json": {}}}
    for status, desc in ((404, "Not found"), (409, "Conflict"), (422, "Invalid input"))
}


def _invoke(runtime: Runtime, op: Operation, kwargs: dict[str, Any], actor: str | None,
            idem_key: str | None = None) -> Any:
    # FastAPI has parsed the request; bind() applies the constraints it does not carry over
    # (e.g. annotated-types bounds on query parameters) with the exact rules the clients use.
    kwargs = op.bind(kwargs)
    if idem_key is None:
        with runtime.transaction(write=op.write, actor=actor) as ctx:
            return op.handler(ctx, **kwargs)
    for attempt in (1, 2):
        try:
            with runtime.transaction(write=True, actor=actor) as ctx:
                seen = idempotency.lookup(ctx.session, idem_key, op.name)
                if seen is not None:
                    return _Replay(seen.response)
                result = op.handler(ctx, **kwargs)
                idempotency.remember(ctx.session, idem_key, op.name, op.status_code, op.dump_response(result))
                return result
        except SAIntegrityError:
            if attempt == 2:  # a concurrent request with the same key committed first: replay it
                raise
    raise AssertionError("unreachable")


class _Replay:
    """A stored response being sent again for a repeated idempotency key."""

    def __init__(self, body: str | None):
        self.body = body


def _endpoint(op: Operation) -> Any:
    raw = next((p.name for p in op.params if p.where == "raw"), None)

    async def endpoint(request: Request, **kwargs: Any) -> Any:
        if raw:
            kwargs[raw] = await request.body()
        idem_key = kwargs.pop("idempotency_key", None)
        runtime: Runtime = request.app.state.runtime
        result = await run_in_threadpool(_invoke, runtime, op, kwargs, getattr(request.state, "actor", None),
                                         idem_key)
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
    if op.write:
        params.append(inspect.Parameter(
            "idempotency_key", inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
            default=Header(None, alias="Idempotency-Key", min_length=1, max_length=200,
                           description="Send the same key when retrying: the write happens once.")))
    for p in op.params:
        if p.where == "raw":
            continue
        default: Any
        if p.where == "path":
            default = Path()
        elif p.where == "body":
            default = Body() if p.required else Body(default=p.default)
        else:
            default = Query() if p.required else Query(default=p.default)
        params.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, annotation=p.annotation,
                                        default=default))
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = op.name
    return endpoint


def build_router(opset: OpSet) -> APIRouter:
    """An ``APIRouter`` with one route per operation of ``opset``."""
    router = APIRouter(tags=[opset.tag])
    for op in opset.ops.values():
        extra: dict[str, Any] = {}
        if any(p.where == "raw" for p in op.params):
            extra["openapi_extra"] = {"requestBody": {"required": True, "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
        kwargs: dict[str, Any] = {}
        if op.response is bytes:
            kwargs["response_class"] = Response
            kwargs["responses"] = {**PROBLEM_RESPONSES, 200: {"content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}, "description": "The file's bytes"}}
        elif op.response is None:
            kwargs["response_class"] = Response
            kwargs["responses"] = {**PROBLEM_RESPONSES, op.status_code: {"description": "Done"}}
        else:
            kwargs["response_model"] = op.response
            kwargs["responses"] = PROBLEM_RESPONSES
        router.add_api_route(op.path, _endpoint(op), methods=[op.method], status_code=op.status_code,
                             name=op.name, operation_id=op.name, summary=op.summary, **kwargs, **extra)
    return router
