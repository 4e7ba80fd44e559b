"""The online read over HTTP without pydantic on the hot path.

``POST /api/v1/feature-sets/online`` is declared as an ordinary operation (its OpenAPI document, its
request and response types come from there), but the app serves it with this plain route, mounted
ahead of the derived ones: the body is read with orjson, checked by hand for the common shape, read
through the per-process :class:`~mainsail.features.online.Reader` (no transaction, no ORM) and
answered with orjson. A body of any other shape goes through the operation's own validation, so its
errors are the same 422 problem documents as everywhere else."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mainsail.api.routes import is_json_type
from mainsail.core.errors import InvalidInput, body_not_json
from mainsail.features.online import Reader, SqliteOnlineStore

ONLINE_PATH = "/api/v1/feature-sets/online"
_FIELDS = frozenset(("entity_rows", "features", "service", "full_feature_names"))


def _plain(req: Any) -> bool:
    """The body has the common shape (checked without pydantic); anything else is validated by the op."""
    if type(req) is not dict or not req.keys() <= _FIELDS:
        return False
    rows, feats, svc = req.get("entity_rows"), req.get("features"), req.get("service")
    return (type(rows) is list and 0 < len(rows) <= 10_000 and all(type(r) is dict for r in rows)
            and (feats is None or (type(feats) is list and all(type(f) is str for f in feats)))
            and svc is None and type(req.get("full_feature_names", False)) is bool)


def _slow_args(req: Any) -> tuple[list[dict[str, Any]], list[str] | None, str | None, bool]:
    from mainsail.features.ops import ops

    body = ops.get_online_features.bind({"body": req})["body"]  # raises InvalidInput naming each bad field
    return body.entity_rows, body.features, body.service, body.full_feature_names


async def online(request: Request) -> Response:
    from mainsail.api.routes import caller
    from mainsail.features.ops import ops

    who = caller(request)  # the operation's own role check (this route stands in for it)
    project = who["project"] or request.app.state.runtime.settings.project
    ops.get_online_features.authorize(who["principal"], project)
    body = await request.body()
    try:
        req = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        declared = request.headers.get("content-type")
        if declared is not None and not is_json_type(declared):
            raise body_not_json(declared) from None
        raise InvalidInput(f"invalid request: body: not JSON ({exc})", errors=[
            {"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]) from None
    if _plain(req):
        args = (req["entity_rows"], req.get("features"), None, req.get("full_feature_names", False))
    else:
        args = _slow_args(req)
    reader = Reader.for_runtime(request.app.state.runtime, project)
    if reader.fresh() and isinstance(reader.store, SqliteOnlineStore):
        cols = reader.get(*args)  # microseconds: cheaper on the event loop than a thread hop
    else:
        cols = await run_in_threadpool(reader.get, *args)  # definitions to load, or a network store
    return Response(orjson.dumps({"columns": cols}), media_type="application/json")


def routes() -> list[Route]:
    """Plain routes serving hot paths of declared operations; mount them before the derived routes."""
    return [Route(ONLINE_PATH, online, methods=["POST"], include_in_schema=False)]
