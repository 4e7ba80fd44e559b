"""One error hierarchy. Each error has an HTTP status and a stable ``code``; the API renders it as
``application/problem+json`` and the remote client raises the same class from it."""

from __future__ import annotations

import re
from typing import Any, ClassVar


class MainsailError(Exception):
    """Base of every error Mainsail raises on purpose."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, *, code: str | None = None, errors: list[dict[str, Any]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.errors = errors or []

    def to_problem(self) -> dict[str, Any]:
        """The RFC 9457 problem document for this error."""
        body: dict[str, Any] = {
            "type": f"urn:mainsail:problem:{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


class InvalidInput(MainsailError):
    """Input that fails validation; ``errors`` lists ``{"loc": [...], "msg": ...}`` per problem."""

    status = 422
    default_code = "invalid_input"
    title = "Invalid input"


class NotFound(MainsailError):
    status = 404
    default_code = "not_found"
    title = "Not found"


class Conflict(MainsailError):
    status = 409
    default_code = "conflict"
    title = "Conflict"


class Unauthorized(MainsailError):
    status = 401
    default_code = "unauthorized"
    title = "Unauthorized"


class Forbidden(MainsailError):
    status = 403
    default_code = "forbidden"
    title = "Forbidden"


class IntegrityError(MainsailError):
    """Stored data failed a check, e.g. an artifact whose SHA-256 digest does not match."""

    status = 409
    default_code = "integrity_error"
    title = "Integrity error"


class UnsupportedMediaType(MainsailError):
    """A request body that is not in a format the operation reads (names the ``Content-Type`` header)."""

    status = 415
    default_code = "unsupported_media_type"
    title = "Unsupported media type"


def body_not_json(content_type: str) -> UnsupportedMediaType:
    """The 415 for a body that is not JSON, naming the ``Content-Type`` header the client sent."""
    return UnsupportedMediaType(
        f"the body is not JSON: the Content-Type header says {content_type!r}; send a JSON body "
        "(Content-Type: application/json)",
        errors=[{"loc": ["header", "content-type"], "msg": f"a {content_type!r} body that is not JSON",
                 "type": "unsupported_media_type"}])


class TooLarge(MainsailError):
    """A request (body, batch) larger than the limit its route documents; ``detail`` names the limit."""

    status = 413
    default_code = "too_large"
    title = "Content too large"


class TooManyRequests(MainsailError):
    """Too many attempts (e.g. failed logins); ``detail`` says when to try again."""

    status = 429
    default_code = "too_many_requests"
    title = "Too many requests"


class ServiceUnavailable(MainsailError):
    status = 503
    default_code = "unavailable"
    title = "Service unavailable"


_BY_STATUS: dict[int, type[MainsailError]] = {
    cls.status: cls for cls in (InvalidInput, NotFound, Conflict, Unauthorized, Forbidden, TooLarge,
                                UnsupportedMediaType, ServiceUnavailable, TooManyRequests)
}


def from_problem(status: int, body: dict[str, Any]) -> MainsailError:
    """Rebuild the error a server raised from its problem document."""
    code = body.get("code") or ""
    cls = IntegrityError if code == IntegrityError.default_code else _BY_STATUS.get(status, MainsailError)
    return cls(body.get("detail") or body.get("title") or f"HTTP {status}", code=code or None,
               errors=body.get("errors"))


def not_found(kind: str, key: object) -> NotFound:
    """``NotFound`` naming the kind of thing and the key that was asked for."""
    return NotFound(f"{kind} {key!r} not found", code=f"{kind.replace(' ', '_')}_not_found")


def pydantic_errors(exc: Any, prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """Flatten a pydantic ``ValidationError`` into ``[{"loc", "msg", "type"}]``."""
    return without_union_members([
        {"loc": [*prefix, *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ])


_UNION_MEMBER = re.compile(r"^[a-z][a-z-]*\[.*\]$|^constrained-[a-z]+$")


def _is_member(part: Any) -> bool:
    return isinstance(part, str) and bool(_UNION_MEMBER.match(part))


def without_union_members(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors of a value that matched no member of a union name the field, not pydantic's member labels
    (``dict[function-after[...]]``): only the member whose errors go deepest (the one the input's shape
    matched) is kept, and the labels leave the locations."""
    out: list[dict[str, Any]] = []
    groups: dict[tuple[Any, ...], list[tuple[int, dict[str, Any]]]] = {}
    for e in errors:
        loc = list(e.get("loc", []))
        i = next((k for k, p in enumerate(loc) if _is_member(p)), None)
        if i is None:
            out.append(e)
            continue
        rest = [p for p in loc[i + 1:] if not _is_member(p)]
        groups.setdefault(tuple(loc[:i]), []).append((len(rest), {**e, "loc": [*loc[:i], *rest]}))
    for items in groups.values():
        deepest = max(depth for depth, _ in items)
        out.extend(e for depth, e in items if depth == deepest)
    return out


def describe_errors(errors: list[dict[str, Any]]) -> str:
    """One line such as ``metrics.value.3: Input should be a valid number``."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])


def redact(uri: str) -> str:
    """``uri`` with any password masked (``scheme://user:***@host``), safe to print or log."""
    return re.sub(r"(//[^:/@]*):[^@/]*@", r"\1:***@", uri)
