"""Comments with @mentions, review requests, the approval policy and its check on promotions. With
``collab.feed`` (activity, watches, inbox) the only writer of the collaboration tables.

Every row carries the project of the call (``ctx.project``). Objects of other domains are named by kind and a
reference and resolved through their own services (``collab.objects``); the registry calls
:func:`check_promotion` before a model version enters production or takes a protected alias."""

from __future__ import annotations

import re

from sqlalchemy import select

from mainsail.collab.feed import me, notify
from mainsail.collab.models import CommentRow, PolicyRow, ReviewResponseRow, ReviewRow
from mainsail.collab.objects import Obj, resolve
from mainsail.collab.schemas import (
    Approvals,
    Comment,
    CommentCreate,
    CommentEdit,
    ObjectInfo,
    ObjId,
    Policy,
    PolicySet,
    Ref,
    Review,
    ReviewCreate,
    ReviewKind,
    ReviewResponse,
    ReviewResponseCreate,
    ReviewStatus,
    UserName,
    WatchKind,
)
from mainsail.core.db import utcnow
from mainsail.core.errors import Conflict, Forbidden, InvalidInput, not_found
from mainsail.core.events import emit
from mainsail.core.pagination import Limit, Page, cursor_offset, offset_page
from mainsail.core.runtime import Ctx

MENTION = re.compile(r"(?<![\w@`])@([A-Za-z0-9][A-Za-z0-9_.-]{0,127})")
MAX_MENTIONS = 50
CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.S)


# ---------------------------------------------------------------- mentions and users

def mentioned(text: str) -> list[str]:
    """The ``@names`` of a markdown text, in order, once each (not inside code; a trailing dot is punctuation)."""
    names = [m.rstrip(".-") for m in MENTION.findall(CODE.sub(" ", text))]
    return list(dict.fromkeys(n for n in names if n))


def _check_users(ctx: Ctx, names: list[str], loc: list[str | int], what: str) -> None:
    """422 naming every name that is no user (``what``: 'mentions', 'reviewers')."""
    from mainsail.auth.service import existing_users

    if len(names) > MAX_MENTIONS:
        raise InvalidInput(f"{len(names)} users named in {what}: at most {MAX_MENTIONS}", code="too_many_users",
                           errors=[{"loc": loc, "msg": f"at most {MAX_MENTIONS} users"}])
    known = existing_users(ctx.session, names)
    if unknown := [n for n in names if n not in known]:
        raise InvalidInput(f"unknown user{'s' if len(unknown) > 1 else ''} in {what}: "
                           f"{', '.join(repr(n) for n in unknown)} (no such user or service account)",
                           code="unknown_user",
                           errors=[{"loc": [*loc, *([names.index(n)] if what == "reviewers" else [])],
                                    "msg": f"unknown user {n!r}", "type": "unknown_user", "user": n}
                                   for n in unknown])


def _author_or_admin(ctx: Ctx, author: str, what: str) -> None:
    if author == me(ctx) or ctx.principal.can("admin", ctx.project):
        return
    raise Forbidden(f"{me(ctx)!r} may not change {what}: only its author {author!r} or an admin of project "
                    f"{ctx.project!r} may", code="not_author")


def _obj(row: CommentRow | ReviewRow) -> Obj:
    return Obj(row.object_kind, row.object_key, row.label, None, row.parent_kind, row.parent_key)


def _info(kind: str, key: str, label: str) -> ObjectInfo:
    return ObjectInfo(kind=kind, key=key, label=label)


# ---------------------------------------------------------------- comments

def _comment(r: CommentRow) -> Comment:
    return Comment(id=r.id, project=r.project, object=_info(r.object_kind, r.object_key, r.label), author=r.author,
                   text=r.text, mentions=r.mentions, created_at=r.created_at, updated_at=r.updated_at,
                   edited=r.updated_at != r.created_at)


def _comment_row(ctx: Ctx, id: ObjId) -> CommentRow:
    row = ctx.session.get(CommentRow, id)
    if row is None or row.project != ctx.project:
        raise not_found("comment", id)
    return row


def _notify_mentions(ctx: Ctx, row: CommentRow, names: list[str]) -> None:
    obj = _obj(row)
    notify(ctx, names, "mention", f"{row.author} mentioned you on {row.label}", obj, actor=row.author,
           data={"comment_id": row.id, "excerpt": row.text[:280]})


