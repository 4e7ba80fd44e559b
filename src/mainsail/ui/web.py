"""What every page shares: the Jinja2 environment (autoescape always on), the Client over the app's
runtime, rendering with a CSRF token, errors as HTML pages, and the static files (htmx vendored,
Plotly served from the ``plotly`` package's own file)."""

from __future__ import annotations

import hmac
import importlib.util
import math
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import jinja2
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from mainsail.core.errors import Forbidden, InvalidInput, MainsailError

HERE = Path(__file__).parent
CSRF_COOKIE = "mainsail_csrf"
PROJECT_COOKIE = "mainsail_project"
NAV = [("/", "Home"), ("/experiments", "Experiments"), ("/models", "Models"), ("/datasets", "Datasets"),
       ("/features", "Features"), ("/pipelines", "Pipelines"), ("/serving", "Deployments"),
       ("/monitoring", "Monitoring"), ("/loops", "Loops"), ("/alerts", "Alerts"), ("/costs", "Costs")]
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: blob:; object-src 'none'; frame-ancestors 'none'; "
                               "base-uri 'self'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def seg(value: Any) -> str:
    """A path segment with everything but unreserved characters escaped (a name cannot add segments)."""
    return quote(str(value), safe="")


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.{digits}g}"
    return str(value)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "—"


