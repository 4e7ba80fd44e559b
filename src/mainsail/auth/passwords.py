"""Password and token hashing, and the login rate limit.

Passwords: argon2id (argon2-cffi's defaults). Tokens are 32 random bytes, so a fast hash is right: only
their SHA-256 is stored, and a lookup by it needs no per-request key stretching."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from functools import lru_cache

from mainsail.core.errors import TooManyRequests

TOKEN_PREFIX = "msk_"


def new_token() -> str:
    """A fresh API token: ``msk_`` and 43 URL-safe characters (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: what is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@lru_cache(maxsize=1)
def _hasher():  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (salted, with its parameters)."""
    return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``. An absent user or password still pays one argon2
    verification, so timing does not tell whether the user exists."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(_hasher().verify(stored or _dummy_hash(), password)) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


class LoginLimiter:
    """At most ``attempts`` failed logins per user and per address in ``window`` seconds; then 429 until
    the oldest failure leaves the window. A success clears the user's failures."""

    def __init__(self, attempts: int = 5, window: float = 300.0):
        self.attempts = attempts
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def check(self, user: str, address: str | None) -> None:
        """Raise :class:`TooManyRequests` when the user or the address is over the limit."""
        now = time.monotonic()
        with self._lock:
            for key in (f"user:{user}", f"addr:{address}"):
                q = self._recent(key, now)
                if len(q) >= self.attempts:
                    wait = int(q[0] + self.window - now) + 1
                    who = "this user" if key.startswith("user:") else "this address"
                    raise TooManyRequests(f"too many failed logins for {who}: try again in {wait} s",
                                          code="login_rate_limited")

    def failed(self, user: str, address: str | None) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (f"user:{user}", f"addr:{address}"):
                self._recent(key, now).append(now)

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{user}", None)


LIMITER = LoginLimiter()
