"""Deployments served inside ``mainsail server`` (the embedded default): one :class:`ReplicaState` and
replica app per hosted deployment, exactly as ``mainsail serve`` runs them (loading, hot swap, heartbeats,
micro-batching, inference logs), mounted in the API process:

- ``/deployments/{name}/…``: the whole replica app (``/predict``, ``/v2/…`` with variants pinnable,
  ``/health``, ``/ready``, ``/metrics``);
- ``/v2/models/{name}/…``: OIP v2 by deployment name, plus ``/v2``, ``/v2/health/live|ready``;
- ``/projects/{project}/deployments/{name}/…`` and ``/projects/{project}/v2/models/{name}/…``: the same for
  a deployment of any project (the two above address the server's own project).

With ``names=None`` every deployment of every project is hosted (when the client is embedded; a remote one:
its project's), including ones created later; deleted ones are dropped. ``names`` may say ``project/name``.
Metrics of every hosted deployment share one registry, appended to the API's ``/metrics``."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.routing import Mount

from mainsail import __version__
from mainsail.core.background import Periodic
from mainsail.core.errors import NotFound
from mainsail.serving.replica import ReplicaMetrics, ReplicaState

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
Scope = dict[str, Any]


def parse_names(text: str | None, *, embedded: bool, background: bool) -> tuple[bool, list[str] | None]:
    """``--deployments`` as ``(host any, names)``: ``all`` → every deployment (names ``None``), ``none`` →
    nothing, ``a,b`` → those. Unset: every deployment when the metadata store is embedded and background
    services run."""
    if text is None:
        return embedded and background, None
    text = text.strip()
    if text.lower() in ("none", ""):
        return False, None
    if text.lower() == "all":
        return True, None
    return True, [n.strip() for n in text.split(",") if n.strip()]


class DeploymentHost:
    def __init__(self, client: Any, names: Sequence[str] | None = None, *, poll_interval: float = 2.0,
                 max_batch: int = 256, max_wait: float = 0.0015, log_inferences: bool = True):
        self.client = client
        self.names = list(names) if names is not None else None
        self.poll_interval = poll_interval
        self.options = {"poll_interval": poll_interval, "max_batch": max_batch, "max_wait": max_wait,
                        "log_inferences": log_inferences}
        self.replica_id = f"server-{socket.gethostname()}-{os.getpid()}"
        self.metrics = ReplicaMetrics()
        self.project: str = getattr(client, "project", None) or "default"  # the server's own project
        self.states: dict[tuple[str, str], ReplicaState] = {}  # (project, deployment) -> its replica
        self.apps: dict[tuple[str, str], Any] = {}  # replaced whole (copy on write): read lock-free per request
        self._clients: dict[str, Any] = {self.project: client}
        self._loop = Periodic("mainsail-deployment-host", self.refresh, poll_interval,
                              "refreshing hosted deployments")
        self._lock = threading.Lock()

    # ------------------------------------------------------------ hosting
    def _key(self, name: str) -> tuple[str, str]:
        """``project/name`` or ``name`` (the server's own project) as ``(project, name)``."""
        project, _, rest = name.rpartition("/")
        return (project or self.project, rest)

    def _client(self, project: str) -> Any:
        """The client acting in ``project``: an in-process one on the same runtime (same principal)."""
        client = self._clients.get(project)
        if client is None:
            from mainsail.client import Client
            from mainsail.client.backends import LocalBackend

            backend = self.client._backend
            client = Client.__new__(Client)
            client._backend = LocalBackend.on_runtime(backend.runtime, actor=backend.actor,
                                                      principal=backend.principal, project=project)
            self._clients[project] = client
        return client

    def _projects(self) -> list[str]:
        runtime = getattr(self.client._backend, "runtime", None)
        if runtime is None:  # a remote control plane: its project only
            return [self.project]
        from mainsail.serving.service import deployment_projects

        with runtime.transaction(write=False) as ctx:
            return sorted(set(deployment_projects(ctx)) | {self.project})

    def _wanted(self) -> list[tuple[str, str]]:
        if self.names is not None:
            return [self._key(n) for n in self.names]
        return [(p, d.name) for p in self._projects() for d in self._client(p).iter_deployments()]

    def hosted(self, project: str | None = None) -> list[str]:
        """Names of the hosted deployments of ``project`` (the server's own by default)."""
        return sorted(n for p, n in self.apps if p == (project or self.project))

    def refresh(self) -> None:
        """Host what is wanted and not hosted yet; drop what no longer exists (``all`` mode)."""
        from mainsail.serving.app import create_replica_app

        with self._lock:
            wanted = self._wanted()
            apps = dict(self.apps)
            for key in wanted:
                if key in self.states:
                    continue
                project, name = key
                state = ReplicaState(self._client(project), name, replica_id=self.replica_id, metrics=self.metrics,
                                     **self.options)  # type: ignore[arg-type]
                try:
                    state.start()
                except NotFound:
                    continue  # named but not created yet: retried on the next pass
                except Exception:  # noqa: BLE001 - one bad deployment must not stop the others
                    log.exception("hosting deployment %s of project %s failed; retrying", name, project)
                    continue
                self.states[key] = state
                apps[key] = create_replica_app(state)
                log.info("hosting deployment %s of project %s", name, project)
            if self.names is None:
                for key in [k for k in self.states if k not in wanted]:
                    apps.pop(key, None)
                    self.states.pop(key).stop()
            self.apps = apps

    def start(self) -> DeploymentHost:
        self.refresh()
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop()
        for state in list(self.states.values()):
            state.stop()

    # ------------------------------------------------------------ ASGI
    async def _not_found(self, scope: Scope, receive: Any, send: Any, name: str, project: str | None = None) -> None:
        project = project or self.project
        hosted = ", ".join(self.hosted(project)) or "none"
        err = NotFound(f"deployment {name[:200]!r} of project {project[:128]!r} is not hosted by this server "
                       f"(hosted there: {hosted})", code="deployment_not_hosted")
        await JSONResponse(err.to_problem(), status_code=404, media_type=PROBLEM)(scope, receive, send)

    @staticmethod
    def _rest(scope: Scope) -> str:
        path, root = scope["path"], scope.get("root_path", "")
        return path[len(root):] if root and path.startswith(root) else path

    async def deployments_asgi(self, scope: Scope, receive: Any, send: Any) -> None:
        """Mounted at ``/deployments``: ``/deployments/{name}/…`` goes to that deployment's replica app."""
        name, _, _ = self._rest(scope).lstrip("/").partition("/")
        app = self.apps.get((self.project, name))
        if app is None:
            await self._not_found(scope, receive, send, name)
            return
        await app({**scope, "root_path": scope.get("root_path", "") + "/" + name}, receive, send)

    async def oip_asgi(self, scope: Scope, receive: Any, send: Any) -> None:
        """Mounted at ``/v2``: ``/v2/models/{deployment}/…`` and the server-level OIP endpoints."""
        rest = self._rest(scope)
        if rest in ("", "/"):
            await JSONResponse(self.server_metadata())(scope, receive, send)
            return
        if rest == "/health/live":
            await JSONResponse({"live": True})(scope, receive, send)
            return
        if rest == "/health/ready":
            ok = self.ready()
            await JSONResponse({"ready": ok}, status_code=200 if ok else 503)(scope, receive, send)
            return
        parts = rest.lstrip("/").split("/")
        if parts[0] != "models" or len(parts) < 2:
            await self._not_found(scope, receive, send, rest)
            return
        app = self.apps.get((self.project, parts[1]))
        if app is None:
            await self._not_found(scope, receive, send, parts[1])
            return
        root = scope.get("root_path", "")
        await app({**scope, "root_path": root.removesuffix("/v2")}, receive, send)

    async def projects_asgi(self, scope: Scope, receive: Any, send: Any) -> None:
        """Mounted at ``/projects``: ``/projects/{project}/deployments/{name}/…`` and
        ``/projects/{project}/v2/models/{name}/…`` go to that project's deployment's replica app (the auth
        middleware checked the ``predict`` permission in the path's project)."""
        root = scope.get("root_path", "")
        parts = self._rest(scope).lstrip("/").split("/")
        project = parts[0]
        if len(parts) >= 3 and parts[1] == "deployments":
            name, prefix = parts[2], f"/{project}/deployments/{parts[2]}"
        elif len(parts) >= 4 and parts[1] == "v2" and parts[2] == "models":
            name, prefix = parts[3], f"/{project}"
        else:
            await self._not_found(scope, receive, send, "/".join(parts[1:3]), project)
            return
        app = self.apps.get((project, name))
        if app is None:
            await self._not_found(scope, receive, send, name, project)
            return
        await app({**scope, "root_path": root + prefix}, receive, send)

    def server_metadata(self) -> dict[str, Any]:
        return {"name": "mainsail", "version": __version__, "extensions": ["binary_tensor_data"]}

    def ready(self) -> bool:
        states = list(self.states.values())
        return bool(states) and all(s.routing.primaries for s in states)

    def mount(self, app: FastAPI) -> None:
        """Mount the hosted deployments on the API app and add their metrics to its ``/metrics``."""
        app.add_api_route("/v2", self.server_metadata, methods=["GET"], tags=["oip"], summary="OIP server metadata")
        # First in the route list: FastAPI matches a path against every route of every included router in
        # turn (~1 ms for the API's ~240 routes); no other route starts with /deployments/, /v2/ or /projects/.
        app.router.routes[:0] = [Mount("/deployments", self.deployments_asgi), Mount("/v2", self.oip_asgi),
                                 Mount("/projects", self.projects_asgi)]
        app.state.extra_metrics.append(self.metrics.text)
