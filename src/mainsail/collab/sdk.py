"""Collaboration methods of the Client: comments, reviews and the approval policy, activity, watches, inbox.

Objects are named by ``kind`` and ``ref``: ``("model_version", "churn/3")``, ``("model", "churn")``,
``("dataset_version", "customers@latest")``, ``("run", RUN_ID)``, ``("deployment", "churn")``…"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from mainsail.client.backends import Backend
from mainsail.core.ops import LazyOpSet

if TYPE_CHECKING:  # annotations only: importing the Client does not build these models
    from mainsail.collab.schemas import (
        Activity,
        Approvals,
        Comment,
        MarkedRead,
        Notification,
        Policy,
        Preferences,
        Review,
        SyncReport,
        Watch,
    )
    from mainsail.core.pagination import Page

ops = LazyOpSet("mainsail.collab.ops")


class CollabMethods:
    _backend: Backend

    # ------------------------------------------------------------ comments
    def add_comment(self, kind: str, ref: str, text: str) -> Comment:
        """Comment (markdown) on an object; ``@user`` mentions notify them (unknown users are refused, named)."""
        return self._backend.call(ops.add_comment, {"body": {"kind": kind, "ref": ref, "text": text}})

    def list_comments(self, kind: str, ref: str, *, cursor: str | None = None, limit: int = 100) -> Page[Comment]:
        """An object's comments, oldest first."""
        return self._backend.call(ops.list_comments, {"kind": kind, "ref": ref, "cursor": cursor, "limit": limit})

    def get_comment(self, comment_id: int) -> Comment:
        return self._backend.call(ops.get_comment, {"id": comment_id})

    def edit_comment(self, comment_id: int, text: str) -> Comment:
        """Change a comment's text (its author or a project admin)."""
        return self._backend.call(ops.edit_comment, {"id": comment_id, "body": {"text": text}})

    def delete_comment(self, comment_id: int) -> None:
        """Delete a comment (its author or a project admin)."""
        self._backend.call(ops.delete_comment, {"id": comment_id})

    # ------------------------------------------------------------ reviews
    def request_review(self, kind: str, ref: str, reviewers: Iterable[str], comment: str | None = None) -> Review:
        """Ask named users to review a ``model_version`` (``"churn/3"``), ``dataset_version`` or ``pipeline``."""
        return self._backend.call(ops.request_review, {"body": {"kind": kind, "ref": ref,
                                                                "reviewers": list(reviewers), "comment": comment}})

    def approve_review(self, review_id: int, comment: str | None = None) -> Review:
        """Approve as one of the review's reviewers."""
        return self._backend.call(ops.respond_review, {"id": review_id,
                                                       "body": {"verdict": "approve", "comment": comment}})

    def request_changes(self, review_id: int, comment: str | None = None) -> Review:
        """Request changes as one of the review's reviewers (withdraws your approval)."""
        return self._backend.call(ops.respond_review, {"id": review_id,
                                                       "body": {"verdict": "request_changes", "comment": comment}})

    def close_review(self, review_id: int) -> Review:
        return self._backend.call(ops.close_review, {"id": review_id})

    def get_review(self, review_id: int) -> Review:
        return self._backend.call(ops.get_review, {"id": review_id})

    def list_reviews(self, kind: str | None = None, ref: str | None = None, *, reviewer: str | None = None,
                     status: str | None = None, cursor: str | None = None, limit: int = 100) -> Page[Review]:
        """Reviews newest first: of one object, asked of one reviewer, in one status."""
        return self._backend.call(ops.list_reviews, {"kind": kind, "ref": ref, "reviewer": reviewer,
                                                     "status": status, "cursor": cursor, "limit": limit})

    def get_review_policy(self) -> Policy:
        return self._backend.call(ops.get_policy, {})

    def set_review_policy(self, required_approvals: int, *, count_author: bool = False,
                          protected_aliases: Iterable[str] = ()) -> Policy:
        """Require ``required_approvals`` approvals before a version enters production or takes one of
        ``protected_aliases``; the version's author's approval counts only with ``count_author`` (admins)."""
        return self._backend.call(ops.set_policy, {"body": {
            "required_approvals": required_approvals, "count_author": count_author,
            "protected_aliases": list(protected_aliases)}})

    def get_approvals(self, kind: str, ref: str) -> Approvals:
        """Where an object stands against the project's policy (counted, not counted, missing)."""
        return self._backend.call(ops.get_approvals, {"kind": kind, "ref": ref})

    # ------------------------------------------------------------ activity and watches
    def activity(self, kind: str | None = None, ref: str | None = None, *, user: str | None = None,
                 type: str | None = None, cursor: str | None = None, limit: int = 50) -> Page[Activity]:
        """The project's activity newest first; one object's (with its children), or one user's."""
        return self._backend.call(ops.activity, {"kind": kind, "ref": ref, "user": user, "type": type,
                                                 "cursor": cursor, "limit": limit})

    def sync_activity(self) -> SyncReport:
        """Project new events into the feed and notify watchers (a server does it as events arrive)."""
        return self._backend.call(ops.sync_activity, {})

    def watch(self, kind: str, ref: str) -> Watch:
        """Watch an object (``("project", NAME)``: every model that becomes ready for production)."""
        return self._backend.call(ops.watch, {"body": {"kind": kind, "ref": ref}})

    def unwatch(self, kind: str, ref: str) -> None:
        self._backend.call(ops.unwatch, {"kind": kind, "ref": ref})

    def list_watches(self, kind: str | None = None, ref: str | None = None) -> list[Watch]:
        """My watches; with ``kind`` and ``ref``, who watches that object."""
        return self._backend.call(ops.list_watches, {"kind": kind, "ref": ref})

    # ------------------------------------------------------------ inbox
    def inbox(self, *, unread: bool = False, cursor: str | None = None, limit: int = 50) -> Page[Notification]:
        """My notifications, newest first."""
        return self._backend.call(ops.inbox, {"unread": unread, "cursor": cursor, "limit": limit})

    def mark_read(self, ids: Iterable[int] = (), *, all: bool = False) -> MarkedRead:
        """Mark notifications read (the given ids, or all of them)."""
        return self._backend.call(ops.mark_read, {"body": {"ids": list(ids), "all": all}})

    def get_notification_preferences(self) -> Preferences:
        return self._backend.call(ops.get_preferences, {})

    def set_notification_preferences(self, channels: Iterable[str], kinds: Iterable[str] | None = None
                                     ) -> Preferences:
        """Also send my notifications to these alert channels (email, Slack, webhook), for these kinds."""
        return self._backend.call(ops.set_preferences, {"body": {
            "channels": list(channels), "kinds": list(kinds) if kinds is not None else None}})
