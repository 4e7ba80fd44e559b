"""MLflow's model registry (registered models, versions, stages, aliases, tags) over ``registry.service``.

Stages map one to one: MLflow ``None``/``Staging``/``Production``/``Archived`` are Mainsail's
``development``/``staging``/``production``/``deprecated``. A version's files are those of its source as
registered (``runs:/``, an ``mlflow-artifacts:`` run path, or an MLflow 3 ``models:/<model_id>``)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from mainsail.core.errors import InvalidInput, NotFound
from mainsail.core.runtime import Ctx
from mainsail.mlflow_compat import names
from mainsail.mlflow_compat.artifacts import RUN_PATH, version_uri
from mainsail.mlflow_compat.dispatch import MlflowError, Req, invalid, page_token, route
from mainsail.mlflow_compat.filters import field_of, matches, parse_filter
from mainsail.mlflow_compat.logged_models import model_location
from mainsail.mlflow_compat.shapes import from_kv, kv, ms
from mainsail.registry import service as registry
from mainsail.registry.schemas import (
    AliasSet,
    ModelVersion,
    RegisteredModel,
    RegisterVersion,
    Stage,
    StageChange,
)
from mainsail.tracking import service as tracking

HIDDEN = "mainsail.mlflow."
MODEL_ID_TAG = HIDDEN + "model_id"
TO_MLFLOW = {Stage.development: "None", Stage.staging: "Staging", Stage.production: "Production",
             Stage.deprecated: "Archived"}
FROM_MLFLOW = {v.lower(): k for k, v in TO_MLFLOW.items()}


def stage(value: str) -> Stage:
    found = FROM_MLFLOW.get(str(value).lower())
    if found is None:
        raise invalid(f"Invalid Model Version stage: {value}. Value must be one of "
                      f"{', '.join(TO_MLFLOW.values())}.")
    return found


def version_json(v: ModelVersion, name: str | None = None) -> dict[str, Any]:
    """MLflow's model version; ``name`` is the model's MLflow name (its Mainsail name without one)."""
    out = {"name": name or v.name, "version": str(v.version), "creation_timestamp": ms(v.created_at),
           "last_updated_timestamp": ms(v.updated_at), "user_id": v.created_by or "",
           "current_stage": TO_MLFLOW[v.stage], "description": v.description or "", "source": v.source or "",
           "run_id": v.run_id or v.external_run_id or "", "status": "READY", "aliases": v.aliases,
           "tags": kv({k: t for k, t in v.tags.items() if not k.startswith(HIDDEN)})}
    if MODEL_ID_TAG in v.tags:
        out["model_id"] = v.tags[MODEL_ID_TAG]
    return out


def model_json(ctx: Ctx, m: RegisteredModel) -> dict[str, Any]:
    name = names.mlflow_name(m)
    latest = [version_json(registry.get_version_by_number(ctx, m.name, max(nums)), name)
              for nums in m.stages.values() if nums]
    return {"name": name, "creation_timestamp": ms(m.created_at), "last_updated_timestamp": ms(m.updated_at),
            "description": m.description or "", "tags": kv(names.visible_tags(m.tags)), "latest_versions": latest,
            "aliases": [{"alias": a, "version": str(n)} for a, n in m.aliases.items()]}


def _model_getter(ctx: Ctx) -> Any:
    return names.getter(lambda n: registry.get_model(ctx, n))


def find_model(ctx: Ctx, name: str) -> RegisteredModel | None:
    """The registered model MLflow knows as ``name`` (see ``names``)."""
    return names.find(name, _model_getter(ctx), lambda: registry.find_models(ctx))


def _model(ctx: Ctx, req: Req) -> RegisteredModel:
    name = req.text("name")
    found = find_model(ctx, name)
    if found is None:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Registered Model with name={name} not found")
    return found


def _version(ctx: Ctx, req: Req) -> tuple[ModelVersion, str]:
    """The version a request names, and its model's MLflow name."""
    number = req.int("version", 0)
    m = _model(ctx, req)
    try:
        return registry.get_version_by_number(ctx, m.name, number), names.mlflow_name(m)
    except NotFound:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Model Version (name={names.mlflow_name(m)}, "
                          f"version={number}) not found") from None


version_for = _version  # for the artifact routes


def _user_tag(key: str) -> str:
    if key.startswith(HIDDEN):
        raise invalid(f"tag keys starting with {HIDDEN!r} are reserved")
    return key


