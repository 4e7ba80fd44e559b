"""Idempotency keys: a write sent twice with the same ``Idempotency-Key`` header runs once; the retry
gets the first response. The key is stored in the same transaction as the write it guards."""

from __future__ import annotations

import datetime as dt
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


def lookup(session: Session, key: str, operation: str) -> IdempotencyRow | None:
    """The stored outcome for ``key``, if this write already happened."""
    row = session.get(IdempotencyRow, key)
    if row is not None and row.operation != operation:
        raise InvalidInput(f"Idempotency-Key {key!r} was already used for {row.operation}, not {operation}",
                           code="idempotency_key_reused",
                           errors=[{"loc": ["header", "idempotency-key"], "msg": "key reused for another operation"}])
    return row


def remember(session: Session, key: str, operation: str, status_code: int, response: str | None) -> None:
    """Record the outcome of a write under ``key`` (same transaction as the write)."""
    session.add(IdempotencyRow(key=key, operation=operation, status_code=status_code, response=response,
                               created_at=utcnow()))
    if random.random() < 0.001:  # occasional purge keeps the table small without a scheduler
        session.execute(delete(IdempotencyRow).where(IdempotencyRow.created_at < utcnow() - RETENTION))


