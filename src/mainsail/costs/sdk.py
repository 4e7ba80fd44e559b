"""Costs methods of the Client: usage, prices, cost reports, budgets, recommendations, retention and gc."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from mainsail.client.backends import Backend
from mainsail.core.ops import LazyOpSet

if TYPE_CHECKING:  # annotations only: importing the Client does not build these models
    from mainsail.costs.schemas import (
        Budget,
        BudgetStatus,
        CostReport,
        GcReport,
        PriceSheet,
        Recommendation,
        RetentionRules,
        StorageReport,
        Usage,
        UsageWritten,
    )

ops = LazyOpSet("mainsail.costs.ops")


class CostMethods:
    _backend: Backend

    def get_prices(self) -> PriceSheet:
        """The project's price sheet (the defaults until one is set)."""
        return self._backend.call(ops.get_prices, {})

    def set_prices(self, **prices: Any) -> PriceSheet:
        """Replace the project's price sheet: ``cpu_hour``, ``memory_gb_hour``, ``gpu_hour``,
        ``storage_gb_month``, ``spot_discount``, ``task_cpus``, ``task_memory_gb``, ``team``, ``currency``
        (left out: the default)."""
        return self._backend.call(ops.set_prices, {"body": prices})

    def record_usage(self, records: list[dict[str, Any]]) -> UsageWritten:
        """Store usage records measured elsewhere (see :class:`mainsail.costs.schemas.UsageRecord`)."""
        return self._backend.call(ops.record_usage, {"body": {"records": records}})

    def list_usage(self, kind: str | None = None, *, run_id: str | None = None, pipeline: str | None = None,
                   deployment: str | None = None, limit: int = 100) -> list[Usage]:
        """The newest usage records of the project."""
        return self._backend.call(ops.list_usage, {"kind": kind, "run_id": run_id, "pipeline": pipeline,
                                                   "deployment": deployment, "limit": limit})

    def cost_report(self, by: str = "project", since: dt.datetime | None = None, until: dt.datetime | None = None,
                    *, all_projects: bool = False, storage: bool = False) -> CostReport:
        """Cost over ``[since, until)`` (default: the last 30 days) grouped ``by`` project, team, model,
        deployment, pipeline, run, task or kind."""
        return self._backend.call(ops.cost_report, {"by": by, "since": since, "until": until,
                                                    "all_projects": all_projects, "storage": storage})

    def cost_recommendations(self, days: float = 30, **thresholds: Any) -> list[Recommendation]:
        """Right-size, spot, batch, archive and dedupe recommendations with evidence and monthly savings."""
        return self._backend.call(ops.recommend, {"days": days, **thresholds})

    def create_budget(self, name: str, amount: float, *, period: str = "month",
                      thresholds: list[float] | None = None, severity: str = "warning",
                      channels: list[str] | None = None) -> Budget:
        """A budget for the project; each threshold (a fraction of ``amount``) raises an alert when reached."""
        body: dict[str, Any] = {"name": name, "amount": amount, "period": period, "severity": severity,
                                "channels": channels}
        if thresholds is not None:
            body["thresholds"] = thresholds
        return self._backend.call(ops.create_budget, {"body": body})

    def list_budgets(self) -> list[Budget]:
        return self._backend.call(ops.list_budgets, {})

    def get_budget(self, name: str) -> Budget:
        return self._backend.call(ops.get_budget, {"name": name})

    def delete_budget(self, name: str) -> None:
        self._backend.call(ops.delete_budget, {"name": name})

    def check_budgets(self, evaluate: bool = True) -> list[BudgetStatus]:
        """Compare the budgets with their period's cost and raise the alerts of thresholds reached."""
        return self._backend.call(ops.check_budgets, {"evaluate": evaluate})

    def get_retention(self) -> RetentionRules:
        return self._backend.call(ops.get_retention, {})

    def set_retention(self, runs_days: float | None = None, inference_logs_days: float | None = None) -> RetentionRules:
        """Delete runs older than ``runs_days`` and inference logs older than ``inference_logs_days`` at each gc."""
        return self._backend.call(ops.set_retention, {"body": {"runs_days": runs_days,
                                                               "inference_logs_days": inference_logs_days}})

    def storage_report(self, limit: int = 100) -> StorageReport:
        """Bytes stored per object, the biggest first."""
        return self._backend.call(ops.storage, {"limit": limit})

    def gc(self, dry_run: bool = True, grace_hours: float = 24.0, retention: bool = True,
           all_projects: bool = False) -> GcReport:
        """Apply retention rules, then delete unreferenced blobs older than the grace period (dry run by
        default), in this client's project (``all_projects``: every project, for an admin of all)."""
        return self._backend.call(ops.run_gc, {"body": {"dry_run": dry_run, "grace_hours": grace_hours,
                                                        "retention": retention, "all_projects": all_projects}})
