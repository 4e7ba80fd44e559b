"""Benchmark helpers: scratch targets are the benchmark's own, and rounds interleave every case."""

from __future__ import annotations

import contextlib
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import _common  # noqa: E402


def test_rounds_interleave_and_rotate() -> None:
    calls: list[str] = []
    out = _common.rounds({k: (lambda k=k: calls.append(k) or len(calls)) for k in "abc"}, 1)
    assert [len(v) for v in out.values()] == [3, 3, 3]  # at least 3 rounds even when asked for 1
    assert calls == list("abc" "bca" "cab")
    s = _common.ratio_spread([2.0, 4.0, 6.0], [1.0, 1.0, 2.0])
    assert (s["min"], s["median"], s["max"]) == (2.0, 3.0, 4.0)
    assert "load average" in _common.load_line()


def test_scratch_redis_deletes_only_its_own_prefix() -> None:
    redis = pytest.importorskip("redis")
    other = f"mainsail-test-sentinel:{uuid.uuid4().hex}"
    try:
        with _common.scratch_redis() as (r, url, prefix):
            assert not url.endswith("/0"), "benchmarks must not use Redis db 0"
            r.set(other, "keep")
            for i in range(5):
                r.set(f"{prefix}k{i}", i)
        r2 = redis.Redis.from_url(url)
        assert r2.get(other) == b"keep"
        assert not list(r2.scan_iter(f"{prefix}*"))
    except redis.ConnectionError:
        pytest.skip("Redis not reachable")
    finally:
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(_common.BENCH_REDIS).delete(other)


def test_scratch_postgres_creates_and_drops_its_database() -> None:
    psycopg = pytest.importorskip("psycopg")
    try:
        with _common.scratch_postgres() as dsn:
            name = dsn.rsplit("/", 1)[1]
            assert name.startswith("mainsail_bench_")
            with psycopg.connect(dsn) as con:
                con.execute("CREATE TABLE t (x int)")
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL not reachable")
    with psycopg.connect(_common.BENCH_PG_ADMIN) as con:
        assert con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None
