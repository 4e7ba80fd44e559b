"""Loop pydantic types: a policy (what triggers it, which pipeline retrains, how the candidate is
gated and canaried), its runs and their recorded steps."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from mainsail.core.types import ObjectName
from mainsail.serving.schemas import Guards

Threshold = Annotated[str, StringConstraints(min_length=2, max_length=60)]
STEPS = ("detected", "retrain_started", "retrain_finished", "retrain_failed", "gate_passed", "gate_failed",
         "registered", "canary_started", "canary_step", "promoted", "rolled_back", "failed")


class Canary(BaseModel):
    """How the retrained candidate is canaried: traffic steps, seconds per step and the guards; at least
    one quality guard (the candidate's live metric, from labels or estimated, no worse than the
    champion's by its margin)."""

    model_config = ConfigDict(extra="forbid")

    steps: list[Annotated[float, Field(gt=0, le=100)]] = Field(default_factory=lambda: [10.0, 50.0, 100.0],
                                                                min_length=1, max_length=20)
    step_seconds: float = Field(60.0, ge=0, le=86_400)
    guards: Guards = Field(default_factory=lambda: Guards(quality=[{"metric": "roc_auc"}]))

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError("steps must increase, e.g. [10, 50, 100]")
        return steps

    @field_validator("guards")
    @classmethod
    def _quality(cls, guards: Guards) -> Guards:
        if not guards.quality:
            raise ValueError("a loop canaries with at least one quality guard (guards.quality: "
                             "[{'metric': 'roc_auc', 'source': 'labels', 'margin': 0.01}])")
        return guards


class LoopPolicyCreate(BaseModel):
    """On ``drift.detected`` for ``deployment`` (or ``alert.fired`` by rule ``alert_rule``) run
    ``pipeline`` with ``params``; the version of the deployment's model it registers (named by task
    ``candidate_task``'s output, else found in the run's outputs) must pass ``gate`` (thresholds on the
    version's metrics), then is canaried (``canary``) and promoted, or rolled back with the reason. One
    episode at a time; detections while it runs, and for ``cooldown_seconds`` after, are counted, not
    acted on."""

    model_config = ConfigDict(extra="forbid")

    name: ObjectName
    deployment: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    pipeline: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    trigger: Literal["drift", "alert"] = "drift"
    alert_rule: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="the retrain run's params; ${event.…} "
                                                                     "takes a value of the trigger event")
    candidate_task: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    gate: dict[Annotated[str, StringConstraints(min_length=1, max_length=100)], Threshold] = Field(
        default_factory=dict, description='thresholds on the candidate version\'s metrics, e.g. {"auc": ">= 0.7"}')
    canary: Canary = Field(default_factory=Canary)
    cooldown_seconds: float = Field(600.0, ge=0, le=30 * 86_400)
    retrain_timeout_seconds: float = Field(3600.0, gt=0, le=7 * 86_400)
    description: str | None = Field(None, max_length=5000)
    enabled: bool = True

    @model_validator(mode="after")
    def _alert_rule(self) -> LoopPolicyCreate:
        if self.trigger == "alert" and not self.alert_rule:
            raise ValueError("trigger 'alert' needs alert_rule (the rule whose alert.fired starts a retrain)")
        if self.trigger == "drift" and self.alert_rule:
            raise ValueError("alert_rule goes with trigger 'alert'")
        return self


class LoopPolicy(LoopPolicyCreate):
    id: str
    active_run_id: str | None = None
    cooldown_until: dt.datetime | None = None
    created_by: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class LoopStep(BaseModel):
    step: str
    outcome: str  # ok | failed | info
    detail: str
    data: dict[str, Any] = Field(default_factory=dict)
    at: dt.datetime


class LoopRun(BaseModel):
    """One episode of a policy: what triggered it, what it did (its steps, each with its time and
    outcome) and how it ended."""

    id: str
    policy: str
    deployment: str
    state: str  # running | promoted | rolled_back | failed
    stage: str  # retraining | canary | done
    trigger: dict[str, Any]
    pipeline_run_id: str | None = None
    candidate: str | None = None
    candidate_version: int | None = None
    champion_version: int | None = None
    rollout_id: str | None = None
    suppressed: int = 0
    reason: str | None = None
    detected_at: dt.datetime
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    seconds: float | None = Field(None, description="from detection to the end")
    steps: list[LoopStep] = Field(default_factory=list)
