"""Quickstart stage: serve the champion from an in-process replica, send simulated traffic (and, as the
customers' outcomes become known, their labels), canary a candidate through 20 → 50 → 100 % of it with
a quality guard (its live ROC AUC from those labels may not be worse than the champion's by more than
a margin) and watch the rollout promote or roll back live; promotion hands it stage production and
alias champion."""

from __future__ import annotations

import datetime as dt
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from mainsail.cli.common import count
from mainsail.quickstart.register import MODEL_NAME

DEPLOYMENT = "churn"
STEPS = [20.0, 50.0, 100.0]
QUALITY = {"metric": "roc_auc", "source": "labels", "margin": 0.05, "min_labels": 60}
GUARDS = {"max_error_rate": 0.02, "max_p95_ms": 1000.0, "min_requests": 30, "quality": [QUALITY]}
STEP_SECONDS = 1.0
CLIENTS = 4  # concurrent simulated clients
LABEL_INTERVAL = 1.0  # seconds between label pushes (the outcomes of the requests answered meanwhile)


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
    """``CLIENTS`` threads posting one customer record at a time to ``/predict`` with a request id, and a
    thread pushing each answered request's true outcome as its label (ground truth arriving shortly
    after the prediction). :meth:`switch` changes the customers sent (the quickstart injects drift so)."""

    def __init__(self, url: str, records: list[dict[str, Any]], labels: list[int], client: Any | None = None,
                 deployment: str = DEPLOYMENT):
        self.url = url
        self.records, self.labels = records, labels
        self.client, self.deployment = client, deployment
        self.tallies: dict[tuple[str, int | None], Tally] = {}
        self.failures = 0
        self.labeled = 0
        self.switched_at: float | None = None  # time.time() of the switch (the first drifted request)
        self._pending: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(i,), daemon=True, name=f"quickstart-traffic-{i}")
                         for i in range(CLIENTS)]
        if client is not None:
            self._threads.append(threading.Thread(target=self._push_labels, daemon=True, name="quickstart-labels"))

    def switch(self, records: list[dict[str, Any]], labels: list[int]) -> float:
        """Send these customers from now on; returns the time of the switch."""
        with self._lock:
            self.records, self.labels = records, labels
            self.switched_at = time.time()
        return self.switched_at

    def _count(self, key: tuple[str, int | None], ms: float, error: bool, label: tuple[str, int] | None) -> None:
        with self._lock:
            t = self.tallies.setdefault(key, Tally())
            t.requests += 1
            t.errors += error
            t.latencies.append(ms)
            if label is not None:
                self._pending.append(label)

    def _send(self, seed: int) -> None:
        import httpx

        rng = random.Random(seed)
        with httpx.Client(base_url=self.url, timeout=10) as http:
            while not self._stop.is_set():
                with self._lock:
                    records, labels = self.records, self.labels
                i = rng.randrange(len(records))
                rid = uuid.uuid4().hex
                start = time.perf_counter()
                try:
                    resp = http.post("/predict", json={"records": [records[i]], "request_id": rid})
                except httpx.HTTPError:
                    self.failures += 1
                    time.sleep(0.05)
                    continue
                ms = (time.perf_counter() - start) * 1000
                variant = resp.headers.get("x-mainsail-variant", "?")
                ok = resp.status_code == 200
                version = resp.json().get("version") if ok else None
                self._count((variant, version), ms, resp.status_code >= 500, (rid, labels[i]) if ok else None)

    def _push_labels(self) -> None:
        while not self._stop.wait(LABEL_INTERVAL):
            self.flush_labels()

    def flush_labels(self) -> None:
        """Push the labels of the requests answered since the last push."""
        with self._lock:
            batch, self._pending = self._pending, []
        if batch and self.client is not None:
            try:
                self.client.push_labels(self.deployment, dict(batch))
                self.labeled += len(batch)
            except Exception:  # noqa: BLE001 - a demo's label feed retries with the next batch
                with self._lock:
                    self._pending = batch + self._pending

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
    quality: list[dict[str, Any]] = field(default_factory=list)  # the quality guard's last readings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


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
                             f"{count(r.stats.errors, 'error')}, p95 {p95}" + "".join(
                                 f" · {q.metric}: candidate {_num(q.candidate)} ({q.candidate_n} labeled) vs champion "
                                 f"{_num(q.champion)} ({q.champion_n})" for q in r.stats.quality)
                             + (f" · {r.reason}" if r.reason else ""))
    return Group(table, line)


