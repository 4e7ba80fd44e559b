"""MLflow 3's logged models over ``tracking.service``.

Mainsail has no table of logged models: a logged model lives in its source run, its files under the run's
artifacts at ``<name>/`` and its record in a bookkeeping run tag (``mainsail.mlflow.model.<n>``, which may
change after the run ended); its id ``m-<run_id>-<n>`` names both."""

from __future__ import annotations

import json
import re
from typing import Any

from mainsail.core.db import utcnow
from mainsail.core.errors import NotFound
from mainsail.core.runtime import Ctx
from mainsail.mlflow_compat.dispatch import MlflowError, Req, invalid, route
from mainsail.mlflow_compat.names import slug
from mainsail.mlflow_compat.shapes import MODEL_TAG, artifact_uri, from_kv, kv, models_of, ms
from mainsail.mlflow_compat.tracking import experiment_id
from mainsail.tracking import service as tracking
from mainsail.tracking.schemas import Run

MODEL_ID = re.compile(r"^m-([0-9a-f]{32})-(\d+)$")


def _model(ctx: Ctx, model_id: str) -> tuple[Run, str, dict[str, Any]]:
    m = MODEL_ID.match(model_id)
    if m:
        try:
            run = tracking.get_run(ctx, m.group(1))
        except NotFound:
            run = None
        if run is not None and MODEL_TAG + m.group(2) in run.tags:
            return run, m.group(2), json.loads(run.tags[MODEL_TAG + m.group(2)])
    raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Logged model with ID '{model_id}' not found.")


def model_json(run: Run, n: str, rec: dict[str, Any]) -> dict[str, Any]:
    info = {"model_id": f"m-{run.id}-{n}", "experiment_id": run.experiment_id, "name": rec["name"],
            "creation_timestamp_ms": rec["created"], "last_updated_timestamp_ms": rec["updated"],
            "artifact_uri": f"{artifact_uri(run.experiment_id, run.id)}/{rec['path']}",
            "status": rec["status"], "source_run_id": run.id, "model_type": rec.get("model_type") or "",
            "tags": kv(rec.get("tags", {}))}
    return {"info": info, "data": {"params": kv(rec.get("params", {})), "metrics": []}}


def model_location(ctx: Ctx, model_id: str) -> tuple[str, str]:
    """(run id, artifact path) of a logged model's files."""
    run, _, rec = _model(ctx, model_id)
    return run.id, rec["path"]


def _save(ctx: Ctx, run: Run, n: str, rec: dict[str, Any]) -> dict[str, Any]:
    rec["updated"] = ms(utcnow())
    tracking.set_bookkeeping_tag(ctx, run.id, MODEL_TAG + n, json.dumps(rec))
    return {"model": model_json(run, n, rec)}


@route("POST", "/mlflow/logged-models")
def create_logged_model(ctx: Ctx, req: Req) -> dict[str, Any]:
    run_id = req.get("source_run_id")
    if not run_id:
        raise invalid("Mainsail keeps a logged model in the run that produced it: log models inside a run "
                      "(mlflow.start_run()) so source_run_id is set")
    run = tracking.get_run(ctx, str(run_id))
    models = models_of(run)
    n = str(len(models) + 1)
    name = str(req.get("name") or f"model-{n}")
    if len(name) > 500 or "\x00" in name:
        raise invalid(f"logged model name {name[:100]!r}… is too long or holds a NUL")
    # free text like MLflow's (``model/path/0``): its folder in the run keeps the '/', each part made safe
    base = "/".join(slug(part) for part in name.split("/") if part not in ("", ".", "..")) or f"model-{n}"
    taken = {m["path"] for m in models}
    path = base if base not in taken else f"{base}-{n}"
    now = ms(utcnow())
    rec = {"name": name, "path": path, "status": "LOGGED_MODEL_PENDING", "created": now,
           "model_type": req.get("model_type"), "tags": from_kv(req.get("tags"), "tags"),
           "params": from_kv(req.get("params"), "params")}
    return _save(ctx, run, n, rec)


@route("GET", "/mlflow/logged-models/{model_id}")
def get_logged_model(ctx: Ctx, req: Req) -> dict[str, Any]:
    run, n, rec = _model(ctx, req.path["model_id"])
    return {"model": model_json(run, n, rec)}


@route("PATCH", "/mlflow/logged-models/{model_id}")
def finalize_logged_model(ctx: Ctx, req: Req) -> dict[str, Any]:
    run, n, rec = _model(ctx, req.path["model_id"])
    rec["status"] = str(req.get("status", "LOGGED_MODEL_READY"))
    return _save(ctx, run, n, rec)


@route("DELETE", "/mlflow/logged-models/{model_id}")
def delete_logged_model(ctx: Ctx, req: Req) -> dict[str, Any]:
    run, n, _ = _model(ctx, req.path["model_id"])
    tracking.set_bookkeeping_tag(ctx, run.id, MODEL_TAG + n, None)
    return {}


@route("PATCH", "/mlflow/logged-models/{model_id}/tags")
def set_logged_model_tags(ctx: Ctx, req: Req) -> dict[str, Any]:
    run, n, rec = _model(ctx, req.path["model_id"])
    rec["tags"] = {**rec.get("tags", {}), **from_kv(req.get("tags"), "tags")}
    _save(ctx, run, n, rec)
    return {}


@route("DELETE", "/mlflow/logged-models/{model_id}/tags/{key}")
def delete_logged_model_tag(ctx: Ctx, req: Req) -> dict[str, Any]:
    run, n, rec = _model(ctx, req.path["model_id"])
    rec.get("tags", {}).pop(req.path["key"], None)
    _save(ctx, run, n, rec)
    return {}


@route("POST", "/mlflow/logged-models/{model_id}/params")
def log_logged_model_params(ctx: Ctx, req: Req) -> dict[str, Any]:
    run, n, rec = _model(ctx, req.path["model_id"])
    rec["params"] = {**rec.get("params", {}), **from_kv(req.get("params"), "params")}
    _save(ctx, run, n, rec)
    return {}


_NAME_FILTER = re.compile(r"^\s*name\s*=\s*'((?:[^']|'')*)'\s*$", re.I)


@route("POST", "/mlflow/logged-models/search", write=False)
def search_logged_models(ctx: Ctx, req: Req) -> dict[str, Any]:
    ids = [experiment_id(ctx, e) for e in req.list("experiment_ids")]
    text, name = req.get("filter"), None
    if text:
        m = _NAME_FILTER.match(text)
        if not m:
            raise invalid(f"Unsupported logged-model filter {text!r}: Mainsail answers name = '<name>'")
        name = m.group(1).replace("''", "'")
    found = []
    cursor = None
    while True:
        page = tracking.search_runs(ctx, experiment_ids=ids or None, cursor=cursor, limit=1000)
        for run in page.items:
            for rec in models_of(run):
                if name is None or rec["name"] == name:
                    n = rec["model_id"].rsplit("-", 1)[1]
                    found.append(model_json(run, n, rec))
        cursor = page.next_cursor
        if not cursor:
            break
    start, size = req.int("page_token", 0), req.page_size(100)
    out: dict[str, Any] = {"models": found[start:start + size]}
    if start + size < len(found):
        out["next_page_token"] = str(start + size)
    return out
