"""Loop tables: policies, their runs (one per drift or alert episode), each run's recorded steps, and
the trigger events each policy has handled. Only ``loops.service`` writes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mainsail.core.db import Base, BigId, UTCDateTime
from mainsail.core.projects import InProject


class LoopPolicyRow(InProject, Base):
    """A policy of one project: it watches that project's deployment and retrains with its pipeline."""

    __tablename__ = "loop_policies"
    __table_args__ = (UniqueConstraint("project", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    trigger: Mapped[str] = mapped_column(String(16))  # drift | alert
    alert_rule: Mapped[str | None] = mapped_column(String(200))
    pipeline: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # params, candidate_task, gate, canary, timeouts
    cooldown_seconds: Mapped[float] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    active_run_id: Mapped[str | None] = mapped_column(String(32))  # the episode in progress: one at a time
    cooldown_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LoopRunRow(InProject, Base):
    """One episode: detected → retraining → canary → promoted | rolled_back | failed (in its policy's project)."""

    __tablename__ = "loop_runs"
    __table_args__ = (Index("ix_loop_runs_active", "state", "stage"), Index("ix_loop_runs_project", "project"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("loop_policies.id", ondelete="CASCADE"), index=True)
    policy: Mapped[str] = mapped_column(String(200))
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    state: Mapped[str] = mapped_column(String(16))  # running | promoted | rolled_back | failed
    stage: Mapped[str] = mapped_column(String(16))  # retraining | canary | done
    trigger_event_id: Mapped[int] = mapped_column(BigInteger)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON)
    pipeline_run_id: Mapped[str | None] = mapped_column(String(32))
    candidate: Mapped[str | None] = mapped_column(String(300))
    candidate_version: Mapped[int | None] = mapped_column(Integer)
    champion_version: Mapped[int | None] = mapped_column(Integer)
    rollout_id: Mapped[str | None] = mapped_column(String(32))
    canary_step: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LoopStepRow(Base):
    __tablename__ = "loop_steps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("loop_runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))  # ok | failed | info
    detail: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LoopTriggerRow(Base):
    """A trigger event a policy handled: the primary key lets one server (and one redelivery) act on it."""

    __tablename__ = "loop_triggers"

    policy_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    run_id: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))  # started | suppressed
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
