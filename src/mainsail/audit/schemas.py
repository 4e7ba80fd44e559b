"""Audit API types."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class AuditEntry(BaseModel):
    """One recorded write."""

    seq: int
    project: str = Field(description="The project the write addressed.")
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
    """The result of walking the chain (one for every project) from its first row to the head."""

    ok: bool = Field(description="The whole chain holds (every project's rows).")
    project: str | None = Field(None, description="The project whose rows were reported; null: every project.")
    rows: int = Field(description="Rows of the reported project(s).")
    head_seq: int
    head_hash: str
    problems: list[AuditProblem] = Field(default_factory=list, description=(
        "Problems in the reported project's rows, and removed rows (their project went with them)."))
    problems_elsewhere: int = Field(0, description="Problems in other projects' rows (not detailed).")


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
