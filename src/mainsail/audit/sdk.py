"""Audit and secrets methods of the Client (admin only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from mainsail.client.backends import Backend
from mainsail.core.ops import LazyOpSet
from mainsail.core.pagination import Page

if TYPE_CHECKING:
    from mainsail.audit.schemas import AuditEntry, AuditVerification, RotateResult, SecretInfo

ops = LazyOpSet("mainsail.audit.ops")


class AuditMethods:
    _backend: Backend

    def list_audit(self, *, actor: str | None = None, op: str | None = None, object: str | None = None,
                   since: dt.datetime | None = None, all_projects: bool = False, cursor: str | None = None,
                   limit: int = 100) -> Page[AuditEntry]:
        """One page of the project's recorded writes, oldest first (filters: actor, operation or domain,
        object prefix, time; ``all_projects``: every project's, for admins of every project)."""
        return self._backend.call(ops.list_audit, {"actor": actor, "op": op, "object": object, "since": since,
                                                   "all_projects": all_projects, "cursor": cursor, "limit": limit})

    def iter_audit(self, **filters: Any) -> Iterator[AuditEntry]:
        """Every recorded write matching ``filters`` (as :meth:`list_audit`), page by page."""
        cursor = None
        while True:
            page = self.list_audit(**filters, cursor=cursor, limit=1000)
            yield from page.items
            if not (cursor := page.next_cursor):
                return

    def verify_audit(self, *, all_projects: bool = False) -> AuditVerification:
        """Walk the hash chain (one for every project): ``ok``, or each altered, removed or moved row of
        the project (``all_projects``: of every project, for admins of every project)."""
        return self._backend.call(ops.verify_audit, {"all_projects": all_projects})

    def export_audit(self, path: str | Path, **filters: Any) -> int:
        """Write the project's recorded writes (``all_projects=True``: every project's) as JSON lines to
        ``path``, then a last line with the verified head of the whole chain, to keep elsewhere (a later
        rewrite of the chain no longer ends there); the number of entries."""
        n = 0
        with open(path, "wb") as f:
            for entry in self.iter_audit(**filters):
                f.write(orjson.dumps(entry.model_dump(mode="json")) + b"\n")
                n += 1
            v = self.verify_audit(all_projects=bool(filters.get("all_projects")))
            f.write(orjson.dumps({"head_seq": v.head_seq, "head_hash": v.head_hash, "verified": v.ok}) + b"\n")
        return n

    def set_secret(self, name: str, value: str, description: str | None = None) -> SecretInfo:
        """Store a named secret (sealed at rest; never returned)."""
        return self._backend.call(ops.set_secret, {"name": name, "body": {"value": value, "description": description}})

    def list_secrets(self) -> list[SecretInfo]:
        """Names and descriptions of the stored secrets."""
        return self._backend.call(ops.list_secrets, {})

    def delete_secret(self, name: str) -> None:
        """Remove a named secret."""
        self._backend.call(ops.delete_secret, {"name": name})

    def resolve_secret(self, name: str) -> str:
        """A named secret's value, for a connector running beside the database (embedded, or a worker on
        it); a server never sends one, so a remote client gets an error naming the reason."""
        from mainsail.client.backends import LocalBackend
        from mainsail.core.errors import InvalidInput

        if not isinstance(self._backend, LocalBackend):
            raise InvalidInput(f"secret:{name} is resolved only where the database is (an embedded client or a "
                               "worker on it); a server never sends a secret's value", code="secret_not_here",
                               errors=[{"loc": ["source"], "msg": "secret reference on a remote client"}])
        from mainsail.audit.service import secret_value

        with self._backend.runtime.transaction(write=False) as ctx:
            return secret_value(ctx, name)

    def rotate_secrets(self) -> RotateResult:
        """Re-encrypt every stored secret with the newest key."""
        return self._backend.call(ops.rotate_secrets, {})
