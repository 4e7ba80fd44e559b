"""Auth pydantic types."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from mainsail.core.types import object_name

UserName = object_name(128)
ProjectName = object_name(128)
TokenProject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128,
                                                pattern=r"^(\*|[A-Za-z0-9_][A-Za-z0-9_.\-]*)$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
Permission = Literal["predict", "pipelines:code", "secrets"]


class Role(StrEnum):
    """A role in a project; each includes the ones before it."""

    viewer = "viewer"
    editor = "editor"
    admin = "admin"


class ProjectCreate(BaseModel):
    name: ProjectName
    description: str | None = Field(None, max_length=1000)


class Project(BaseModel):
    id: str
    name: str
    description: str | None = None
    created_at: dt.datetime


class UserCreate(BaseModel):
    """A person (``password``) or a service account (``kind: service``, tokens only)."""

    name: UserName
    kind: Literal["user", "service"] = "user"
    password: Password | None = None
    is_admin: bool = Field(False, description="Admin of every project (manages users and projects).")
    project: ProjectName | None = Field("default", description="Project to join (with `role`).")
    role: Role = Role.viewer


class UserUpdate(BaseModel):
    password: Password | None = None
    disabled: bool | None = None
    is_admin: bool | None = None


class User(BaseModel):
    id: str
    name: str
    kind: str
    is_admin: bool
    disabled: bool
    roles: dict[str, Role] = Field(default_factory=dict, description="project -> role")
    created_at: dt.datetime


class MemberSet(BaseModel):
    role: Role


class Member(BaseModel):
    user: str
    project: str
    role: Role


class TokenCreate(BaseModel):
    """A new API token. Its role and permissions cannot exceed the creator's own in ``project``."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)] = "api"
    user: UserName | None = Field(None, description="For a service account (admins); default: yourself.")
    project: TokenProject = "default"
    role: Role = Role.viewer
    permissions: list[Permission] = Field(default_factory=list, max_length=8)
    expires_in_days: float | None = Field(90, gt=0, le=3650, description="None: never expires.")


class TokenInfo(BaseModel):
    id: str
    name: str
    user: str
    prefix: str
    project: str
    role: Role
    permissions: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


class TokenCreated(TokenInfo):
    token: str = Field(description="The secret: shown this once, only its hash is stored.")


class LoginRequest(BaseModel):
    username: UserName
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    expires_in_days: float = Field(30, gt=0, le=365)


class WhoAmI(BaseModel):
    name: str
    kind: str
    project: str
    roles: dict[str, str]
    permissions: list[str]
