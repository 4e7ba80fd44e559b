"""Authentication of every request when the server runs with auth on.

One ASGI middleware resolves ``Authorization: Bearer <token>`` once per request (through the cached
:class:`~mainsail.auth.cache.Authenticator`) and puts the principal on ``request.state``; the declared
operations then check their role from it (:meth:`~mainsail.core.ops.Operation.authorize`), as the MLflow
routes and the online-feature route do. Here only what has no operation is decided:

- open paths: ``/health``, ``/ready``, ``/metrics`` (unless ``MAINSAIL_METRICS_AUTH``), the OpenAPI
  document and ``/docs``, and public operations (login);
- anything else without credentials: 401 before the body is read;
- web pages (anything outside the API prefixes): the ``mainsail_session`` cookie set at ``/login``
  stands for the bearer token (never for an API path, so a cross-site form cannot reach the API with
  it); without credentials a page GET is redirected to ``/login`` and ``/login`` and the static files are
  open;
- hosted predictions (``/deployments/NAME/…``, ``/v2/models/NAME/…`` of the server's own project, and
  ``/projects/P/deployments/NAME/…``, ``/projects/P/v2/models/NAME/…`` of project P): the ``predict``
  permission in the deployment's project, which the *path* names (never the ``Mainsail-Project`` header,
  which would let a caller with ``predict`` elsewhere pass), unless the deployment is public
  (``MAINSAIL_PUBLIC_DEPLOYMENTS=name,P/name``; a bare name is of the server's own project)."""

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
SESSION_COOKIE = "mainsail_session"
API_PREFIXES = ("/api/", "/ajax-api/", "/deployments/", "/v2/", "/v2", "/health", "/ready", "/metrics", "/docs",
                "/openapi.json", "/redoc", "/get-artifact", "/model-versions/")  # the last two: MLflow's UI
PAGES_OPEN = ("/login", "/ui/static/")
MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/2.0/preview/mlflow", "/api/3.0/mlflow",
                   "/ajax-api/3.0/mlflow", "/get-artifact", "/model-versions/get-artifact")  # MLflow's error shape


def is_page(path: str) -> bool:
    """A web UI path (the session cookie counts there only)."""
    return not path.startswith(API_PREFIXES) and not (path.startswith("/projects/") and deployment_of(path))


def session_token(scope: dict[str, Any]) -> str | None:
    """The token in the request's session cookie, if any."""
    from starlette.requests import cookie_parser

    for name, value in scope.get("headers") or []:
        if name == b"cookie":
            token = cookie_parser(value.decode("latin-1")).get(SESSION_COOKIE)
            if token:
                return token
    return None


def public_paths() -> frozenset[str]:
    """The paths of the operations anyone may call (login, who am I)."""
    from mainsail.api.registry import OPSETS

    return frozenset("/api/v1" + op.path for opset in OPSETS for op in opset.ops.values() if op.public)


def deployment_of(path: str) -> tuple[str | None, str] | None:
    """``(project, deployment)`` a hosted-serving path addresses (project ``None``: the server's own), or None."""
    parts = path.strip("/").split("/")
    project = None
    if len(parts) >= 2 and parts[0] == "projects":
        project, parts = parts[1], parts[2:]
    if len(parts) >= 2 and parts[0] == "deployments":
        return project, parts[1]
    if len(parts) >= 3 and parts[0] == "v2" and parts[1] == "models":
        return project, parts[2]
    return None


def public_deployments(text: str, project: str) -> frozenset[tuple[str, str]]:
    """``MAINSAIL_PUBLIC_DEPLOYMENTS`` (``name`` of ``project``, or ``P/name``) as ``(project, name)`` pairs."""
    out = set()
    for item in (d.strip() for d in text.split(",")):
        if item:
            p, _, name = item.rpartition("/")
            out.add((p.strip() or project, name.strip()))
    return frozenset(out)


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
        self.public_deployments = public_deployments(os.environ.get("MAINSAIL_PUBLIC_DEPLOYMENTS", ""), project)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in self.open:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        page = self.deployment is None and is_page(path)  # a replica serves predictions only
        try:
            raw = headers.get(b"authorization")
            header = raw.decode("latin-1") if raw else None
            if header is None and page and (token := session_token(scope)):
                header = f"Bearer {token}"
            public = path == LOGIN or (page and path.startswith(PAGES_OPEN))
            principal = None if path == LOGIN else self.authenticator.cached(header)
            if principal is None:  # not seen in the last few seconds: ask the database off the event loop
                principal = await run_in_threadpool(self._resolve, header, public)
            if path not in self.public and not public:
                raw_project = headers.get(b"mainsail-project")
                self._decide(path, principal, raw_project.decode("latin-1") if raw_project else self.project)
        except MainsailError as exc:
            if page and exc.status == 401:  # a page: sign in (again), then come back here
                await _to_login(scope, send)
                return
            await (_mlflow_error if path.startswith(MLFLOW_PREFIXES) else _problem)(send, exc)
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
        """``project``: the request's (``Mainsail-Project``). A prediction is checked in its deployment's
        project, named by the path (or this server's or replica's own), whatever the header says."""
        target = (None, self.deployment) if self.deployment is not None else deployment_of(path)
        if target is not None:
            key = (target[0] or self.project, target[1])
            if key not in self.public_deployments:
                check(principal, "predict", key[0])
            return
        if principal.kind == "anonymous":  # everything else needs a signed-in caller; roles per operation
            check(principal, "viewer", project)


async def _to_login(scope: dict[str, Any], send: Any) -> None:
    """303 to ``/login?next=<this page>`` (a GET) and the stale session cookie dropped."""
    from urllib.parse import quote

    here = scope["path"] + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
    target = "/login" + (f"?next={quote(here, safe='')}" if scope["method"] == "GET" and here != "/" else "")
    headers = [(b"location", target.encode()), (b"content-length", b"0"),
               (b"set-cookie", f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax".encode())]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _problem(send: Any, exc: MainsailError) -> None:
    body = orjson.dumps(exc.to_problem())
    headers = [(b"content-type", PROBLEM), (b"content-length", str(len(body)).encode())]
    if exc.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="mainsail"'))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _mlflow_error(send: Any, exc: MainsailError) -> None:
    """MLflow's error shape (``error_code``, ``message``), which MLflow clients read, for MLflow paths."""
    code = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 429: "REQUEST_LIMIT_EXCEEDED",
            503: "TEMPORARILY_UNAVAILABLE"}.get(exc.status, "INVALID_PARAMETER_VALUE")
    body = orjson.dumps({"error_code": code, "message": exc.detail})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if exc.status == 401:  # MLflow clients send basic auth (the token as the password) or a bearer token
        headers.append((b"www-authenticate", b'Basic realm="mainsail", Bearer realm="mainsail"'))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
