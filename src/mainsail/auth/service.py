"""Auth rules: projects, users and service accounts, memberships, API tokens, login, and turning a token
into the :class:`~mainsail.core.principal.Principal` a request acts as. The only writer of the auth tables."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from mainsail.auth import models as m
from mainsail.auth.passwords import LIMITER, hash_password, hash_token, new_token, verify_password
from mainsail.auth.schemas import (
    LoginRequest,
    Member,
    MemberSet,
    Project,
    ProjectCreate,
    Role,
    TokenCreate,
    TokenCreated,
    TokenInfo,
    User,
    UserCreate,
    UserUpdate,
    WhoAmI,
)
from mainsail.core.db import utcnow
from mainsail.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from mainsail.core.principal import DEFAULT_PROJECT, ROLES, Principal, require
from mainsail.core.runtime import Ctx

GLOBAL = "*"  # require(ctx, "admin", GLOBAL): an admin of every project
LAST_USED_EVERY = dt.timedelta(seconds=60)  # last_used_at is written at most this often per token
GRANT_ROLE = {"predict": "editor", "pipelines:code": "admin", "secrets": "admin"}  # who may grant what


def _min_role(a: str, b: str) -> str:
    return ROLES[min(ROLES.index(a), ROLES.index(b))]


# ------------------------------------------------------------------------------------------ projects

def _project(session: Session, name: str) -> m.Project:
    row = session.scalar(select(m.Project).where(m.Project.name == name))
    if row is None:
        raise NotFound(f"project {name!r} not found", code="project_not_found")
    return row


def ensure_project(session: Session, name: str = DEFAULT_PROJECT) -> m.Project:
    """The project named ``name``, created if missing (the default project always exists)."""
    row = session.scalar(select(m.Project).where(m.Project.name == name))
    if row is None:
        row = m.Project(name=name)
        session.add(row)
        session.flush()
    return row


def _project_out(row: m.Project) -> Project:
    return Project(id=row.id, name=row.name, description=row.description, created_at=row.created_at)


def create_project(ctx: Ctx, body: ProjectCreate) -> Project:
    """Create a project (admins of every project)."""
    require(ctx, "admin", GLOBAL)
    if ctx.session.scalar(select(m.Project.id).where(m.Project.name == body.name)):
        raise Conflict(f"project {body.name!r} already exists", code="project_exists")
    row = m.Project(name=body.name, description=body.description)
    ctx.session.add(row)
    ctx.session.flush()
    return _project_out(row)


def list_projects(ctx: Ctx) -> list[Project]:
    """The projects the caller has a role in (every project for an admin of all)."""
    rows = ctx.session.scalars(select(m.Project).order_by(m.Project.name))
    return [_project_out(r) for r in rows if ctx.principal.role(r.name) is not None]


# ------------------------------------------------------------------------------------------ users

def _user(session: Session, name: str) -> m.User:
    row = session.scalar(select(m.User).where(m.User.name == name))
    if row is None:
        raise NotFound(f"user {name!r} not found", code="user_not_found")
    return row


def existing_users(session: Session, names: list[str]) -> set[str]:
    """Which of ``names`` are users or service accounts (mentions and reviewers are checked against them)."""
    if not names:
        return set()
    return set(session.scalars(select(m.User.name).where(m.User.name.in_(set(names)))))


def _roles(session: Session, user_id: str) -> dict[str, str]:
    rows = session.execute(select(m.Project.name, m.Membership.role).join(
        m.Membership, m.Membership.project_id == m.Project.id).where(m.Membership.user_id == user_id))
    return {name: role for name, role in rows}


def _user_out(session: Session, row: m.User) -> User:
    return User(id=row.id, name=row.name, kind=row.kind, is_admin=row.is_admin, disabled=row.disabled,
                roles=_roles(session, row.id), created_at=row.created_at)  # type: ignore[arg-type]


def create_user(ctx: Ctx, body: UserCreate) -> User:
    """Create a person (with a password) or a service account (tokens only), optionally a project member."""
    require(ctx, "admin", GLOBAL)
    if body.kind == "user" and not body.password:
        raise InvalidInput("a user needs a password (or create a service account: kind=service)",
                           errors=[{"loc": ["body", "password"], "msg": "required for kind=user", "type": "missing"}])
    if body.kind == "service" and body.password:
        raise InvalidInput("a service account has no password: it uses tokens",
                           errors=[{"loc": ["body", "password"], "msg": "not allowed for kind=service",
                                    "type": "extra_forbidden"}])
    if ctx.session.scalar(select(m.User.id).where(m.User.name == body.name)):
        raise Conflict(f"user {body.name!r} already exists", code="user_exists")
    row = m.User(name=body.name, kind=body.kind, is_admin=body.is_admin,
                 password_hash=hash_password(body.password) if body.password else None)
    ctx.session.add(row)
    ctx.session.flush()
    if body.project:
        project = ensure_project(ctx.session, DEFAULT_PROJECT) if body.project == DEFAULT_PROJECT else _project(
            ctx.session, body.project)
        ctx.session.add(m.Membership(user_id=row.id, project_id=project.id, role=body.role.value))
        ctx.session.flush()
    return _user_out(ctx.session, row)


def list_users(ctx: Ctx) -> list[User]:
    """Every user and service account with their roles (admins of every project)."""
    require(ctx, "admin", GLOBAL)
    return [_user_out(ctx.session, r) for r in ctx.session.scalars(select(m.User).order_by(m.User.name))]


def update_user(ctx: Ctx, name: str, body: UserUpdate) -> User:
    """Change a password (yourself, or an admin of all), disable a user or make one an admin of all."""
    row = _user(ctx.session, name)
    if ctx.principal.name != name or body.disabled is not None or body.is_admin is not None:
        require(ctx, "admin", GLOBAL)
    if body.password is not None:
        row.password_hash = hash_password(body.password)
    if body.disabled is not None:
        row.disabled = body.disabled
    if body.is_admin is not None:
        row.is_admin = body.is_admin
    ctx.session.flush()
    return _user_out(ctx.session, row)


def delete_user(ctx: Ctx, name: str) -> None:
    """Delete a user or service account with its memberships and tokens."""
    require(ctx, "admin", GLOBAL)
    row = _user(ctx.session, name)
    for token in ctx.session.scalars(select(m.Token).where(m.Token.user_id == row.id)):
        ctx.session.delete(token)
    for member in ctx.session.scalars(select(m.Membership).where(m.Membership.user_id == row.id)):
        ctx.session.delete(member)
    ctx.session.delete(row)


# ------------------------------------------------------------------------------------------ members

def set_member(ctx: Ctx, project: str, user: str, body: MemberSet) -> Member:
    """Give ``user`` a role in ``project`` (admins of the project)."""
    require(ctx, "admin", project)
    p = ensure_project(ctx.session) if project == DEFAULT_PROJECT else _project(ctx.session, project)
    u = _user(ctx.session, user)
    row = ctx.session.get(m.Membership, (u.id, p.id))
    if row is None:
        ctx.session.add(m.Membership(user_id=u.id, project_id=p.id, role=body.role.value))
    else:
        row.role = body.role.value
    ctx.session.flush()
    return Member(user=user, project=project, role=body.role)


def remove_member(ctx: Ctx, project: str, user: str) -> None:
    """Take ``user``'s role in ``project`` away."""
    require(ctx, "admin", project)
    row = ctx.session.get(m.Membership, (_user(ctx.session, user).id, _project(ctx.session, project).id))
    if row is None:
        raise NotFound(f"user {user!r} is not a member of project {project!r}", code="member_not_found")
    ctx.session.delete(row)


