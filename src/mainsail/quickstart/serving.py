"""Quickstart stage: serve the champion from an in-process replica, send simulated traffic, canary a
better candidate through 10 → 50 → 100 % of it and watch the rollout promote (or roll back) live;
promotion hands it stage production and alias champion."""

from __future__ import annotations

import datetime as dt
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from mainsail.cli.common import count
from mainsail.quickstart.register import MODEL_NAME

DEPLOYMENT = "churn"
STEPS = [10.0, 50.0, 100.0]
GUARDS = {"max_error_rate": 0.02, "max_p95_ms": 250.0, "min_requests": 30}
STEP_SECONDS = 1.0
CLIENTS = 4  # concurrent simulated clients


@dataclass
class Tally:
    """Requests one (variant, version) answered, as the clients saw them."""

    requests: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def p95(self) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies[-2000:])
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


class Traffic:
    """``CLIENTS`` threads posting one customer record at a time to ``/predict``."""

    def __init__(self, url: str, records: list[dict[str, Any]]):
        self.url = url
        self.records = records
        self.tallies: dict[tuple[str, int | None], Tally] = {}
        self.failures = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(i,), daemon=True, name=f"quickstart-traffic-{i}")
                         for i in range(CLIENTS)]

    def _count(self, key: tuple[str, int | None], ms: float, error: bool) -> None:
        with self._lock:
            t = self.tallies.setdefault(key, Tally())
            t.requests += 1
            t.errors += error
            t.latencies.append(ms)

    def _send(self, seed: int) -> None:
        import httpx

        rng = random.Random(seed)
        with httpx.Client(base_url=self.url, timeout=10) as http:
            while not self._stop.is_set():
                record = self.records[rng.randrange(len(self.records))]
                start = time.perf_counter()
                try:
                    resp = http.post("/predict", json={"records": [record]})
                except httpx.HTTPError:
                    self.failures += 1
                    time.sleep(0.05)
                    continue
                ms = (time.perf_counter() - start) * 1000
                variant = resp.headers.get("x-mainsail-variant", "?")
                version = resp.json().get("version") if resp.status_code == 200 else None
                self._count((variant, version), ms, resp.status_code >= 500)

    def start(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)

    @property
    def total(self) -> int:
        return sum(t.requests for t in self.tallies.values())

    @property
    def errors(self) -> int:
        return sum(t.errors for t in self.tallies.values()) + self.failures


@dataclass
class ServeResult:
    url: str
    champion: int
    candidate: int
    state: str  # promoted | rolled_back | running (timed out, then rolled back by the quickstart)
    reason: str | None
    requests: int
    errors: int
    log_files: int
    log_rows: int
    seconds: float
    champion_now: int | None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _view(d: Any, traffic: Traffic, started: float) -> Group:
    """The deployment's variants and weights with what the clients measured, and the rollout's step."""
    total = sum(v.weight for v in d.variants if v.role == "primary") or 1.0
    table = Table("variant", "model", "weight", "requests", "errors", "p95 ms", title_justify="left",
                  title=f"deployment {d.name} · {count(traffic.total, 'request')} · {time.perf_counter() - started:.1f} s")
    shown: set[tuple[str, int | None]] = set()
    for v in d.variants:
        key = (v.name, v.version)
        shown.add(key)
        t = traffic.tallies.get(key, Tally())
        table.add_row(v.name, f"{v.model_name} v{v.version}", f"{v.weight / total:.0%}", f"{t.requests:,}",
                      str(t.errors), "—" if t.p95 is None else f"{t.p95:.1f}")
    for (name, version), t in sorted(traffic.tallies.items(), key=lambda kv: str(kv[0])):
        if (name, version) not in shown:  # a variant that served earlier (before a step or the promotion)
            table.add_row(Text(name, style="dim"), Text(f"{MODEL_NAME} v{version}", style="dim"), Text("—", style="dim"),
                          f"{t.requests:,}", str(t.errors), "—" if t.p95 is None else f"{t.p95:.1f}")
    r = d.rollout
    if r is None:
        line = Text("no rollout yet: the champion takes all traffic")
    else:
        style = {"running": "bold yellow", "promoted": "bold green", "rolled_back": "bold red"}.get(r.state, "")
        p95 = "—" if r.stats.p95_ms is None else f"{r.stats.p95_ms:g} ms"
        line = Text.assemble(("rollout ", ""), (r.state, style),
                             f" · candidate {r.candidate} · step {r.step_index + 1}/{len(r.steps)} "
                             f"({r.steps[r.step_index]:g}%) · this step: {count(r.stats.requests, 'request')}, "
                             f"{count(r.stats.errors, 'error')}, p95 {p95}" + (f" · {r.reason}" if r.reason else ""))
    return Group(table, line)