# ---------------------------------------------------------------- registered models

@route("POST", "/mlflow/registered-models/create")
def create_model(ctx: Ctx, req: Req) -> dict[str, Any]:
    name = req.text("name")
    tags = from_kv(req.get("tags"), "tags")
    for key in tags:
        _user_tag(key)
    if find_model(ctx, name) is not None:
        raise MlflowError("RESOURCE_ALREADY_EXISTS", f"Registered Model (name={name}) already exists.")
    mainsail_name = names.free(name, _model_getter(ctx))
    m = registry.create_model(ctx, mainsail_name, req.get("description"), names.tags_for(name, mainsail_name, tags))
    return {"registered_model": model_json(ctx, m)}


@route("GET", "/mlflow/registered-models/get")
def get_model(ctx: Ctx, req: Req) -> dict[str, Any]:
    return {"registered_model": model_json(ctx, _model(ctx, req))}


@route("PATCH", "/mlflow/registered-models/update")
def update_model(ctx: Ctx, req: Req) -> dict[str, Any]:
    m = registry.update_model(ctx, _model(ctx, req).name, description=str(req.args.get("description") or ""))
    return {"registered_model": model_json(ctx, m)}


@route("POST", "/mlflow/registered-models/rename")
def rename_model(ctx: Ctx, req: Req) -> dict[str, Any]:
    """A rename changes the MLflow name only: the Mainsail name (and so Mainsail URIs) stay."""
    m, new_name = _model(ctx, req), req.text("new_name")
    other = find_model(ctx, new_name)
    if other is not None and other.id != m.id:
        raise MlflowError("RESOURCE_ALREADY_EXISTS", f"Registered Model (name={new_name}) already exists.")
    m = registry.update_model(ctx, m.name, tags={names.NAME_TAG: new_name if new_name != m.name else None})
    return {"registered_model": model_json(ctx, m)}


@route("DELETE", "/mlflow/registered-models/delete")
def delete_model(ctx: Ctx, req: Req) -> dict[str, Any]:
    registry.delete_model(ctx, _model(ctx, req).name)
    return {}


@route("POST", "/mlflow/registered-models/set-tag")
def set_model_tag(ctx: Ctx, req: Req) -> dict[str, Any]:
    registry.update_model(ctx, _model(ctx, req).name, tags={_user_tag(req.text("key")): str(req.get("value", ""))})
    return {}


@route("DELETE", "/mlflow/registered-models/delete-tag")
def delete_model_tag(ctx: Ctx, req: Req) -> dict[str, Any]:
    registry.update_model(ctx, _model(ctx, req).name, tags={_user_tag(req.text("key")): None})
    return {}


def _page(req: Req, items: list[Any], key: str, default: int) -> dict[str, Any]:
    start, size = req.offset(), req.page_size(default, max(default, 1000))
    out: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        out["next_page_token"] = page_token(start + size)
    return out


_MODEL_ORDER = {"name": "name", "last_updated_timestamp": "updated_at", "timestamp": "updated_at",
                "creation_timestamp": "created_at"}


def _sort(items: list[Any], orders: list[Any], fields: dict[str, str], value: Any) -> None:
    """Sort ``items`` in place by MLflow ``order_by`` clauses (``value(item, attribute)``), last one first."""
    for item in reversed(orders):
        field, _, direction = str(item).strip().partition(" ")
        attr = fields.get(field.removeprefix("attributes.").removeprefix("attribute."))
        if attr is None or direction.strip().upper() not in ("", "ASC", "DESC"):
            raise invalid(f"Invalid order_by clause '{item}'. It can be ordered by {', '.join(fields)}, "
                          "ASC or DESC.")
        items.sort(key=lambda x, a=attr: value(x, a), reverse=direction.strip().upper() == "DESC")


@route("GET", "/mlflow/registered-models/search")
def search_models(ctx: Ctx, req: Req) -> dict[str, Any]:
    clauses = parse_filter(req.get("filter"), {"name"})
    models = [m for m in registry.find_models(ctx) if all(matches(op, v, field_of(m, f)) for f, op, v in clauses)]
    models.sort(key=names.mlflow_name)
    _sort(models, req.list("order_by"), _MODEL_ORDER,
          lambda m, a: names.mlflow_name(m) if a == "name" else getattr(m, a))
    return _page(req, [model_json(ctx, m) for m in models], "registered_models", 100)


