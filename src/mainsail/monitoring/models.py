"""Monitoring tables: monitors, their runs and their results (time series). Only
``monitoring.service`` writes them."""

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


class MonitorRow(InProject, Base):
    """A monitor of a deployment or dataset of its project. Names are unique per project."""

    __tablename__ = "monitors"
    __table_args__ = (UniqueConstraint("project", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    deployment: Mapped[str | None] = mapped_column(String(100), index=True)
    dataset: Mapped[str | None] = mapped_column(String(200), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # reference, window, features, drift, quality, metrics
    schedule: Mapped[str | None] = mapped_column(String(120))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    last_window_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class MonitorRunRow(Base):
    __tablename__ = "monitor_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    monitor_id: Mapped[str] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # succeeded | failed
    trigger: Mapped[str] = mapped_column(String(16))  # manual | schedule | event
    window_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    window_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    windows: Mapped[int] = mapped_column(Integer, default=0)
    results: Mapped[int] = mapped_column(Integer, default=0)
    drifted_windows: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class MonitorResultRow(Base):
    """One value of a monitor's time series: per window, kind, feature, test and variant ('' for none).
    A rerun of a window replaces its rows (the unique key keeps one)."""

    __tablename__ = "monitor_results"
    __table_args__ = (
        UniqueConstraint("monitor_id", "window_start", "window_end", "kind", "feature", "test", "variant",
                         name="uq_monitor_results_key"),
        Index("ix_monitor_results_series", "monitor_id", "kind", "feature", "window_end"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    monitor_id: Mapped[str] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(String(32))
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    feature: Mapped[str] = mapped_column(String(200), default="")
    test: Mapped[str] = mapped_column(String(60), default="")
    variant: Mapped[str] = mapped_column(String(60), default="")
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))
    estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    rows: Mapped[int] = mapped_column(Integer, default=0)