def _size(n: int | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                         undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
env.filters.update(seg=seg, num=_num, when=_when, size=_size, qs=lambda d: urlencode(d, doseq=True))
def section(path: str) -> str:
    """Where the project switcher goes: the same section's list page (an object of one project is
    rarely in another)."""
    return next((href for href, _ in NAV if href != "/" and path.startswith(href)), "/")


def object_link(kind: str, key: str, label: str = "") -> str | None:
    """The page of an object the activity feed names (None when it has none)."""
    simple = {"run": "/runs/", "model": "/models/", "dataset": "/datasets/", "pipeline": "/pipelines/",
              "pipeline_run": "/pipeline-runs/", "deployment": "/serving/", "monitor": "/monitoring/",
              "experiment": "/experiments/", "loop": "/loops/", "loop_policy": "/loops/"}
    if kind in simple:
        return simple[kind] + seg(key)
    if kind == "model_version" and " v" in label:
        name, _, version = label.rpartition(" v")
        return f"/models/{seg(name)}/{seg(version)}" if version.isdigit() else None
    if kind == "dataset_version" and "@" in key:
        name, _, version = key.rpartition("@")
        return f"/datasets/{seg(name)}/{seg(version)}"
    return "/alerts?state=all" if kind == "alert" else None


env.globals.update(nav=NAV, section=section, object_link=object_link)


def plotly_file() -> Path | None:
    """The minified plotly.js inside the installed ``plotly`` package (None when it is not installed)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


def _backend(request: Request, project: str) -> Any:
    from mainsail.client.backends import LocalBackend
    from mainsail.client.client import Client

    ui = Client.__new__(Client)
    principal = principal_of(request)
    if principal is not None:  # auth on: the pages read as the signed-in caller, with its roles
        ui._backend = LocalBackend.on_runtime(request.app.state.runtime, actor=principal.name, principal=principal,
                                              project=project)
    else:  # the app's runtime, not a second one
        ui._backend = LocalBackend.on_runtime(request.app.state.runtime, project=project)
    return ui


def projects(request: Request) -> list[str]:
    """The projects the caller may switch among: those it has a role in, and the server's own."""
    cached = getattr(request.state, "ui_projects", None)
    if cached is None:
        default = request.app.state.runtime.settings.project
        mine = [p.name for p in _backend(request, default).list_projects()]
        cached = request.state.ui_projects = sorted({default, *mine})
    return cached


def project(request: Request) -> str:
    """The project the pages show: ``?project=`` (then kept in a cookie), else the cookie's, else the
    server's. Only a project the caller is a member of: another is *not found* (its existence is not
    disclosed); a cookie naming one the caller left falls back to the server's project."""
    chosen = getattr(request.state, "ui_project", None)
    if chosen is not None:
        return chosen
    default = request.app.state.runtime.settings.project
    asked = request.query_params.get("project")
    if asked is not None and asked != default and asked not in projects(request):
        from mainsail.core.errors import NotFound

        raise NotFound(f"project {asked[:128]!r} not found (or you are not a member)", code="project_not_found",
                       errors=[{"loc": ["query", "project"], "msg": "not a project of yours"}])
    cookie = request.cookies.get(PROJECT_COOKIE)
    if asked is None and cookie and cookie != default and cookie in projects(request):
        asked = cookie
    chosen = request.state.ui_project = asked or default
    return chosen


def client(request: Request) -> Any:
    """The Client the pages read through: in-process, on the server's own runtime, in the page's project."""
    name = project(request)
    if principal_of(request) is not None:  # one per request: it carries the caller
        mine = getattr(request.state, "ui_client", None)
        if mine is None:
            mine = request.state.ui_client = _backend(request, name)
        return mine
    cache = getattr(request.app.state, "ui_clients", None)
    if cache is None:
        cache = request.app.state.ui_clients = {}
    if name not in cache:
        cache[name] = _backend(request, name)
    return cache[name]


def me(request: Request) -> str | None:
    """Who the pages act as: the signed-in user, else the local user the server records."""
    principal = principal_of(request)
    return principal.name if principal is not None else client(request)._backend.actor


def read(request: Request, fn: Callable[[Any], Any]) -> Any:
    """Run a service read ``fn(ctx)`` in one read-only transaction on the server's runtime, in the page's
    project (for the service functions that are not operations)."""
    with request.app.state.runtime.transaction(write=False, project=project(request)) as ctx:
        return fn(ctx)


def csrf_token(request: Request) -> str:
    """The request's CSRF token: its cookie's, or a new one (set by :func:`render`)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) != 32 or not all(c in "0123456789abcdef" for c in token):
        token = secrets.token_hex(16)
    return token


def principal_of(request: Request) -> Any:
    """The signed-in caller when auth is on (None when it is off: the local user may do anything)."""
    return getattr(request.state, "principal", None)


def can(request: Request, role: str) -> bool:
    """Whether the caller has ``role`` (viewer, editor, admin) in the project the pages show: write forms
    are drawn only for those who may send them (the operations check again)."""
    principal = principal_of(request)
    return principal is None or principal.can(role, project(request))


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` (autoescaped) with the nav state, the caller (``user``, ``can(role)``) and a
    CSRF token; set the token's cookie."""
    token = csrf_token(request)
    principal = principal_of(request)
    user = principal.name if principal is not None and principal.kind != "anonymous" else None
    try:
        current, choices = project(request), projects(request)
    except MainsailError:  # the error page of a bad ?project= itself: show the server's project
        current = request.state.ui_project = request.app.state.runtime.settings.project
        choices = [current]
    html = env.get_template(template).render(request=request, path=request.url.path, csrf=token, user=user,
                                             can=lambda role: can(request, role), project=current,
                                             projects=choices, **context)
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/")
    if request.query_params.get("project") == current and request.cookies.get(PROJECT_COOKIE) != current:
        response.set_cookie(PROJECT_COOKIE, current, httponly=True, samesite="lax", path="/",
                            secure=request.url.scheme == "https")
    elif request.cookies.get(PROJECT_COOKIE) not in (None, current) and "project" not in request.query_params:
        response.delete_cookie(PROJECT_COOKIE, path="/")  # a project the caller left: back to the server's
    return response


async def form(request: Request) -> dict[str, str]:
    """A posted form (urlencoded), after the CSRF check: the ``csrf`` field must equal the cookie."""
    body = (await request.body()).decode("utf-8", errors="replace")
    fields = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, fields.get("csrf", "")):
        raise Forbidden("the form's CSRF token does not match its cookie: reload the page and try again",
                        code="csrf_failed")
    return fields


class PageRoute(APIRoute):
    """A page route: a :class:`MainsailError` becomes an HTML error page with its status (not JSON)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except MainsailError as exc:
                return render(request, "error.html", status=exc.status, error=exc)

        return page


def page_router() -> APIRouter:
    """A router for pages (kept out of the OpenAPI document)."""
    return APIRouter(route_class=PageRoute, include_in_schema=False)


def bad(field: str, msg: str) -> InvalidInput:
    return InvalidInput(f"{field}: {msg}", errors=[{"loc": ["query", field], "msg": msg}])


def install_static(app: FastAPI) -> None:
    """``/ui/static/…`` (htmx, CSS, the page script) and ``/ui/static/plotly.min.js`` from the package."""

    @app.get("/ui/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        path = plotly_file()
        if path is None:  # charts degrade to tables; the script tag must not fail the page
            return Response("/* plotly is not installed: pip install 'mainsail[ui]' */",
                            media_type="text/javascript")
        return FileResponse(path, media_type="text/javascript",
                            headers={"cache-control": "public, max-age=86400"})

    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
