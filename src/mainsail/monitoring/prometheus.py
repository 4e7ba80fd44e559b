"""Prometheus gauges of monitor results and alerts, on the server's ``/metrics``.

The gauges come from the stored latest results, not from in-process state: the process that serves
``/metrics`` is often not the one that ran the monitor. One cheap query per scrape (cached a few
seconds) reads the newest ``monitor.completed`` event of each monitor (its payload holds the run's
results, see docs/monitoring.md) and one more counts firing alerts by severity.

Gauges (label values of absent labels are ""):

- ``mainsail_drift_score{monitor,deployment,variant,feature,test}`` (kinds drift and multivariate_drift),
  with ``mainsail_drift_threshold`` and ``mainsail_drift_detected`` (1 when the result's status is drift)
- ``mainsail_model_metric{monitor,deployment,variant,metric,estimated}`` (performance, estimated_performance)
- ``mainsail_data_quality{monitor,deployment,variant,feature,check}`` and ``mainsail_data_quality_breach``
- ``mainsail_monitor_breach{monitor,deployment,kind}``: results of that kind in drift or breach
- ``mainsail_monitor_last_run_timestamp_seconds{monitor,deployment}``
- ``mainsail_alerts_active{severity}``: firing alerts (every severity, zero included)

A serve replica (``mainsail serve``) shows the same gauges, but only its deployment's and without the
alerts (:func:`replica_metrics_text`), read through its Client every ``ttl`` seconds.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from mainsail.core.events import EventRow

log = logging.getLogger(__name__)
EVENT = "monitor.completed"
DRIFT_KINDS = ("drift", "multivariate_drift")
PERFORMANCE_KINDS = ("performance", "estimated_performance")
BAD = ("drift", "breach")


def latest_results(session: Any, lookback: int = 2000) -> list[tuple[dict[str, Any], float]]:
    """(payload, unix time) of the newest ``monitor.completed`` event of each monitor among the last
    ``lookback`` such events: one indexed query."""
    newest = (select(func.max(EventRow.id)).where(EventRow.type == EVENT)
              .where(EventRow.id.in_(select(EventRow.id).where(EventRow.type == EVENT)
                                     .order_by(EventRow.id.desc()).limit(lookback)))
              .group_by(EventRow.subject))
    rows = session.execute(select(EventRow.payload, EventRow.created_at).where(EventRow.id.in_(newest))
                           .order_by(EventRow.id))
    return [(p or {}, t.timestamp()) for p, t in rows]


def _number(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        out = float(v)
    except (TypeError, ValueError):
        return None
    return out if not math.isnan(out) else None


def _s(v: Any) -> str:
    return "" if v is None else str(v)


def families(results: list[tuple[dict[str, Any], float]], alerts: dict[str, int]) -> list[Metric]:
    """The gauge families for the latest results and the firing alerts per severity."""
    dl = ["monitor", "deployment", "variant", "feature", "test"]
    score = GaugeMetricFamily("mainsail_drift_score", "Drift statistic of the latest monitor run", labels=dl)
    threshold = GaugeMetricFamily("mainsail_drift_threshold", "Threshold of the drift test", labels=dl)
    detected = GaugeMetricFamily("mainsail_drift_detected", "1 when the latest run found drift", labels=dl)
    metric = GaugeMetricFamily("mainsail_model_metric", "Model performance of the latest window (estimated='true' "
                               "when estimated without labels)",
                               labels=["monitor", "deployment", "variant", "metric", "estimated"])
    ql = ["monitor", "deployment", "variant", "feature", "check"]
    quality = GaugeMetricFamily("mainsail_data_quality", "Data-quality measure of live inputs (e.g. null share)",
                                labels=ql)
    quality_breach = GaugeMetricFamily("mainsail_data_quality_breach", "1 when the quality check failed", labels=ql)
    breach = GaugeMetricFamily("mainsail_monitor_breach", "Results of the latest run in drift or breach, by kind",
                               labels=["monitor", "deployment", "kind"])
    last_run = GaugeMetricFamily("mainsail_monitor_last_run_timestamp_seconds", "When the monitor last completed",
                                 labels=["monitor", "deployment"])
    active = GaugeMetricFamily("mainsail_alerts_active", "Firing alerts", labels=["severity"])
    seen: set[tuple[str, ...]] = set()
    for payload, at in results:
        monitor, deployment = _s(payload.get("monitor")), _s(payload.get("deployment") or payload.get("dataset"))
        last_run.add_metric([monitor, deployment], at)
        bad: dict[str, int] = {}
        for r in payload.get("results") or []:
            if not isinstance(r, dict):
                continue
            kind, value, status = r.get("kind"), _number(r.get("value")), r.get("status")
            bad[_s(kind)] = bad.get(_s(kind), 0) + (status in BAD)
            if value is None:
                continue
            variant, feature, test = _s(r.get("variant")), _s(r.get("feature")), _s(r.get("test"))
            if kind in DRIFT_KINDS:
                labels = [monitor, deployment, variant, feature or "*", test or kind]
                if not _first(seen, "d", labels):
                    continue
                score.add_metric(labels, value)
                if (t := _number(r.get("threshold"))) is not None:
                    threshold.add_metric(labels, t)
                detected.add_metric(labels, 1.0 if status == "drift" else 0.0)
            elif kind in PERFORMANCE_KINDS:
                estimated = "true" if r.get("estimated") or kind == "estimated_performance" else "false"
                labels = [monitor, deployment, variant, test or feature, estimated]
                if _first(seen, "p", labels):
                    metric.add_metric(labels, value)
            elif kind == "quality":
                labels = [monitor, deployment, variant, feature, test]
                if _first(seen, "q", labels):
                    quality.add_metric(labels, value)
                    quality_breach.add_metric(labels, 1.0 if status == "breach" else 0.0)
        for kind, n in bad.items():
            breach.add_metric([monitor, deployment, kind], float(n))
    for severity, n in alerts.items():
        active.add_metric([severity], float(n))
    return [score, threshold, detected, metric, quality, quality_breach, breach, last_run, active]


def _first(seen: set[tuple[str, ...]], family: str, labels: list[str]) -> bool:
    key = (family, *labels)
    if key in seen:
        return False
    seen.add(key)
    return True


class MonitoringCollector:
    """A prometheus_client collector over the metadata database, cached ``ttl`` seconds per process."""

    def __init__(self, runtime: Any, ttl: float = 5.0):
        self.runtime, self.ttl = runtime, ttl
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def read(self) -> list[Metric]:
        from mainsail.alerts.service import active_by_severity

        with self.runtime.transaction(write=False) as ctx:
            return families(latest_results(ctx.session), active_by_severity(ctx))

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self.ttl:
                self._cached = (now, self.read())
            yield from self._cached[1]

    def describe(self) -> list[Metric]:
        return []  # no describe-time query when registering


def metrics_text(runtime: Any, ttl: float = 5.0) -> Callable[[], bytes]:
    """A function returning the gauges as Prometheus text (for the app's ``/metrics``); a database that
    does not answer yields no gauges instead of failing the scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitoringCollector(runtime, ttl))

    def text() -> bytes:
        try:
            return generate_latest(registry)
        except Exception:  # noqa: BLE001 - /metrics must answer; the process metrics still do
            log.warning("monitoring gauges unavailable", exc_info=True)
            return b""

    return text


