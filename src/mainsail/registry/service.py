"""Registry rules. The only writer of the registry tables."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints, TypeAdapter, ValidationError
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from mainsail.core.db import get_or_create, new_id, utcnow
from mainsail.core.errors import Conflict, IntegrityError, InvalidInput, NotFound, not_found
from mainsail.core.events import emit
from mainsail.core.pagination import Limit, Page, cursor_offset, offset_page
from mainsail.core.principal import require
from mainsail.core.projects import project_of
from mainsail.core.runtime import Ctx
from mainsail.core.types import INT32_MAX, VersionNumber
from mainsail.registry import aliases
from mainsail.registry.card import render_card
from mainsail.registry.gate import enforce_gate, evaluate_gate
from mainsail.registry.lineage import build_graph
from mainsail.registry.models import AliasRow, ModelVersionRow, RegisteredModelRow, TransitionRow
from mainsail.registry.schemas import (
    MANIFEST,
    AliasName,
    AliasSet,
    GateCheck,
    GateResult,
    Lineage,
    LineageGraph,
    ModelCard,
    ModelCardFields,
    ModelName,
    ModelVersion,
    RegisteredModel,
    RegisterVersion,
    Stage,
    StageChange,
    Transition,
)
from mainsail.tracking import service as tracking

DATASET_TAG = "mainsail.dataset_version"
GIT_TAG = "mainsail.git_commit"
FilePath = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


# ---------------------------------------------------------------- reading

def _model_row(ctx: Ctx, name: str, *, lock: bool = False) -> RegisteredModelRow:
    q = select(RegisteredModelRow).where(RegisteredModelRow.project == project_of(ctx), RegisteredModelRow.name == name)
    row = ctx.session.scalar(q.with_for_update() if lock else q)
    if row is None:
        raise not_found("registered model", name)
    return row


def _aliases(ctx: Ctx, model_id: str) -> dict[str, str]:
    """alias -> version id"""
    return {a: v for a, v in ctx.session.execute(select(AliasRow.alias, AliasRow.version_id)
                                                 .where(AliasRow.model_id == model_id))}


def _version(ctx: Ctx, row: ModelVersionRow, name: str | None = None, aliases: dict[str, str] | None = None
             ) -> ModelVersion:
    if name is None:
        name = ctx.session.scalar(select(RegisteredModelRow.name).where(RegisteredModelRow.id == row.model_id))
    if aliases is None:
        aliases = _aliases(ctx, row.model_id)
    return ModelVersion(
        id=row.id, name=name or "", version=row.version, stage=Stage(row.stage), framework=row.framework,
        source=row.source, run_id=row.run_id, external_source=row.external_source,
        external_run_id=row.external_run_id, aliases=sorted(a for a, vid in aliases.items() if vid == row.id),
        files=row.files, metrics=row.metrics, params=row.params, tags=row.tags, signature=row.signature,
        lineage=Lineage.model_validate(row.lineage or {}), description=row.description, created_by=row.created_by,
        created_at=row.created_at, updated_at=row.updated_at)


def _version_row(ctx: Ctx, version_id: str) -> ModelVersionRow:
    row = ctx.session.scalar(select(ModelVersionRow).join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
                             .where(ModelVersionRow.id == version_id, RegisteredModelRow.project == project_of(ctx)))
    if row is None:  # or a version of another project's model
        raise not_found("model version", version_id)
    return row


def _version_row_by_number(ctx: Ctx, model: RegisteredModelRow, version: int) -> ModelVersionRow:
    if not 1 <= version <= INT32_MAX:  # no such version can be stored (e.g. from a models:/NAME/VERSION URI)
        raise not_found("model version", f"{model.name}/{version}")
    row = ctx.session.scalar(select(ModelVersionRow).where(ModelVersionRow.model_id == model.id,
                                                           ModelVersionRow.version == version))
    if row is None:
        raise not_found("model version", f"{model.name}/{version}")
    return row


def get_version(ctx: Ctx, id: str) -> ModelVersion:
    """A model version by its id."""
    return _version(ctx, _version_row(ctx, id))


def get_version_by_number(ctx: Ctx, name: str, version: VersionNumber) -> ModelVersion:
    """A model version by model name and version number."""
    model = _model_row(ctx, name)
    return _version(ctx, _version_row_by_number(ctx, model, version), model.name)


def get_version_by_alias(ctx: Ctx, name: str, alias: str) -> ModelVersion:
    """The version an alias points at (a cached copy while the rows it came from are unchanged, see
    ``registry/aliases.py``)."""
    bind = ctx.session.get_bind()
    current = aliases.stamp(ctx.session.connection().connection.driver_connection, bind.dialect.name == "sqlite",
                            name, alias, project_of(ctx))
    key = (str(bind.url), project_of(ctx), name, alias)
    if (hit := aliases.cached(key, current)) is not None:
        return hit  # a fresh copy: callers may change theirs
    found = _version_by_alias(ctx, name, alias)
    aliases.remember(key, current, found)
    return found


def _version_by_alias(ctx: Ctx, name: str, alias: str) -> ModelVersion:
    row = ctx.session.scalar(select(ModelVersionRow)
                             .join(AliasRow, AliasRow.version_id == ModelVersionRow.id)
                             .join(RegisteredModelRow, RegisteredModelRow.id == AliasRow.model_id)
                             .where(RegisteredModelRow.project == project_of(ctx), RegisteredModelRow.name == name,
                                    AliasRow.alias == alias))
    if row is None:
        _model_row(ctx, name)  # 404 names the model when it is the model that is missing
        raise not_found("alias", f"{name}@{alias}")
    return _version(ctx, row, name)


def get_latest_in_stage(ctx: Ctx, name: str, stage: Stage) -> ModelVersion:
    """The highest version of a model in a stage."""
    model = _model_row(ctx, name)
    row = ctx.session.scalar(select(ModelVersionRow).where(ModelVersionRow.model_id == model.id,
                                                           ModelVersionRow.stage == stage.value)
                             .order_by(ModelVersionRow.version.desc()).limit(1))
    if row is None:
        raise NotFound(f"registered model {name!r} has no version in stage {stage.value!r}",
                       code="model_version_not_found")
    return _version(ctx, row, model.name)


def _registered(ctx: Ctx, row: RegisteredModelRow) -> RegisteredModel:
    versions = ctx.session.execute(select(ModelVersionRow.id, ModelVersionRow.version, ModelVersionRow.stage)
                                   .where(ModelVersionRow.model_id == row.id)).all()
    by_id = {vid: num for vid, num, _ in versions}
    stages: dict[str, list[int]] = {}
    for _, num, stage in sorted(versions, key=lambda v: v[1]):
        stages.setdefault(stage, []).append(num)
    return RegisteredModel(id=row.id, name=row.name, project=row.project, description=row.description, tags=row.tags,
                           latest_version=max(by_id.values(), default=None),
                           aliases={a: by_id[v] for a, v in sorted(_aliases(ctx, row.id).items())},
                           stages=stages, created_at=row.created_at, updated_at=row.updated_at)


def get_model(ctx: Ctx, name: str) -> RegisteredModel:
    """A registered model with its aliases and which versions are in which stage."""
    return _registered(ctx, _model_row(ctx, name))


def list_models(ctx: Ctx, cursor: str | None = None, limit: Limit = 100) -> Page[RegisteredModel]:
    """The project's registered models by name."""
    offset = cursor_offset(cursor)
    rows = list(ctx.session.scalars(select(RegisteredModelRow).where(RegisteredModelRow.project == project_of(ctx))
                                    .order_by(RegisteredModelRow.name).offset(offset).limit(limit + 1)))
    page = offset_page(rows, offset, limit)
    return Page[RegisteredModel](items=[_registered(ctx, r) for r in page.items], next_cursor=page.next_cursor)


