"""Costs pydantic types: usage records, price sheets, budgets, reports, recommendations, retention and gc."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mainsail.core.types import ObjectName, UtcDatetime

Money = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=2**62)]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]
UsageKind = Literal["task", "run", "replica"]
ReportBy = Literal["project", "team", "model", "deployment", "pipeline", "run", "task", "kind"]
Period = Literal["day", "week", "month"]


class Prices(BaseModel):
    """A project's price sheet. Compute is billed on what was reserved (``cpu_request`` cores,
    ``memory_request`` bytes, ``gpu_request`` GPUs for the whole wall time) when known, or on what was
    measured when more, else on what was measured (CPU seconds, peak memory over the wall time, GPU
    seconds); spot usage costs ``1 - spot_discount`` of that."""

    model_config = ConfigDict(extra="forbid")

    currency: str = Field("USD", min_length=1, max_length=10)
    cpu_hour: Money = Field(0.04, description="Per core-hour.")
    memory_gb_hour: Money = Field(0.005, description="Per GiB-hour of memory.")
    gpu_hour: Money = Field(2.5, description="Per GPU-hour.")
    storage_gb_month: Money = Field(0.023, description="Per GiB-month in the artifact store.")
    spot_discount: float = Field(0.7, ge=0, le=1, allow_inf_nan=False, description="Share saved on spot capacity.")
    task_cpus: float = Field(1.0, gt=0, le=1024, allow_inf_nan=False,
                             description="Cores a pipeline task reserves (one pool process).")
    task_memory_gb: float = Field(2.0, gt=0, le=65536, allow_inf_nan=False,
                                  description="GiB of memory a pipeline task reserves.")
    team: str | None = Field(None, min_length=1, max_length=200, description="The team the project's costs go to.")


class PriceSheet(Prices):
    project: str
    default: bool = Field(description="True when the project has no sheet of its own (these are the defaults).")
    updated_by: str | None = None
    updated_at: dt.datetime | None = None


class UsageRecord(BaseModel):
    """One measured usage record (what the hooks write; also accepted from a client that measured itself)."""

    model_config = ConfigDict(extra="forbid")

    kind: UsageKind
    pipeline: Text200 | None = None
    pipeline_run: Annotated[str, Field(max_length=64)] | None = None
    task: Text200 | None = None
    run_id: Annotated[str, Field(max_length=64)] | None = None
    experiment: Text200 | None = None
    deployment: Text200 | None = None
    replica: Text200 | None = None
    model: Text200 | None = None
    started_at: UtcDatetime
    ended_at: UtcDatetime
    wall_seconds: Seconds = 0.0
    cpu_seconds: Seconds = 0.0
    peak_memory: Count = 0
    gpu_seconds: Seconds = 0.0
    requests: Count = 0
    cpu_request: Annotated[float, Field(gt=0, le=1024, allow_inf_nan=False)] | None = None
    memory_request: Count | None = None
    gpu_request: Annotated[float, Field(ge=0, le=64, allow_inf_nan=False)] | None = None
    attempt: Annotated[int, Field(ge=1, le=1000)] = 1
    retries: Annotated[int, Field(ge=0, le=1000)] = 0
    status: Annotated[str, Field(max_length=16)] | None = None
    spot: bool = False
    billable: bool = True

    @model_validator(mode="after")
    def _ends_after_start(self) -> UsageRecord:
        if self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self


class UsageBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[UsageRecord] = Field(min_length=1, max_length=10_000)


class Usage(UsageRecord):
    id: int
    project: str


class UsageWritten(BaseModel):
    written: int


class CostLine(BaseModel):
    key: str | None = Field(description="The group (project, model, …); null for usage without one.")
    records: int
    wall_hours: float
    cpu_hours: float = Field(description="Billed core-hours.")
    memory_gb_hours: float = Field(description="Billed GiB-hours.")
    gpu_hours: float
    requests: int
    compute_cost: float
    storage_gb: float = 0.0
    storage_cost: float = 0.0
    cost: float


class CostReport(BaseModel):
    by: ReportBy
    since: dt.datetime
    until: dt.datetime
    currency: str
    lines: list[CostLine]
    total: float


class BudgetSpec(BaseModel):
    """A spending limit per period (``day``, ``week``, calendar ``month``); each threshold (a fraction of
    ``amount``: 0.8, 1.0) raises an alert through an alert rule when the period's cost reaches it."""

    model_config = ConfigDict(extra="forbid")

    name: ObjectName
    amount: Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False)]
    period: Period = "month"
    thresholds: list[Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)]] = Field(
        default_factory=lambda: [0.8, 1.0], min_length=1, max_length=10)
    severity: Literal["info", "warning", "critical"] = "warning"
    channels: list[ObjectName] | None = Field(None, max_length=50, description="Alert channels; default: every one.")


