"""Collaboration pydantic types: comments, reviews and policies, activity, watches, inbox and preferences."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from mainsail.core.types import PositiveInt64

ObjectKind = Literal["run", "model", "model_version", "dataset", "dataset_version", "pipeline", "deployment",
                     "alert"]
ReviewKind = Literal["model_version", "dataset_version", "pipeline"]
WatchKind = Literal["run", "model", "model_version", "dataset", "dataset_version", "pipeline", "deployment",
                    "alert", "monitor", "project"]
NotificationKind = Literal["mention", "comment", "review_request", "review", "stage_change", "model_ready",
                           "alert"]
NOTIFICATION_KINDS: tuple[str, ...] = ("mention", "comment", "review_request", "review", "stage_change",
                                       "model_ready", "alert")
Verdict = Literal["approve", "request_changes"]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=400)]
UserName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Markdown = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
ObjId = PositiveInt64
ReviewStatus = Literal["pending", "approved", "changes_requested", "closed"]
EventType = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class CommentCreate(BaseModel):
    """A comment on an object: ``kind`` and ``ref`` (a name, an id, ``model/3`` for a model version,
    ``dataset@version`` for a dataset version). ``@name`` in the text mentions a user."""

    kind: ObjectKind
    ref: Ref
    text: Markdown


class CommentEdit(BaseModel):
    text: Markdown


class ObjectInfo(BaseModel):
    kind: str
    key: str = Field(description="The object's stable key: a name, an id, or dataset@version-id.")
    label: str = Field(description="How to show it: 'churn v3'.")


class Comment(BaseModel):
    id: int
    project: str
    object: ObjectInfo
    author: str
    text: str
    mentions: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    edited: bool


class ReviewCreate(BaseModel):
    """Ask named reviewers to review a model version (``model/3``), a dataset version or a pipeline."""

    kind: ReviewKind
    ref: Ref
    reviewers: Annotated[list[UserName], Field(min_length=1, max_length=50)]
    comment: Annotated[str, StringConstraints(max_length=20_000)] | None = None


class ReviewResponseCreate(BaseModel):
    """A reviewer's verdict: ``approve`` or ``request_changes``, with an optional comment."""

    verdict: Verdict
    comment: Annotated[str, StringConstraints(max_length=20_000)] | None = None


class ReviewResponse(BaseModel):
    reviewer: str
    verdict: Verdict
    comment: str | None
    created_at: dt.datetime


class Review(BaseModel):
    id: int
    project: str
    object: ObjectInfo
    object_author: str | None
    requested_by: str
    reviewers: list[str]
    comment: str | None
    status: ReviewStatus
    approved_by: list[str]
    changes_requested_by: list[str]
    responses: list[ReviewResponse]
    created_at: dt.datetime
    updated_at: dt.datetime


class PolicySet(BaseModel):
    """How many approvals a model version needs before it enters ``production`` or takes a protected alias,
    and whether its author's own approval counts."""

    required_approvals: Annotated[int, Field(ge=0, le=20)] = 0
    count_author: bool = False
    protected_aliases: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=100)]],
                                 Field(max_length=50)] = Field(default_factory=list)


class Policy(PolicySet):
    project: str
    updated_by: str | None = None
    updated_at: dt.datetime | None = None


class Approvals(BaseModel):
    """Where an object stands against the project's policy."""

    object: ObjectInfo
    required: int
    counted: list[str] = Field(description="Reviewers whose latest verdict is approve and who count.")
    not_counted: list[str] = Field(description="Approvals that do not count (the author's, under the policy).")
    changes_requested_by: list[str]
    missing: int
    satisfied: bool


class Activity(BaseModel):
    id: int = Field(description="The event id (newest first; pages go back in time).")
    type: str
    object: ObjectInfo
    parent: ObjectInfo | None = None
    actor: str | None
    summary: str
    payload: dict[str, Any]
    created_at: dt.datetime


class WatchCreate(BaseModel):
    """Watch an object (kind ``project`` with the project's name: every model ready for production)."""

    kind: WatchKind
    ref: Ref


class Watch(BaseModel):
    id: int
    project: str
    object: ObjectInfo
    user: str
    created_at: dt.datetime


class Notification(BaseModel):
    id: int
    project: str
    kind: str
    title: str
    object: ObjectInfo | None
    actor: str | None
    data: dict[str, Any]
    created_at: dt.datetime
    read: bool


class MarkRead(BaseModel):
    """Mark notifications read: the given ids, or every one (``all``)."""

    ids: Annotated[list[PositiveInt64], Field(max_length=1000)] = Field(default_factory=list)
    all: bool = False


class MarkedRead(BaseModel):
    marked: int
    unread: int


class PreferencesSet(BaseModel):
    """Send my notifications also to these alert channels (email, Slack, webhook), for these kinds (all by
    default)."""

    channels: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=200)]],
                        Field(max_length=20)] = Field(default_factory=list)
    kinds: list[NotificationKind] | None = None


class Preferences(PreferencesSet):
    user: str


class SyncReport(BaseModel):
    events: int = 0
    notifications: int = 0
    last_event_id: int = 0