def list_versions(ctx: Ctx, name: str, stage: Stage | None = None, cursor: str | None = None,
                  limit: Limit = 100) -> Page[ModelVersion]:
    """A model's versions, newest first, optionally in one stage."""
    model = _model_row(ctx, name)
    q = select(ModelVersionRow).where(ModelVersionRow.model_id == model.id)
    if stage is not None:
        q = q.where(ModelVersionRow.stage == stage.value)
    offset = cursor_offset(cursor)
    rows = list(ctx.session.scalars(q.order_by(ModelVersionRow.version.desc()).offset(offset).limit(limit + 1)))
    aliases = _aliases(ctx, model.id)
    page = offset_page(rows, offset, limit)
    return Page[ModelVersion](items=[_version(ctx, r, model.name, aliases) for r in page.items],
                              next_cursor=page.next_cursor)


def history(ctx: Ctx, name: str) -> list[Transition]:
    """Every registration, stage move and alias move of a model, oldest first."""
    model = _model_row(ctx, name)
    nums = {vid: num for vid, num in ctx.session.execute(select(ModelVersionRow.id, ModelVersionRow.version)
                                                          .where(ModelVersionRow.model_id == model.id))}
    rows = ctx.session.scalars(select(TransitionRow).where(TransitionRow.model_id == model.id)
                               .order_by(TransitionRow.id))
    return [Transition(version=nums.get(r.version_id or ""), kind=r.kind, name=r.name, from_value=r.from_value,
                       to_value=r.to_value, reason=r.reason, actor=r.actor, at=r.at) for r in rows]


