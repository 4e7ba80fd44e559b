"""MLflow's proxied artifact service (``/api/2.0/mlflow-artifacts/artifacts``) over run artifacts and
registered versions' files.

Paths are ``<experiment_id>/<run_id>/artifacts/<path>`` for a run's artifacts (the ``artifact_uri``
MLflow gets for a run) and ``registry/<version_id>/<path>`` for a registered version's files (the
download URI of a version: the files as registered, content-addressed, never the run's later ones)."""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from fastapi.responses import Response

from mainsail.core.runtime import Ctx
from mainsail.mlflow_compat.dispatch import MlflowError, Req, invalid, route
from mainsail.registry import service as registry
from mainsail.tracking import service as tracking

RUN_PATH = re.compile(r"^(?P<exp>[^/]+)/(?P<run>[^/]+)/artifacts(?:/(?P<rest>.*))?$")
VERSION_PATH = re.compile(r"^registry/(?P<version>[^/]+)(?:/(?P<rest>.*))?$")


def version_uri(version_id: str) -> str:
    return f"mlflow-artifacts:/registry/{version_id}"


def _inside(path: str) -> str:
    """A relative artifact path, ``.`` (the root) as ``""``; ``..`` or a NUL is MLflow's "Invalid path"."""
    parts = [p for p in path.strip("/").split("/") if p not in ("", ".")]
    if ".." in parts or "\x00" in path:
        raise invalid("Invalid path")
    return "/".join(parts)


def _where(path: str) -> tuple[str, str, str]:
    """("run" | "version", id, path inside) of an artifact path."""
    path = _inside(path)
    if m := VERSION_PATH.match(path):
        return "version", m.group("version"), (m.group("rest") or "").strip("/")
    if m := RUN_PATH.match(path):
        return "run", m.group("run"), (m.group("rest") or "").strip("/")
    raise MlflowError("RESOURCE_DOES_NOT_EXIST",
                      f"artifact path {path!r} is not <experiment_id>/<run_id>/artifacts/<path> "
                      "nor registry/<version_id>/<path>")


def _children(files: dict[str, int], sub: str) -> list[dict[str, Any]]:
    """The immediate children of folder ``sub`` among ``files`` (path -> size), relative to ``sub``."""
    out: dict[str, dict[str, Any]] = {}
    for path, size in files.items():
        if sub and path == sub:  # listing a file answers the file itself
            name = path.rsplit("/", 1)[-1]
            out[name] = {"path": name, "is_dir": False, "file_size": size}
            continue
        if sub and not path.startswith(sub + "/"):
            continue
        head, _, tail = path[len(sub) + 1 if sub else 0:].partition("/")
        out[head] = {"path": head, "is_dir": True} if tail else {"path": head, "is_dir": False, "file_size": size}
    return [out[k] for k in sorted(out)]


def _files(ctx: Ctx, kind: str, key: str, sub: str) -> dict[str, int]:
    if kind == "version":
        return {p: f.size for p, f in registry.get_version(ctx, key).files.items()}
    return {a.path: a.size for a in tracking.list_artifacts(ctx, key, sub or None)}


@route("PUT", "/mlflow-artifacts/artifacts/{path:path}", raw=True)
def upload(ctx: Ctx, req: Req) -> dict[str, Any]:
    kind, key, rest = _where(req.path["path"])
    if kind != "run" or not rest:
        raise invalid(f"cannot upload to {req.path['path']!r}: uploads go to "
                      "<experiment_id>/<run_id>/artifacts/<path>")
    tracking.upload_artifact(ctx, key, rest, req.body)
    return {}


@route("GET", "/mlflow-artifacts/artifacts/{path:path}", raw=True)
def download(ctx: Ctx, req: Req) -> Response:
    kind, key, rest = _where(req.path["path"])
    if kind == "version":
        data = registry.download_file(ctx, key, rest)
    else:
        data = tracking.download_artifact(ctx, key, rest)
    return _file(data, rest)


def _file(data: bytes, path: str) -> Response:
    media = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return Response(data, media_type=media)


@route("GET", "/get-artifact", raw=True)
def ui_run_artifact(ctx: Ctx, req: Req) -> Response:
    """The MLflow UI's download of one run artifact: ``/get-artifact?path=…&run_uuid=…``."""
    path = _inside(str(req.need("path")))
    return _file(tracking.download_artifact(ctx, str(req.get("run_id") or req.need("run_uuid")), path), path)


@route("GET", "/model-versions/get-artifact", raw=True)
def ui_version_artifact(ctx: Ctx, req: Req) -> Response:
    """The MLflow UI's download of one file of a model version: ``?path=…&name=…&version=…``."""
    from mainsail.mlflow_compat.registry import version_for

    path = _inside(str(req.need("path")))
    v, _ = version_for(ctx, req)
    return _file(registry.download_file(ctx, v.id, path), path)


@route("GET", "/mlflow-artifacts/artifacts")
def list_proxied(ctx: Ctx, req: Req) -> dict[str, Any]:
    kind, key, sub = _where(str(req.get("path", "")))
    return {"files": _children(_files(ctx, kind, key, sub), sub)}


@route("GET", "/mlflow/artifacts/list")
def list_run_artifacts(ctx: Ctx, req: Req) -> dict[str, Any]:
    run_id = str(req.get("run_id") or req.need("run_uuid"))
    sub = _inside(str(req.get("path", "")))
    run = tracking.get_run(ctx, run_id)
    files = _children(_files(ctx, "run", run_id, sub), sub)
    for f in files:
        f["path"] = f"{sub}/{f['path']}" if sub and f["path"] != sub.rsplit("/", 1)[-1] else f["path"]
    return {"root_uri": f"mlflow-artifacts:/{run.experiment_id}/{run.id}/artifacts", "files": files}
