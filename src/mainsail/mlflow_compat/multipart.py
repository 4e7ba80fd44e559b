"""MLflow's multipart upload through the server (``/api/2.0/mlflow-artifacts/mpu/…``), which the MLflow
client uses for large artifacts when ``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true``.

``create`` hands back one URL per part on this server (``mpu/part/<upload_id>/<n>``) with the caller's own
``Authorization`` header (the client sends parts without its credentials otherwise); each part is
stored as a content-addressed blob and answered with its SHA-256 as the ``ETag``; ``complete`` joins the
parts, in part order, into one blob and records it as the run artifact at the path; ``abort`` stores
nothing. No upload state is kept between calls: the parts are the ETags the client sends back, each a
blob already in the store (the store's garbage collection removes parts no artifact refers to)."""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi.responses import Response

from mainsail.core.runtime import Ctx
from mainsail.mlflow_compat.artifacts import _where
from mainsail.mlflow_compat.dispatch import Req, bad_value, invalid, route
from mainsail.tracking import service as tracking

MAX_PARTS = 10_000  # S3's limit, which MLflow's chunking is made for
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
DIGEST = re.compile(r"^[0-9a-f]{64}$")
PART_ROUTE = "/api/2.0/mlflow-artifacts/mpu/part"


def _target(ctx: Ctx, req: Req) -> tuple[str, str]:
    """(run id, artifact path) of the upload: the artifact path of the call plus the local file's name,
    as MLflow's client names it; the run must exist (and be running, checked when it is recorded)."""
    local = req.text("path")
    assert local is not None
    name = local.replace("\\", "/").rsplit("/", 1)[-1]
    kind, run_id, rest = _where(req.path["path"])
    if kind != "run":
        raise invalid(f"cannot upload to {req.path['path']!r}: uploads go to <experiment_id>/<run_id>/artifacts/<path>")
    target = f"{rest}/{name}" if rest else name
    tracking.clean_artifact_path(target)  # a bad name is an error now, not after the parts are sent
    tracking.get_run(ctx, run_id)
    return run_id, target


def _upload_id(req: Req) -> str:
    value = req.text("upload_id")
    if not UPLOAD_ID.match(value or ""):
        raise bad_value("upload_id", value, "It must be the upload_id create-multipart answered.")
    return str(value)


@route("POST", "/mlflow-artifacts/mpu/create/{path:path}")
def create_multipart(ctx: Ctx, req: Req) -> dict[str, Any]:
    _target(ctx, req)
    parts = req.int("num_parts", 1)
    if not 1 <= parts <= MAX_PARTS:
        raise bad_value("num_parts", parts, f"It must be at least 1 and at most {MAX_PARTS}.")
    upload_id = secrets.token_hex(16)
    headers = {"Authorization": req.authorization} if req.authorization else {}
    base = req.base_url.rstrip("/")
    return {"upload_id": upload_id,
            "credentials": [{"url": f"{base}{PART_ROUTE}/{upload_id}/{n}", "part_number": n, "headers": headers}
                            for n in range(1, parts + 1)]}


@route("PUT", "/mlflow-artifacts/mpu/part/{upload_id}/{part}", raw=True, write=False, role="editor")
def upload_part(ctx: Ctx, req: Req) -> Response:
    """One part's bytes, stored as a blob; the ETag is its SHA-256 (what ``complete`` gets back). Stored
    outside a write transaction (it writes no table), so parts go up in parallel; editors only."""
    if not UPLOAD_ID.match(req.path["upload_id"]) or not req.path["part"].isdigit() \
            or not 1 <= int(req.path["part"]) <= MAX_PARTS:
        raise invalid(f"no such part URL: mpu/part/{req.path['upload_id']}/{req.path['part']}")
    blob = ctx.store.put_bytes(req.body)
    return Response(b"", headers={"ETag": blob.digest})


def _parts(req: Req) -> list[str]:
    """The parts' digests in part order, checked to be parts 1..n, each once."""
    raw = req.need("parts")
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise bad_value("parts", raw, "It must be a list of {part_number, etag}.")
    by_number: dict[int, str] = {}
    for p in raw:
        number, etag = p.get("part_number"), str(p.get("etag") or "").strip('"')
        if not isinstance(number, int) or isinstance(number, bool) or not DIGEST.match(etag) or number in by_number:
            raise bad_value("parts", p, "Each part needs its part_number (once) and the ETag its upload answered.")
        by_number[number] = etag
    if sorted(by_number) != list(range(1, len(by_number) + 1)) or len(by_number) > MAX_PARTS:
        raise invalid(f"parts must be numbered 1..n without gaps; got {sorted(by_number)[:20]}")
    return [by_number[n] for n in sorted(by_number)]


@route("POST", "/mlflow-artifacts/mpu/complete/{path:path}", write=False, role="editor")
def complete_multipart(ctx: Ctx, req: Req) -> dict[str, Any]:
    """Join the parts (outside a write transaction: a large file takes a while), then record the artifact
    and its audit row in a short write transaction of its own."""
    run_id, target = _target(ctx, req)
    _upload_id(req)
    digests = _parts(req)
    missing = [i + 1 for i, d in enumerate(digests) if not ctx.store.exists(d)]
    if missing:
        raise invalid(f"parts {missing[:20]} were not uploaded (their ETags name no stored part)")
    with tempfile.TemporaryDirectory(prefix="mlflow-mpu-") as tmp:
        whole = Path(tmp) / "whole"
        with whole.open("wb") as out:
            for i, digest in enumerate(digests):
                part = ctx.store.get_file(digest, Path(tmp) / f"part-{i}", name=f"{target} part {i + 1}")
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                part.unlink()
        blob = ctx.store.put_file(whole)
    from mainsail.audit.service import record

    assert ctx.runtime is not None
    with ctx.runtime.transaction(write=True, actor=ctx.actor, principal=ctx.principal, project=ctx.project,
                                 remote=ctx.remote) as w:
        info = tracking.record_artifact(w, run_id, target, blob.digest, blob.size)
        record(w, "mlflow.complete_multipart", {"args": req.args, "path": req.path}, info.model_dump(mode="json"),
               f"path={req.path['path']}")
    return {}


@route("POST", "/mlflow-artifacts/mpu/abort/{path:path}")
def abort_multipart(ctx: Ctx, req: Req) -> dict[str, Any]:
    _target(ctx, req)
    _upload_id(req)
    return {}
