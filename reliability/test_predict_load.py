"""``/predict`` at the highest sustained rate of 8 clients while rollouts advance, promote and roll back
over and over: not one request fails."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from _services import ServerProcess
from _suite import SECONDS, record

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "serving"))
from _serving_support import ReplicaProcess, churn_data, register  # noqa: E402
from sklearn.dummy import DummyClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from mainsail import Client  # noqa: E402


def _cycle(client: Client, n: int, current: int) -> tuple[str, int]:
    """One rollout of the version not serving: even cycles go to 100 % and promote, odd ones roll back at
    50 %. Returns the outcome and the version serving after it."""
    candidate = 2 if current == 1 else 1
    client.start_rollout("api", f"models:/churn/{candidate}", steps=[25, 50, 100], step_seconds=0.5,
                         min_requests=5, reason=f"cycle {n}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.3)
        d = client.tick_rollout("api")
        if d.rollout is None or d.rollout.state != "running":
            return (d.rollout.state if d.rollout else "none"), candidate if d.rollout and \
                d.rollout.state == "promoted" else current
        if n % 2 and d.rollout.step_index >= 1:
            client.rollback_deployment("api", reason=f"cycle {n}: planned rollback")
            return "rolled_back", current
    raise AssertionError(f"rollout of cycle {n} did not finish in 60 s")


def test_predict_under_load_while_rollouts_advance_and_roll_back(tmp_path: Path) -> None:
    srv = ServerProcess(f"sqlite:///{tmp_path / 's.db'}", str(tmp_path / "art"), tmp_path).start()
    client = Client(srv.url)
    x, y = churn_data()
    register(client, tmp_path, LogisticRegression().fit(x.to_numpy(), y))
    register(client, tmp_path, DummyClassifier(strategy="constant", constant=1).fit(x.to_numpy(), y))
    client.set_model_alias("churn", "champion", 1)
    client.create_deployment("api", "models:/churn@champion")
    rep = ReplicaProcess(srv.url, "api", tmp_path).start()
    record_ = x.head(1).to_dict("records")
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    stop = threading.Event()

    def hammer(i: int) -> None:
        with httpx.Client(base_url=rep.url, timeout=30) as http:
            k = 0
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    r = http.post("/predict", json={"records": record_, "key": f"user-{i}-{k}"})
                    statuses[r.status_code] += 1
                except httpx.HTTPError as exc:
                    statuses[-1] += 1
                    print("transport error", exc)
                latencies.append(time.perf_counter() - t0)
                k += 1

    outcomes: Counter[str] = Counter()
    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    started = time.monotonic()
    try:
        for t in threads:
            t.start()
        current, n = 1, 0
        while time.monotonic() - started < SECONDS:
            outcome, current = _cycle(client, n, current)
            outcomes[outcome] += 1
            n += 1
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        rep.stop()
        srv.stop()
    took = time.monotonic() - started
    total = sum(statuses.values())
    failed = total - statuses[200]
    p99 = float(np.percentile(latencies, 99) * 1000) if latencies else float("nan")
    ok = failed == 0 and outcomes["promoted"] > 0 and outcomes["rolled_back"] > 0
    record("/predict under load, rollouts advancing and rolling back", "sqlite", ok, seconds=round(took, 1),
           requests=total, req_per_s=round(total / took, 1), failed=failed, p99_ms=round(p99, 1),
           promoted=outcomes["promoted"], rolled_back=outcomes["rolled_back"])
    assert failed == 0, dict(statuses)
    assert outcomes["promoted"] > 0 and outcomes["rolled_back"] > 0, dict(outcomes)
