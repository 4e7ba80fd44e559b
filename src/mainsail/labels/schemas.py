"""Labels pydantic types: pushes of ground truth, their outcome, and measured performance."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from mainsail.core.types import ObjectName, object_name

DeploymentName = object_name(100)
RequestId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Label = bool | int | Annotated[float, Field(allow_inf_nan=False)] | Annotated[
    str, StringConstraints(min_length=1, max_length=200)]
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MAX_LABELS = 100_000  # per call; the SDK and the CLI send bigger files in chunks
Task = Literal["classification", "regression"]


class LabelIn(BaseModel):
    """The true outcome of one served request."""

    request_id: RequestId
    label: Label


class LabelPush(BaseModel):
    """Ground truth for a deployment: ``labels`` given inline, or the rows of a dataset version (its
    ``request_id_column`` and ``label_column``). A (deployment, request id) pushed again is replaced."""

    deployment: DeploymentName
    labels: list[LabelIn] | None = Field(None, max_length=MAX_LABELS)
    dataset: ObjectName | None = Field(None, description="read the labels from this dataset's version")
    version: Annotated[str, StringConstraints(to_lower=True, pattern=r"^(latest|[0-9a-fA-F]{4,64})$")] = "latest"
    request_id_column: ColumnName = "request_id"
    label_column: ColumnName = "label"

    @model_validator(mode="after")
    def _one_source(self) -> LabelPush:
        if (self.labels is None) == (self.dataset is None):
            raise ValueError("give either labels or a dataset (exactly one)")
        return self


class LabelPushResult(BaseModel):
    """What a push did. ``unknown`` labels name request ids no inference log of the deployment holds
    (yet: logs arrive in batches); they are stored and join once their log arrives."""

    deployment: str
    received: int
    inserted: int
    updated: int
    unknown: int = Field(description="labels whose request id is in no inference log of the deployment")
    unknown_sample: list[str] = Field(default_factory=list, description="up to 20 of those request ids")


class PerformanceResult(BaseModel):
    """One metric of one variant in one window (the monitor-result shape shared with ``monitoring``)."""

    kind: str = "performance"
    feature: str | None = None
    test: str = Field(description="the metric: accuracy, f1, roc_auc, rmse, …")
    variant: str
    value: float | None
    threshold: float | None = None
    status: str = Field(description="'ok', or 'insufficient_data' when the window has no labeled rows")
    estimated: bool = False
    window_start: dt.datetime
    window_end: dt.datetime
    rows: int = Field(description="logged predictions of the variant in the window")
    labeled: int = Field(description="of those, how many have a label")


class PerformanceReport(BaseModel):
    """A deployment's measured performance from its labels, per window and variant."""

    deployment: str
    task: Task
    start: dt.datetime
    end: dt.datetime
    window_seconds: float
    labels: int = Field(description="labels stored for the deployment")
    unmatched_labels: int = Field(description="labels whose request id matches no logged prediction")
    results: list[PerformanceResult]
    notes: list[str] = Field(default_factory=list, description="why estimates are missing, when asked for")