# ---------------------------------------------------------------- registering

def _record(ctx: Ctx, model_id: str, version_id: str | None, kind: str, frm: str | None, to: str | None,
            name: str | None = None, reason: str | None = None) -> None:
    ctx.session.add(TransitionRow(model_id=model_id, version_id=version_id, kind=kind, name=name, from_value=frm,
                                  to_value=to, reason=reason, actor=ctx.actor, at=utcnow()))


def _files_from_source(ctx: Ctx, source: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """``runs:/<run_id>/<path>`` → (run id, files under that path relative to it)."""
    rest = source.removeprefix("runs:/")
    run_id, _, prefix = rest.partition("/")
    if not source.startswith("runs:/") or not run_id:
        raise InvalidInput(f"source {source!r} must look like runs:/<run_id>/<path>",
                           errors=[{"loc": ["body", "source"], "msg": "expected runs:/<run_id>/<path>"}])
    prefix = prefix.strip("/")
    arts = tracking.list_artifacts(ctx, run_id, prefix or None)
    if not arts:
        raise InvalidInput(f"source {source!r}: run {run_id} has no artifacts under {prefix or '/'!r}",
                           code="artifact_not_found", errors=[{"loc": ["body", "source"], "msg": "no such artifact path"}])
    cut = len(prefix) + 1 if prefix else 0
    files = {a.path[cut:] if a.path != prefix else a.path.rsplit("/", 1)[-1]: {"digest": a.digest, "size": a.size}
             for a in arts}
    return run_id, files


def _files_from_digests(ctx: Ctx, artifacts: dict[str, str]) -> dict[str, dict[str, Any]]:
    from mainsail.core.artifacts import check_digest

    files = {}
    for path, digest in artifacts.items():
        check_digest(digest, f"artifacts.{path}")
        if not ctx.store.exists(digest):
            raise InvalidInput(f"artifact {path!r}: no blob {digest} in the artifact store", code="artifact_not_found",
                               errors=[{"loc": ["body", "artifacts", path], "msg": "no such blob"}])
        files[path] = {"digest": digest, "size": ctx.store.fs.size(ctx.store.path(digest))}
    return files


def _manifest(ctx: Ctx, files: dict[str, dict[str, Any]], loc: list[str]) -> dict[str, Any] | None:
    """The package manifest among ``files`` (None without one); a malformed one is bad input at ``loc``."""
    from mainsail.registry.packaging import parse_manifest

    if MANIFEST not in files:
        return None
    try:
        return parse_manifest(ctx.store.get_bytes(files[MANIFEST]["digest"], name=MANIFEST)).to_dict()
    except IntegrityError as exc:
        if exc.code != "invalid_manifest":
            raise
        raise InvalidInput(exc.detail, code=exc.code,
                           errors=[{**e, "loc": [*loc, *e["loc"]]} for e in exc.errors]) from None


def _files_from_names(ctx: Ctx, body: RegisterVersion) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """The seeds' ``artifacts: ["model.pkl", …]``: each name from ``files`` (uploaded in this call), else
    from the artifacts of ``source``/``run_id``. A name found nowhere is an error naming it."""
    names = list(body.artifacts) if isinstance(body.artifacts, list) else []
    names += [n for n in body.files if n not in names]  # an uploaded file is an artifact, listed or not
    files: dict[str, dict[str, Any]] = {}
    for name, data in body.files.items():  # names are artifact keys (core.types.artifact_key): relative
        blob = ctx.store.put_bytes(data)
        files[name] = {"digest": blob.digest, "size": blob.size}
    run_id, logged = body.run_id, {}
    if body.source:
        run_id, logged = _files_from_source(ctx, body.source)
    elif run_id:
        logged = {a.path: {"digest": a.digest, "size": a.size} for a in tracking.list_artifacts(ctx, run_id)}
    missing = []
    for i, name in enumerate(names):
        if name in files:
            continue
        if name in logged:
            files[name] = logged[name]
        else:
            missing.append((i, name))
    if missing:
        listed = ", ".join(repr(n) for _, n in missing)
        errors = [{"loc": ["body", "artifacts", i], "msg": f"file {n!r} not found"} for i, n in missing]
        if run_id is None:
            raise InvalidInput(f"artifact {listed} not found: the request does not say where the files are; upload "
                               "them in the same call (files: name -> base64 content) or name the run that logged "
                               "them (run_id, or artifact_uri runs:/<run_id>/<path>)",
                               code="artifact_not_found", errors=errors)
        where = body.source or f"run {run_id}"
        raise NotFound(f"artifact {listed} not found in {where} (it has: {', '.join(sorted(logged)[:20]) or 'none'})",
                       code="artifact_not_found", errors=errors)
    return run_id, files


def register_version(ctx: Ctx, body: RegisterVersion) -> ModelVersion:
    """Register a new version of a model (the model is created on first use); straight into production
    needs the admin role."""
    if body.stage == Stage.production:
        require(ctx, "admin")
    if body.external_source is not None:
        return _register_external(ctx, body)
    run_id = body.run_id
    if isinstance(body.artifacts, list) or body.files:
        run_id, files = _files_from_names(ctx, body)
    elif body.source:
        run_id, files = _files_from_source(ctx, body.source)
    elif body.artifacts:
        files = _files_from_digests(ctx, body.artifacts)
    else:
        raise InvalidInput("give source (runs:/<run_id>/<path>), artifacts (path -> sha256), or artifacts as "
                           "file names with the files uploaded (files) or logged to a run (run_id)",
                           errors=[{"loc": ["body", "source"], "msg": "source or artifacts is required"}])
    if body.source and body.run_id and body.run_id != run_id:
        raise InvalidInput("run_id does not match the run in source",
                           errors=[{"loc": ["body", "run_id"], "msg": f"source names run {run_id}"}])
    package = _manifest(ctx, files, ["body", "source" if body.source else "artifacts"])
    return _register(ctx, body, run_id, files, package)


def _register_external(ctx: Ctx, body: RegisterVersion) -> ModelVersion:
    """A version whose files are at ``external_source`` (Mainsail holds none); its run is linked when
    ``run_id`` names a run of this project, else kept as given (``external_run_id``)."""
    if body.source or body.artifacts or body.files:
        raise InvalidInput("external_source names files kept elsewhere: give it without source, artifacts or files",
                           errors=[{"loc": ["body", "external_source"], "msg": "not with source/artifacts/files"}])
    run_id = body.run_id
    if run_id is not None:
        try:
            run_id = tracking.get_run(ctx, run_id).id
        except NotFound:
            run_id = None
    return _register(ctx, body, run_id, {}, None, external_run_id=None if run_id else body.run_id)


def _register(ctx: Ctx, body: RegisterVersion, run_id: str | None, files: dict[str, dict[str, Any]],
              package: dict[str, Any] | None, external_run_id: str | None = None) -> ModelVersion:
    lineage = body.lineage.model_copy()
    metrics: dict[str, Any] = {}
    params: dict[str, str] = {}
    if run_id:
        run = tracking.get_run(ctx, run_id)
        metrics, params = dict(run.metrics), dict(run.params)
        lineage.run_id, lineage.experiment_id = run.id, run.experiment_id
        if DATASET_TAG in run.tags and run.tags[DATASET_TAG] not in lineage.dataset_versions:
            lineage.dataset_versions = [*lineage.dataset_versions, run.tags[DATASET_TAG]]
        lineage.git_commit = lineage.git_commit or run.tags.get(GIT_TAG)
    metrics.update(body.metrics)
    params.update(body.params)
    framework = body.framework or (package or {}).get("flavor") or ("external" if body.external_source else None)
    if not framework:
        raise InvalidInput("framework is required when the artifacts are not a Mainsail model package",
                           errors=[{"loc": ["body", "framework"], "msg": "field required"}])
    enforce_gate(metrics, body.gate, f"{body.name}")
    now = utcnow()
    def create() -> RegisteredModelRow:
        row = RegisteredModelRow(id=new_id(), project=project_of(ctx), name=body.name, tags={}, next_version=1, created_by=ctx.actor,
                                 created_at=now, updated_at=now)
        ctx.session.add(row)
        ctx.session.flush()
        emit(ctx.session, "registered_model.created", row.id, {"name": row.name}, ctx.actor)
        return row

    model = get_or_create(ctx.session, lambda: ctx.session.scalar(
        select(RegisteredModelRow).where(RegisteredModelRow.project == project_of(ctx),
                                         RegisteredModelRow.name == body.name).with_for_update()), create)
    number = model.next_version
    model.next_version = number + 1
    model.updated_at = now
    row = ModelVersionRow(id=new_id(), model_id=model.id, version=number, stage=Stage.development.value,
                          framework=framework, source=body.external_source or body.source, run_id=run_id,
                          external_source=body.external_source, external_run_id=external_run_id, files=files,
                          metrics=metrics,
                          params=params, tags=body.tags, signature=(package or {}).get("signature"), package=package,
                          lineage=lineage.model_dump(), card={}, description=body.description, created_by=ctx.actor,
                          created_at=now, updated_at=now)
    ctx.session.add(row)
    ctx.session.flush()
    _record(ctx, model.id, row.id, "registered", None, str(number))
    emit(ctx.session, "model_version.registered", row.id,
         {"name": model.name, "version": number, "run_id": run_id, "framework": framework}, ctx.actor)
    if body.stage != Stage.development:
        _move_stage(ctx, model, row, StageChange(stage=body.stage))
    return _version(ctx, row, model.name)


# ---------------------------------------------------------------- stages and aliases

def _move_stage(ctx: Ctx, model: RegisteredModelRow, row: ModelVersionRow, change: StageChange) -> None:
    if change.archive_existing and change.stage in (Stage.production, Stage.staging):
        for other in ctx.session.scalars(select(ModelVersionRow).where(
                ModelVersionRow.model_id == model.id, ModelVersionRow.stage == change.stage.value,
                ModelVersionRow.id != row.id)):
            _record(ctx, model.id, other.id, "stage", other.stage, Stage.deprecated.value,
                    reason=f"archived when v{row.version} moved to {change.stage.value}"
                    + (f": {change.reason}" if change.reason else ""))
            emit(ctx.session, "stage.changed", other.id, {"name": model.name, "version": other.version,
                                                           "from": other.stage, "to": Stage.deprecated.value}, ctx.actor)
            other.stage = Stage.deprecated.value
            other.updated_at = utcnow()
    if row.stage == change.stage.value:
        return
    if change.stage == Stage.production:  # the project's review policy (collab) may require approvals first
        from mainsail.collab.service import check_promotion
        check_promotion(ctx, row.id, f"{model.name} v{row.version}", row.created_by, "enter production")
    _record(ctx, model.id, row.id, "stage", row.stage, change.stage.value, reason=change.reason)
    emit(ctx.session, "stage.changed", row.id, {"name": model.name, "version": row.version, "from": row.stage,
                                                "to": change.stage.value}, ctx.actor)
    row.stage = change.stage.value
    row.updated_at = utcnow()


def set_stage(ctx: Ctx, id: str, body: StageChange) -> ModelVersion:
    """Move a version to a stage (optionally archiving the versions in it; optionally behind a gate).
    Moving one into production needs the admin role."""
    if body.stage == Stage.production:
        require(ctx, "admin")
    row = _version_row(ctx, id)
    model = ctx.session.scalar(select(RegisteredModelRow).where(RegisteredModelRow.id == row.model_id)
                               .with_for_update())
    assert model is not None
    ctx.session.refresh(row)  # re-read under the model lock: concurrent moves serialize here
    enforce_gate(row.metrics, body.gate, f"{model.name} v{row.version}")
    _move_stage(ctx, model, row, body)
    ctx.session.flush()
    return _version(ctx, row, model.name)


def set_alias(ctx: Ctx, name: str, alias: AliasName, body: AliasSet) -> ModelVersion:
    """Point an alias at a version (moving it atomically if it pointed elsewhere)."""
    model = _model_row(ctx, name, lock=True)
    row = _version_row_by_number(ctx, model, body.version)
    current = ctx.session.get(AliasRow, (model.id, alias))
    if current is None or current.version_id != row.id:  # a protected alias may require approvals (collab)
        from mainsail.collab.service import check_promotion
        check_promotion(ctx, row.id, f"{model.name} v{row.version}", row.created_by, f"take alias {alias!r}", alias)
    before = None
    if current is None:
        ctx.session.add(AliasRow(model_id=model.id, alias=alias, version_id=row.id, updated_at=utcnow()))
    elif current.version_id != row.id:
        before = ctx.session.scalar(select(ModelVersionRow.version).where(ModelVersionRow.id == current.version_id))
        current.version_id, current.updated_at = row.id, utcnow()
    else:
        return _version(ctx, row, model.name)
    _record(ctx, model.id, row.id, "alias", None if before is None else str(before), str(row.version), alias,
            body.reason)
    emit(ctx.session, "alias.moved", row.id, {"name": model.name, "alias": alias, "from": before,
                                              "to": row.version}, ctx.actor)
    ctx.session.flush()
    return _version(ctx, row, model.name)


def delete_alias(ctx: Ctx, name: str, alias: str) -> None:
    """Remove an alias."""
    model = _model_row(ctx, name, lock=True)
    current = ctx.session.get(AliasRow, (model.id, alias))
    if current is None:
        raise not_found("alias", f"{name}@{alias}")
    before = ctx.session.scalar(select(ModelVersionRow.version).where(ModelVersionRow.id == current.version_id))
    ctx.session.delete(current)
    _record(ctx, model.id, current.version_id, "alias_deleted", str(before), None, alias)
    emit(ctx.session, "alias.moved", current.version_id, {"name": name, "alias": alias, "from": before, "to": None},
         ctx.actor)


# ---------------------------------------------------------------- cards, lineage, gates, files

def get_lineage(ctx: Ctx, id: str) -> LineageGraph:
    """The graph from a version back to its run, experiment, data, features and code."""
    v = get_version(ctx, id)
    run = None
    if v.lineage.run_id:
        try:
            run = tracking.get_run(ctx, v.lineage.run_id)
        except NotFound:
            run = None
    return build_graph(v, run)


def get_card(ctx: Ctx, id: str) -> ModelCard:
    """The version's model card: editable fields and the generated markdown."""
    row = _version_row(ctx, id)
    fields = ModelCardFields.model_validate(row.card or {})
    return ModelCard(version_id=row.id, fields=fields, markdown=render_card(_version(ctx, row), fields))


def update_card(ctx: Ctx, id: str, body: ModelCardFields) -> ModelCard:
    """Edit a model card's fields (fields not given stay as they were)."""
    row = _version_row(ctx, id)
    row.card = {**(row.card or {}), **body.model_dump(exclude_unset=True)}
    row.updated_at = utcnow()
    emit(ctx.session, "model_card.updated", row.id, {"fields": sorted(body.model_fields_set)}, ctx.actor)
    ctx.session.flush()
    return get_card(ctx, id)


def check_gate(ctx: Ctx, id: str, body: GateCheck) -> GateResult:
    """Evaluate thresholds against a version's metrics without moving it."""
    return evaluate_gate(_version_row(ctx, id).metrics, body.thresholds)


def download_file(ctx: Ctx, id: str, path: FilePath) -> bytes:
    """One file of a version's package, verified against its digest."""
    row = _version_row(ctx, id)
    ref = row.files.get(path)
    if ref is None and row.external_source:
        raise NotFound(f"model version {id} holds no files in Mainsail: they are at {row.external_source}",
                       code="external_model_files")
    if ref is None:
        raise not_found("model file", f"{id}/{path}")
    return ctx.store.get_bytes(ref["digest"], name=path)


def version_count(ctx: Ctx) -> int:
    return ctx.session.scalar(select(func.count()).select_from(ModelVersionRow)) or 0


# ---------------------------------------------------------------- model and version edits (MLflow API)

_MODEL_NAME = TypeAdapter(ModelName)

def create_model(ctx: Ctx, name: str, description: str | None = None,
                 tags: dict[str, str] | None = None) -> RegisteredModel:
    """Create a registered model with no versions yet; its name must be unique in the call's project."""
    try:
        name = _MODEL_NAME.validate_python(name)
    except ValidationError:
        raise InvalidInput(f"model name {name!r} must start with a letter or digit and hold only "
                           "letters, digits, '_', '.', '-'", errors=[{"loc": ["name"], "msg": "bad name"}]) from None
    if ctx.session.scalar(select(RegisteredModelRow.id).where(RegisteredModelRow.project == project_of(ctx),
                                                              RegisteredModelRow.name == name)):
        raise Conflict(f"registered model {name!r} already exists", code="model_exists")
    now = utcnow()
    row = RegisteredModelRow(id=new_id(), project=project_of(ctx), name=name, description=description, tags=dict(tags or {}),
                             next_version=1, created_by=ctx.actor, created_at=now, updated_at=now)
    ctx.session.add(row)
    try:
        ctx.session.flush()
    except SAIntegrityError:  # a concurrent create of the same name committed first
        raise Conflict(f"registered model {name!r} already exists", code="model_exists") from None
    emit(ctx.session, "registered_model.created", row.id, {"name": name}, ctx.actor)
    return _registered(ctx, row)


def _merge_tags(current: dict[str, str] | None, changes: dict[str, str | None]) -> dict[str, str]:
    """``current`` with ``changes`` applied: a None value removes the tag."""
    merged = dict(current or {})
    for k, v in changes.items():
        if v is None:
            merged.pop(k, None)
        else:
            merged[k] = v
    return merged


def update_model(ctx: Ctx, name: str, description: str | None = None,
                 tags: dict[str, str | None] | None = None) -> RegisteredModel:
    """Change a model's description and/or set tags (a None value removes the tag)."""
    row = _model_row(ctx, name, lock=True)
    if description is not None:
        row.description = description
    if tags:
        row.tags = _merge_tags(row.tags, tags)
    row.updated_at = utcnow()
    ctx.session.flush()
    return _registered(ctx, row)


def delete_model(ctx: Ctx, name: str) -> None:
    """Delete a registered model with its versions, aliases and history (the blobs stay)."""
    row = _model_row(ctx, name, lock=True)
    for table in (AliasRow, TransitionRow, ModelVersionRow):
        ctx.session.execute(delete(table).where(table.model_id == row.id))
    ctx.session.delete(row)
    emit(ctx.session, "registered_model.deleted", row.id, {"name": name}, ctx.actor)


def update_version(ctx: Ctx, name: str, version: int, description: str | None = None,
                   tags: dict[str, str | None] | None = None) -> ModelVersion:
    """Change a version's description and/or set tags (a None value removes the tag)."""
    model = _model_row(ctx, name)
    row = _version_row_by_number(ctx, model, version)
    if description is not None:
        row.description = description
    if tags:
        row.tags = _merge_tags(row.tags, tags)
    row.updated_at = utcnow()
    ctx.session.flush()
    return _version(ctx, row, model.name)


def delete_version(ctx: Ctx, name: str, version: int) -> None:
    """Delete one version (and the aliases pointing at it)."""
    model = _model_row(ctx, name, lock=True)
    row = _version_row_by_number(ctx, model, version)
    ctx.session.execute(delete(AliasRow).where(AliasRow.version_id == row.id))
    _record(ctx, model.id, row.id, "deleted", str(version), None)
    ctx.session.delete(row)
    emit(ctx.session, "model_version.deleted", row.id, {"name": name, "version": version}, ctx.actor)


def find_versions(ctx: Ctx, name: str | None = None, run_id: str | None = None,
                  limit: Limit = 1000) -> list[ModelVersion]:
    """Versions of one model and/or from one run, newest first."""
    q = select(ModelVersionRow, RegisteredModelRow.name).join(
        RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id).where(
        RegisteredModelRow.project == project_of(ctx))
    if name is not None:
        q = q.where(RegisteredModelRow.name == name)
    if run_id is not None:
        q = q.where(or_(ModelVersionRow.run_id == run_id, ModelVersionRow.external_run_id == run_id))
    rows = ctx.session.execute(q.order_by(RegisteredModelRow.name, ModelVersionRow.version.desc()).limit(limit))
    return [_version(ctx, row, model_name) for row, model_name in rows]


def find_models(ctx: Ctx, name_like: str | None = None, limit: Limit = 1000) -> list[RegisteredModel]:
    """Registered models whose name matches a SQL LIKE pattern (all without one), by name."""
    q = select(RegisteredModelRow).where(RegisteredModelRow.project == project_of(ctx)).order_by(
        RegisteredModelRow.name).limit(limit)
    if name_like is not None:
        q = q.where(RegisteredModelRow.name.like(name_like))
    return [_registered(ctx, r) for r in ctx.session.scalars(q)]


def model_names_for_runs(ctx: Ctx, run_ids: list[str]) -> dict[str, str]:
    """``{run id: registered model name}`` for the runs that produced a version (costs by model)."""
    out: dict[str, str] = {}
    for i in range(0, len(run_ids), 500):
        q = (select(ModelVersionRow.run_id, RegisteredModelRow.name)
             .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
             .where(ModelVersionRow.run_id.in_(run_ids[i:i + 500])))
        out.update({r: n for r, n in ctx.session.execute(q)})
    return out
