"""Authentication of every request when the server runs with auth on.

One ASGI middleware resolves ``Authorization: Bearer <token>`` once per request (through the cached
:class:`~mainsail.auth.cache.Authenticator`) and puts the principal on ``request.state``; the declared
operations then check their role from it (:meth:`~mainsail.core.ops.Operation.authorize`), as the MLflow
routes and the online-feature route do. Here only what has no operation is decided:

- open paths: ``/health``, ``/ready``, ``/metrics`` (unless ``MAINSAIL_METRICS_AUTH``), the OpenAPI
  document and ``/docs``, and public operations (login);
- anything else without credentials: 401 before the body is read;
- hosted predictions (``/deployments/NAME/…``, ``/v2/models/NAME/…``): the ``predict`` permission in the
  deployment's project, unless the deployment is public (``MAINSAIL_PUBLIC_DEPLOYMENTS=a,b``)."""

from __future__ import annotations

import os
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool

from mainsail.core.errors import MainsailError
from mainsail.core.principal import ANONYMOUS, DEFAULT_PROJECT, check

PROBLEM = b"application/problem+json"
OPEN = frozenset(("/health", "/ready", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc", "/favicon.ico",
                  "/v2", "/v2/health/live", "/v2/health/ready"))
LOGIN = "/api/v1/auth/login"


def public_paths() -> frozenset[str]:
    """The paths of the operations anyone may call (login, who am I)."""
    from mainsail.api.registry import OPSETS

    return frozenset("/api/v1" + op.path for opset in OPSETS for op in opset.ops.values() if op.public)


def deployment_of(path: str) -> str | None:
    """The deployment a hosted-serving path addresses, or None."""
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "deployments":
        return parts[1]
    if len(parts) >= 3 and parts[0] == "v2" and parts[1] == "models":
        return parts[2]
    return None


class AuthMiddleware:
    """Puts ``principal`` on the request state; answers 401 (bad or missing credentials) or 403 itself
    only where no operation decides."""

    def __init__(self, app: Any, authenticator: Any, metrics_auth: bool = False, deployment: str | None = None,
                 project: str = DEFAULT_PROJECT):
        self.app = app
        self.project = project  # the project of requests that name none (a replica: its deployment's)
        self.authenticator = authenticator
        self.deployment = deployment  # a replica of this deployment: every other path is a prediction
        self.open = OPEN if metrics_auth else OPEN | {"/metrics"}
        self.public = public_paths()
        self.public_deployments = frozenset(
            d.strip() for d in os.environ.get("MAINSAIL_PUBLIC_DEPLOYMENTS", "").split(",") if d.strip())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in self.open:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        try:
            raw = headers.get(b"authorization")
            header = raw.decode("latin-1") if raw else None
            principal = None if path == LOGIN else self.authenticator.cached(header)
            if principal is None:  # not seen in the last few seconds: ask the database off the event loop
                principal = await run_in_threadpool(self._resolve, header, path == LOGIN)
            if path not in self.public:
                raw_project = headers.get(b"mainsail-project")
                self._decide(path, principal, raw_project.decode("latin-1") if raw_project else self.project)
        except MainsailError as exc:
            await _problem(send, exc)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _resolve(self, header: str | None, public: bool) -> Any:
        try:
            return self.authenticator.resolve(header)
        except MainsailError:
            if public:  # a stale saved token must not stop a login

                return ANONYMOUS
            raise

    def _decide(self, path: str, principal: Any, project: str = DEFAULT_PROJECT) -> None:
        """``project``: the request's (``Mainsail-Project``), where its deployment is looked up too."""
        deployment = self.deployment or deployment_of(path)
        if deployment is not None:
            if deployment not in self.public_deployments:
                check(principal, "predict", project)
            return
        if principal.kind == "anonymous":  # everything else needs a signed-in caller; roles per operation
            check(principal, "viewer", project)


async def _problem(send: Any, exc: MainsailError) -> None:
    body = orjson.dumps(exc.to_problem())
    headers = [(b"content-type", PROBLEM), (b"content-length", str(len(body)).encode())]
    if exc.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="mainsail"'))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
