"""Resolve ``Authorization`` headers to principals, with a small TTL cache keyed by the token's hash, so
a token seen in the last few seconds costs no database round trip. A revoked or expired token stops
working within the TTL (``MAINSAIL_AUTH_CACHE_TTL``, default 5 s); bad tokens are cached too, so a
flood of them does not reach the database either."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable

from mainsail.auth.passwords import hash_token
from mainsail.core.db import utcnow
from mainsail.core.errors import MainsailError, Unauthorized
from mainsail.core.principal import ANONYMOUS, Principal
from mainsail.core.runtime import Runtime

MAX_ENTRIES = 10_000


class Authenticator:
    """One per server process: ``resolve(header)`` → the request's principal, or :class:`Unauthorized`."""

    def __init__(self, runtime: Runtime | None, ttl: float | None = None,
                 lookup: Callable[[str], tuple[Principal | MainsailError, float]] | None = None):
        self.runtime = runtime
        self.ttl = ttl if ttl is not None else runtime.settings.auth_cache_ttl if runtime else 5.0
        self._lookup = lookup or self._from_database  # type: ignore[method-assign]
        self._cache: dict[str, tuple[float, Principal | MainsailError]] = {}
        self._lock = threading.Lock()

    def resolve(self, authorization: str | None) -> Principal:
        """``Bearer <token>`` (or HTTP Basic with the token as the password, for tools that only do basic
        auth) → the principal; no header → :data:`ANONYMOUS`."""
        if not authorization:
            return ANONYMOUS
        token = _token_of(authorization)
        key = hash_token(token)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is None or hit[0] < now:  # a miss: one read (and at most one write a minute per token)
            result, life = self._lookup(token)
            hit = (now + min(self.ttl, life), result)
            with self._lock:
                if len(self._cache) >= MAX_ENTRIES:
                    self._cache = {k: v for k, v in self._cache.items() if v[0] >= now}
                    if len(self._cache) >= MAX_ENTRIES:
                        self._cache.clear()
                self._cache[key] = hit
        result = hit[1]
        if isinstance(result, MainsailError):
            raise result
        return result

    def cached(self, authorization: str | None) -> Principal | None:
        """The principal when the answer is in the cache (no database, safe on the event loop), else None."""
        if not authorization:
            return ANONYMOUS
        key = hash_token(_token_of(authorization))
        hit = self._cache.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        if isinstance(hit[1], MainsailError):
            raise hit[1]
        return hit[1]

    def _from_database(self, token: str) -> tuple[Principal | MainsailError, float]:
        """The principal (or the 401) and how long it may be trusted: the TTL, or less when the token
        expires sooner."""
        from mainsail.auth.service import principal_for_token, touch_token

        assert self.runtime is not None
        try:
            with self.runtime.transaction(write=False) as ctx:
                principal, stale, expires = principal_for_token(ctx.session, token)
        except Unauthorized as exc:
            return exc, self.ttl
        if stale:
            with self.runtime.transaction() as ctx:
                touch_token(ctx.session, stale)
        life = self.ttl if expires is None else max(0.0, (expires - utcnow()).total_seconds())
        return principal, life

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


def via_server(url: str, ttl: float = 5.0, verify: object = True) -> Authenticator:
    """An :class:`Authenticator` for a process without the database (a serve replica whose control plane
    is a server): tokens are resolved by the server's ``/api/v1/auth/whoami``, cached the same way."""
    import httpx

    from mainsail.core.errors import from_problem

    http = httpx.Client(base_url=url.rstrip("/"), timeout=10, verify=verify)  # type: ignore[arg-type]

    def lookup(token: str) -> tuple[Principal | MainsailError, float]:
        r = http.get("/api/v1/auth/whoami", headers={"authorization": f"Bearer {token}"})
        if r.status_code != 200:
            return from_problem(r.status_code, r.json()), ttl
        me = r.json()
        if me["kind"] == "anonymous":
            return ANONYMOUS, ttl
        return Principal(me["name"], kind=me["kind"], roles=me["roles"], permissions=frozenset(me["permissions"])), ttl

    return Authenticator(None, ttl, lookup)


def _token_of(header: str) -> str:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            _, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            password = ""
        if password:
            return password
    raise Unauthorized("the Authorization header must be 'Bearer <token>'", code="token_invalid")
