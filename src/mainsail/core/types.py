"""Bounded scalar types for every domain's schemas and service signatures.

Values a user sends must fit what the databases store: integers in a signed 64-bit column, datetimes
that still exist once converted to UTC (``0001-01-01T00:00:00+01:00`` does not). Checking them in
the pydantic types turns a value that would overflow at the driver into a 422 naming the field, the
same on the embedded and the HTTP client."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any
from urllib.parse import unquote

from annotated_types import Ge, Le
from pydantic import AfterValidator, BaseModel, StringConstraints, WithJsonSchema

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Int64 = Annotated[int, Ge(INT64_MIN), Le(INT64_MAX)]
"""An integer that fits a BIGINT column."""

PositiveInt64 = Annotated[int, Ge(1), Le(INT64_MAX)]
"""A positive integer that fits a BIGINT column (counts)."""

Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 digest: 64 lowercase hex characters."""

INT32_MAX = 2**31 - 1

VersionNumber = Annotated[int, Ge(1), Le(INT32_MAX)]
"""A version number (model, dataset, pipeline, definition) as stored: an INTEGER column, 1 to 2^31-1."""


NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"
NAME_RULE = "letters, digits, '_', '.' and '-', starting with a letter, a digit or '_'"


def object_name(max_length: int = 200) -> Any:
    """The one name rule of every named object (experiment, dataset, model, entity, feature view and
    service, pipeline, deployment): :data:`NAME_RULE`, at most ``max_length`` characters (the
    column's width), surrounding spaces ignored. A name is safe in a URL path, a file name, a
    ``models:/NAME/…`` or ``dataset:NAME@…`` reference, a log line and an HTML page; ``../``,
    ``<script>``, NUL, spaces, '/', '@' and ':' are refused with a 422 naming the field."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length,
                                            pattern=NAME_PATTERN)]


ObjectName = object_name()
"""A name by :func:`object_name`'s rule, at most 200 characters."""


def check_name(name: object, kind: str, loc: str = "name", max_length: int = 200) -> str:
    """``name`` if it follows the name rule, else ``InvalidInput`` naming ``kind`` and ``loc`` (for code
    paths that take a name outside an operation's arguments)."""
    from mainsail.core.errors import InvalidInput

    if isinstance(name, str):
        name = name.strip()
    if not isinstance(name, str) or not 1 <= len(name) <= max_length or not re.fullmatch(NAME_PATTERN, name):
        msg = f"must hold only {NAME_RULE} (at most {max_length})"
        raise InvalidInput(f"invalid {kind} name {name!r}: {msg}", errors=[{"loc": [loc], "msg": msg}])
    return name


def as_utc(value: dt.datetime) -> dt.datetime:
    """``value`` as an aware UTC datetime (naive means UTC); ``ValueError`` if UTC has no such time."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is out of range once converted to UTC") from None


UtcDatetime = Annotated[dt.datetime, AfterValidator(as_utc)]
"""A datetime stored in UTC (naive input means UTC); one outside year 1–9999 in UTC is rejected."""


# ---------------------------------------------------------------- text every database stores

_ATOMS = frozenset((int, float, bool, type(None), bytes))


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain a NUL character (\\x00): the database cannot store it"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"is not valid Unicode text (a lone surrogate {text[exc.start]!r} at {exc.start})"
    return None


def unstorable_text(value: Any, loc: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic-style errors for every string in ``value`` (models, dicts — keys too — lists, at any
    depth) that no database stores: one holding NUL (PostgreSQL refuses it in TEXT and JSONB) or a lone
    surrogate (not encodable as UTF-8). Each error's ``loc`` names where the string is."""
    errors: list[dict[str, Any]] = []
    _scan(value, loc, errors)
    return errors


def _scan(value: Any, loc: tuple[str | int, ...], errors: list[dict[str, Any]]) -> None:
    kind = type(value)
    if kind in _ATOMS:
        return
    if isinstance(value, str):
        msg = _text_problem(value)
        if msg:
            errors.append({"loc": list(loc), "msg": f"Value {msg}", "type": "string_unstorable"})
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _scan(getattr(value, name), (*loc, name), errors)
        for name, extra in (value.model_extra or {}).items():
            _scan(extra, (*loc, name), errors)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (msg := _text_problem(key)):
                errors.append({"loc": [*loc, key], "msg": f"Key {msg}", "type": "string_unstorable"})
            if type(item) not in _ATOMS:
                _scan(item, (*loc, key), errors)
    elif isinstance(value, list | tuple | set | frozenset):
        kinds = set(map(type, value))  # long columns (metric batches): one pass in C, not a call per item
        if kinds <= _ATOMS:
            return
        if kinds <= _ATOMS | {str} and not any(map(_text_problem, {x for x in value if type(x) is str})):
            return  # every distinct string (a batch repeats its few keys) is storable
        for i, item in enumerate(value):
            if type(item) not in _ATOMS:
                _scan(item, (*loc, i), errors)


# ---------------------------------------------------------------- artifact keys

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def artifact_key(path: str) -> str:
    """``path`` as a stored artifact key (``a/b.txt``: '/'-separated, ``.`` and empty segments dropped);
    ``ValueError`` if it is absolute (``/etc/x``, ``C:\\x``), climbs out (``..``, also percent-encoded
    as ``%2e%2e``) or holds control characters. The same rule on every write path (run artifacts,
    model files), so a key never escapes the folder it is downloaded into."""
    if _CONTROL.search(path):
        raise ValueError("must not contain control characters")
    posix = path.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        raise ValueError(f"{path!r} is absolute: give a path relative to the run's artifact root")
    parts = [p for p in posix.split("/") if p not in ("", ".")]
    if not parts:
        raise ValueError("must name a file")
    if any(".." in unquote(unquote(p)).replace("\\", "/").split("/") for p in parts):
        raise ValueError(f"{path!r} must not climb out of the artifact root ('..', also percent-encoded)")
    return "/".join(parts)


_SEGMENT = r"[^/\\%.:\x00-\x1f\x7f][^/\\%:\x00-\x1f\x7f]*"
ARTIFACT_KEY_PATTERN = rf"^{_SEGMENT}(?:/{_SEGMENT})*$"
""":func:`artifact_key`'s rule as a pattern for the OpenAPI document, written without look-arounds: portable
keys whose segments do not start with a dot and hold no ``%``, ``:`` or ``\\``. It is a subset of what the
server accepts (so schema-valid input is never refused); fuzzers generate from it quickly, where the exact
rule's look-aheads cost minutes of example generation."""

ArtifactKey = Annotated[str, StringConstraints(min_length=1, max_length=1000), AfterValidator(artifact_key),
                        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 1000,
                                        "pattern": ARTIFACT_KEY_PATTERN})]
"""A relative artifact path (see :func:`artifact_key`)."""


def finite_float(v: Any) -> float | None:
    """``v`` as a finite float; None for None, text that is not a number, NaN and infinities."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
