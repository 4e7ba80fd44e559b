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
NAV = [("/", "Home"), ("/experiments", "Experiments"), ("/models", "Models"), ("/datasets", "Datasets"),
       ("/features", "Features"), ("/pipelines", "Pipelines"), ("/serving", "Deployments"),
       ("/monitoring", "Monitoring"), ("/alerts", "Alerts")]
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
env.globals.update(nav=NAV)


def plotly_file() -> Path | None:
    """The minified plotly.js inside the installed ``plotly`` package (None when it is not installed)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


def client(request: Request) -> Any:
    """The Client the pages read through: in-process, on the server's own runtime."""
    from mainsail.client.backends import LocalBackend
    from mainsail.client.client import Client

    principal = getattr(request.state, "principal", None)
    if principal is not None:  # auth on: the pages read as the signed-in caller, with its roles
        ui = Client.__new__(Client)
        ui._backend = LocalBackend.on_runtime(request.app.state.runtime, actor=principal.name, principal=principal)
        return ui
    ui = getattr(request.app.state, "ui_client", None)
    if ui is None:
        ui = Client.__new__(Client)
        ui._backend = LocalBackend.on_runtime(request.app.state.runtime)  # the app's runtime, not a second one
        request.app.state.ui_client = ui
    return ui


def read(request: Request, fn: Callable[[Any], Any]) -> Any:
    """Run a service read ``fn(ctx)`` in one read-only transaction on the server's runtime (for the
    service functions that are not operations, e.g. the activity feed)."""
    with request.app.state.runtime.transaction(write=False) as ctx:
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
    from mainsail.core.principal import DEFAULT_PROJECT

    principal = principal_of(request)
    return principal is None or principal.can(role, DEFAULT_PROJECT)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` (autoescaped) with the nav state, the caller (``user``, ``can(role)``) and a
    CSRF token; set the token's cookie."""
    token = csrf_token(request)
    principal = principal_of(request)
    user = principal.name if principal is not None and principal.kind != "anonymous" else None
    html = env.get_template(template).render(request=request, path=request.url.path, csrf=token, user=user,
                                             can=lambda role: can(request, role), **context)
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/")
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