def list_members(ctx: Ctx, project: str) -> list[Member]:
    """The members of ``project`` and their roles."""
    require(ctx, "viewer", project)
    p = _project(ctx.session, project)
    rows = ctx.session.execute(select(m.User.name, m.Membership.role).join(
        m.Membership, m.Membership.user_id == m.User.id).where(m.Membership.project_id == p.id).order_by(m.User.name))
    return [Member(user=name, project=project, role=Role(role)) for name, role in rows]


# ------------------------------------------------------------------------------------------ tokens

def _token_out(row: m.Token, user: str) -> TokenInfo:
    return TokenInfo(id=row.id, name=row.name, user=user, prefix=row.prefix, project=row.project,
                     role=Role(row.role), permissions=list(row.permissions), created_at=row.created_at,
                     expires_at=row.expires_at, last_used_at=row.last_used_at, revoked_at=row.revoked_at)


def _issue(session: Session, user: m.User, name: str, project: str, role: str, permissions: list[str],
           days: float | None) -> TokenCreated:
    secret = new_token()
    row = m.Token(user_id=user.id, token_hash=hash_token(secret), prefix=secret[:10], name=name, project=project,
                  role=role, permissions=sorted(set(permissions)),
                  expires_at=utcnow() + dt.timedelta(days=days) if days else None)
    session.add(row)
    session.flush()
    return TokenCreated(**_token_out(row, user.name).model_dump(), token=secret)


