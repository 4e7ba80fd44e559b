"""Cursor pagination: opaque cursors and the ``Page`` envelope every list operation returns."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Annotated, Any, Generic, TypeVar

import orjson
from annotated_types import Ge, Le
from pydantic import BaseModel

from mainsail.core.errors import InvalidInput
from mainsail.core.types import INT64_MAX

Limit = Annotated[int, Ge(1), Le(1000)]
T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of results; pass ``next_cursor`` back as ``cursor`` for the next page. A page behaves as
    the list of its items: ``for item in page``, ``len(page)``, ``page[0]``."""

    items: list[T]
    next_cursor: str | None = None

    def __iter__(self) -> Iterator[T]:  # type: ignore[override]  # pydantic iterates (field, value) pairs
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]


def encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any]:
    """The state inside a cursor; a cursor that was not made by us is a 422 naming ``cursor``."""
    if not cursor:
        return {}
    try:
        state = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(state, dict):
            raise ValueError
        return state
    except Exception:  # noqa: BLE001
        raise InvalidInput("cursor is not a valid pagination cursor",
                           errors=[{"loc": ["query", "cursor"], "msg": "not a valid pagination cursor"}]) from None


def offset_page(items: list[T], offset: int, limit: int) -> Page[T]:
    """Build a page from ``limit + 1`` fetched items starting at ``offset``."""
    more = len(items) > limit
    return Page(items=items[:limit], next_cursor=encode_cursor({"o": offset + limit}) if more else None)


def cursor_offset(cursor: str | None) -> int:
    off = decode_cursor(cursor).get("o", 0)
    if type(off) is not int or not 0 <= off <= INT64_MAX:  # a bool is not an offset; OFFSET is a BIGINT
        raise InvalidInput("cursor is not a valid pagination cursor",
                           errors=[{"loc": ["query", "cursor"], "msg": "not a valid pagination cursor"}])
    return off
