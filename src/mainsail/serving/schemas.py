"""Serving pydantic types: deployments, variants, traffic, rollouts, replica reports, inference logs."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from mainsail.core.types import ObjectName, object_name

DeploymentName = object_name(100)
VariantName = Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")]
ModelUri = Annotated[str, StringConstraints(strip_whitespace=True, min_length=9, max_length=400,
                                            pattern=r"^models:/[A-Za-z0-9_][A-Za-z0-9_.\-]*(@[A-Za-z][A-Za-z0-9_\-]*|/[A-Za-z0-9]+)$")]
Weight = Annotated[float, Field(ge=0, le=100)]
Percentage = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
FeatureServiceName = ObjectName
# Latency histogram bucket upper bounds (ms) shared by replicas and the rollout controller.
LATENCY_BUCKETS_MS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 60_000)


class Role(StrEnum):
    primary = "primary"  # answers requests, by weight
    shadow = "shadow"  # gets a copy of the traffic; its answers are logged, never returned


class Mode(StrEnum):
    split = "split"
    shadow = "shadow"
    canary = "canary"


class Status(StrEnum):
    healthy = "healthy"
    degraded = "degraded"


class VariantSpec(BaseModel):
    """One variant: a model version or alias (``models:/churn@champion``, ``models:/churn/3``) and a weight."""

    name: VariantName
    model: ModelUri
    weight: Weight = 100.0
    role: Role = Role.primary
    feature_service: FeatureServiceName | None = Field(
        None, description="feature service whose online features answer entity requests (default: the "
                          "deployment's, else the feature views in the model version's lineage)")


class DeploymentCreate(BaseModel):
    name: DeploymentName
    variants: list[VariantSpec] = Field(min_length=1, max_length=20)
    description: str | None = Field(None, max_length=2000)
    feature_service: FeatureServiceName | None = Field(
        None, description="default feature service of every variant that names none")
    sampling_percentage: Percentage = Field(
        100.0, description="share of requests whose inputs and predictions are logged (0-100)")

    @field_validator("variants")
    @classmethod
    def _check(cls, variants: list[VariantSpec]) -> list[VariantSpec]:
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        primaries = [v for v in variants if v.role == Role.primary]
        if not primaries or sum(v.weight for v in primaries) <= 0:
            raise ValueError("at least one primary variant with a weight above 0 is required")
        return variants


class SamplingChange(BaseModel):
    """The share of requests a deployment logs (replicas apply it at their next sync)."""

    sampling_percentage: Percentage


class TrafficChange(BaseModel):
    """New weights by variant name (variants not named keep theirs)."""

    weights: dict[VariantName, Weight] = Field(min_length=1)
    reason: str | None = Field(None, max_length=2000)


#: the metrics a quality guard can compare (monitoring.performance computes them)
QualityMetric = Literal["accuracy", "precision", "recall", "f1", "precision_macro", "recall_macro", "f1_macro",
                        "roc_auc", "log_loss", "rmse", "mae", "r2"]


class QualityGuard(BaseModel):
    """The candidate's live ``metric`` may be worse than the champion's (the variant it replaces) by at
    most ``margin``, both measured on the requests each served since the rollout started: from pushed
    labels (``source: labels``) or estimated from predicted probabilities without labels (``estimated``,
    CBPE; classifiers whose logs hold ``proba_<class>`` columns). A step passes only once each variant
    has ``min_labels`` labeled (or, estimated, scored) predictions."""

    metric: QualityMetric
    source: Literal["labels", "estimated"] = "labels"
    margin: float = Field(0.0, ge=0, le=1e9, description="how much worse the candidate may be (absolute)")
    min_labels: int = Field(20, ge=1, le=1_000_000)


class QualityReading(BaseModel):
    """What a quality guard measured: the metric of the candidate and of the champion."""

    metric: str
    source: str
    candidate: float | None = None
    champion: float | None = None
    candidate_n: int = 0
    champion_n: int = 0
    note: str | None = None


class Guards(BaseModel):
    """A canary step holds while these hold for the candidate; any breach rolls back at once."""

    max_error_rate: float = Field(0.05, ge=0, le=1)
    max_p95_ms: float | None = Field(None, gt=0)
    min_requests: int = Field(20, ge=1, le=1_000_000, description="requests a step needs before it can pass")
    metrics: dict[str, Annotated[str, StringConstraints(min_length=2, max_length=60)]] = Field(
        default_factory=dict, description='monitoring metrics the candidate must satisfy, e.g. {"drift": "<= 0.2"}')
    quality: list[QualityGuard] = Field(default_factory=list, max_length=12,
                                        description="live metrics the candidate must match the champion on")

    @field_validator("quality")
    @classmethod
    def _distinct(cls, quality: list[QualityGuard]) -> list[QualityGuard]:
        keys = [(q.metric, q.source) for q in quality]
        if len(set(keys)) != len(keys):
            raise ValueError("each (metric, source) may be guarded once")
        return quality


class RolloutStart(BaseModel):
    """Start a canary of ``candidate`` against the deployment's primary variant."""

    candidate: ModelUri
    steps: list[Annotated[float, Field(gt=0, le=100)]] = Field(default_factory=lambda: [10.0, 50.0, 100.0],
                                                                min_length=1, max_length=20)
    step_seconds: float = Field(30.0, ge=0, le=86_400)
    guards: Guards = Field(default_factory=Guards)
    reason: str | None = Field(None, max_length=2000)

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError("steps must increase, e.g. [10, 50, 100]")
        return steps


