"""Who is acting: the principal a service call runs for, and the one permission check every layer uses.

Embedded use (no auth configured) acts as :data:`LOCAL`, an admin of every project, so single-user use
stays as simple as it is. The server's authentication sets a narrower principal on the request's
:class:`~mainsail.core.runtime.Ctx`; services call :func:`require` before anything that needs a role
or a permission of its own (running code, moving a production alias, reading secrets)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mainsail.core.errors import Forbidden

if TYPE_CHECKING:
    from mainsail.core.runtime import Ctx

ROLES = ("viewer", "editor", "admin")  # each includes the ones before it


@dataclass(frozen=True)
class Principal:
    """An authenticated user, service account or token: its role per project and extra permissions."""

    name: str
    kind: str = "user"  # user | service | anonymous
    roles: Mapping[str, str] = field(default_factory=dict)  # project -> role; "*" = every project
    permissions: frozenset[str] = frozenset()  # extra grants such as "pipelines:code", "predict"

    def role(self, project: str = "default") -> str | None:
        return self.roles.get(project) or self.roles.get("*")

    def can(self, permission: str, project: str = "default") -> bool:
        """True when the principal's role in ``project`` includes ``permission`` (a role name or a grant)."""
        role = self.role(project)
        if permission in ROLES:
            return role is not None and ROLES.index(role) >= ROLES.index(permission)
        return role == "admin" or permission in self.permissions


LOCAL = Principal("local", roles={"*": "admin"})


def require(ctx: Ctx, permission: str, project: str = "default") -> None:
    """Raise :class:`Forbidden` naming what is needed unless the acting principal has ``permission``."""
    principal = getattr(ctx, "principal", None) or LOCAL
    if not principal.can(permission, project):
        raise Forbidden(f"{principal.name!r} needs {permission!r} in project {project!r}")
