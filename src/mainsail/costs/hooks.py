"""What other domains call to record the usage they measured, each from a few lines of their own:

- a pipeline pool process measures each task with a :class:`~mainsail.costs.meter.Meter`
  (``pipelines/child.py``); the worker stores the measurements in the transaction that records the
  task's outcome (:func:`record_tasks`);
- a tracked run's end (``tracking/service.py``) stores its wall time and, when the SDK measured the
  process that ran it, its CPU seconds and peak memory (:func:`run_ended`);
- a model-server replica reports its process's usage and the requests it served every
  ``MAINSAIL_USAGE_INTERVAL`` seconds (:class:`ReplicaUsage`, from its deployment sync)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from typing import Any

from mainsail.costs.meter import Meter

log = logging.getLogger("mainsail.costs")
TASK_ENV = "MAINSAIL_PIPELINE_TASK"  # set in a pool process while a task runs: runs inside are not billed twice
USAGE_KEYS = ("cpu_seconds", "peak_memory", "gpu_seconds")


def task_usage(meter: Meter) -> dict[str, Any]:
    """A finished task's measurements (what the pool process sends back with the outcome)."""
    return meter.stop()


def reserved(resources: Any) -> dict[str, Any]:
    """A task's declared ``resources`` as usage fields (``cpu_request``, ``memory_request``,
    ``gpu_request``, ``spot``); what it leaves out takes the price sheet's task reservation."""
    if resources is None:
        return {}
    out: dict[str, Any] = {"spot": bool(resources.spot)}
    if resources.cpus:
        out["cpu_request"] = float(resources.cpus)
    if resources.memory_gb:
        out["memory_request"] = int(resources.memory_gb * (1 << 30))
    if resources.gpus:
        out["gpu_request"] = float(resources.gpus)
    return out


def record_tasks(ctx: Any, items: list[dict[str, Any]]) -> None:
    """Store task usage gathered by a worker (in its turn's transaction); never fails the turn."""
    from mainsail.costs import service

    try:
        with ctx.session.begin_nested():
            service.write_usage(ctx, items)
    except Exception:  # noqa: BLE001 - usage is bookkeeping: a task's outcome must still be recorded
        log.exception("could not record the usage of %d pipeline tasks", len(items))


def run_ended(ctx: Any, run_id: str, experiment_id: str, start: dt.datetime, end: dt.datetime, status: str,
              usage: dict[str, Any] | None) -> None:
    """Store a tracked run's usage at its end: wall time always; CPU, peak memory and GPU when measured."""
    from mainsail.costs import service

    usage = usage or {}
    end = max(end, start)  # an end_time given before the start counts as no time
    record: dict[str, Any] = {"kind": "run", "run_id": run_id, "experiment": experiment_id, "started_at": start,
                              "ended_at": end, "wall_seconds": max((end - start).total_seconds(), 0.0),
                              "status": status, "billable": not usage.get("in_task", False)}
    for k in USAGE_KEYS:
        v = usage.get(k)
        if isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1e15:
            record[k] = int(v) if k == "peak_memory" else float(v)
    try:
        with ctx.session.begin_nested():
            service.write_usage(ctx, [record])
    except Exception:  # noqa: BLE001 - ending a run must not fail on bookkeeping
        log.exception("could not record the usage of run %s", run_id)


def run_meter() -> Meter:
    """Started with a run by the SDK (CPU time is the process's, so concurrent runs share it)."""
    return Meter()


def run_usage(meter: Meter) -> dict[str, Any]:
    """What the SDK sends with a run's end."""
    out = {k: v for k, v in meter.stop().items() if k in USAGE_KEYS}
    if os.environ.get(TASK_ENV):
        out["in_task"] = True
    return out


class ReplicaUsage:
    """A replica's usage since its last report: process CPU seconds and peak memory, requests served."""

    def __init__(self, client: Any, deployment: str, replica: str, interval: float | None = None):
        self.client, self.deployment, self.replica = client, deployment, replica
        self.interval = interval if interval is not None else float(os.environ.get("MAINSAIL_USAGE_INTERVAL", 60))
        self.meter = Meter()
        self._requests = 0
        self._last = time.monotonic()

    def maybe_report(self, requests_total: int, models: list[str], force: bool = False) -> bool:
        """Send one record when ``interval`` has passed (or ``force``); False when nothing was sent."""
        if not force and time.monotonic() - self._last < self.interval:
            return False
        self._last = time.monotonic()
        rec = self.meter.stop(restart=True)
        served, self._requests = requests_total - self._requests, requests_total
        rec.update(kind="replica", deployment=self.deployment, replica=self.replica[:200], requests=max(served, 0),
                   model=",".join(sorted(set(models)))[:200] or None)
        try:
            self.client.record_usage([rec])
        except Exception as exc:  # noqa: BLE001 - the next report carries on; serving never stops for it
            log.warning("could not report replica usage: %s", exc)
            return False
        return True
