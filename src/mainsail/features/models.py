"""Feature store tables. Only ``features.service`` writes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from mainsail.core.db import Base, UTCDateTime
from mainsail.core.principal import DEFAULT_PROJECT
from mainsail.core.projects import PROJECT_LENGTH, InProject


class FeatureDefinitionRow(Base):
    """Every version of every entity, view and service; the highest version is the current one."""

    __tablename__ = "feature_definitions"

    project: Mapped[str] = mapped_column(String(PROJECT_LENGTH), primary_key=True, default=DEFAULT_PROJECT,
                                         server_default=text(f"'{DEFAULT_PROJECT}'"))
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class FeatureViewStateRow(Base):
    """Per view: the materialization watermark (written last) and usage counters."""

    __tablename__ = "feature_view_state"

    project: Mapped[str] = mapped_column(String(PROJECT_LENGTH), primary_key=True, default=DEFAULT_PROJECT,
                                         server_default=text(f"'{DEFAULT_PROJECT}'"))
    view: Mapped[str] = mapped_column(String(200), primary_key=True)
    materialized_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_materialized_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    pushed_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    online_reads: Mapped[int] = mapped_column(BigInteger, default=0)
    offline_reads: Mapped[int] = mapped_column(BigInteger, default=0)


class FeaturePushBatchRow(InProject, Base):
    """Rows pushed to a view, kept as one Parquet object in the artifact store (the offline append)."""

    __tablename__ = "feature_push_batches"
    __table_args__ = (Index("ix_feature_push_batches_view", "view", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    view: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