@route("POST", "/mlflow/registered-models/get-latest-versions", write=False)
def latest_versions(ctx: Ctx, req: Req) -> dict[str, Any]:
    m = _model(ctx, req)
    wanted = {stage(s) for s in req.list("stages")} or None
    out = [version_json(registry.get_version_by_number(ctx, m.name, max(nums)), names.mlflow_name(m))
           for st, nums in m.stages.items() if nums and (wanted is None or Stage(st) in wanted)]
    return {"model_versions": out}


@route("POST", "/mlflow/registered-models/alias")
def set_alias(ctx: Ctx, req: Req) -> dict[str, Any]:
    registry.set_alias(ctx, _model(ctx, req).name, req.text("alias"), AliasSet(version=req.int("version", 0)))
    return {}


@route("DELETE", "/mlflow/registered-models/alias")
def delete_alias(ctx: Ctx, req: Req) -> dict[str, Any]:
    registry.delete_alias(ctx, _model(ctx, req).name, req.text("alias"))
    return {}


@route("GET", "/mlflow/registered-models/alias")
def get_by_alias(ctx: Ctx, req: Req) -> dict[str, Any]:
    m = _model(ctx, req)
    return {"model_version": version_json(registry.get_version_by_alias(ctx, m.name, req.text("alias")),
                                          names.mlflow_name(m))}


# ---------------------------------------------------------------- model versions

def _source(ctx: Ctx, source: str, model_id: str | None) -> tuple[str, str]:
    """(run id, artifact path) of an MLflow version source."""
    m = re.match(r"^models:/(m-[^/@]+)$", source)
    if model_id or m:
        return model_location(ctx, model_id or m.group(1))  # type: ignore[union-attr]
    if source.startswith("runs:/"):
        run_id, _, path = source.removeprefix("runs:/").partition("/")
        return run_id, path.strip("/")
    tail = re.sub(r"^(mlflow-artifacts:|https?://[^/]+/api/2\.0/mlflow-artifacts/artifacts)/*", "", source)
    if tail != source and (rm := RUN_PATH.match(tail)):
        return rm.group("run"), (rm.group("rest") or "").strip("/")
    raise invalid(f"Unsupported model version source {source!r}: Mainsail registers runs:/<run_id>/<path>, "
                  "models:/<model_id> of a logged model, or a run's mlflow-artifacts path")


def _framework(ctx: Ctx, run_id: str, path: str) -> str:
    """``mlflow.<flavor>`` from the MLmodel file (``mlflow`` without one)."""
    try:
        spec = yaml.safe_load(tracking.download_artifact(ctx, run_id, f"{path}/MLmodel" if path else "MLmodel"))
    except (NotFound, yaml.YAMLError):
        return "mlflow"
    flavors = [f for f in (spec or {}).get("flavors", {}) if f != "python_function"]
    return f"mlflow.{flavors[0]}"[:50] if flavors else "mlflow.pyfunc"


@route("POST", "/mlflow/model-versions/create")
def create_version(ctx: Ctx, req: Req) -> dict[str, Any]:
    """A version of a run's files (``runs:/``, a run's ``mlflow-artifacts`` path, a logged model); any other
    source (``s3://…``, ``models:/…``, a path), or one whose run or files Mainsail does not hold, is
    stored as given: a version whose files are elsewhere, with the run id as given."""
    source, model_id = req.text("source"), req.get("model_id")
    if "\x00" in source or len(source) > 1000:
        raise invalid("Invalid model version source: it must be at most 1000 characters, without NUL")
    m = _model(ctx, req)
    tags = from_kv(req.get("tags"), "tags")
    for key in tags:
        _user_tag(key)
    if model_id:
        tags[MODEL_ID_TAG] = str(model_id)
    given_run = req.text("run_id", required=False) or None
    try:
        run_id, path = _source(ctx, source, model_id)
        if given_run and given_run != run_id:
            raise invalid(f"run_id {given_run!r} does not match the run of source {source!r}")
        body = RegisterVersion(name=m.name, framework=_framework(ctx, run_id, path),
                               source=f"runs:/{run_id}/{path}", run_id=run_id, tags=tags,
                               description=req.get("description"))
        with ctx.session.begin_nested():  # a source Mainsail cannot resolve leaves nothing behind
            version = registry.register_version(ctx, body)
    except (MlflowError, NotFound, InvalidInput) as exc:
        if isinstance(exc, MlflowError) and not (exc.message.startswith("Unsupported model version source") or (
                exc.error_code == "RESOURCE_DOES_NOT_EXIST" and not model_id)):
            raise
        if isinstance(exc, InvalidInput) and exc.code != "artifact_not_found":
            raise
        body = RegisterVersion(name=m.name, framework="mlflow", external_source=source, run_id=given_run,
                               tags=tags, description=req.get("description"))
        version = registry.register_version(ctx, body)
    return {"model_version": version_json(version, names.mlflow_name(m))}


