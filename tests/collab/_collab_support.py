"""Collaboration test worlds: the same people (alice, bob, carol editors; dave a viewer; admin a project
admin) embedded on SQLite or PostgreSQL (acting through MAINSAIL_USER) or over HTTP against an auth-on
server (acting through their own tokens); and a real webhook receiver."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mainsail import Client

PEOPLE = {"alice": "editor", "bob": "editor", "carol": "editor", "dave": "viewer", "admin": "admin"}


@dataclass
class World:
    kind: str  # sqlite | postgres | http
    uri: str
    root: str
    admin_local: Client  # the embedded local admin on the same database
    make: Callable[[str], Client]
    clients: dict[str, Client] = field(default_factory=dict)

    def as_(self, user: str) -> Client:
        if user not in self.clients:
            self.clients[user] = self.make(user)
        return self.clients[user]

    @property
    def auth(self) -> bool:
        return self.kind == "http"


def _embedded(uri: str, root: str) -> Callable[[str], Client]:
    def make(user: str) -> Client:
        before = os.environ.get("MAINSAIL_USER")
        os.environ["MAINSAIL_USER"] = user  # an embedded Client records this user as the actor
        try:
            return Client(uri, artifact_root=root)
        finally:
            if before is None:
                os.environ.pop("MAINSAIL_USER", None)
            else:
                os.environ["MAINSAIL_USER"] = before
    return make


def make_world(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    root = str(tmp_path / "artifacts")
    uri = request.getfixturevalue("pg_url") if kind == "postgres" else f"sqlite:///{tmp_path / 'meta.db'}"
    local = Client(uri, artifact_root=root)
    for name, role in PEOPLE.items():
        local.create_user(name, service=True, role=role)
    with ExitStack() as stack:
        if kind == "http":
            from _services import serve_in_thread

            from mainsail.api.app import create_app
            from mainsail.core.runtime import Runtime
            from mainsail.core.settings import Settings

            tokens = {n: local.create_token("t", user=n, role=r).token for n, r in PEOPLE.items()}
            app = create_app(runtime=Runtime.for_settings(Settings.from_env().with_uri(uri, root)), auth=True)
            url = stack.enter_context(serve_in_thread(app))
            world = World(kind, uri, root, local, lambda user: Client(url, token=tokens[user]))
        else:
            world = World(kind, uri, root, local, _embedded(uri, root))
        yield world
        for c in world.clients.values():
            c.close()
    local.close()


class Receiver:
    """A real HTTP server recording the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                receiver.bodies.append(json.loads(self.rfile.read(int(self.headers.get("content-length", 0)))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
