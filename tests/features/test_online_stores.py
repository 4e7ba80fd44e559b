"""Online stores over SQLite and a real Redis (127.0.0.1:6379, a key prefix per test): reads,
upserts that never go back in time, and a materialization killed midway then rerun."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mainsail import Client
from mainsail.features.online import open_store
from mainsail.features.schemas import Entity, FeatureView

REDIS = os.environ.get("MAINSAIL_TEST_REDIS", "redis://127.0.0.1:6379/0")
T0 = pd.Timestamp("2026-01-01")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """``redis://…?prefix=t_<random>:``; the prefix's keys are deleted afterwards."""
    try:
        import redis
    except ImportError as exc:
        pytest.skip(f"redis client not installed: {exc}")
    r = redis.Redis.from_url(REDIS, socket_connect_timeout=2)
    try:
        r.ping()
    except redis.RedisError as exc:
        from _services import require_service

        require_service("Redis at 127.0.0.1:6379", str(exc))
    prefix = f"t_{uuid.uuid4().hex[:12]}:"
    yield f"{REDIS}?prefix={prefix}"
    keys = list(r.scan_iter(f"{prefix}*", count=1000))
    for i in range(0, len(keys), 1000):
        r.delete(*keys[i:i + 1000])
    r.close()


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'online.sqlite'}"
    return request.getfixturevalue("redis_url")


def test_store_upserts_never_go_back_in_time(store_url: str) -> None:
    store = open_store(store_url)
    assert store.write("v", [("a", 100, {"x": 1.0, "s": "one"}), ("b", 100, {"x": 2.0, "s": None})]) == 2
    assert store.read("v", ["a", "b", "zz"], ["x", "s"]) == [[1.0, "one"], [2.0, None], None]
    store.write("v", [("a", 50, {"x": -1.0, "s": "old"})])       # older: ignored
    store.write("v", [("b", 100, {"x": 2.5, "s": "same-time"})])  # same time: replaced (a rerun is a no-op)
    store.write("v", [("a", 200, {"x": 3.0, "s": "new"})])
    assert store.read("v", ["a", "b"], ["s", "x"]) == [["new", 3.0], ["same-time", 2.5]]
    assert store.read("other", ["a"], ["x"]) == [None]  # views do not share records
    store.close()


def _setup(c: Client, n: int) -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"user_id": np.arange(n) % (n // 2),
                       "event_timestamp": T0 + pd.to_timedelta(rng.integers(0, 86400 * 10, n), unit="s"),
                       "clicks": rng.integers(0, 100, n), "score": rng.random(n)})
    c.ingest_dataset(df, "clicks", profile=False)
    user = Entity(name="user", join_key="user_id", type="int64")
    c.apply_features([user, FeatureView(name="user_clicks", entities=[user], features={"clicks": "int64",
                                                                                       "score": "float64"},
                                        source="dataset:clicks")])


def test_redis_end_to_end(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINSAIL_ONLINE_STORE", redis_url)
    c = Client(f"sqlite:///{tmp_path / 'meta.db'}")
    _setup(c, 2000)
    m = c.materialize_features(end="2026-02-01")
    assert m.views[0].rows == 1000
    expect = c.get_historical_features(pd.DataFrame({"user_id": [0, 1, 999], "event_timestamp": [T0 + pd.Timedelta(days=30)] * 3}),
                                       ["user_clicks:clicks", "user_clicks:score"])
    got = c.get_online_features([{"user_id": 0}, {"user_id": 1}, {"user_id": 999}, {"user_id": 5000}],
                                ["user_clicks:clicks", "user_clicks:score"])
    assert got.columns["clicks"][:3] == expect["clicks"].tolist() and got.columns["clicks"][3] is None
    assert got.columns["score"][:3] == pytest.approx(expect["score"].tolist())
    c.push_features("user_clicks", [{"user_id": 0, "event_timestamp": "2026-03-01T00:00:00Z", "clicks": 7,
                                     "score": 0.5}])
    assert c.get_online_features([{"user_id": "0"}], ["user_clicks:clicks"]).columns["clicks"] == [7]
    c.close()


_CHILD = """
import sys
from mainsail import Client
Client(sys.argv[1]).materialize_features(end="2026-02-01")
"""


def _online_rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT view, key, ts, vals FROM online_features"))


def test_killed_materialization_reruns_to_the_same_state(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'meta.db'}"
    c = Client(uri)
    n = 400_000
    _setup(c, n)
    online = tmp_path / "meta.db.online"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, uri])
    deadline = time.monotonic() + 120
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:  # kill once some rows are in, before the end
        if online.exists():
            try:
                with sqlite3.connect(online, timeout=0.1) as conn:
                    count = conn.execute("SELECT count(*) FROM online_features").fetchone()[0]
            except sqlite3.OperationalError:
                count = 0
            if 0 < count < n // 2:
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
        time.sleep(0.01)
    assert proc.wait(60) == -signal.SIGKILL and killed, "the materialization was not killed midway"
    assert c.feature_view_stats("user_clicks").materialized_until is None  # the watermark is written last
    c.materialize_features(end="2026-02-01")
    after_rerun = _online_rows(online)
    assert len(after_rerun) == n // 2
    # a clean run elsewhere ends in the same state
    other = tmp_path / "clean"
    c2 = Client(f"sqlite:///{other / 'meta.db'}")
    _setup(c2, n)
    c2.materialize_features(end="2026-02-01")
    assert _online_rows(other / "meta.db.online") == after_rerun
    assert c.feature_view_stats("user_clicks").materialized_until is not None
