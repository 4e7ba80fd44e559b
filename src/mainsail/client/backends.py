"""The two ways a :class:`~mainsail.client.Client` reaches the services: in-process or over HTTP.
Both take a declared :class:`~mainsail.core.ops.Operation` and its arguments, validate them the same
way, and return the same types or raise the same errors."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import orjson
from pydantic import BaseModel

from mainsail import __version__
from mainsail.core.artifacts import hash_file
from mainsail.core.errors import MainsailError, ServiceUnavailable, from_problem, redact
from mainsail.core.ops import Operation
from mainsail.core.principal import LOCAL, Principal
from mainsail.core.runtime import Runtime
from mainsail.core.settings import Settings
from mainsail.core.types import check_name

if TYPE_CHECKING:
    import httpx

MetricRows = list[tuple[str, str, float, int, float]]
_READS_RUNS = {"get_run", "search_runs", "compare_runs"}



_AUDIT: Any = None


def _audit() -> Any:
    """The audit domain's service, imported on the first local write (not when the Client is built)."""
    global _AUDIT
    if _AUDIT is None:
        from mainsail.audit import service

        _AUDIT = service
    return _AUDIT

class Backend(Protocol):
    uri: str

    def call(self, op: Operation, kwargs: dict[str, Any]) -> Any: ...
    def log_metric_rows(self, run_id: str, rows: MetricRows, idempotency_key: str | None = None) -> None: ...
    def heartbeat(self, run_id: str) -> Any: ...
    def put_artifact_file(self, run_id: str, path: str, local: Path) -> Any: ...
    def close(self) -> None: ...


class LocalBackend:
    """Runs service functions in this process, one transaction per call."""

    def __init__(self, settings: Settings, actor: str | None = None, principal: Principal = LOCAL,
                 project: str | None = None):
        self.uri = settings.uri
        self.runtime = Runtime.for_settings(settings)
        self.actor = actor or _local_user()  # embedded: who is recorded on every change
        self.principal = principal  # embedded: the local admin (a pipeline task may act for a narrower one)
        self.project = project or settings.project

    @classmethod
    def on_runtime(cls, runtime: Runtime, *, actor: str | None = None, principal: Principal = LOCAL,
                   project: str | None = None) -> LocalBackend:
        """A backend on an existing runtime (a server's own), acting as ``principal``."""
        self = cls.__new__(cls)
        self.runtime, self.uri = runtime, runtime.url
        self.actor = actor or _local_user()
        self.principal = principal
        self.project = project or runtime.settings.project
        return self

    def call(self, op: Operation, kwargs: dict[str, Any]) -> Any:
        args = op.bind(kwargs)
        if op.fast is not None and (found := op.shortcut(self.runtime, self.principal, self.project, args)) is not None:
            return found
        if op.name in _READS_RUNS and op.tag == "tracking":  # embedded: no server loop marks dead runs
            from mainsail.tracking.heartbeat import reap_if_due

            reap_if_due(self.runtime)
        with self.runtime.transaction(write=op.write, actor=self.actor, principal=self.principal,
                                      project=self.project) as ctx:
            result = op.invoke(ctx, args)
            _audit().record(ctx, op, args, result)  # a write's row, in its transaction (a read: nothing)
            return result

    def log_metric_rows(self, run_id: str, rows: MetricRows, idempotency_key: str | None = None) -> None:
        from mainsail.tracking import service
        from mainsail.tracking.ops import ops

        ops.log_batch.authorize(self.principal, self.project)  # the same rule as the operation it stands for
        request = {"run_id": run_id, "rows": rows}
        audit = _audit()
        with self.runtime.transaction(actor=self.actor, principal=self.principal,
                                      project=self.project) as ctx:  # in-process: committed or not, no doubt
            # the audit row's digest of the batch is computed while the store takes the points
            digest = service.log_metric_rows(ctx, run_id, rows, meanwhile=lambda: audit.digest(request))
            audit.record(ctx, "tracking.log_batch", request, None, f"run_id={run_id}", request=digest)

    def heartbeat(self, run_id: str) -> Any:
        from mainsail.tracking.ops import ops

        return self.call(ops.heartbeat, {"run_id": run_id})

    def put_artifact_file(self, run_id: str, path: str, local: Path) -> Any:
        from mainsail.tracking import service
        from mainsail.tracking.ops import ops

        ops.upload_artifact.authorize(self.principal, self.project)
        path = service.clean_artifact_path(path)  # bad input refused before the bytes are stored
        blob = self.runtime.store.put_file(local)  # streams; never holds the whole file
        with self.runtime.transaction(actor=self.actor, principal=self.principal, project=self.project) as ctx:
            result = service.record_artifact(ctx, run_id, path, blob.digest, blob.size)
            _audit().record(ctx, "tracking.upload_artifact", {"run_id": run_id, "path": path, "digest": blob.digest},
                         result, f"run_id={run_id}/path={path}")
            return result

    def close(self) -> None:
        pass


