"""Ids are UUIDv7 hex: opaque, unique, and made-later-sorts-later (new rows go to an index's right edge)."""

from __future__ import annotations

import time
import uuid

from mainsail.core.db import new_id


def test_ids_are_uuid7_and_sort_by_creation_time() -> None:
    first = [new_id() for _ in range(1000)]
    time.sleep(0.003)
    later = new_id()
    assert len(set(first)) == 1000
    assert all(len(i) == 32 and uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in first)
    assert all(i < later for i in first)
    ms = int(later[:12], 16)
    assert abs(ms - time.time_ns() // 1_000_000) < 60_000  # the first 48 bits are the Unix time in ms