def create_token(ctx: Ctx, body: TokenCreate) -> TokenCreated:
    """Create an API token; its secret is in this response only. A token never acts beyond its owner's
    current role in its project (checked on every use), and permissions need the role that grants them
    (``predict``: editor; ``pipelines:code``, ``secrets``: admin)."""
    name = body.user or ctx.principal.name
    user = ctx.session.scalar(select(m.User).where(m.User.name == name))
    if user is None:
        if body.user is None:
            raise InvalidInput(f"{name!r} is not a user of this server: name the token's owner (user)",
                               errors=[{"loc": ["body", "user"], "msg": "required here", "type": "missing"}])
        raise NotFound(f"user {name!r} not found", code="user_not_found")
    scope = GLOBAL if body.project == GLOBAL else body.project
    if body.project != GLOBAL:
        _project(ctx.session, body.project)
    if user.name != ctx.principal.name:  # for another account (a service account): admins of the project
        require(ctx, "admin", scope)
        if body.project != GLOBAL and body.project not in _roles(ctx.session, user.id) and user.kind == "service":
            p = _project(ctx.session, body.project)
            ctx.session.add(m.Membership(user_id=user.id, project_id=p.id, role=body.role.value))
    for perm in body.permissions:
        require(ctx, GRANT_ROLE[perm], scope)
    return _issue(ctx.session, user, body.name, body.project, body.role.value, list(body.permissions),
                  body.expires_in_days)


def list_tokens(ctx: Ctx, user: str | None = None, include_revoked: bool = False) -> list[TokenInfo]:
    """Your tokens (an admin of all may name another ``user``); secrets are never shown again."""
    name = user or ctx.principal.name
    if name != ctx.principal.name:
        require(ctx, "admin", GLOBAL)
    row = ctx.session.scalar(select(m.User).where(m.User.name == name))
    if row is None:
        return []
    q = select(m.Token).where(m.Token.user_id == row.id).order_by(m.Token.created_at)
    if not include_revoked:
        q = q.where(m.Token.revoked_at.is_(None))
    return [_token_out(t, name) for t in ctx.session.scalars(q)]


def revoke_token(ctx: Ctx, token_id: str) -> TokenInfo:
    """Revoke a token (yours, or any as an admin of all). Servers stop accepting it within their
    token-cache TTL (MAINSAIL_AUTH_CACHE_TTL, default 5 s)."""
    row = ctx.session.get(m.Token, token_id)
    owner = ctx.session.get(m.User, row.user_id) if row else None
    if row is None or owner is None:
        raise NotFound(f"token {token_id!r} not found", code="token_not_found")
    if owner.name != ctx.principal.name:
        try:
            require(ctx, "admin", GLOBAL)
        except Forbidden:
            raise NotFound(f"token {token_id!r} not found", code="token_not_found") from None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        ctx.session.flush()
    return _token_out(row, owner.name)