def add_comment(ctx: Ctx, body: CommentCreate) -> Comment:
    """Comment on an object (markdown); ``@user`` mentions notify them (an unknown user is a 422 naming it)."""
    obj = resolve(ctx, body.kind, body.ref)
    names = mentioned(body.text)
    _check_users(ctx, names, ["body", "text"], "mentions")
    now = utcnow()
    row = CommentRow(project=ctx.project, object_kind=obj.kind, object_key=obj.key, label=obj.label,
                     parent_kind=obj.parent_kind, parent_key=obj.parent_key, author=me(ctx), text=body.text,
                     mentions=names, created_at=now, updated_at=now)
    ctx.session.add(row)
    ctx.session.flush()
    emit(ctx.session, "comment.created", str(row.id),
         {**obj.event_payload(ctx.project), "comment_id": row.id, "mentions": names}, row.author)
    _notify_mentions(ctx, row, names)
    return _comment(row)


def list_comments(ctx: Ctx, kind: WatchKind, ref: Ref, cursor: str | None = None,
                  limit: Limit = 100) -> Page[Comment]:
    """The comments on an object, oldest first (a conversation)."""
    obj = resolve(ctx, kind, ref, "query")
    offset = cursor_offset(cursor)
    rows = list(ctx.session.scalars(select(CommentRow).where(
        CommentRow.project == ctx.project, CommentRow.object_kind == obj.kind, CommentRow.object_key == obj.key)
        .order_by(CommentRow.id).offset(offset).limit(limit + 1)))
    page = offset_page(rows, offset, limit)
    return Page[Comment](items=[_comment(r) for r in page.items], next_cursor=page.next_cursor)


def get_comment(ctx: Ctx, id: ObjId) -> Comment:
    """One comment."""
    return _comment(_comment_row(ctx, id))


def edit_comment(ctx: Ctx, id: ObjId, body: CommentEdit) -> Comment:
    """Change a comment's text (its author or a project admin); newly mentioned users are notified."""
    row = _comment_row(ctx, id)
    _author_or_admin(ctx, row.author, f"comment {id}")
    names = mentioned(body.text)
    _check_users(ctx, names, ["body", "text"], "mentions")
    new = [n for n in names if n not in row.mentions]
    row.text, row.mentions, row.updated_at = body.text, names, utcnow()
    ctx.session.flush()
    emit(ctx.session, "comment.edited", str(row.id),
         {**_obj(row).event_payload(ctx.project), "comment_id": row.id}, me(ctx))
    _notify_mentions(ctx, row, new)
    return _comment(row)


def delete_comment(ctx: Ctx, id: ObjId) -> None:
    """Delete a comment (its author or a project admin)."""
    row = _comment_row(ctx, id)
    _author_or_admin(ctx, row.author, f"comment {id}")
    emit(ctx.session, "comment.deleted", str(row.id),
         {**_obj(row).event_payload(ctx.project), "comment_id": row.id}, me(ctx))
    ctx.session.delete(row)


# ---------------------------------------------------------------- reviews

def _latest_verdicts(ctx: Ctx, review_ids: list[int]) -> dict[int, dict[str, ReviewResponseRow]]:
    """review id -> reviewer -> that reviewer's latest response."""
    out: dict[int, dict[str, ReviewResponseRow]] = {i: {} for i in review_ids}
    if review_ids:
        for r in ctx.session.scalars(select(ReviewResponseRow).where(ReviewResponseRow.review_id.in_(review_ids))
                                     .order_by(ReviewResponseRow.id)):
            out[r.review_id][r.reviewer] = r
    return out


def _review(ctx: Ctx, row: ReviewRow, responses: list[ReviewResponseRow] | None = None) -> Review:
    if responses is None:
        responses = list(ctx.session.scalars(select(ReviewResponseRow).where(ReviewResponseRow.review_id == row.id)
                                             .order_by(ReviewResponseRow.id)))
    latest = {r.reviewer: r for r in responses}
    return Review(id=row.id, project=row.project, object=_info(row.object_kind, row.object_key, row.label),
                  object_author=row.object_author, requested_by=row.requested_by, reviewers=row.reviewers,
                  comment=row.comment, status=row.status,  # type: ignore[arg-type]
                  approved_by=sorted(u for u, r in latest.items() if r.verdict == "approve"),
                  changes_requested_by=sorted(u for u, r in latest.items() if r.verdict == "request_changes"),
                  responses=[ReviewResponse(reviewer=r.reviewer, verdict=r.verdict,  # type: ignore[arg-type]
                                            comment=r.comment, created_at=r.created_at) for r in responses],
                  created_at=row.created_at, updated_at=row.updated_at)


def _review_row(ctx: Ctx, id: ObjId) -> ReviewRow:
    row = ctx.session.get(ReviewRow, id)
    if row is None or row.project != ctx.project:
        raise not_found("review", id)
    return row


