"""Monitoring methods of the Client: monitors, their runs and their results (time series)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mainsail.client.backends import Backend
from mainsail.core.ops import LazyOpSet
from mainsail.core.pagination import Page

if TYPE_CHECKING:  # annotations only: importing the Client does not build these models
    from mainsail.monitoring.schemas import Monitor, MonitorResult, MonitorRun

ops = LazyOpSet("mainsail.monitoring.ops")  # imported on first call: composing the Client stays cheap


class MonitoringMethods:
    _backend: Backend

    def create_monitor(self, name: str, *, deployment: str | None = None, dataset: str | None = None,
                       reference: Mapping[str, Any] | str | None = None, every: str | None = "1h",
                       rows: int | None = None, backfill: int = 24, schedule: str | None = None,
                       features: Sequence[str] | None = None, target: str | None = None,
                       drift: Mapping[str, Any] | None = None, quality: Mapping[str, Any] | None = None,
                       metrics: Sequence[str] = (), by_variant: bool = False, description: str | None = None,
                       enabled: bool = True) -> Monitor:
        """Watch a deployment's inference logs (or a dataset's new versions) against a reference: by
        default the training dataset version in the served model's lineage; ``"NAME@VERSION"`` (or
        ``{"kind": "dataset", "dataset": …}``), ``{"kind": "window", "start", "end"}`` or, for a dataset,
        ``{"kind": "previous"}``. Windows are ``every`` ('1h') buckets or the last ``rows`` rows; ``schedule``
        is a cron expression (none: run on demand). ``drift``: ``{"tests": {col: test}, "thresholds":
        {col_or_test: value}, "binning", "drift_share", "multivariate", "prediction"}``; ``quality``:
        ``{"max_null_share", "max_out_of_range", "max_unseen"}``."""
        if isinstance(reference, str):
            reference = {"kind": "dataset", "dataset": reference}
        body: dict[str, Any] = {"name": name, "deployment": deployment, "dataset": dataset, "description": description,
                                "reference": dict(reference) if reference else None,
                                "window": {"every": every, "rows": rows, "backfill": backfill}, "schedule": schedule,
                                "features": list(features) if features is not None else None, "target": target,
                                "metrics": list(metrics), "by_variant": by_variant, "enabled": enabled}
        if drift is not None:
            body["drift"] = dict(drift)
        if quality is not None:
            body["quality"] = dict(quality)
        return self._backend.call(ops.create_monitor, {"body": body})

    def get_monitor(self, name: str) -> Monitor:
        return self._backend.call(ops.get_monitor, {"name": name})

    def list_monitors(self, deployment: str | None = None, dataset: str | None = None, cursor: str | None = None,
                      limit: int = 100) -> Page[Monitor]:
        return self._backend.call(ops.list_monitors, {"deployment": deployment, "dataset": dataset, "cursor": cursor,
                                                      "limit": limit})

    def iter_monitors(self, deployment: str | None = None) -> Iterator[Monitor]:
        cursor = None
        while True:
            page = self.list_monitors(deployment=deployment, cursor=cursor, limit=1000)
            yield from page.items
            if not (cursor := page.next_cursor):
                return

    def delete_monitor(self, name: str) -> None:
        self._backend.call(ops.delete_monitor, {"name": name})

    def run_monitor(self, name: str, *, start: dt.datetime | None = None, end: dt.datetime | None = None,
                    version: str | None = None) -> MonitorRun:
        """Run a monitor now over its complete windows between ``start`` and ``end`` (default: since its
        last window, up to now); a dataset monitor checks ``version`` or its versions not checked yet."""
        return self._backend.call(ops.run_monitor, {"name": name, "body": {"start": start, "end": end,
                                                                          "version": version}})

    def list_monitor_runs(self, name: str, cursor: str | None = None, limit: int = 100) -> Page[MonitorRun]:
        return self._backend.call(ops.list_runs, {"name": name, "cursor": cursor, "limit": limit})

    def monitor_results(self, name: str, *, start: dt.datetime | None = None, end: dt.datetime | None = None,
                        kind: str | None = None, feature: str | None = None, test: str | None = None,
                        variant: str | None = None, limit: int = 10_000) -> list[MonitorResult]:
        """A monitor's stored results (time series) in a time range, oldest first."""
        return self._backend.call(ops.get_results, {"name": name, "start": start, "end": end, "kind": kind,
                                                    "feature": feature, "test": test, "variant": variant,
                                                    "limit": limit})
