"""Idempotency keys: a write sent twice with the same ``Idempotency-Key`` header runs once; the retry
gets the first response. The key is stored in the same transaction as the write it guards.

A key is scoped to the project and the principal that sent it: the stored key is
``sha256(project, principal, key)``, so two users (or one user in two projects) sending the same key
never get each other's responses, and the table holds no caller-chosen text."""

from __future__ import annotations

import datetime as dt
import hashlib
import random

from sqlalchemy import Integer, String, Text, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from mainsail.core.db import Base, UTCDateTime, utcnow
from mainsail.core.errors import InvalidInput

RETENTION = dt.timedelta(hours=24)


class IdempotencyRow(Base):
    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(100))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


def stored_key(key: str, project: str, principal: str) -> str:
    """The key as stored: a digest of who sent it, in which project, and the key itself."""
    return hashlib.sha256("\0".join((project, principal, key)).encode("utf-8", "surrogatepass")).hexdigest()


def lookup(session: Session, key: str, operation: str, *, project: str = "default",
           principal: str = "local") -> IdempotencyRow | None:
    """The stored outcome for ``key`` sent by ``principal`` in ``project``, if this write already happened."""
    row = session.get(IdempotencyRow, stored_key(key, project, principal))
    if row is not None and row.operation != operation:
        raise InvalidInput(f"Idempotency-Key {key!r} was already used for {row.operation}, not {operation}",
                           code="idempotency_key_reused",
                           errors=[{"loc": ["header", "idempotency-key"], "msg": "key reused for another operation"}])
    return row


def remember(session: Session, key: str, operation: str, status_code: int, response: str | None, *,
             project: str = "default", principal: str = "local") -> None:
    """Record the outcome of a write under ``key`` of ``principal`` in ``project`` (same transaction as the write)."""
    session.add(IdempotencyRow(key=stored_key(key, project, principal), operation=operation, status_code=status_code, response=response,
                               created_at=utcnow()))
    if random.random() < 0.001:  # occasional purge keeps the table small without a scheduler
        session.execute(delete(IdempotencyRow).where(IdempotencyRow.created_at < utcnow() - RETENTION))