def request_review(ctx: Ctx, body: ReviewCreate) -> Review:
    """Ask named reviewers (users) to review a model version, a dataset version or a pipeline."""
    obj = resolve(ctx, body.kind, body.ref)
    reviewers = list(dict.fromkeys(body.reviewers))
    _check_users(ctx, reviewers, ["body", "reviewers"], "reviewers")
    now = utcnow()
    row = ReviewRow(project=ctx.project, object_kind=obj.kind, object_key=obj.key, label=obj.label,
                    parent_kind=obj.parent_kind, parent_key=obj.parent_key, object_author=obj.author, requested_by=me(ctx), reviewers=reviewers, comment=body.comment,
                    status="pending", created_at=now, updated_at=now)
    ctx.session.add(row)
    ctx.session.flush()
    emit(ctx.session, "review.requested", str(row.id),
         {**obj.event_payload(ctx.project), "review_id": row.id, "reviewers": reviewers}, row.requested_by)
    notify(ctx, reviewers, "review_request", f"{row.requested_by} asked you to review {obj.label}", obj,
           actor=row.requested_by, data={"review_id": row.id, "comment": (body.comment or "")[:280]})
    return _review(ctx, row, [])


def respond_review(ctx: Ctx, id: ObjId, body: ReviewResponseCreate) -> Review:
    """A named reviewer approves or requests changes (with a comment); the latest verdict of each counts."""
    row = _review_row(ctx, id)
    reviewer = me(ctx)
    if reviewer not in row.reviewers:
        raise Forbidden(f"{reviewer!r} is not a reviewer of review {id} (reviewers: {', '.join(row.reviewers)})",
                        code="not_reviewer")
    if row.status == "closed":
        raise Conflict(f"review {id} is closed", code="review_closed")
    now = utcnow()
    ctx.session.add(ReviewResponseRow(review_id=row.id, reviewer=reviewer, verdict=body.verdict, comment=body.comment,
                                      created_at=now))
    ctx.session.flush()
    latest = _latest_verdicts(ctx, [row.id])[row.id]
    if any(r.verdict == "request_changes" for r in latest.values()):
        row.status = "changes_requested"
    elif all(latest.get(u) is not None and latest[u].verdict == "approve" for u in row.reviewers):
        row.status = "approved"
    else:
        row.status = "pending"
    row.updated_at = now
    emit(ctx.session, "review.responded", str(row.id),
         {**_obj(row).event_payload(ctx.project), "review_id": row.id, "verdict": body.verdict, "status": row.status}, reviewer)
    verb = "approved" if body.verdict == "approve" else "requested changes to"
    notify(ctx, {row.requested_by} | ({row.object_author} if row.object_author else set()), "review",
           f"{reviewer} {verb} {row.label}", _obj(row), actor=reviewer,
           data={"review_id": row.id, "verdict": body.verdict, "comment": (body.comment or "")[:280]})
    return _review(ctx, row)


def close_review(ctx: Ctx, id: ObjId) -> Review:
    """Close a review (its requester or a project admin); its approvals stop counting."""
    row = _review_row(ctx, id)
    _author_or_admin(ctx, row.requested_by, f"review {id}")
    row.status, row.updated_at = "closed", utcnow()
    return _review(ctx, row)


def get_review(ctx: Ctx, id: ObjId) -> Review:
    """One review with every response."""
    return _review(ctx, _review_row(ctx, id))


def list_reviews(ctx: Ctx, kind: ReviewKind | None = None, ref: Ref | None = None,
                 reviewer: UserName | None = None, status: ReviewStatus | None = None, cursor: str | None = None, limit: Limit = 100) -> Page[Review]:
    """Reviews in the project, newest first: of one object (``kind`` + ``ref``), asked of one ``reviewer``
    (every reviewer's with none), in one ``status`` (pending, approved, changes_requested, closed)."""
    q = select(ReviewRow).where(ReviewRow.project == ctx.project)
    if kind and ref:
        obj = resolve(ctx, kind, ref, "query")
        q = q.where(ReviewRow.object_kind == obj.kind, ReviewRow.object_key == obj.key)
    elif kind:
        q = q.where(ReviewRow.object_kind == kind)
    if status:
        q = q.where(ReviewRow.status == status)
    offset = cursor_offset(cursor)
    rows = list(ctx.session.scalars(q.order_by(ReviewRow.id.desc())))
    if reviewer:  # reviewers is a JSON list: filtered here (a project holds few reviews)
        rows = [r for r in rows if reviewer in r.reviewers]
    page = offset_page(rows[offset:offset + limit + 1], offset, limit)
    verdicts = _latest_verdicts(ctx, [r.id for r in page.items])
    return Page[Review](items=[_review(ctx, r, sorted(verdicts[r.id].values(), key=lambda x: x.id))
                               for r in page.items], next_cursor=page.next_cursor)


# ---------------------------------------------------------------- policy

