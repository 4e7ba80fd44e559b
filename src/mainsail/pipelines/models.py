"""Pipeline tables. Only ``pipelines.service`` and its hot path ``pipelines.queue`` write them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
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


class PipelineRow(InProject, Base):
    """A pipeline; its versions, runs and schedules belong to its project. Names are unique per project."""

    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("project", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    latest_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PipelineVersionRow(Base):
    """One immutable definition; a changed definition is a new version."""

    __tablename__ = "pipeline_versions"
    __table_args__ = (UniqueConstraint("pipeline_id", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PipelineRunRow(InProject, Base):
    """A run; ``project`` is its pipeline's, ``started_by`` the principal its tasks act as (see
    :func:`mainsail.core.principal.principal_record`; NULL for runs made before: the local admin)."""

    __tablename__ = "pipeline_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id"), index=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("pipeline_versions.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued|running|succeeded|failed|cancelled
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(200))
    started_by: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PipelineTaskRow(Base):
    """One task of one run; also the work queue (``status='queued'`` rows are claimable)."""

    __tablename__ = "pipeline_tasks"
    __table_args__ = (
        UniqueConstraint("run_id", "name"),
        Index("ix_pipeline_tasks_queue", "status", "available_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("pipeline_runs.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    operator: Mapped[str] = mapped_column(String(100))
    # pending (waiting on upstream) | queued | running | succeeded | failed | skipped | cancelled
    status: Mapped[str] = mapped_column(String(16))
    remaining: Mapped[int] = mapped_column(Integer)  # upstream tasks not yet succeeded
    downstream: Mapped[list[str]] = mapped_column(JSON, default=list)
    available_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempt: Mapped[int] = mapped_column(Integer, default=0)  # times claimed
    failures: Mapped[int] = mapped_column(Integer, default=0)  # times the task itself failed
    lost: Mapped[int] = mapped_column(Integer, default=0)  # times its worker vanished (lease expired)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cache_key: Mapped[str | None] = mapped_column(String(64))
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    output: Mapped[Any | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    log_digest: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    seconds: Mapped[float | None] = mapped_column(Float)


class TaskCacheRow(Base):
    """Outputs of deterministic tasks by the hash of their operator and rendered inputs."""

    __tablename__ = "pipeline_task_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    output: Mapped[Any | None] = mapped_column(JSON)
    run_id: Mapped[str] = mapped_column(String(32))
    task: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ScheduleRow(Base):
    """A cron schedule or an event trigger that starts runs of a pipeline."""

    __tablename__ = "pipeline_schedules"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # cron | event
    cron: Mapped[str | None] = mapped_column(String(100))
    event_type: Mapped[str | None] = mapped_column(String(100))
    filter: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_fire_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    last_fired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(200))
    owner: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # the principal its runs act as
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class TriggerFireRow(Base):
    """One firing of a schedule: ``key`` is ``event:<id>`` or ``cron:<time>``. The primary key makes
    each event (or cron tick) start at most one run, however often it is delivered."""

    __tablename__ = "pipeline_trigger_fires"

    schedule_id: Mapped[str] = mapped_column(ForeignKey("pipeline_schedules.id", ondelete="CASCADE"),
                                             primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32))
    fired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
