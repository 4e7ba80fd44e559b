"""Windows (epoch-aligned buckets, last N rows, zero-copy split) and the quality checks, without a database."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from mainsail.core.errors import InvalidInput
from mainsail.monitoring import quality, windows

UTC = dt.UTC


def _times(*minutes: float) -> pa.Table:
    base = dt.datetime(2026, 1, 1, tzinfo=UTC)
    return pa.table({"time": pa.array([base + dt.timedelta(minutes=m) for m in minutes], pa.timestamp("us", tz="UTC")),
                     "x": pa.array(range(len(minutes)))})


def test_buckets_are_aligned_complete_and_bounded() -> None:
    every = windows.parse_every("15m")
    start = dt.datetime(2026, 1, 1, 10, 7, tzinfo=UTC)
    ws = windows.buckets(start, dt.datetime(2026, 1, 1, 11, 5, tzinfo=UTC), every)
    assert [w.start.minute for w in ws] == [0, 15, 30, 45] and ws[-1].end.hour == 11  # 11:00-11:15 is not complete
    with pytest.raises(InvalidInput, match="at most 10000"):
        windows.buckets(start - dt.timedelta(days=400), start, windows.parse_every("1m"))
    for bad in ("", "1x", "0s", "400d", "-1h"):
        with pytest.raises(InvalidInput, match="duration|between"):
            windows.parse_every(bad)


def test_split_and_last_rows() -> None:
    t = windows.sort_by_time(_times(70, 5, 65, 10, 130))
    ws = windows.buckets(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, 3, tzinfo=UTC),
                         windows.parse_every("1h"))
    parts = windows.split(t, ws)
    assert [p["x"].to_pylist() for p in parts] == [[1, 3], [2, 0], [4]]
    w, last = windows.last_rows(t, 2, dt.datetime(2026, 1, 1, 2, tzinfo=UTC))
    assert last["x"].to_pylist() == [2, 0] and w.start.minute == 5 and w.start.hour == 1
    w, none = windows.last_rows(t.slice(0, 0), 5, ws[0].end)
    assert none.num_rows == 0 and w.start == w.end


def test_quality_counts_each_problem() -> None:
    ref = pa.table({"amount": pa.array([1.0, 5.0, 10.0, None]), "country": ["fr", "de", "fr", "it"],
                    "age": pa.array([20, 30, 40, 50])})
    prof = quality.profile_reference(ref, ["amount", "country", "age"])
    assert prof["amount"].min == 1.0 and prof["amount"].max == 10.0 and prof["amount"].null_share == 0.25
    cur = pa.table({"amount": pa.array([0.5, 5.0, np.nan, 11.0, None]), "country": ["fr", "zz", "zz", None, "de"],
                    "age": ["20", "x", "y", "z", "w"]})
    got = {(r["feature"], r["test"]): r for r in quality.check_window(prof, cur, ["amount", "country", "age", "gone"])}
    assert got[("amount", "null_share")]["value"] == pytest.approx(0.4)  # None and NaN
    assert got[("amount", "out_of_range")]["value"] == pytest.approx(2 / 3) and got[("amount", "out_of_range")][
        "status"] == "breach"
    assert got[("country", "unseen_categories")]["value"] == pytest.approx(0.5)
    assert got[("age", "type")]["status"] == "breach" and got[("gone", "missing")]["status"] == "breach"
    empty = quality.check_window(prof, cur.slice(0, 0), ["amount", "gone"])
    assert {r["status"] for r in empty} == {"insufficient_data"}
