"""Metric points written by PostgreSQL ``COPY`` are stored exactly as ``executemany`` stored them."""

from __future__ import annotations

import math
import struct

import psycopg
import pytest

from mainsail import Client
from mainsail.tracking import bulk

SPECIAL = [0.0, -0.0, 1.5, -2.25, 1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan, 3, 1 / 3]
STEPS = [0, 1, -1, 2**31, -(2**31) - 1, 2**62, 2**63 - 1, -(2**63), 7, 8, 9, 10]


def _stored(pg_url: str, run_id: str) -> list[tuple[str, bytes, int, bytes]]:
    """Raw rows as stored, doubles compared bit for bit (NaN equals NaN, -0.0 differs from 0.0)."""
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as con:
        rows = con.execute("SELECT key, value, step, timestamp FROM run_metrics WHERE run_id = %s ORDER BY id",
                           (run_id,)).fetchall()
    return [(k, struct.pack(">d", v), s, struct.pack(">d", t)) for k, v, s, t in rows]


def test_copy_stores_what_executemany_stored(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    c = Client(pg_url)
    exp = c.create_experiment("copy").id
    points = [(f"k{i % 3}", v, s, 1_700_000_000.123 + i) for i, (v, s) in enumerate(zip(SPECIAL, STEPS, strict=True))]
    copied = c.create_run(exp)
    c.log_batch(copied.id, points)  # 12 rows: the COPY path
    monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 10**9)
    inserted = c.create_run(exp)
    c.log_batch(inserted.id, points)  # the executemany path
    monkeypatch.undo()
    assert len(points) >= bulk.COPY_MIN_ROWS
    got, want = _stored(pg_url, copied.id), _stored(pg_url, inserted.id)
    assert got == want and len(got) == len(points)
    hist = c.get_metric_history(copied.id, "k0")
    assert hist.step == sorted(s for (k, _, s, _) in points if k == "k0")
    assert c.get_run(copied.id).metrics == c.get_run(inserted.id).metrics
    c.close()


@pytest.mark.parametrize("keys", [["loss"], ["abcd", "x:yz"], ["a", "loss", "val/acc"]],
                         ids=["one-key", "same-byte-length", "mixed-lengths"])
def test_column_built_copy_matches_the_row_path(pg_url: str, keys: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream built with numpy in pieces (one record layout) and psycopg's row-by-row stream store the
    same rows, in the same order; rows that do not fit one layout take the row path."""
    points = [(keys[i % len(keys)], SPECIAL[i % len(SPECIAL)], STEPS[i % len(STEPS)], 1_700_000_000.5 + i)
              for i in range(40)]
    rows = [("r" * 32, k, float(v), s, t) for k, v, s, t in points]
    assert (bulk._layout(rows, set(keys)) is None) == (len({len(k.encode()) for k in keys}) > 1)
    monkeypatch.setattr(bulk, "COPY_CHUNK", 16)  # 40 rows: three pieces
    c = Client(pg_url)
    exp = c.create_experiment(f"copy-{len(keys)}-{len(keys[0])}").id
    block = c.create_run(exp)
    c.log_batch(block.id, points)
    monkeypatch.setattr(bulk, "_layout", lambda rows, keys: None)
    by_row = c.create_run(exp)
    c.log_batch(by_row.id, points)
    monkeypatch.undo()
    got, want = _stored(pg_url, block.id), _stored(pg_url, by_row.id)
    assert got == want and len(got) == len(points)
    assert c.get_run(block.id).metrics == c.get_run(by_row.id).metrics
    c.close()


def test_a_piece_that_does_not_fit_hands_the_rest_to_the_row_path(pg_url: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """When a later piece cannot be built column-wise, the pieces already sent stay and psycopg writes the
    remaining rows (and the stream's end): every point is stored once, in logging order."""
    points = [("loss", SPECIAL[i % len(SPECIAL)], i, 1_700_000_000.5 + i) for i in range(50)]
    built = bulk._records
    calls: list[int] = []

    def second_piece_fails(rows: list, layout: object, key: bytes | None) -> bytes | None:
        calls.append(len(rows))
        return None if len(calls) == 2 else built(rows, layout, key)

    monkeypatch.setattr(bulk, "COPY_CHUNK", 16)
    monkeypatch.setattr(bulk, "_records", second_piece_fails)
    c = Client(pg_url)
    exp = c.create_experiment("copy-fallback").id
    run = c.create_run(exp)
    c.log_batch(run.id, points)
    assert calls == [16, 16]  # the first piece went column-wise, the rest row by row
    stored = _stored(pg_url, run.id)
    assert [s for _, _, s, _ in stored] == list(range(50))
    assert [v for _, v, _, _ in stored] == [struct.pack(">d", float(v)) for _, v, _, _ in points]
    assert c.get_metric_history(run.id, "loss").step == list(range(50))
    c.close()
