"""Costs tables. Only ``costs.service`` (and its helpers in this package) writes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mainsail.core.db import Base, BigId, UTCDateTime


class UsageRow(Base):
    """Measured usage of one pipeline task attempt, one tracked run, or one replica's interval.

    ``kind`` is ``task``, ``run`` or ``replica``; the attribution columns that apply are set (a task:
    ``pipeline``, ``pipeline_run``, ``task``; a run: ``run_id``, ``experiment``; a replica:
    ``deployment``, ``replica``, ``model``). ``billable`` is false for a tracked run measured inside a
    pipeline task (the task's row already counts it)."""

    __tablename__ = "cost_usage"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    pipeline: Mapped[str | None] = mapped_column(String(200))
    pipeline_run: Mapped[str | None] = mapped_column(String(64))
    task: Mapped[str | None] = mapped_column(String(200))
    run_id: Mapped[str | None] = mapped_column(String(64))
    experiment: Mapped[str | None] = mapped_column(String(200))
    deployment: Mapped[str | None] = mapped_column(String(200))
    replica: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    wall_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    peak_memory: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes
    gpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    cpu_request: Mapped[float | None] = mapped_column(Float)  # cores reserved (None: not known)
    memory_request: Mapped[int | None] = mapped_column(BigInteger)  # bytes reserved
    gpu_request: Mapped[float | None] = mapped_column(Float)  # GPUs reserved (a task's declared resources)
    attempt: Mapped[int] = mapped_column(BigInteger, default=1)
    retries: Mapped[int] = mapped_column(BigInteger, default=0)  # retries the task declares (retry-safe if > 0)
    status: Mapped[str | None] = mapped_column(String(16))
    spot: Mapped[bool] = mapped_column(Boolean, default=False)
    billable: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        Index("ix_cost_usage_project_ended", "project", "ended_at"),
        Index("ix_cost_usage_run", "run_id"),
    )


class PriceSheetRow(Base):
    """A project's prices (a project without a row uses the defaults)."""

    __tablename__ = "cost_prices"

    project: Mapped[str] = mapped_column(String(200), primary_key=True)
    prices: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class BudgetRow(Base):
    """A spending limit per period with the fractions of it that raise alerts."""

    __tablename__ = "cost_budgets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    amount: Mapped[float] = mapped_column(Float)
    period: Mapped[str] = mapped_column(String(16))
    thresholds: Mapped[list[float]] = mapped_column(JSON)
    severity: Mapped[str] = mapped_column(String(16))
    channels: Mapped[list[str] | None] = mapped_column(JSON)
    last_spent: Mapped[float | None] = mapped_column(Float)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("project", "name", name="uq_cost_budgets_project_name"),)


class RetentionRow(Base):
    """A project's retention rules (``None``: keep for ever)."""

    __tablename__ = "cost_retention"

    project: Mapped[str] = mapped_column(String(200), primary_key=True)
    runs_days: Mapped[float | None] = mapped_column(Float)
    inference_logs_days: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class UsageRollupRow(Base):
    """Usage summed per hour and per day (of ``ended_at``, UTC) and subject: what a cost report over whole
    days and hours reads instead of the raw records. Kept by :mod:`mainsail.costs.rollup` in the
    transaction that writes the records. ``span_hours`` is 1 or 24 and ``start`` the span's first instant.
    The subject columns hold ``''`` for "none" (so the key is unique without NULLs); run ids are not
    rolled up (a report by run or by model reads the records)."""

    __tablename__ = "cost_usage_rollup"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(200))
    span_hours: Mapped[int] = mapped_column(Integer)
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    pipeline: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(200))
    deployment: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    spot: Mapped[bool] = mapped_column(Boolean)
    billable: Mapped[bool] = mapped_column(Boolean)
    records: Mapped[int] = mapped_column(BigInteger)
    wall: Mapped[float] = mapped_column(Float)  # wall seconds
    cpu: Mapped[float] = mapped_column(Float)  # billed core-seconds (the reservation, or what was used if more)
    mem: Mapped[float] = mapped_column(Float)  # billed byte-seconds of memory
    gpu: Mapped[float] = mapped_column(Float)  # billed GPU-seconds
    requests: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("project", "span_hours", "start", "kind", "pipeline", "task", "deployment", "model", "spot",
                         "billable", name="uq_cost_usage_rollup_key"),
    )
