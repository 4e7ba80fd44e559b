"""Redis (the online store) goes down mid-traffic and comes back: pushes and online reads answer 503
problem+json while it is down, resume by themselves, and every acknowledged push is readable after.

The test runs its own redis-server (append-only file, fsync always) on a free port."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from _services import ServerProcess, free_port, require_service
from _suite import record

from mainsail import Client
from mainsail.core.errors import ServiceUnavailable


@pytest.fixture
def private_redis() -> Iterator[tuple[list[str], int]]:
    """(the command that starts it again, its port)."""
    binary = shutil.which("redis-server")
    if not binary:
        require_service("redis-server", "not installed")
    root, port = Path(tempfile.mkdtemp(prefix="mainsail-reliability-redis-")), free_port()
    cmd = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(root), "--save", "",
           "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "yes"]
    subprocess.run(cmd, check=True, capture_output=True)
    _wait_redis(port, up=True)
    try:
        yield cmd, port
    finally:
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _wait_redis(port: int, up: bool, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip()
        if (ok == "PONG") == up:
            return
        time.sleep(0.1)
    raise AssertionError(f"redis on {port} did not come {'up' if up else 'down'}")


def test_redis_down_and_back(private_redis: tuple[list[str], int], tmp_path: Path) -> None:
    cmd, port = private_redis
    srv = ServerProcess(f"sqlite:///{tmp_path / 's.db'}", str(tmp_path / "art"), tmp_path)
    srv.env["MAINSAIL_ONLINE_STORE"] = f"redis://127.0.0.1:{port}/1?prefix=rel"
    srv.start()
    from mainsail.features import Entity, FeatureService, FeatureView

    client = Client(srv.url)
    client.apply_features([Entity(name="customer", join_key="customer_id", type="string"),
                           FeatureView(name="live", entities=["customer"], source="push",
                                       features={"minutes": "float64"}),
                           FeatureService(name="svc", features=["live:minutes"])])
    outcomes: Counter[str] = Counter()
    last_acked: dict[str, float] = {}
    stop = threading.Event()

    def writer(w: int) -> None:
        c = Client(srv.url)
        i = 0
        while not stop.is_set():
            cid, value = f"C{w}", float(i)
            try:
                c.push_features("live", [{"customer_id": cid, "minutes": value,
                                          "event_timestamp": dt.datetime.now(dt.UTC).isoformat()}])
                last_acked[cid] = value
                c.get_online_features([{"customer_id": cid}], service="svc")
                outcomes["ok"] += 1
            except ServiceUnavailable:
                outcomes["503"] += 1
            except Exception as exc:  # noqa: BLE001 - any other error fails the check
                outcomes[f"{type(exc).__name__}: {str(exc)[:60]}"] += 1
            i += 1
            time.sleep(0.02)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(2)
        subprocess.run(["redis-cli", "-p", str(port), "shutdown"], capture_output=True)  # AOF kept
        _wait_redis(port, up=False)
        time.sleep(3)
        down_503 = outcomes["503"]
        subprocess.run(cmd, check=True, capture_output=True)
        _wait_redis(port, up=True)
        back = time.monotonic()
        ok_then = outcomes["ok"]
        while outcomes["ok"] < ok_then + 20 and time.monotonic() - back < 30:
            time.sleep(0.1)
        recovered = time.monotonic() - back
        stop.set()
        for t in threads:
            t.join(30)
        assert last_acked, dict(outcomes)
        online = client.get_online_features([{"customer_id": c} for c in last_acked], service="svc").to_dict()
        values = dict(zip(online["customer_id"], online["minutes"], strict=True))
        lost = sum(1 for c, v in last_acked.items() if values.get(c) != v)
        others = {k: v for k, v in outcomes.items() if k not in ("ok", "503")}
        ok = down_503 > 0 and not others and lost == 0 and outcomes["ok"] >= ok_then + 20
        record("Redis (online store) down 3 s mid-traffic", "sqlite+redis", ok, ok_calls=outcomes["ok"],
               answered_503=outcomes["503"], other_errors=sum(others.values()), lost=lost,
               recovered_s=round(recovered, 1))
        assert down_503 > 0, f"no 503 while Redis was down: {dict(outcomes)}"
        assert not others, others
        assert outcomes["ok"] >= ok_then + 20, "pushes and reads did not resume after Redis came back"
        assert lost == 0, f"{lost} customers' last acknowledged push not readable: {values} vs {last_acked}"
    finally:
        stop.set()
        srv.stop()
