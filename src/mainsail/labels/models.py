"""Labels tables. Only ``labels.service`` writes them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mainsail.core.db import Base, UTCDateTime


class LabelRow(Base):
    """The ground truth of one served prediction, upserted by (deployment, request id)."""

    __tablename__ = "labels"

    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # serving's id (no FK: labels outlive)
    request_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))  # the label as text (1, 0.25, "churned", true)
    number: Mapped[float | None] = mapped_column(Float)  # the label as a number when it is one
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_labels_updated", "deployment_id", "updated_at"),)