def _policy(ctx: Ctx) -> Policy:
    row = ctx.session.get(PolicyRow, ctx.project)
    if row is None:
        return Policy(project=ctx.project)
    return Policy(project=row.project, required_approvals=row.required_approvals, count_author=row.count_author,
                  protected_aliases=row.protected_aliases, updated_by=row.updated_by, updated_at=row.updated_at)


def get_policy(ctx: Ctx) -> Policy:
    """The project's approval policy (none required by default)."""
    return _policy(ctx)


def set_policy(ctx: Ctx, body: PolicySet) -> Policy:
    """Require N approvals of a model version before it enters production or takes a protected alias
    (project admins)."""
    row = ctx.session.get(PolicyRow, ctx.project)
    if row is None:
        row = PolicyRow(project=ctx.project)
        ctx.session.add(row)
    row.required_approvals, row.count_author = body.required_approvals, body.count_author
    row.protected_aliases = list(dict.fromkeys(body.protected_aliases))
    row.updated_by, row.updated_at = me(ctx), utcnow()
    emit(ctx.session, "review_policy.changed", ctx.project,
         {"project": ctx.project, **body.model_dump(), "object_kind": "project", "object_key": ctx.project}, me(ctx))
    ctx.session.flush()
    return _policy(ctx)


def _standing(ctx: Ctx, obj: Obj, policy: Policy) -> Approvals:
    """Approvals of ``obj`` across its open reviews: each reviewer's latest verdict; the author's approval
    counts only when the policy says so."""
    reviews = list(ctx.session.scalars(select(ReviewRow).where(
        ReviewRow.project == ctx.project, ReviewRow.object_kind == obj.kind, ReviewRow.object_key == obj.key,
        ReviewRow.status != "closed")))
    latest: dict[str, ReviewResponseRow] = {}
    for by_reviewer in _latest_verdicts(ctx, [r.id for r in reviews]).values():
        for user, resp in by_reviewer.items():
            if user not in latest or resp.id > latest[user].id:
                latest[user] = resp
    approved = sorted(u for u, r in latest.items() if r.verdict == "approve")
    author = obj.author or next((r.object_author for r in reviews if r.object_author), None)
    not_counted = [u for u in approved if u == author and not policy.count_author]
    counted = [u for u in approved if u not in not_counted]
    missing = max(0, policy.required_approvals - len(counted))
    return Approvals(object=_info(obj.kind, obj.key, obj.label), required=policy.required_approvals, counted=counted,
                     not_counted=not_counted,
                     changes_requested_by=sorted(u for u, r in latest.items() if r.verdict == "request_changes"),
                     missing=missing, satisfied=missing == 0)


def get_approvals(ctx: Ctx, kind: ReviewKind, ref: Ref) -> Approvals:
    """Where an object stands against the project's approval policy."""
    return _standing(ctx, resolve(ctx, kind, ref, "query"), _policy(ctx))


def check_promotion(ctx: Ctx, version_id: str, label: str, author: str | None, target: str,
                    alias: str | None = None) -> None:
    """Called by the registry before model version ``version_id`` enters production (``alias`` None) or
    takes ``alias``: a 409 naming the missing approvals when the project's policy is not met."""
    policy = _policy(ctx)
    if policy.required_approvals <= 0 or (alias is not None and alias not in policy.protected_aliases):
        return
    st = _standing(ctx, Obj("model_version", version_id, label, author), policy)
    if st.satisfied:
        return
    pending = sorted({u for r in ctx.session.scalars(select(ReviewRow).where(
        ReviewRow.project == ctx.project, ReviewRow.object_kind == "model_version",
        ReviewRow.object_key == version_id, ReviewRow.status != "closed")) for u in r.reviewers}
        - set(st.counted) - set(st.not_counted))
    parts = [f"approved by {', '.join(st.counted)}" if st.counted else "no approval that counts"]
    if st.not_counted:
        parts.append(f"not counted: {', '.join(st.not_counted)} (the version's author)")
    if st.changes_requested_by:
        parts.append(f"changes requested by {', '.join(st.changes_requested_by)}")
    parts.append(f"awaiting {', '.join(pending)}" if pending else
                 f"ask for one: mainsail reviews request model_version {label.replace(' v', '/')} --reviewer USER")
    raise Conflict(f"{label} cannot {target}: project {ctx.project!r} requires {st.required} approval"
                   f"{'s' if st.required != 1 else ''} of this version and {st.missing} "
                   f"{'is' if st.missing == 1 else 'are'} missing ({'; '.join(parts)})", code="approvals_required",
                   errors=[{"loc": ["approvals"], "msg": f"{st.missing} missing", "type": "approvals_required",
                            "required": st.required, "approved_by": st.counted, "not_counted": st.not_counted,
                            "awaiting": pending}])