def _local_user() -> str | None:
    """``MAINSAIL_USER``, else the OS login name (what an embedded Client records as the actor)."""
    import getpass

    try:
        return os.environ.get("MAINSAIL_USER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return None


def _dump(value: Any) -> Any:
    return value.model_dump(mode="json", exclude_unset=True) if isinstance(value, BaseModel) else value


class RemoteBackend:
    """Calls a Mainsail server. Connection errors on reads are retried with backoff."""

    RETRIES = 3

    def __init__(self, uri: str, token: str | None = None, timeout: float = 60.0, project: str | None = None,
                 verify: Any = True):
        import httpx  # only a remote client needs it

        self.uri = uri.rstrip("/")
        headers = {"user-agent": f"mainsail-client/{__version__}"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.project = project or "default"
        if project and project != "default":  # default: the server's own default project
            headers["mainsail-project"] = project
        bundle = os.environ.get("MAINSAIL_CA_BUNDLE")  # trust a private CA / self-signed server certificate
        if bundle:
            import ssl

            verify = ssl.create_default_context(cafile=bundle)
        self.http = httpx.Client(base_url=self.uri, headers=headers, timeout=timeout, verify=verify)

    def _url(self, op: Operation, args: dict[str, Any]) -> str:
        path = op.path
        for p in op.params:
            if p.where == "path":
                value = str(args[p.name])
                safe = "/" if f"{{{p.name}:path}}" in path else ""
                path = path.replace(f"{{{p.name}:path}}", quote(value, safe=safe)).replace(
                    f"{{{p.name}}}", quote(value, safe=""))
        return "/api/v1" + path

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """Send a request, retrying transport failures with backoff; map problem+json errors back to
        Mainsail exceptions. Writes carry one ``Idempotency-Key`` across retries, so a retry of a write
        the server already committed is answered from its record instead of running twice."""
        import httpx  # only a remote client needs it

        if method != "GET":
            kw["headers"] = {"idempotency-key": uuid.uuid4().hex, **kw.get("headers", {})}
        for attempt in range(self.RETRIES + 1):
            try:
                resp = self.http.request(method, url, **kw)
                break
            except httpx.TransportError as exc:
                if attempt == self.RETRIES:
                    raise ServiceUnavailable(f"cannot reach the Mainsail server at {redact(self.uri)}: {exc}",
                                             code="server_unreachable") from None
                time.sleep(0.2 * 2**attempt)
        if resp.status_code >= 400:
            try:
                body = resp.json()
            except ValueError:
                body = {"detail": resp.text[:500]}
            raise from_problem(resp.status_code, body if isinstance(body, dict) else {"detail": str(body)})
        return resp

    def call(self, op: Operation, kwargs: dict[str, Any]) -> Any:
        args = op.bind(kwargs)
        query: dict[str, Any] = {}
        content: bytes | None = None
        headers: dict[str, str] = {}
        for p in op.params:
            value = args[p.name]
            if p.where == "query" and value is not None:
                query[p.name] = [_dump(v) for v in value] if isinstance(value, list) else _dump(value)
            elif p.where == "body":
                content = orjson.dumps(_dump(value))
                headers["content-type"] = "application/json"
            elif p.where == "raw":
                content = value
                headers["content-type"] = "application/octet-stream"
        resp = self.request(op.method, self._url(op, args), params=query, content=content, headers=headers)
        return op.parse_response(resp.content)

    def log_metric_rows(self, run_id: str, rows: MetricRows, idempotency_key: str | None = None) -> None:
        """Send rows as one log-batch; a resend with the same ``idempotency_key`` is stored once."""
        _, keys, values, steps, stamps = zip(*rows, strict=True)
        body = orjson.dumps({"metrics": {"key": keys, "value": values, "step": steps, "timestamp": stamps}})
        headers = {"content-type": "application/json"}
        if idempotency_key:
            headers["idempotency-key"] = idempotency_key
        self.request("POST", f"/api/v1/tracking-runs/{quote(run_id, safe='')}/log-batch", content=body,
                     headers=headers)

    def heartbeat(self, run_id: str) -> Any:
        from mainsail.tracking.ops import ops

        return self.call(ops.heartbeat, {"run_id": run_id})

    def put_artifact_file(self, run_id: str, path: str, local: Path) -> Any:
        from mainsail.tracking.ops import ops

        return self.call(ops.upload_artifact, {"run_id": run_id, "path": path, "data": local.read_bytes(),
                                               "digest": hash_file(local).digest})

    def close(self) -> None:
        self.http.close()


def make_backend(uri: str | None, token: str | None = None, artifact_root: str | None = None,
                 project: str | None = None) -> Backend:
    """A backend for ``uri`` (default ``MAINSAIL_URI``, else the embedded SQLite under MAINSAIL_HOME), working
    in ``project`` (default ``MAINSAIL_PROJECT``)."""
    settings = Settings.from_env()
    uri = uri or settings.uri
    project = check_name(project or settings.project, "project", "project", max_length=128)
    if uri.startswith(("http://", "https://")):
        from mainsail.auth.credentials import stored_token

        return RemoteBackend(uri, token or settings.token or stored_token(settings.home, uri), project=project)
    if "://" not in uri:
        raise MainsailError(f"unsupported MAINSAIL_URI {uri!r}: use sqlite:///path, "
                            "postgresql+psycopg://… or http(s)://host:port")
    return LocalBackend(settings.with_uri(uri, artifact_root), project=project)
