"""Registry tables. Only ``registry.service`` writes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mainsail.core.db import Base, BigId, UTCDateTime
from mainsail.core.projects import InProject


class RegisteredModelRow(InProject, Base):
    """A registered model; its versions, aliases and history belong to its project. Names are unique per project."""

    __tablename__ = "registered_models"
    __table_args__ = (UniqueConstraint("project", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    next_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(16), index=True)
    framework: Mapped[str] = mapped_column(String(50))
    source: Mapped[str | None] = mapped_column(String(1000))
    run_id: Mapped[str | None] = mapped_column(String(32), index=True)  # a Mainsail run it came from
    # files elsewhere (MLflow's create_model_version with any source): that source, and the run id given
    # with it when it is not a Mainsail run; a version with an external source has no files here
    external_source: Mapped[str | None] = mapped_column(String(1000))
    external_run_id: Mapped[str | None] = mapped_column(String(256))
    files: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # relative path -> {"digest", "size"}
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    package: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the package manifest, when packaged
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    card: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AliasRow(Base):
    __tablename__ = "model_aliases"

    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class TransitionRow(Base):
    """Every stage or alias move: who, when, from, to."""

    __tablename__ = "model_transitions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True,
                                    autoincrement=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id"), index=True)
    version_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # "registered" | "stage" | "alias" | "alias_deleted"
    name: Mapped[str | None] = mapped_column(String(100))  # alias name for alias moves
    from_value: Mapped[str | None] = mapped_column(String(100))
    to_value: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
