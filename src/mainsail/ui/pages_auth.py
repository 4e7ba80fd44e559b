"""Signing in to the web UI when the server runs with auth on: ``/login`` exchanges a user name and
password for a login token (the API's ``auth/login``), kept in an HttpOnly, SameSite=Lax session cookie
(Secure under TLS) that the auth middleware accepts on page paths only; ``/logout`` revokes the token.
Both forms carry the CSRF token like every other form."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mainsail.core.errors import MainsailError
from mainsail.ui.web import form, page_router, render

router = page_router()
SESSION_DAYS = 1.0  # a UI session lasts a day (its token expires with it)


def _next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never ``//host`` or a full URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _auth_on(request: Request) -> bool:
    return getattr(request.app.state, "authenticator", None) is not None


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = Query(None, max_length=2000)) -> Response:
    """The sign-in form (with auth off there is nobody to sign in: go home)."""
    if not _auth_on(request):
        return RedirectResponse("/", status_code=303)
    return render(request, "login.html", next=_next(next), error=None, username="")


def _login(request: Request, username: str, password: str) -> Any:
    from mainsail.audit import service as audit
    from mainsail.auth.ops import ops
    from mainsail.core.principal import ANONYMOUS

    args = ops.login.bind({"body": {"username": username, "password": password, "expires_in_days": SESSION_DAYS}})
    remote = request.client.host if request.client else None
    with request.app.state.runtime.transaction(actor=username, principal=ANONYMOUS, remote=remote) as ctx:
        created = ops.login.invoke(ctx, args)
        audit.record(ctx, ops.login, args, created)  # as the API's login is recorded
        return created


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the password; on success set the session cookie and go where the user was heading."""
    fields = await form(request)
    target = _next(fields.get("next"))
    if not _auth_on(request):
        return RedirectResponse(target, status_code=303)
    username = fields.get("username", "").strip()
    try:
        created = await run_in_threadpool(_login, request, username, fields.get("password", ""))
    except MainsailError as exc:
        message = "Wrong user name or password." if exc.status in (401, 422) else exc.detail
        return render(request, "login.html", status=exc.status, next=target, error=message, username=username[:200])
    from mainsail.api.auth import SESSION_COOKIE

    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, created.token, max_age=int(SESSION_DAYS * 86400), httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Revoke the session's token and drop the cookie."""
    from mainsail.api.auth import SESSION_COOKIE

    await form(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token and _auth_on(request):
        await run_in_threadpool(_revoke, request, token)
    response = RedirectResponse("/login" if _auth_on(request) else "/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


def _revoke(request: Request, token: str) -> None:
    from mainsail.auth.service import logout as revoke

    with request.app.state.runtime.transaction() as ctx:
        revoke(ctx, token)
    request.app.state.authenticator.forget()  # this server stops taking it now (others within their TTL)
