"""An auth-on API served by a real uvicorn in a thread, with one token per kind of caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from mainsail import Client
from mainsail.core.runtime import Runtime
from mainsail.core.settings import Settings

CALLERS = ("anonymous", "viewer", "editor", "admin", "outsider")


@dataclass
class AuthWorld:
    url: str
    uri: str
    root: str
    tokens: dict[str, str]
    local: Client  # the embedded admin on the same database

    def http(self, who: str, headers: dict[str, str] | None = None) -> httpx.Client:
        auth = {"authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}
        return httpx.Client(base_url=self.url, headers={**auth, **(headers or {})}, timeout=60)


def make_callers(local: Client) -> dict[str, str]:
    """Service accounts: a viewer, an editor (with predict) and an admin of ``default``, an admin of every
    project, and an admin of project ``other`` only; one token each."""
    local.create_project("other")
    tokens = {}
    for who, role, perms in (("viewer", "viewer", []), ("editor", "editor", ["predict"])):
        local.create_user(f"svc-{who}", service=True, role=role)
        tokens[who] = local.create_token(who, user=f"svc-{who}", role=role, permissions=perms).token
    local.create_user("svc-admin", service=True, admin=True, role="admin")
    tokens["admin"] = local.create_token("admin", user="svc-admin", project="*", role="admin",
                                         permissions=["predict"]).token
    local.create_user("svc-outsider", service=True, project="other", role="admin")
    tokens["outsider"] = local.create_token("outsider", user="svc-outsider", project="other", role="admin",
                                            permissions=["predict"]).token
    return tokens


def auth_world(tmp: Path) -> Iterator[AuthWorld]:
    from _services import serve_in_thread

    from mainsail.api.app import create_app

    uri, root = f"sqlite:///{tmp / 'meta.db'}", str(tmp / "artifacts")
    settings = Settings.from_env().with_uri(uri, root)
    local = Client(uri, artifact_root=root)
    tokens = make_callers(local)
    app = create_app(runtime=Runtime.for_settings(settings), auth=True)
    with serve_in_thread(app) as url:
        yield AuthWorld(url, uri, root, tokens, local)
    local.close()
