"""Tracking's pydantic types: what the API, the SDK and the CLI exchange."""

from __future__ import annotations

import datetime as dt
import math
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, FiniteFloat, StringConstraints, model_validator

from mainsail.core.types import Int64, UtcDatetime, object_name

KEY_PATTERN = r"^[A-Za-z0-9_\-./: ]+$"
Key = Annotated[str, StringConstraints(min_length=1, max_length=250, pattern=KEY_PATTERN)]
Name = object_name(256)  # an experiment's name: the one name rule of every object
RunName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256,
                                           pattern=r"^[^\x00-\x1f\x7f]*$")]  # a label: free text, one line


def _param_value(v: Any) -> Any:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int | float):
        return repr(v) if isinstance(v, float) else str(v)
    return v


ParamValue = Annotated[str, BeforeValidator(_param_value), StringConstraints(max_length=8000)]
TagValue = Annotated[str, BeforeValidator(_param_value), StringConstraints(max_length=8000)]


class RunStatus(StrEnum):
    running = "running"
    finished = "finished"
    failed = "failed"
    killed = "killed"

    @property
    def terminal(self) -> bool:
        return self is not RunStatus.running


class ExperimentCreate(BaseModel):
    name: Name
    description: str | None = None
    tags: dict[Key, TagValue] = Field(default_factory=dict)


class Experiment(BaseModel):
    id: str
    name: str
    project: str = "default"
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    lifecycle: str = "active"
    created_by: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class RunCreate(BaseModel):
    experiment_id: str
    name: RunName | None = None
    tags: dict[Key, TagValue] = Field(default_factory=dict)
    params: dict[Key, ParamValue] = Field(default_factory=dict)
    start_time: UtcDatetime | None = None
    parent_run_id: str | None = None


class RunUpdate(BaseModel):
    status: RunStatus | None = None
    end_time: UtcDatetime | None = None
    name: RunName | None = None
    usage: dict[str, float | int | bool] | None = Field(
        None, max_length=10, description="At the end: what the SDK measured (cpu_seconds, peak_memory, gpu_seconds).")


class Run(BaseModel):
    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: dt.datetime
    end_time: dt.datetime | None = None
    parent_run_id: str | None = None
    created_by: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float | None] = Field(default_factory=dict, description="latest value per metric key")
    last_heartbeat: dt.datetime | None = Field(None, description="the run's last sign of life (a write or a "
                                               "heartbeat)")
    status_reason: str | None = Field(None, description="why the run has its status, e.g. `heartbeat_timeout` "
                                      "for a run marked killed because its process stopped sending heartbeats")

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (None while running)."""
        return (self.end_time - self.start_time).total_seconds() if self.end_time else None


class Heartbeat(BaseModel):
    """A run's answer to a heartbeat: it is alive until ``timeout`` seconds pass without another."""

    run_id: str
    status: RunStatus
    last_heartbeat: dt.datetime
    timeout: float = Field(description="seconds without a heartbeat after which a running run is marked killed")


class MetricBatch(BaseModel):
    """Metric points in columns (key[i], value[i], step[i], timestamp[i]): compact on the wire and
    validated at C speed."""

    key: list[Key]
    value: list[float | None]
    step: list[Int64]
    timestamp: list[FiniteFloat]

    @model_validator(mode="after")
    def _same_length(self) -> MetricBatch:
        n = len(self.key)
        for col in ("value", "step", "timestamp"):
            if len(getattr(self, col)) != n:
                raise ValueError(f"metrics.{col} has {len(getattr(self, col))} items but metrics.key has {n}")
        return self

    def rows(self, run_id: str) -> list[tuple[str, str, float, int, float]]:
        """Rows for the metrics table; ``None`` (JSON's stand-in for NaN) becomes NaN."""
        vals = [math.nan if v is None else v for v in self.value]
        return list(zip([run_id] * len(self.key), self.key, vals, self.step, self.timestamp, strict=True))


class LogBatch(BaseModel):
    metrics: MetricBatch | None = None
    params: dict[Key, ParamValue] = Field(default_factory=dict)
    tags: dict[Key, TagValue] = Field(default_factory=dict)


class MetricHistory(BaseModel):
    """Every point of one metric of one run, in step order, in columns."""

    run_id: str
    key: str
    step: list[int]
    value: list[float | None]
    timestamp: list[float]

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame({"step": self.step, "value": self.value, "timestamp": self.timestamp})


class MetricSamples(BaseModel):
    """One metric of one run reduced for drawing: per x bucket its lowest and highest point
    (:mod:`mainsail.tracking.downsample`); ``total`` is how many points the run logged."""

    run_id: str
    key: str
    total: int
    step: list[float]
    value: list[float]


class ArtifactInfo(BaseModel):
    path: str
    size: int
    digest: str
    created_at: dt.datetime


class RunComparison(BaseModel):
    """Runs side by side: ``params[key][run_id]`` and ``metrics[key][run_id]``; ``differing_params``
    lists the keys whose values are not the same on every run."""

    runs: list[Run]
    params: dict[str, dict[str, str | None]]
    metrics: dict[str, dict[str, float | None]]
    differing_params: list[str]
