"""Monitor windows: fixed time buckets aligned to the epoch (``"1h"`` → [10:00, 11:00), [11:00, 12:00) …,
so a rerun over the same time computes the same windows), or the last N rows before a time.

A table of logged records is split into windows by one sort on ``time`` and a binary search per
boundary: each window is a zero-copy slice."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from mainsail.core.errors import InvalidInput

MAX_WINDOWS = 10_000
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_every(text: str, loc: list[str] | None = None) -> dt.timedelta:
    """``"15m"``, ``"1h"``, ``"1d"`` as a timedelta (at least one second, at most 366 days)."""
    m = _DURATION.match(text or "")
    if not m:
        raise InvalidInput(f"window every {text!r} is not a duration: use a number with s, m, h, d or w, "
                           "e.g. '1h'", errors=[{"loc": loc or ["window", "every"], "msg": "not a duration"}])
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if not 1 <= seconds <= 366 * 86400:
        raise InvalidInput(f"window every {text!r} must be between 1s and 366d",
                           errors=[{"loc": loc or ["window", "every"], "msg": "out of range"}])
    return dt.timedelta(seconds=seconds)


def floor(t: dt.datetime, every: dt.timedelta) -> dt.datetime:
    """The start of the bucket holding ``t``."""
    step = int(every.total_seconds() * 1_000_000)
    us = int((t - EPOCH) / dt.timedelta(microseconds=1))
    return EPOCH + dt.timedelta(microseconds=us - us % step)


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime


def buckets(start: dt.datetime, end: dt.datetime, every: dt.timedelta) -> list[Window]:
    """The complete buckets from ``start``'s bucket up to ``end`` (a bucket ending after ``end`` is left
    for a later run)."""
    s = floor(start, every)
    n = int((end - s) / every)
    if n > MAX_WINDOWS:
        raise InvalidInput(f"{n} windows of {every} between {start.isoformat()} and {end.isoformat()}: at most "
                           f"{MAX_WINDOWS} per run; give a later start", code="too_many_windows",
                           errors=[{"loc": ["body", "start"], "msg": "too many windows"}])
    return [Window(s + i * every, s + (i + 1) * every) for i in range(max(n, 0))]


def _micros(table: pa.Table) -> np.ndarray:
    col = table["time"]
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr.cast(pa.int64()).to_numpy(zero_copy_only=False)


def sort_by_time(table: pa.Table) -> pa.Table:
    """``table`` ordered by ``time`` (left as it is when it already is)."""
    if table.num_rows < 2:
        return table
    t = _micros(table)
    if bool(np.all(t[1:] >= t[:-1])):
        return table
    return table.take(pa.array(np.argsort(t, kind="stable")))


def split(table: pa.Table, windows: list[Window]) -> list[pa.Table]:
    """Each window's rows of a table sorted by ``time`` (zero-copy slices)."""
    t = _micros(table) if table.num_rows else np.zeros(0, np.int64)
    out = []
    for w in windows:
        lo = int(np.searchsorted(t, _us(w.start), "left"))
        hi = int(np.searchsorted(t, _us(w.end), "left"))
        out.append(table.slice(lo, hi - lo))
    return out


def last_rows(table: pa.Table, rows: int, end: dt.datetime) -> tuple[Window, pa.Table]:
    """The last ``rows`` rows before ``end`` of a table sorted by ``time``, and their window."""
    t = _micros(table) if table.num_rows else np.zeros(0, np.int64)
    hi = int(np.searchsorted(t, _us(end), "left"))
    lo = max(0, hi - rows)
    start = EPOCH + dt.timedelta(microseconds=int(t[lo])) if hi > lo else end
    return Window(start, end), table.slice(lo, hi - lo)


def _us(t: dt.datetime) -> int:
    return int((t - EPOCH) / dt.timedelta(microseconds=1))
