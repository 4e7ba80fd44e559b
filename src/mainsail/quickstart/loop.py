"""Quickstart stage: close the loop. A monitor watches the churn deployment's live inputs, a loop policy
says what to do on drift (retrain with pipeline ``churn-retrain``, gate, canary with a quality guard on
the labels, promote or roll back), and the background services a server runs (event dispatch, the
pipeline executor, the monitor schedule, the loop ticker) run in this process. Then the customers the
traffic sends change (a new market: drift) and the loop closes by itself while the terminal shows each
step with its time since the first drifted request."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.text import Text

from mainsail.quickstart.churn import FEATURES, make_churn
from mainsail.quickstart.features import LABEL
from mainsail.quickstart.pipeline import RETRAIN, retrain_definition
from mainsail.quickstart.serving import DEPLOYMENT, Service

MONITOR = "churn-drift"
POLICY = "churn-retrain"
WINDOW_ROWS = 300  # the monitor compares the last 300 requests with the champion's training data
MONITOR_CRON = "* * * * * */2"  # every 2 seconds (croniter's sixth field: seconds)
LOOP_QUALITY = {"metric": "roc_auc", "source": "labels", "margin": 0.02, "min_labels": 40}
LOOP_STEPS = [20.0, 50.0, 100.0]


@dataclass
class LoopResult:
    run: Any | None  # the loop run (episode), None when nothing was detected in time
    injected_at: float  # time.time() of the first drifted request
    era: int
    seconds: float | None  # first drifted request → promotion or rollback

    @property
    def state(self) -> str:
        return self.run.state if self.run is not None else "not detected"


def records_of(era: int, n: int = 1000, seed: int = 2026) -> tuple[list[dict[str, Any]], list[int]]:
    """Customers of market ``era`` the traffic sends (unseen by training), and their outcomes."""
    df = make_churn(n, seed, era=era)
    return df[FEATURES].to_dict("records"), [int(v) for v in df[LABEL]]


def prepare(client: Any) -> int:
    """Apply the retrain pipeline, create the monitor and the loop policy; the era of the drift to inject
    (one more than the episodes so far, so a rerun drifts further)."""
    from mainsail.core.errors import NotFound

    client.apply_pipeline(retrain_definition())
    try:
        client.get_monitor(MONITOR)
    except NotFound:
        client.create_monitor(MONITOR, deployment=DEPLOYMENT, rows=WINDOW_ROWS, schedule=MONITOR_CRON,
                              description="the churn deployment's live inputs against the champion's training data")
    try:
        era = len(client.list_loop_runs(POLICY, limit=1000).items) + 1
    except NotFound:
        era = 1
    client.create_loop(POLICY, deployment=DEPLOYMENT, pipeline=RETRAIN, params={"era": era, "rows": 3000},
                       candidate_task="register", gate={"auc": ">= 0.7"}, quality=[LOOP_QUALITY], steps=LOOP_STEPS,
                       step_seconds=1.0, min_requests=30, max_error_rate=0.02, cooldown=60.0, retrain_timeout=300.0,
                       description="quickstart: on drift, retrain on fresh data, canary, promote or roll back",
                       replace=True)
    return era


def start_background(client: Any) -> Callable[[], None]:
    """What ``mainsail server`` runs, in this process on the client's embedded runtime: event dispatch,
    a pipeline executor, the monitor schedule and the loop ticker; returns a function stopping them."""
    from mainsail.core.events import Dispatcher
    from mainsail.loops.host import start_background as start_loops
    from mainsail.monitoring.host import start_background as start_monitors
    from mainsail.pipelines.host import start_background as start_pipelines

    runtime = client._backend.runtime
    dispatcher = Dispatcher(runtime, interval=0.25)
    stops = [start_pipelines(runtime, executor=True, scheduler=False, processes=2),
             start_monitors(runtime, interval=0.5), start_loops(runtime, interval=0.5)]
    dispatcher.start()

    def stop() -> None:
        for s in stops:
            s()
        dispatcher.stop()

    return stop


def _line(run: Any | None, injected_at: float, service: Service) -> Group:
    from mainsail.loops.cli import steps_table

    traffic = service.traffic
    assert traffic is not None
    waited = time.time() - injected_at
    if run is None:
        head = Text(f"{waited:5.1f} s since the first drifted request · {traffic.total:,} requests · waiting for "
                    f"monitor {MONITOR} to detect drift (it runs every 2 s over the last {WINDOW_ROWS} requests)")
        return Group(service.view(), head)
    origin = dt.datetime.fromtimestamp(injected_at, dt.UTC)
    return Group(service.view(), steps_table(run, f"loop {run.policy} · {waited:.1f} s since the first drifted "
                                                  f"request (+s: since then) · {run.state}", origin))


def close_the_loop(client: Any, service: Service, console: Any, era: int, timeout: float = 240.0) -> LoopResult:
    """Inject drift (customers of ``era``) into the live traffic and follow the loop run it starts to its
    end: detection, retrain, gate, registration, canary steps, promotion or rollback."""
    traffic = service.traffic
    assert traffic is not None
    known = {r.id for r in client.list_loop_runs(POLICY, limit=1000).items}
    stop = start_background(client)
    run = None
    try:
        records, labels = records_of(era)
        injected = traffic.switch(records, labels)
        deadline = time.monotonic() + timeout
        with Live(_line(None, injected, service), console=console, refresh_per_second=4) as live:
            while time.monotonic() < deadline:
                time.sleep(0.3)
                if run is None or run.state == "running":
                    found = [r for r in client.list_loop_runs(POLICY, limit=5).items if r.id not in known]
                    run = found[-1] if found else None
                live.update(_line(run, injected, service))
                if run is not None and run.state != "running":
                    break
            settle = time.monotonic() + 0.6  # the replica picks up the outcome at its next poll
            while time.monotonic() < settle:
                time.sleep(0.2)
                live.update(_line(run, injected, service))
        if not console.is_terminal:
            console.line()
    finally:
        stop()
    seconds = None
    if run is not None and run.finished_at is not None:
        seconds = run.finished_at.timestamp() - injected
    return LoopResult(run, injected, era, seconds)
