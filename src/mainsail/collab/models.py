"""Collaboration tables: comments, review requests and their responses, approval policies, watches, the
activity projection of the events, notifications and delivery preferences. Only ``collab.service`` and
``collab.feed`` write them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mainsail.core.db import Base, BigId, UTCDateTime


class CommentRow(Base):
    """A markdown comment on one object (kind + key), with the users it mentions."""

    __tablename__ = "collab_comments"
    __table_args__ = (Index("ix_collab_comments_object", "project", "object_kind", "object_key", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128), server_default="default")
    object_kind: Mapped[str] = mapped_column(String(32))
    object_key: Mapped[str] = mapped_column(String(400))
    label: Mapped[str] = mapped_column(String(400))
    parent_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)  # a version's model, …
    parent_key: Mapped[str | None] = mapped_column(String(400), nullable=True)
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    mentions: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ReviewRow(Base):
    """A request that named reviewers review one object (a model version, a dataset version, a pipeline)."""

    __tablename__ = "collab_reviews"
    __table_args__ = (Index("ix_collab_reviews_object", "project", "object_kind", "object_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128), server_default="default")
    object_kind: Mapped[str] = mapped_column(String(32))
    object_key: Mapped[str] = mapped_column(String(400))
    label: Mapped[str] = mapped_column(String(400))
    parent_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    parent_key: Mapped[str | None] = mapped_column(String(400), nullable=True)
    object_author: Mapped[str | None] = mapped_column(String(200), nullable=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    reviewers: Mapped[list[str]] = mapped_column(JSON)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(32))  # pending | approved | changes_requested | closed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ReviewResponseRow(Base):
    """One reviewer's verdict on a review (the latest one per reviewer counts)."""

    __tablename__ = "collab_review_responses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    review_id: Mapped[int] = mapped_column(BigInteger, index=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(32))  # approve | request_changes
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PolicyRow(Base):
    """A project's approval policy for model versions entering production or taking a protected alias."""

    __tablename__ = "collab_policies"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    required_approvals: Mapped[int] = mapped_column(Integer, default=0)
    count_author: Mapped[bool] = mapped_column(Boolean, default=False)
    protected_aliases: Mapped[list[str]] = mapped_column(JSON)
    updated_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WatchRow(Base):
    """A user watching an object (or a whole project: kind ``project``)."""

    __tablename__ = "collab_watches"
    __table_args__ = (UniqueConstraint("project", "object_kind", "object_key", "user"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128), server_default="default")
    object_kind: Mapped[str] = mapped_column(String(32))
    object_key: Mapped[str] = mapped_column(String(400))
    label: Mapped[str] = mapped_column(String(400))
    user: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ActivityRow(Base):
    """One event as the feeds read it: its project, the object it is about (and that object's parent, e.g.
    a version's model) and who did it. Keyed by the event id, so projecting an event twice is harmless."""

    __tablename__ = "collab_activity"
    __table_args__ = (
        Index("ix_collab_activity_project", "project", "event_id"),
        Index("ix_collab_activity_object", "project", "object_kind", "object_key", "event_id"),
        Index("ix_collab_activity_parent", "project", "parent_kind", "parent_key", "event_id"),
        Index("ix_collab_activity_actor", "project", "actor", "event_id"),
    )

    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    project: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(100))
    object_kind: Mapped[str] = mapped_column(String(32))
    object_key: Mapped[str] = mapped_column(String(400))
    parent_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    parent_key: Mapped[str | None] = mapped_column(String(400), nullable=True)
    label: Mapped[str | None] = mapped_column(String(400), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class FeedCursorRow(Base):
    """How far the activity projection has read the events (one row, locked while it advances)."""

    __tablename__ = "collab_feed_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class NotificationRow(Base):
    """One entry of a user's inbox."""

    __tablename__ = "collab_notifications"
    __table_args__ = (Index("ix_collab_notifications_user", "user", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128), server_default="default")
    user: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # mention | review_request | review | stage_change | …
    title: Mapped[str] = mapped_column(Text)
    object_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    object_key: Mapped[str | None] = mapped_column(String(400), nullable=True)
    label: Mapped[str | None] = mapped_column(String(400), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    event_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PreferenceRow(Base):
    """Where a user's notifications are also sent: alert channels (email, Slack, webhook), and which kinds."""

    __tablename__ = "collab_preferences"

    user: Mapped[str] = mapped_column(String(200), primary_key=True)
    channels: Mapped[list[str]] = mapped_column(JSON)
    kinds: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)  # None: every kind
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
