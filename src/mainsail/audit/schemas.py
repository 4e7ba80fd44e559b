"""Audit API types."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class AuditEntry(BaseModel):
    """One recorded write."""

    seq: int
    at: dt.datetime
    actor: str
    op: str = Field(description="'<domain>.<operation>', e.g. 'registry.set_alias'.")
    object: str = Field(description="What was written: the path parameters, else the result's id.")
    request_sha256: str = Field(description="SHA-256 of the request's canonical JSON (sorted keys).")
    result_sha256: str = Field(description="SHA-256 of the result's canonical JSON.")
    prev_hash: str
    hash: str


class AuditProblem(BaseModel):
    """Where the chain does not hold."""

    seq: int
    kind: Literal["altered", "missing", "reordered", "head"]
    detail: str


class AuditVerification(BaseModel):
    """The result of walking the chain from its first row to the head."""

    ok: bool
    rows: int
    head_seq: int
    head_hash: str
    problems: list[AuditProblem] = Field(default_factory=list)


class RotateResult(BaseModel):
    """Secrets re-encrypted with the newest key, per place they are stored."""

    rotated: dict[str, int]


class SecretSet(BaseModel):
    """A secret's value (write-only: never returned, logged or put in an event) and what it is for."""

    model_config = ConfigDict(extra="forbid")
    value: SecretStr = Field(min_length=1, max_length=65_536)
    description: str | None = Field(None, max_length=10_000)


class SecretInfo(BaseModel):
    """A stored secret without its value."""

    name: str
    description: str | None = None
    created_by: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
