"""Monitoring pydantic types: monitors, their runs and their results."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from mainsail.core.types import ObjectName, object_name

MonitorName = ObjectName
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
KINDS = ("drift", "multivariate_drift", "quality", "performance", "estimated_performance")
STATUSES = ("ok", "drift", "breach", "insufficient_data")


class Reference(BaseModel):
    """What the live data is compared with. ``training`` (the default for a deployment): the dataset
    version recorded in the lineage of the deployment's primary model version; ``dataset``: an explicit
    ``NAME@VERSION``; ``window``: a past window of the deployment's own logs; ``previous`` (the default
    for a dataset monitor): the version before the one checked."""

    kind: Literal["training", "dataset", "window", "previous"] = "training"
    dataset: Annotated[str, StringConstraints(min_length=3, max_length=300, pattern=r"^[^@\s]+@[A-Za-z0-9]+$")] | None \
        = Field(None, description="NAME@VERSION, for kind 'dataset'")
    start: dt.datetime | None = Field(None, description="for kind 'window'")
    end: dt.datetime | None = Field(None, description="for kind 'window'")

    @model_validator(mode="after")
    def _check(self) -> Reference:
        if self.kind == "dataset" and not self.dataset:
            raise ValueError("reference kind 'dataset' needs dataset: 'NAME@VERSION'")
        if self.kind == "window" and (self.start is None or self.end is None or self.start >= self.end):
            raise ValueError("reference kind 'window' needs start < end")
        return self


class WindowSpec(BaseModel):
    """Fixed time buckets (``every``: '15m', '1h', '1d'; aligned to the epoch) or the last ``rows`` rows."""

    every: Annotated[str, StringConstraints(max_length=20)] | None = "1h"
    rows: int | None = Field(None, ge=1, le=100_000_000)
    backfill: int = Field(24, ge=1, le=10_000, description="buckets a first run covers when given no start")

    @model_validator(mode="after")
    def _one(self) -> WindowSpec:
        if self.rows is not None:
            self.every = None
        if self.every is None and self.rows is None:
            raise ValueError("give every (e.g. '1h') or rows")
        return self


class DriftConfig(BaseModel):
    """Drift per feature (and for the prediction) with :func:`mainsail.monitoring.drift.compute_drift`."""

    enabled: bool = True
    tests: dict[ColumnName, str | list[str]] = Field(default_factory=dict,
                                                     description="column -> test (ks, wasserstein, psi, …)")
    thresholds: dict[ColumnName, float] = Field(default_factory=dict, description="column or test -> threshold")
    binning: Literal["equal_width", "quantile"] = "equal_width"
    drift_share: Share = 0.5
    min_rows: int = Field(30, ge=1, le=1_000_000)
    multivariate: bool = True
    prediction: bool = True


class QualityConfig(BaseModel):
    """Data quality of the live inputs per window (see :mod:`mainsail.monitoring.quality`)."""

    enabled: bool = True
    max_null_share: Share = 0.05
    max_out_of_range: Share = 0.01
    max_unseen: Share = 0.01


class MonitorCreate(BaseModel):
    """A monitor of a deployment's inference logs or of a dataset's new versions."""

    name: MonitorName
    deployment: object_name(100) | None = None  # type: ignore[valid-type]
    dataset: ObjectName | None = None
    description: str | None = Field(None, max_length=2000)
    reference: Reference | None = None
    window: WindowSpec = Field(default_factory=WindowSpec)
    schedule: Annotated[str, StringConstraints(max_length=120)] | None = Field(
        None, description="cron expression (UTC), e.g. '*/5 * * * *'; none: on demand")
    features: list[ColumnName] | None = Field(None, max_length=2000,
                                              description="default: the model signature's inputs")
    target: ColumnName | None = Field(None, description="the reference's label column: the prediction's reference "
                                                        "when the reference holds no 'prediction' column")
    drift: DriftConfig = Field(default_factory=DriftConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    metrics: list[Annotated[str, StringConstraints(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=50, description="performance metrics (with labels)")
    by_variant: bool = Field(False, description="also one series per variant")
    enabled: bool = True

    @model_validator(mode="after")
    def _target(self) -> MonitorCreate:
        if (self.deployment is None) == (self.dataset is None):
            raise ValueError("give deployment or dataset (one of them)")
        if self.reference is None:
            self.reference = Reference(kind="training" if self.deployment else "previous")
        if self.dataset and self.reference.kind in ("training", "window"):
            raise ValueError(f"a dataset monitor takes reference kind 'dataset' or 'previous', not "
                             f"{self.reference.kind!r}")
        if self.deployment and self.reference.kind == "previous":
            raise ValueError("reference kind 'previous' is for dataset monitors")
        return self


class Monitor(MonitorCreate):
    id: str
    next_run_at: dt.datetime | None = None
    last_window_end: dt.datetime | None = None
    created_by: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class MonitorRunRequest(BaseModel):
    """An on-demand run: complete windows between ``start`` and ``end`` (default: from the last window
    done, or ``backfill`` buckets back, to now); for a dataset monitor, ``version`` (default: the versions
    not checked yet)."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    version: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")] | None = None


class MonitorResult(BaseModel):
    window_start: dt.datetime
    window_end: dt.datetime
    kind: str
    feature: str | None = None
    test: str | None = None
    variant: str | None = None
    value: float | None = None
    threshold: float | None = None
    status: str
    estimated: bool = False
    rows: int = 0
    run_id: str | None = None


class MonitorRun(BaseModel):
    id: str
    monitor: str
    status: str
    trigger: str
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    windows: int = 0
    results: int = 0
    drifted_windows: int = 0
    rows: int = 0
    seconds: float = 0.0
    error: str | None = None
    started_at: dt.datetime
    finished_at: dt.datetime
    items: list[MonitorResult] = Field(default_factory=list, description="the run's results (on the run call)")


JsonDict = dict[str, Any]