def login(ctx: Ctx, body: LoginRequest) -> TokenCreated:
    """Exchange a user name and password for a session token (scope: all the user's projects). Failed
    attempts are limited per user and per address (5 in 5 minutes)."""
    LIMITER.check(body.username, ctx.remote)
    user = ctx.session.scalar(select(m.User).where(m.User.name == body.username))
    ok = verify_password(user.password_hash if user else None, body.password)  # same cost for unknown users
    if not ok or user is None or user.disabled:
        LIMITER.failed(body.username, ctx.remote)
        raise Unauthorized("wrong user name or password", code="login_failed")
    LIMITER.succeeded(body.username)
    return _issue(ctx.session, user, "login", GLOBAL, "admin", [], body.expires_in_days)


def logout(ctx: Ctx, token: str) -> None:
    """Revoke a login token by its secret (the web UI's sign-out); an unknown token is ignored."""
    row = ctx.session.scalar(select(m.Token).where(m.Token.token_hash == hash_token(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        ctx.session.flush()


def whoami(ctx: Ctx) -> WhoAmI:
    """Who the server takes the caller for: name, kind, roles per project and permissions."""
    p = ctx.principal
    return WhoAmI(name=p.name, kind=p.kind, project=ctx.project, roles=dict(p.roles), permissions=sorted(p.permissions))


# ------------------------------------------------------------------------------------------ authentication

def principal_for_token(session: Session, token: str) -> tuple[Principal, str | None, dt.datetime | None]:
    """The principal ``token`` acts as, the id of the token when its last use should be recorded, and when
    the token expires.
    Raises :class:`Unauthorized` saying whether the token is unknown, revoked, expired or its user disabled."""
    digest = hash_token(token)
    found = session.execute(select(m.Token, m.User).join(m.User, m.User.id == m.Token.user_id)
                            .where(m.Token.token_hash == digest)).first()
    if found is None or not hmac.compare_digest(found[0].token_hash, digest):
        raise Unauthorized("the token is not valid (unknown or mistyped)", code="token_invalid")
    tok, user = found
    now = utcnow()
    if tok.revoked_at is not None:
        raise Unauthorized(f"the token was revoked at {tok.revoked_at:%Y-%m-%d %H:%M:%S} UTC", code="token_revoked")
    if tok.expires_at is not None and tok.expires_at <= now:
        raise Unauthorized(f"the token expired at {tok.expires_at:%Y-%m-%d %H:%M:%S} UTC", code="token_expired")
    if user.disabled:
        raise Unauthorized(f"user {user.name!r} is disabled", code="user_disabled")
    memberships = _roles(session, user.id)
    roles: dict[str, str] = {}
    if tok.project == GLOBAL:
        roles = {p: _min_role(r, tok.role) for p, r in memberships.items()}
        if user.is_admin:
            roles[GLOBAL] = tok.role
    else:
        own = "admin" if user.is_admin else memberships.get(tok.project)
        if own:
            roles[tok.project] = _min_role(own, tok.role)
    principal = Principal(user.name, kind=user.kind, roles=roles, permissions=frozenset(tok.permissions))
    stale = tok.last_used_at is None or now - tok.last_used_at > LAST_USED_EVERY
    return principal, tok.id if stale else None, tok.expires_at


def touch_token(session: Session, token_id: str) -> None:
    """Record that a token was used now."""
    row = session.get(m.Token, token_id)
    if row is not None:
        row.last_used_at = utcnow()


def bootstrap_admin(session: Session, password: str | None = None, name: str = "admin") -> str | None:
    """When the server has no user yet: create admin ``name`` (admin of every project) with ``password``
    (else a random one) and return the password to show once; None when users exist."""
    ensure_project(session)
    if session.scalar(select(m.User.id).limit(1)) is not None:
        return None
    secret = password or secrets.token_urlsafe(18)
    user = m.User(name=name, kind="user", is_admin=True, password_hash=hash_password(secret))
    session.add(user)
    session.flush()
    session.add(m.Membership(user_id=user.id, project_id=ensure_project(session).id, role="admin"))
    return secret
