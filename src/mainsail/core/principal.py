"""Who is acting: the principal a service call runs for, and the one permission check every layer uses.

Embedded use (no auth configured) acts as :data:`LOCAL`, an admin of every project, so single-user use
stays as simple as it is. The server's authentication sets a narrower principal on the request's
:class:`~mainsail.core.runtime.Ctx`; services call :func:`require` before anything that needs a role
or a permission of its own (running code, moving a production alias, reading secrets)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mainsail.core.errors import Forbidden, Unauthorized

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
        return role == "admin" or (role is not None and permission in self.permissions)


LOCAL = Principal("local", roles={"*": "admin"})
ANONYMOUS = Principal("anonymous", kind="anonymous")  # a request without credentials to a server with auth on
DEFAULT_PROJECT = "default"


def check(principal: Principal, permission: str, project: str = DEFAULT_PROJECT) -> None:
    """Raise :class:`Unauthorized` for an anonymous caller, :class:`Forbidden` naming the role or permission
    needed for anyone else without ``permission`` in ``project``."""
    if principal.can(permission, project):
        return
    if principal.kind == "anonymous":
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>' "
                           "(create one with `mainsail login` or `mainsail tokens create`)",
                           code="authentication_required")
    what = f"the {permission!r} role" if permission in ROLES else f"the {permission!r} permission"
    raise Forbidden(f"{principal.name!r} needs {what} in project {project!r}", code="role_required",
                    errors=[{"loc": ["project", project], "msg": f"needs {permission}", "type": "role_required",
                             "required": permission}])


def require(ctx: Ctx, permission: str, project: str | None = None) -> None:
    """Raise :class:`Forbidden` naming what is needed unless the acting principal has ``permission``
    (in ``project``, default the request's project)."""
    principal = getattr(ctx, "principal", None) or LOCAL
    check(principal, permission, project or getattr(ctx, "project", None) or DEFAULT_PROJECT)


def principal_record(principal: Principal) -> dict[str, object]:
    """``principal`` as JSON to store (a pipeline run's starter, a schedule's owner)."""
    return {"name": principal.name, "kind": principal.kind, "roles": dict(principal.roles),
            "permissions": sorted(principal.permissions)}


def principal_from(record: Mapping[str, object] | None) -> Principal:
    """The principal a :func:`principal_record` stored; none stored (a run made before starters were
    recorded, by the embedded local admin) is :data:`LOCAL`."""
    if not record:
        return LOCAL
    roles = record.get("roles") or {}
    perms = record.get("permissions") or []
    p = Principal(str(record.get("name") or "unknown"), kind=str(record.get("kind") or "user"),
                  roles={str(k): str(v) for k, v in roles.items()} if isinstance(roles, Mapping) else {},
                  permissions=frozenset(str(x) for x in perms) if isinstance(perms, list) else frozenset())
    return LOCAL if p == LOCAL else p