def deployment_results(client: Any, deployment: str) -> list[tuple[dict[str, Any], float]]:
    """(payload, unix time) of the latest window of each monitor watching ``deployment``, read through a
    :class:`~mainsail.Client` (embedded or remote): the same shape :func:`latest_results` gives."""
    import datetime as dt

    out = []
    for m in client.iter_monitors(deployment=deployment):
        last = next((r for r in client.list_monitor_runs(m.name, limit=5).items
                     if r.status == "succeeded" and r.window_end is not None and r.windows), None)
        if last is None:
            continue
        rows = client.monitor_results(m.name, start=last.window_end - dt.timedelta(microseconds=1))
        results = [r.model_dump(mode="json") for r in rows if r.window_end == last.window_end]
        out.append(({"monitor": m.name, "deployment": deployment, "results": results},
                    last.finished_at.timestamp()))
    return out


class DeploymentCollector:
    """The monitor gauges of one deployment for a serve replica's ``/metrics`` (the replica has no
    database of its own: it asks its control plane through the Client, at most every ``ttl`` seconds;
    a control plane that does not answer leaves the last gauges in place)."""

    def __init__(self, client: Any, deployment: str, ttl: float = 15.0):
        self.client, self.deployment, self.ttl = client, deployment, ttl
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self.ttl:
                try:
                    fams = families(deployment_results(self.client, self.deployment), {})
                    self._cached = (now, [f for f in fams if f.name != "mainsail_alerts_active"])
                except Exception:  # noqa: BLE001 - /metrics must answer; retried after ttl
                    log.warning("monitor gauges of %s unavailable", self.deployment, exc_info=True)
                    self._cached = (now, self._cached[1] if self._cached else [])
            yield from self._cached[1]

    def describe(self) -> list[Metric]:
        return []


def replica_metrics_text(client: Any, deployment: str, ttl: float = 15.0) -> Callable[[], bytes]:
    """A function returning the deployment's monitor gauges as Prometheus text (for a replica's
    ``/metrics``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DeploymentCollector(client, deployment, ttl))

    def text() -> bytes:
        try:
            return generate_latest(registry)
        except Exception:  # noqa: BLE001
            log.warning("monitor gauges unavailable", exc_info=True)
            return b""

    return text