class RolloutAbort(BaseModel):
    reason: str | None = Field(None, max_length=2000)


class VariantStats(BaseModel):
    """What one replica measured for one variant since its last report."""

    requests: int = Field(0, ge=0)
    errors: int = Field(0, ge=0, description="model failures and server errors (5xx); the canary guard's count")
    client_errors: int = Field(0, ge=0, description="bad requests (4xx); not held against the variant")
    latency_buckets: list[int] = Field(default_factory=list, description="counts per LATENCY_BUCKETS_MS bucket")
    metrics: dict[str, float] = Field(default_factory=dict)


class ReplicaReport(BaseModel):
    """A replica's heartbeat: health, what it has loaded, and its measurements since the last report."""

    status: Status = Status.healthy
    message: str | None = Field(None, max_length=4000)
    loaded: dict[str, int] = Field(default_factory=dict, description="variant -> loaded model version")
    stats: dict[str, VariantStats] = Field(default_factory=dict)


class Variant(BaseModel):
    name: str
    model: str
    weight: float
    role: Role
    model_name: str
    feature_service: str | None = None
    version: int | None = None  # what the model URI resolves to now
    version_id: str | None = None
    manifest_digest: str | None = None
    feature_views: list[str] = Field(default_factory=list)  # from the version's lineage


class StepStats(BaseModel):
    requests: int = 0
    errors: int = 0
    client_errors: int = 0
    error_rate: float | None = None
    p95_ms: float | None = None
    quality: list[QualityReading] = Field(default_factory=list)


class Rollout(BaseModel):
    id: str
    state: str  # running | promoted | rolled_back
    candidate: str
    candidate_version: int
    variant: str
    steps: list[float]
    step_index: int
    weight: float
    step_seconds: float
    guards: Guards
    stats: StepStats
    reason: str | None = None
    started_at: dt.datetime
    step_started_at: dt.datetime
    finished_at: dt.datetime | None = None


class Replica(BaseModel):
    id: str
    status: Status
    message: str | None = None
    loaded: dict[str, int] = Field(default_factory=dict)
    seen_at: dt.datetime


class Deployment(BaseModel):
    id: str
    name: str
    project: str = "default"
    mode: Mode
    status: Status
    variants: list[Variant]
    description: str | None = None
    rollout: Rollout | None = None
    replicas: list[Replica] = Field(default_factory=list)
    sampling_percentage: float = 100.0
    created_at: dt.datetime
    updated_at: dt.datetime


class HistoryEntry(BaseModel):
    kind: str  # created | traffic | rollout_started | rollout_step | promoted | rolled_back
    weights: dict[str, float]
    before: dict[str, float] | None = None
    reason: str | None = None
    actor: str | None = None
    at: dt.datetime


class InferenceLogFile(BaseModel):
    digest: str
    rows: int
    size: int
    first_at: dt.datetime
    last_at: dt.datetime
    replica: str | None = None
    created_at: dt.datetime


def uri_parts(uri: str) -> tuple[str, str | None, str | None]:
    """``models:/NAME@ALIAS`` → (name, alias, None); ``models:/NAME/REF`` → (name, None, ref)."""
    rest = uri.removeprefix("models:/")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        return name, alias, None
    name, _, ref = rest.partition("/")
    return name, None, ref


def p95(buckets: list[int]) -> float | None:
    """The 95th percentile (a bucket's upper bound, ms) of a latency histogram."""
    total = sum(buckets)
    if not total:
        return None
    need, seen = 0.95 * total, 0
    for bound, count in zip(LATENCY_BUCKETS_MS, buckets, strict=False):
        seen += count
        if seen >= need:
            return bound
    return LATENCY_BUCKETS_MS[-1]


def merge_buckets(a: list[int], b: list[int]) -> list[int]:
    n = max(len(a), len(b))
    return [(a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) for i in range(n)]


JsonDict = dict[str, Any]
