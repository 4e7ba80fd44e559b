"""Events outbox and dispatcher.

A service writes an event row with :func:`emit` inside the same transaction as the change it
describes, so an event exists exactly when its change committed. The :class:`Dispatcher` delivers
events in id order to each registered subscriber and advances that subscriber's cursor only after
the handler returns: delivery is at least once, so handlers must be idempotent (the event id is
their idempotency key).

Every event records the project it happened in (``project``): the object's project when the payload
names one, else the project of the transaction that emits it (:data:`PROJECT_KEY` in the session's
``info``, set by :meth:`Runtime.transaction`). Readers (the activity feed, a project's event list)
filter on it, so an event never shows in another project's feed."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from mainsail.core.background import Periodic
from mainsail.core.db import Base, BigId, UTCDateTime, utcnow
from mainsail.core.principal import DEFAULT_PROJECT

log = logging.getLogger(__name__)
PROJECT_KEY = "mainsail.project"  # a session's ``info`` key: the project its transaction acts in


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_project_id", "project", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True,
                                    autoincrement=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    project: Mapped[str] = mapped_column(String(128), default=DEFAULT_PROJECT,
                                         server_default=text(f"'{DEFAULT_PROJECT}'"))


class EventCursor(Base):
    __tablename__ = "event_cursors"

    subscriber: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    subject: str
    payload: dict[str, Any]
    actor: str | None
    created_at: dt.datetime
    project: str = DEFAULT_PROJECT


def event_project(session: Session, payload: dict[str, Any] | None, project: str | None = None) -> str:
    """The project an event belongs to: ``project`` when given, else the payload's (the object's project,
    for background work acting on several projects), else the emitting transaction's, else the default."""
    found = project or (payload or {}).get("project") or session.info.get(PROJECT_KEY) or DEFAULT_PROJECT
    return str(found)[:128]


def emit(session: Session, type: str, subject: str, payload: dict[str, Any] | None = None,
         actor: str | None = None, *, project: str | None = None) -> None:
    """Record an event in the caller's transaction (the outbox), in its project (see :func:`event_project`)."""
    session.add(EventRow(type=type, subject=subject, payload=payload or {}, actor=actor, created_at=utcnow(),
                         project=event_project(session, payload, project)))


Handler = Callable[[Event], None]


@dataclass(frozen=True)
class Subscription:
    name: str
    handler: Handler
    types: frozenset[str] | None = None  # None: every type; "x.*" prefixes allowed

    def wants(self, type_: str) -> bool:
        if self.types is None:
            return True
        return any(type_ == t or (t.endswith(".*") and type_.startswith(t[:-1])) for t in self.types)


_subscriptions: dict[str, Subscription] = {}


def subscribe(name: str, handler: Handler, types: list[str] | None = None) -> None:
    """Register an idempotent handler under a stable name (the name keys its delivery cursor)."""
    _subscriptions[name] = Subscription(name, handler, frozenset(types) if types else None)


def unsubscribe(name: str) -> None:
    _subscriptions.pop(name, None)


def list_events(session: Session, after: int = 0, limit: int = 100, type: str | None = None,
                project: str | None = None) -> list[Event]:
    """Events with id greater than ``after``, oldest first (of one project when given)."""
    q = select(EventRow).where(EventRow.id > after).order_by(EventRow.id).limit(limit)
    if type:
        q = q.where(EventRow.type == type)
    if project is not None:
        q = q.where(EventRow.project == project)
    return [_to_event(r) for r in session.scalars(q)]


def recent_events(session: Session, limit: int = 50, before: int | None = None,
                  project: str | None = None) -> list[Event]:
    """The newest events first (ids below ``before`` when given, of one project when given): an activity feed."""
    q = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
    if project is not None:
        q = q.where(EventRow.project == project)
    if before is not None:
        q = q.where(EventRow.id < before)
    return [_to_event(r) for r in session.scalars(q)]


def _to_event(r: EventRow) -> Event:
    return Event(r.id, r.type, r.subject, r.payload, r.actor, r.created_at, r.project or DEFAULT_PROJECT)


class Dispatcher:
    """Delivers committed events to subscribers, at least once, in order per subscriber."""

    def __init__(self, runtime: Any, batch: int = 200, interval: float = 0.5,
                 subscriptions: dict[str, Subscription] | None = None):
        self.runtime = runtime
        self.batch = batch
        self.interval = interval
        self._subs = subscriptions if subscriptions is not None else _subscriptions
        # a failing subscriber must not stop delivery to others: the loop logs and retries
        self._loop = Periodic("mainsail-events", self.run_once, interval, "event dispatch", run_first=True)

    def _cursor(self, session: Session, name: str) -> int:
        row = session.get(EventCursor, name)
        if row is None:
            session.add(EventCursor(subscriber=name, last_event_id=0, updated_at=utcnow()))
            session.flush()
            return 0
        return row.last_event_id

    def run_once(self) -> int:
        """Deliver every pending event to every subscriber; return how many deliveries were made.
        A subscriber that raises keeps its cursor at the failed event (retried next round) and does
        not hold up the others."""
        delivered = 0
        for sub in list(self._subs.values()):
            try:
                delivered += self._deliver(sub)
            except Exception:  # noqa: BLE001
                log.exception("subscriber %s failed; its event will be redelivered", sub.name)
        return delivered

    def _deliver(self, sub: Subscription) -> int:
        delivered = 0
        while True:
            with self.runtime.transaction() as ctx:
                cursor = self._cursor(ctx.session, sub.name)
                events = list_events(ctx.session, after=cursor, limit=self.batch)
            if not events:
                return delivered
            last = cursor
            try:
                for ev in events:
                    if sub.wants(ev.type):
                        sub.handler(ev)
                        delivered += 1
                    last = ev.id
            finally:
                if last != cursor:  # advance past what was handled, even when a later event failed
                    with self.runtime.transaction() as ctx:
                        ctx.session.execute(update(EventCursor).where(EventCursor.subscriber == sub.name)
                                            .values(last_event_id=last, updated_at=utcnow()))

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop(5)