def serve_and_canary(client: Any, challenger_version: int, records: list[dict[str, Any]], console: Any,
                     warmup: float = 1.0, timeout: float = 30.0) -> ServeResult:
    """Deploy ``models:/churn@champion``, serve it from a replica in this process, send traffic, canary
    ``challenger_version`` and follow the rollout to its end; stop the replica (which flushes its inference
    logs) and count the logs written."""
    import uvicorn

    from mainsail.core.errors import NotFound
    from mainsail.serving.app import create_replica_app
    from mainsail.serving.replica import ReplicaState

    begun = time.perf_counter()
    since = dt.datetime.now(dt.UTC)
    try:
        d = client.get_deployment(DEPLOYMENT)
        if d.rollout is not None and d.rollout.state == "running":  # left by an interrupted quickstart
            client.rollback_deployment(DEPLOYMENT, reason="quickstart restarted")
    except NotFound:
        client.create_deployment(DEPLOYMENT, f"models:/{MODEL_NAME}@champion",
                                 description="churn champion, deployed by mainsail quickstart")
    state = ReplicaState(client, DEPLOYMENT, poll_interval=0.5, log_interval=1.0).start()
    champion = next(iter(state.routing.variants.values())).version
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_replica_app(state), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True, name="quickstart-replica")
    thread.start()
    traffic: Traffic | None = None
    try:
        deadline = time.monotonic() + 15
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not server.started:
            raise RuntimeError(f"the replica did not start on port {port}")
        url = f"http://127.0.0.1:{port}"
        traffic = Traffic(url, records).start()
        with Live(_view(client.get_deployment(DEPLOYMENT), traffic, begun), console=console,
                  refresh_per_second=8) as live:
            end_warmup = time.monotonic() + warmup
            while time.monotonic() < end_warmup:
                time.sleep(0.2)
                live.update(_view(client.get_deployment(DEPLOYMENT), traffic, begun))
            d = client.start_rollout(DEPLOYMENT, f"models:/{MODEL_NAME}/{challenger_version}", steps=STEPS,
                                     step_seconds=STEP_SECONDS, reason="quickstart: canary of the better candidate",
                                     **GUARDS)
            deadline = time.monotonic() + timeout
            while d.rollout is not None and d.rollout.state == "running" and time.monotonic() < deadline:
                time.sleep(0.2)
                d = client.get_deployment(DEPLOYMENT)
                live.update(_view(d, traffic, begun))
            if d.rollout is not None and d.rollout.state == "running":
                d = client.rollback_deployment(DEPLOYMENT, reason=f"quickstart: no decision within {timeout:g} s")
            rollout = d.rollout
            settle = time.monotonic() + 0.6  # the replica picks up the outcome at its next poll
            while time.monotonic() < settle:
                time.sleep(0.2)
                live.update(_view(client.get_deployment(DEPLOYMENT), traffic, begun))
            traffic.stop()
            live.update(_view(client.get_deployment(DEPLOYMENT), traffic, begun))
        if not console.is_terminal:
            console.line()  # rich leaves the last render of a non-terminal Live without a line end
    finally:
        if traffic is not None:
            traffic.stop()
        state.stop()  # flushes the inference logs, last heartbeat
        server.should_exit = True
        thread.join(10)
    logs = client.list_inference_logs(DEPLOYMENT, since=since)
    champion_now = client.get_deployment(DEPLOYMENT).variants[0].version
    assert rollout is not None
    return ServeResult(url, champion or 0, challenger_version, rollout.state, rollout.reason, traffic.total,
                       traffic.errors, len(logs), sum(f.rows for f in logs), time.perf_counter() - begun, champion_now)