class Service:
    """The champion served from a replica in this process (uvicorn on a free port) with :class:`Traffic`
    and its labels flowing; :meth:`stop` stops the traffic and the replica (which flushes its logs)."""

    def __init__(self, client: Any, records: list[dict[str, Any]], labels: list[int]):
        self.client, self.records, self.labels = client, records, labels
        self.since = dt.datetime.now(dt.UTC)
        self.begun = time.perf_counter()
        self.traffic: Traffic | None = None
        self.champion: int | None = None

    def start(self) -> Service:
        import uvicorn

        from mainsail.core.errors import NotFound
        from mainsail.serving.app import create_replica_app
        from mainsail.serving.replica import ReplicaState

        client = self.client
        try:
            d = client.get_deployment(DEPLOYMENT)
            if d.rollout is not None and d.rollout.state == "running":  # left by an interrupted quickstart
                client.rollback_deployment(DEPLOYMENT, reason="quickstart restarted")
        except NotFound:
            client.create_deployment(DEPLOYMENT, f"models:/{MODEL_NAME}@champion",
                                     description="churn champion, deployed by mainsail quickstart")
        self.state = ReplicaState(client, DEPLOYMENT, poll_interval=0.5, log_interval=1.0).start()
        self.champion = next(iter(self.state.routing.variants.values())).version
        port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_replica_app(self.state), host="127.0.0.1", port=port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="quickstart-replica")
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.server.started:
            self.stop()
            raise RuntimeError(f"the replica did not start on port {port}")
        self.url = f"http://127.0.0.1:{port}"
        self.traffic = Traffic(self.url, self.records, self.labels, client).start()
        return self

    def view(self) -> Group:
        assert self.traffic is not None
        return _view(self.client.get_deployment(DEPLOYMENT), self.traffic, self.begun)

    def stop(self) -> None:
        if self.traffic is not None:
            self.traffic.stop()
            self.traffic.flush_labels()
        self.state.stop()  # flushes the inference logs, last heartbeat
        self.server.should_exit = True
        self.thread.join(10)

    def logs(self) -> tuple[int, int]:
        """Inference-log files and rows written since the service started."""
        logs = self.client.list_inference_logs(DEPLOYMENT, since=self.since)
        return len(logs), sum(f.rows for f in logs)


def serve_and_canary(client: Any, challenger_version: int, service: Service, console: Any,
                     warmup: float = 1.0, timeout: float = 90.0) -> ServeResult:
    """Canary ``challenger_version`` against the champion ``service`` serves, with :data:`GUARDS` (a
    quality guard on the live ROC AUC from the pushed labels among them), and follow the rollout live
    to its end (rolled back if undecided after ``timeout`` seconds)."""
    traffic = service.traffic
    assert traffic is not None
    begun = time.perf_counter()
    with Live(service.view(), console=console, refresh_per_second=8) as live:
        end_warmup = time.monotonic() + warmup
        while time.monotonic() < end_warmup:
            time.sleep(0.2)
            live.update(service.view())
        d = client.start_rollout(DEPLOYMENT, f"models:/{MODEL_NAME}/{challenger_version}", steps=STEPS,
                                 step_seconds=STEP_SECONDS, reason="quickstart: canary of the best candidate",
                                 **GUARDS)
        deadline = time.monotonic() + timeout
        while d.rollout is not None and d.rollout.state == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
            d = client.get_deployment(DEPLOYMENT)
            live.update(_view(d, traffic, service.begun))
        if d.rollout is not None and d.rollout.state == "running":
            d = client.rollback_deployment(DEPLOYMENT, reason=f"quickstart: no decision within {timeout:g} s")
        rollout = d.rollout
        settle = time.monotonic() + 0.6  # the replica picks up the outcome at its next poll
        while time.monotonic() < settle:
            time.sleep(0.2)
            live.update(service.view())
    if not console.is_terminal:
        console.line()  # rich leaves the last render of a non-terminal Live without a line end
    champion_now = client.get_deployment(DEPLOYMENT).variants[0].version
    assert rollout is not None
    return ServeResult(service.url, service.champion or 0, challenger_version, rollout.state, rollout.reason,
                       traffic.total, traffic.errors, 0, 0, time.perf_counter() - begun, champion_now,
                       [q.model_dump() for q in rollout.stats.quality])
