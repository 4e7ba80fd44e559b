"""Bounded scalar types for every domain's schemas and service signatures.

Values a user sends must fit what the databases store: integers in a signed 64-bit column, datetimes
that still exist once converted to UTC (``0001-01-01T00:00:00+01:00`` does not). Checking them in
the pydantic types turns a value that would overflow at the driver into a 422 naming the field, the
same on the embedded and the HTTP client."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from annotated_types import Ge, Le
from pydantic import AfterValidator

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Int64 = Annotated[int, Ge(INT64_MIN), Le(INT64_MAX)]
"""An integer that fits a BIGINT column."""

PositiveInt64 = Annotated[int, Ge(1), Le(INT64_MAX)]
"""A positive integer that fits a BIGINT column (version numbers, counts)."""


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
