"""Serving tables. Only ``serving.service`` writes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mainsail.core.db import Base, BigId, UTCDateTime
from mainsail.core.projects import InProject


class DeploymentRow(InProject, Base):
    """A deployment; its history, rollouts, replicas and inference logs belong to its project."""

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("project", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{"name", "model", "weight", "role"}]
    sampling_percentage: Mapped[float] = mapped_column(Float, default=100.0, server_default="100")
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DeploymentHistoryRow(Base):
    """Every traffic change: what the weights were and became, why, who, when."""

    __tablename__ = "deployment_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # the full variant list after the change
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RolloutRow(Base):
    __tablename__ = "deployment_rollouts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # running | promoted | rolled_back
    candidate: Mapped[str] = mapped_column(String(400))
    candidate_version: Mapped[int] = mapped_column(Integer)
    variant: Mapped[str] = mapped_column(String(60))
    steps: Mapped[list[float]] = mapped_column(JSON)
    step_index: Mapped[int] = mapped_column(Integer)
    step_seconds: Mapped[float] = mapped_column(Float)
    guards: Mapped[dict[str, Any]] = mapped_column(JSON)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON)  # the candidate's counts in the current step
    previous: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # the variants before the rollout
    reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    step_started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ReplicaRow(Base):
    __tablename__ = "deployment_replicas"

    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), primary_key=True)
    replica_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text)
    loaded: Mapped[dict[str, Any]] = mapped_column(JSON)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class InferenceLogRow(Base):
    """One Parquet file of inference logs in the artifact store."""

    __tablename__ = "inference_logs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), index=True)
    digest: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    replica: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
