"""Data-layer tables. Only ``data.service`` writes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mainsail.core.db import Base, UTCDateTime
from mainsail.core.projects import InProject


class DatasetRow(InProject, Base):
    """A dataset; its versions belong to its project. Names are unique per project."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # the version most recently ingested (NULL: the highest number); moves back to an older version
    # when its exact bytes are ingested again
    latest_version_id: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)


class DatasetVersionRow(Base):
    """An immutable version: its Parquet object (by SHA-256) and what was recorded about it. ``id`` is
    the digest's first 16 hex characters; ``number`` counts the dataset's versions from 1."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "digest", name="uq_dataset_versions_dataset_digest"),
        UniqueConstraint("dataset_id", "number", name="uq_dataset_versions_dataset_number"),
    )

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    row_count: Mapped[int] = mapped_column(BigInteger)
    schema: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    description: Mapped[str | None] = mapped_column(Text)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ValidationResultRow(Base):
    __tablename__ = "validation_results"
    __table_args__ = (
        ForeignKeyConstraint(["dataset_id", "version_id"], ["dataset_versions.dataset_id", "dataset_versions.id"],
                             name="fk_validation_results_version", ondelete="CASCADE"),
        Index("ix_validation_results_version", "dataset_id", "version_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(32))
    version_id: Mapped[str] = mapped_column(String(64))
    suite: Mapped[str] = mapped_column(String(256))
    passed: Mapped[bool] = mapped_column(Boolean)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    row_count: Mapped[int] = mapped_column(BigInteger)
    seconds: Mapped[float | None] = mapped_column(default=None)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
