"""Alert tables: rules, alerts, silences, channels, deliveries and the events already evaluated.
Only ``alerts.service`` (and its delivery loop in ``alerts.delivery``) writes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mainsail.core.db import Base, UTCDateTime
from mainsail.core.projects import InProject


class AlertRuleRow(InProject, Base):
    """A rule: which monitor results it watches (selector), when they alert (condition, for), how loud."""

    __tablename__ = "alert_rules"
    __table_args__ = (UniqueConstraint("project", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    selector: Mapped[dict[str, Any]] = mapped_column(JSON)
    condition: Mapped[str] = mapped_column(String(500))
    for_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    severity: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    channels: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)  # None: every enabled channel
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AlertRow(Base):
    """One alert of a rule for one label set. While it is open (pending or firing) ``open_key`` holds its
    fingerprint, whose unique index keeps one open alert per rule and label set; resolved alerts keep
    their history with ``open_key`` NULL."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_state", "state", "started_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(32), index=True)
    rule: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    open_key: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))  # pending | firing | resolved
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the result's status
    summary: Mapped[str] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_event_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    muted: Mapped[bool] = mapped_column(Boolean, default=False)  # fired under a silence, not notified yet


class SilenceRow(InProject, Base):
    """Mutes notifications of its project's alerts whose labels match every matcher, until ``ends_at``."""

    __tablename__ = "alert_silences"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    matchers: Mapped[dict[str, Any]] = mapped_column(JSON)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class ChannelRow(InProject, Base):
    """A notification channel. Everything secret (webhook URL, SMTP password, headers) is in ``secret``,
    one text column, so it can be encrypted at rest in one place; it is never returned by the API."""

    __tablename__ = "alert_channels"
    __table_args__ = (UniqueConstraint("project", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # webhook | slack | email | log
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    min_severity: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DeliveryRow(Base):
    """One notification of one alert transition to one channel, sent by the delivery loop (retried with
    exponential backoff), never inside the transaction that fired the alert."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(32), index=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(200))
    transition: Mapped[str] = mapped_column(String(16))  # fired | resolved | test
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EvaluatedEventRow(Base):
    """Events the rules were evaluated on: redelivering one (at least once) evaluates nothing twice."""

    __tablename__ = "alert_evaluated_events"

    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    evaluated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
