"""The activity feed, watches and the inbox.

The feed is a projection of the events outbox (``core/events.py``): :func:`sync` reads the events after its
own cursor, writes one ``collab_activity`` row per event (its project, the object it is about and that
object's parent, who did it) and notifies the watchers of stage changes, alerts and comments. The server
runs it as an event subscriber; every feed or inbox read first catches up, so an embedded Client sees its
own changes at once. Notifications land in the user's inbox and, by the user's preferences, are queued to
alert channels (email, Slack, webhook) that the alerts delivery loop sends with its retries."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import and_, func, insert, select, union_all, update

from mainsail.collab.models import ActivityRow, FeedCursorRow, NotificationRow, PreferenceRow, WatchRow
from mainsail.collab.objects import Obj, Subject, of_event, resolve, summary
from mainsail.collab.schemas import (
    Activity,
    EventType,
    MarkedRead,
    MarkRead,
    Notification,
    ObjectInfo,
    Preferences,
    PreferencesSet,
    Ref,
    SyncReport,
    UserName,
    Watch,
    WatchCreate,
    WatchKind,
)
from mainsail.core.db import utcnow
from mainsail.core.errors import InvalidInput, NotFound, ServiceUnavailable
from mainsail.core.events import EventRow
from mainsail.core.pagination import Limit, Page, decode_cursor, encode_cursor
from mainsail.core.principal import DEFAULT_PROJECT
from mainsail.core.runtime import Ctx, Runtime
from mainsail.core.types import INT64_MAX

CURSOR = "activity"
BATCH = 5000
GAP_WAIT = dt.timedelta(seconds=2)  # an id gap younger than this may be a transaction still committing


def me(ctx: Ctx) -> str:
    """Who is acting: the recorded actor (a user's name with auth on, MAINSAIL_USER embedded)."""
    return ctx.actor or ctx.principal.name


# ---------------------------------------------------------------- notifications

def _payload(n: NotificationRow) -> dict[str, Any]:
    """A notification as the alert channels send it (the fields their formats read, plus the notification)."""
    return {"status": "notification", "alert_id": f"notification-{n.id}", "rule": n.kind, "severity": "info",
            "summary": n.title, "labels": {"user": n.user, "project": n.project,
                                           **({"object": f"{n.object_kind}:{n.object_key}"} if n.object_kind else {})},
            "value": None, "threshold": None,
            "notification": {"id": n.id, "kind": n.kind, "title": n.title, "user": n.user, "project": n.project,
                             "object_kind": n.object_kind, "object_key": n.object_key, "label": n.label,
                             "actor": n.actor, "data": n.data, "created_at": n.created_at.isoformat()}}


def notify(ctx: Ctx, users: set[str] | list[str], kind: str, title: str, obj: Obj | Subject | None, *,
           actor: str | None, project: str | None = None, event_id: int | None = None,
           data: dict[str, Any] | None = None) -> int:
    """Put a notification in each user's inbox (never the actor's own) and queue it to the channels each
    user's preferences name for that kind; return how many inbox entries were written."""
    targets = sorted(set(users) - {actor} if actor else set(users))
    if not targets:
        return 0
    prefs = {p.user: p for p in ctx.session.scalars(select(PreferenceRow).where(PreferenceRow.user.in_(targets)))}
    now = utcnow()
    for user in targets:
        row = NotificationRow(project=project or ctx.project, user=user, kind=kind, title=title[:2000],
                              object_kind=obj.kind if obj else None, object_key=obj.key if obj else None,
                              label=obj.label if obj else None, actor=actor, event_id=event_id, data=data or {},
                              created_at=now)
        ctx.session.add(row)
        pref = prefs.get(user)
        if pref and pref.channels and (pref.kinds is None or kind in pref.kinds):
            from mainsail.alerts import service as alerts

            ctx.session.flush()
            for channel in pref.channels:
                alerts.queue_message(ctx, channel, _payload(row), f"n{row.id}")
    return len(targets)


def _info(kind: str | None, key: str | None, label: str | None) -> ObjectInfo | None:
    return ObjectInfo(kind=kind, key=key, label=label or key) if kind and key else None


def _notification(r: NotificationRow) -> Notification:
    return Notification(id=r.id, project=r.project, kind=r.kind, title=r.title,
                        object=_info(r.object_kind, r.object_key, r.label), actor=r.actor, data=r.data,
                        created_at=r.created_at, read=r.read_at is not None)


def _keyset(cursor: str | None) -> int:
    before = decode_cursor(cursor).get("b", INT64_MAX)
    if type(before) is not int or not 0 <= before <= INT64_MAX:
        raise InvalidInput("cursor is not a valid pagination cursor",
                           errors=[{"loc": ["query", "cursor"], "msg": "not a valid pagination cursor"}])
    return before


def inbox(ctx: Ctx, unread: bool = False, cursor: str | None = None, limit: Limit = 50) -> Page[Notification]:
    """My notifications, newest first (only unread ones with ``unread=true``)."""
    catch_up(ctx)
    q = select(NotificationRow).where(NotificationRow.user == me(ctx), NotificationRow.id < _keyset(cursor))
    if unread:
        q = q.where(NotificationRow.read_at.is_(None))
    rows = list(ctx.session.scalars(q.order_by(NotificationRow.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[Notification](items=[_notification(r) for r in rows],
                              next_cursor=encode_cursor({"b": rows[-1].id}) if more else None)


def mark_read(ctx: Ctx, body: MarkRead) -> MarkedRead:
    """Mark my notifications read: the given ids, or all of them."""
    if not body.all and not body.ids:
        raise InvalidInput("give the ids of notifications to mark read, or all=true",
                           errors=[{"loc": ["body", "ids"], "msg": "ids or all is required"}])
    user = me(ctx)
    mine = and_(NotificationRow.user == user, NotificationRow.read_at.is_(None))
    if not body.all:
        known = set(ctx.session.scalars(select(NotificationRow.id).where(
            NotificationRow.user == user, NotificationRow.id.in_(body.ids))))
        if missing := [i for i in body.ids if i not in known]:
            raise NotFound(f"notification {missing[0]} not found in {user!r}'s inbox", code="notification_not_found",
                           errors=[{"loc": ["body", "ids", body.ids.index(i)], "msg": "not in your inbox"}
                                   for i in missing])
        mine = and_(mine, NotificationRow.id.in_(body.ids))
    marked = ctx.session.execute(update(NotificationRow).where(mine).values(read_at=utcnow())).rowcount
    unread = ctx.session.scalar(select(func.count()).select_from(NotificationRow).where(
        NotificationRow.user == user, NotificationRow.read_at.is_(None))) or 0
    return MarkedRead(marked=marked or 0, unread=unread)


def get_preferences(ctx: Ctx) -> Preferences:
    """Where my notifications are also sent (alert channels) and which kinds."""
    row = ctx.session.get(PreferenceRow, me(ctx))
    return Preferences(user=me(ctx), channels=row.channels if row else [], kinds=row.kinds if row else None)


def set_preferences(ctx: Ctx, body: PreferencesSet) -> Preferences:
    """Send my notifications also to these alert channels (each must exist), for these kinds."""
    from mainsail.alerts import service as alerts

    known = {c.name for c in alerts.list_channels(ctx)}
    if errors := [{"loc": ["body", "channels", i], "msg": f"unknown channel {c!r}"}
                  for i, c in enumerate(body.channels) if c not in known]:
        raise InvalidInput(f"invalid request: {errors[0]['msg']} (known: {', '.join(sorted(known)) or 'none'}; "
                           "an admin adds one with `mainsail alerts channels add`)", code="unknown_channel",
                           errors=errors)
    user = me(ctx)
    row = ctx.session.get(PreferenceRow, user)
    if row is None:
        row = PreferenceRow(user=user)
        ctx.session.add(row)
    row.channels, row.kinds, row.updated_at = list(dict.fromkeys(body.channels)), body.kinds, utcnow()
    ctx.session.flush()
    return Preferences(user=user, channels=row.channels, kinds=row.kinds)


# ---------------------------------------------------------------- watches

def _watch(r: WatchRow) -> Watch:
    return Watch(id=r.id, project=r.project, object=ObjectInfo(kind=r.object_kind, key=r.object_key, label=r.label),
                 user=r.user, created_at=r.created_at)


def watch(ctx: Ctx, body: WatchCreate) -> Watch:
    """Watch an object: its stage changes, alerts and comments come to my inbox (watching twice is one watch)."""
    obj = resolve(ctx, body.kind, body.ref)
    user = me(ctx)
    row = ctx.session.scalar(select(WatchRow).where(WatchRow.project == ctx.project, WatchRow.object_kind == obj.kind,
                                                    WatchRow.object_key == obj.key, WatchRow.user == user))
    if row is None:
        row = WatchRow(project=ctx.project, object_kind=obj.kind, object_key=obj.key, label=obj.label, user=user,
                       created_at=utcnow())
        ctx.session.add(row)
        ctx.session.flush()
    return _watch(row)


def unwatch(ctx: Ctx, kind: WatchKind, ref: Ref) -> None:
    """Stop watching an object."""
    obj = resolve(ctx, kind, ref, "path")
    row = ctx.session.scalar(select(WatchRow).where(WatchRow.project == ctx.project, WatchRow.object_kind == obj.kind,
                                                    WatchRow.object_key == obj.key, WatchRow.user == me(ctx)))
    if row is None:
        raise NotFound(f"{me(ctx)!r} does not watch {obj.label}", code="watch_not_found")
    ctx.session.delete(row)


def list_watches(ctx: Ctx, kind: WatchKind | None = None, ref: Ref | None = None) -> list[Watch]:
    """My watches in this project; or, with ``kind`` and ``ref``, everyone watching that object."""
    q = select(WatchRow).where(WatchRow.project == ctx.project)
    if kind and ref:
        obj = resolve(ctx, kind, ref, "query")
        q = q.where(WatchRow.object_kind == obj.kind, WatchRow.object_key == obj.key)
    else:
        q = q.where(WatchRow.user == me(ctx))
    return [_watch(r) for r in ctx.session.scalars(q.order_by(WatchRow.id))]


# ---------------------------------------------------------------- the projection

def _cursor_row(ctx: Ctx) -> FeedCursorRow:
    q = select(FeedCursorRow).where(FeedCursorRow.name == CURSOR)
    row = ctx.session.scalar(q.with_for_update() if ctx.dialect == "postgresql" else q)
    if row is None:
        row = FeedCursorRow(name=CURSOR, last_event_id=0, updated_at=utcnow())
        ctx.session.add(row)
        ctx.session.flush()
    return row


def _watchers(ctx: Ctx) -> dict[tuple[str, str, str], set[str]]:
    out: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for project, kind, key, user in ctx.session.execute(
            select(WatchRow.project, WatchRow.object_kind, WatchRow.object_key, WatchRow.user)):
        out[(project, kind, key)].add(user)
    return out


def _notify_watchers(ctx: Ctx, ev: EventRow, s: Subject, project: str,
                     watchers: dict[tuple[str, str, str], set[str]]) -> int:
    """Notify who watches what ``ev`` is about: stage changes and alias moves, alerts that fire, comments;
    a version entering production ("ready for production") goes to the project's watchers too."""
    p = ev.payload or {}
    kind = {"stage.changed": "stage_change", "alias.moved": "stage_change", "alert.fired": "alert",
            "comment.created": "comment"}.get(ev.type)
    if kind is None:
        return 0
    users = watchers.get((project, s.kind, s.key), set()) | (
        watchers.get((project, s.parent_kind, s.parent_key), set()) if s.parent_kind and s.parent_key else set())
    if ev.type == "alert.fired":
        labels = p.get("labels") if isinstance(p.get("labels"), dict) else {}
        if labels.get("monitor"):
            users |= watchers.get((project, "monitor", str(labels["monitor"])), set())
    if ev.type == "comment.created":
        users -= set(p.get("mentions") or [])  # they hear of it as a mention
    obj = s
    text = summary(ev.type, p, s.label, ev.actor)
    sent = 0
    if ev.type == "stage.changed" and p.get("to") == "production":
        ready = watchers.get((project, "project", project), set())
        sent += notify(ctx, ready, "model_ready", f"{s.label or 'a model version'} is ready for production "
                       f"({ev.actor or 'someone'} moved it)", obj, actor=ev.actor, project=project, event_id=ev.id,
                       data={"event": ev.type, **p})
        users -= ready
    return sent + notify(ctx, users, kind, text, obj, actor=ev.actor, project=project, event_id=ev.id,
                         data={"event": ev.type, **{k: v for k, v in p.items() if k != "notification"}})


def process(ctx: Ctx, limit: int = BATCH) -> SyncReport:
    """Project up to ``limit`` events after the cursor into the activity table and notify watchers; stops
    before an id gap younger than :data:`GAP_WAIT` (a transaction that may still commit)."""
    cursor = _cursor_row(ctx)
    events = list(ctx.session.scalars(select(EventRow).where(EventRow.id > cursor.last_event_id)
                                      .order_by(EventRow.id).limit(limit)))
    report = SyncReport(last_event_id=cursor.last_event_id)
    if not events:
        return report
    now, last, rows = utcnow(), cursor.last_event_id, []
    watchers = _watchers(ctx)
    for ev in events:
        if ev.id != last + 1 and now - ev.created_at < GAP_WAIT:
            break
        s = of_event(ev)
        project = ev.project or DEFAULT_PROJECT  # recorded where the event was emitted (core.events)
        rows.append({"event_id": ev.id, "project": project, "type": ev.type[:100], "object_kind": s.kind[:32],
                     "object_key": s.key, "parent_kind": s.parent_kind, "parent_key": s.parent_key,
                     "label": s.label, "actor": ev.actor, "created_at": ev.created_at})
        if watchers:
            report.notifications += _notify_watchers(ctx, ev, s, project, watchers)
        last = ev.id
    if rows:
        ctx.session.execute(insert(ActivityRow), rows)
    cursor.last_event_id, cursor.updated_at = last, now
    report.events, report.last_event_id = len(rows), last
    return report


def sync(runtime: Runtime, limit: int = BATCH, rounds: int = 1000) -> SyncReport:
    """Catch the projection up with the events, ``limit`` per transaction (what the server's subscriber and
    every feed read do)."""
    total = SyncReport()
    with runtime.transaction(write=False) as rctx:  # most calls find nothing new: no write lock taken then
        newest = rctx.session.scalar(select(func.max(EventRow.id))) or 0
        at = rctx.session.scalar(select(FeedCursorRow.last_event_id).where(FeedCursorRow.name == CURSOR)) or 0
    total.last_event_id = at
    if newest <= at:
        return total
    for _ in range(rounds):
        with runtime.transaction(actor="collab") as ctx:
            report = process(ctx, limit)
        total.events += report.events
        total.notifications += report.notifications
        total.last_event_id = report.last_event_id
        if report.events < limit:
            break
    return total


def catch_up(ctx: Ctx) -> None:
    """Bring the projection up to date before a read (in its own transactions)."""
    if ctx.runtime is not None:
        sync(ctx.runtime)


def sync_activity(ctx: Ctx) -> SyncReport:
    """Project the events not yet in the activity feed and notify watchers (what the server does as events
    arrive); runs in its own transactions."""
    if ctx.runtime is None:  # pragma: no cover - every Ctx made by a Runtime has one
        raise ServiceUnavailable("no runtime to sync the activity feed on")
    return sync(ctx.runtime)


# ---------------------------------------------------------------- feeds

def _newest(project: str, before: int, limit: int, *where: Any) -> Any:
    """The ids of the newest ``limit + 1`` activity rows of ``project`` matching ``where`` (one index walk)."""
    return (select(ActivityRow.event_id).where(ActivityRow.project == project, ActivityRow.event_id < before, *where)
            .order_by(ActivityRow.event_id.desc()).limit(limit + 1).subquery())


def activity(ctx: Ctx, kind: WatchKind | None = None, ref: Ref | None = None, user: UserName | None = None,
             type: EventType | None = None, cursor: str | None = None, limit: Limit = 50) -> Page[Activity]:
    """The project's activity, newest first: everything, or one object's (``kind`` + ``ref``, with its
    children: a model's versions), or one user's (``user``), optionally of one event ``type`` (``stage.*``)."""
    if (kind is None) != (ref is None) and kind != "project":
        raise InvalidInput("give both kind and ref to see one object's activity",
                           errors=[{"loc": ["query", "ref" if ref is None else "kind"], "msg": "required with the other"}])
    catch_up(ctx)
    before = _keyset(cursor)
    extra = []
    if user:
        extra.append(ActivityRow.actor == user)
    if type:
        extra.append(ActivityRow.type.startswith(type[:-1], autoescape=True) if type.endswith("*")
                     else ActivityRow.type == type)
    q = select(ActivityRow, EventRow.payload).join(EventRow, EventRow.id == ActivityRow.event_id)
    if kind and ref and kind != "project":
        obj = resolve(ctx, kind, ref, "query")
        # the object's newest rows and its children's, each from its own index walk, merged; the outer query
        # is driven by those ids alone (a filter there too could make a planner walk the project's history)
        own = _newest(ctx.project, before, limit, ActivityRow.object_kind == obj.kind, ActivityRow.object_key == obj.key,
                      *extra)
        kids = _newest(ctx.project, before, limit, ActivityRow.parent_kind == obj.kind,
                       ActivityRow.parent_key == obj.key, *extra)
        both = union_all(select(own.c.event_id), select(kids.c.event_id)).subquery()
        q = q.where(ActivityRow.event_id.in_(select(both.c.event_id)))
    else:
        q = q.where(ActivityRow.project == ctx.project, ActivityRow.event_id < before, *extra)
    rows = list(ctx.session.execute(q.order_by(ActivityRow.event_id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [Activity(id=a.event_id, type=a.type, object=ObjectInfo(kind=a.object_kind, key=a.object_key,
                                                                    label=a.label or a.object_key),
                      parent=_info(a.parent_kind, a.parent_key, a.parent_key), actor=a.actor,
                      summary=summary(a.type, payload or {}, a.label or a.object_key, a.actor),
                      payload=payload or {}, created_at=a.created_at) for a, payload in rows]
    return Page[Activity](items=items, next_cursor=encode_cursor({"b": rows[-1][0].event_id}) if more else None)
