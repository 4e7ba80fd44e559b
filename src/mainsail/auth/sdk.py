"""Auth methods of the Client: sign in, tokens, users and service accounts, projects and members."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mainsail.client.backends import Backend
from mainsail.core.ops import LazyOpSet

if TYPE_CHECKING:  # for annotations only: building these models at import slows every CLI command
    from mainsail.auth.schemas import Member, Project, TokenCreated, TokenInfo, User, WhoAmI

ops = LazyOpSet("mainsail.auth.ops")


class AuthMethods:
    _backend: Backend

    def login(self, username: str, password: str, *, expires_in_days: float = 30) -> TokenCreated:
        """Exchange a user name and password for a session token (its ``token`` is shown this once)."""
        body = {"username": username, "password": password, "expires_in_days": expires_in_days}
        return self._backend.call(ops.login, {"body": body})

    def whoami(self) -> WhoAmI:
        """Who the server (or the embedded store) takes this client for."""
        return self._backend.call(ops.whoami, {})

    def create_token(self, name: str = "api", *, project: str = "default", role: str = "viewer",
                     permissions: Sequence[str] = (), expires_in_days: float | None = 90,
                     user: str | None = None) -> TokenCreated:
        """Create an API token (for yourself, or for a service account as a project admin)."""
        body = {"name": name, "project": project, "role": role, "permissions": list(permissions),
                "expires_in_days": expires_in_days, "user": user}
        return self._backend.call(ops.create_token, {"body": body})

    def list_tokens(self, user: str | None = None, *, include_revoked: bool = False) -> list[TokenInfo]:
        return self._backend.call(ops.list_tokens, {"user": user, "include_revoked": include_revoked})

    def revoke_token(self, token_id: str) -> TokenInfo:
        return self._backend.call(ops.revoke_token, {"token_id": token_id})

    def create_user(self, name: str, *, password: str | None = None, service: bool = False, admin: bool = False,
                    project: str | None = "default", role: str = "viewer") -> User:
        """Create a user (with ``password``) or a service account (``service=True``) with a role in ``project``."""
        body = {"name": name, "kind": "service" if service else "user", "password": password, "is_admin": admin,
                "project": project, "role": role}
        return self._backend.call(ops.create_user, {"body": body})

    def list_users(self) -> list[User]:
        return self._backend.call(ops.list_users, {})

    def update_user(self, name: str, *, password: str | None = None, disabled: bool | None = None,
                    admin: bool | None = None) -> User:
        body = {"password": password, "disabled": disabled, "is_admin": admin}
        return self._backend.call(ops.update_user, {"name": name, "body": {k: v for k, v in body.items()
                                                                           if v is not None}})

    def delete_user(self, name: str) -> None:
        self._backend.call(ops.delete_user, {"name": name})

    def create_project(self, name: str, *, description: str | None = None) -> Project:
        return self._backend.call(ops.create_project, {"body": {"name": name, "description": description}})

    def list_projects(self) -> list[Project]:
        return self._backend.call(ops.list_projects, {})

    def set_member(self, project: str, user: str, role: str) -> Member:
        """Give ``user`` ``role`` (viewer, editor, admin) in ``project``."""
        return self._backend.call(ops.set_member, {"project": project, "user": user, "body": {"role": role}})

    def remove_member(self, project: str, user: str) -> None:
        self._backend.call(ops.remove_member, {"project": project, "user": user})

    def list_members(self, project: str = "default") -> list[Member]:
        return self._backend.call(ops.list_members, {"project": project})