class Budget(BudgetSpec):
    id: str
    project: str
    rule: str = Field(description="The alert rule its thresholds raise alerts through.")
    spent: float | None = Field(None, description="The current period's cost at the last check.")
    last_checked_at: dt.datetime | None = None
    created_at: dt.datetime


class BudgetStatus(BaseModel):
    budget: str
    project: str
    period_start: dt.datetime
    spent: float
    amount: float
    fraction: float
    reached: list[float] = Field(description="Thresholds the period's cost has reached.")
    alerts_fired: list[str] = Field(default_factory=list, description="Alerts this check fired.")


class Recommendation(BaseModel):
    kind: Literal["right_size", "spot", "batch", "archive", "dedupe"]
    target: str = Field(description="What to change: a pipeline task, a deployment, a run, a dataset.")
    summary: str
    evidence: dict[str, Any]
    estimated_saving: float = Field(description="Per month, in the sheet's currency.")
    currency: str


class Retention(BaseModel):
    """A project's retention rules: runs older than ``runs_days`` are deleted (their artifacts then go
    at the next gc); inference log files older than ``inference_logs_days`` are dropped. ``None`` keeps."""

    model_config = ConfigDict(extra="forbid")

    runs_days: Annotated[float, Field(gt=0, le=36500, allow_inf_nan=False)] | None = None
    inference_logs_days: Annotated[float, Field(gt=0, le=36500, allow_inf_nan=False)] | None = None


class RetentionRules(Retention):
    project: str
    updated_at: dt.datetime | None = None


class StoredObject(BaseModel):
    kind: str = Field(description="run, model_version, dataset_version, inference_logs, pipeline, …")
    id: str
    bytes: int
    blobs: int
    monthly_cost: float


class StorageReport(BaseModel):
    currency: str
    total_bytes: int
    referenced_bytes: int
    unreferenced_bytes: int
    objects: list[StoredObject]


class GcRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = True
    grace_hours: Annotated[float, Field(ge=0, le=24 * 3650, allow_inf_nan=False)] = 24.0
    retention: bool = Field(True, description="Apply the retention rules first.")
    all_projects: bool = Field(False, description="Every project's retention rules and deleted runs (an admin "
                               "of every project); else the call's project's only.")


class GcReport(BaseModel):
    dry_run: bool
    grace_hours: float
    blobs_scanned: int
    referenced: int
    deleted: list[str] = Field(description="Digests deleted (or that would be, on a dry run).")
    deleted_bytes: int
    of_deleted_runs: int = Field(description="How many of them only deleted runs referenced.")
    kept_in_grace: int = Field(description="Unreferenced blobs younger than the grace period.")
    kept_other_projects: int = Field(0, description="Blobs only deleted runs name, some of them another "
                                     "project's: kept for that project's gc (or one over all projects).")
    all_projects: bool = False
    runs_deleted: list[str] = Field(default_factory=list, description="Runs the retention rules deleted.")
    inference_logs_dropped: int = 0
