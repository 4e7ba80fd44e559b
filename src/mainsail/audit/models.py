"""Audit tables. Only ``audit.service`` writes them; rows are only ever appended."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mainsail.core.db import Base, BigId, UTCDateTime
from mainsail.core.projects import InProject

GENESIS = "0" * 64  # the "previous hash" of the first row


class AuditRow(InProject, Base):
    """One write: its hash covers every other column and the previous row's hash. ``project`` is the
    project the write addressed (rows made before audit rows carried one are ``'default'``); all
    projects' rows form ONE chain, so removing or moving a row of any project is found."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True,
                                     autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    op: Mapped[str] = mapped_column(String(200))
    object: Mapped[str] = mapped_column(String(500))
    request_sha256: Mapped[str] = mapped_column(String(64))
    result_sha256: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's head (one row, ``id`` 1): the last ``seq`` and its hash. Appending locks this row in
    the writer's transaction, so concurrent writers queue and the chain never forks; it also tells a
    verifier where the chain must end (a deleted last row is found)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class SecretRow(Base):
    """A named secret (a connector's database URL with its password, a token): ``value`` is sealed with
    :func:`mainsail.core.secrets.seal`, never stored in the clear."""

    __tablename__ = "secrets"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