@route("GET", "/mlflow/model-versions/get")
def get_version(ctx: Ctx, req: Req) -> dict[str, Any]:
    return {"model_version": version_json(*_version(ctx, req))}


@route("PATCH", "/mlflow/model-versions/update")
def update_version(ctx: Ctx, req: Req) -> dict[str, Any]:
    v, name = _version(ctx, req)
    v = registry.update_version(ctx, v.name, v.version, description=str(req.args.get("description") or ""))
    return {"model_version": version_json(v, name)}


@route("DELETE", "/mlflow/model-versions/delete")
def delete_version(ctx: Ctx, req: Req) -> dict[str, Any]:
    v, _ = _version(ctx, req)
    registry.delete_version(ctx, v.name, v.version)
    return {}


@route("POST", "/mlflow/model-versions/transition-stage")
def transition_stage(ctx: Ctx, req: Req) -> dict[str, Any]:
    v, name = _version(ctx, req)
    archive = str(req.get("archive_existing_versions", False)).lower() == "true"
    moved = registry.set_stage(ctx, v.id, StageChange(stage=stage(req.need("stage")), archive_existing=archive))
    return {"model_version": version_json(moved, name)}


_VERSION_ORDER = {"name": "name", "version_number": "version", "creation_timestamp": "created_at",
                  "last_updated_timestamp": "updated_at", "timestamp": "updated_at"}


@route("GET", "/mlflow/model-versions/search")
def search_versions(ctx: Ctx, req: Req) -> dict[str, Any]:
    clauses = parse_filter(req.get("filter"), {"name", "run_id", "version", "version_number", "source_path"})
    display = {m.name: names.mlflow_name(m) for m in registry.find_models(ctx)}
    eq = {f: v for f, op, v in clauses if op == "="}
    model_name = None
    if "name" in eq:
        found_model = find_model(ctx, eq["name"])
        if found_model is None:
            return {"model_versions": []}
        model_name = found_model.name
    found = registry.find_versions(ctx, name=model_name, run_id=eq.get("run_id"), limit=10_000)

    def value(v: ModelVersion, field: str) -> Any:
        if field == "name":
            return display.get(v.name, v.name)
        if field in ("version", "version_number"):
            return v.version if field == "version_number" else str(v.version)
        if field == "source_path":
            return v.source
        if field == "run_id":
            return v.run_id or v.external_run_id
        return field_of(v, field) if field.startswith("tag:") else getattr(v, field)

    found = [v for v in found if all(matches(op, val, None if (x := value(v, f)) is None else str(x))
                                     for f, op, val in clauses)]
    found.sort(key=lambda v: -v.version)
    found.sort(key=lambda v: value(v, "name"))
    found.sort(key=lambda v: v.updated_at, reverse=True)
    _sort(found, req.list("order_by"), _VERSION_ORDER, value)
    return _page(req, [version_json(v, display.get(v.name)) for v in found], "model_versions", 10000)


@route("GET", "/mlflow/model-versions/get-download-uri")
def download_uri(ctx: Ctx, req: Req) -> dict[str, Any]:
    v = _version(ctx, req)[0]
    return {"artifact_uri": v.external_source or version_uri(v.id)}


@route("POST", "/mlflow/model-versions/set-tag")
def set_version_tag(ctx: Ctx, req: Req) -> dict[str, Any]:
    v, _ = _version(ctx, req)
    registry.update_version(ctx, v.name, v.version, tags={_user_tag(req.text("key")): str(req.get("value", ""))})
    return {}


@route("DELETE", "/mlflow/model-versions/delete-tag")
def delete_version_tag(ctx: Ctx, req: Req) -> dict[str, Any]:
    v, _ = _version(ctx, req)
    registry.update_version(ctx, v.name, v.version, tags={_user_tag(req.text("key")): None})
    return {}
