"""Feature store rules. The only writer of the feature_* tables (and of the online store).

Definitions are versioned per object: applying a changed entity, view or service adds a version; the
same spec again is a no-op. A view change that removes or retypes a feature some service uses (or
changes the view's entities) is refused with the reasons unless ``force``.

Materialization writes the online store first (idempotent upserts that never replace newer values)
and the view's watermark last, so a run killed midway is simply run again."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import time
from typing import Any, Literal

import orjson
from sqlalchemy import select, update

from mainsail.core.db import new_id, utcnow
from mainsail.core.errors import Conflict, InvalidInput
from mainsail.core.events import emit
from mainsail.core.principal import require
from mainsail.core.projects import project_of
from mainsail.core.runtime import Ctx, Runtime
from mainsail.core.types import UtcDatetime, VersionNumber
from mainsail.features.definitions import Defs, plan_apply, resolve, unknown, view_of
from mainsail.features.models import FeatureDefinitionRow, FeaturePushBatchRow, FeatureViewStateRow
from mainsail.features.schemas import (
    ApplyResult,
    Change,
    Definition,
    Entity,
    FeatureService,
    FeatureSets,
    FeatureSetSpec,
    FeatureView,
    MaterializeRequest,
    MaterializeResult,
    Name,
    OnlineFeatures,
    OnlineRequest,
    PushRequest,
    PushResult,
    ViewMaterialization,
    ViewStats,
)

KINDS = {"entity": Entity, "view": FeatureView, "service": FeatureService}
PLURAL = {"entities": "entity", "views": "view", "services": "service"}


def _digest(spec: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _definition(row: FeatureDefinitionRow) -> Definition:
    return Definition(kind=row.kind, name=row.name, version=row.version, spec=row.spec, digest=row.digest,  # type: ignore[arg-type]
                      created_by=row.created_by, created_at=row.created_at)


def _current_rows(ctx: Ctx) -> list[FeatureDefinitionRow]:
    rows = ctx.session.scalars(select(FeatureDefinitionRow).where(FeatureDefinitionRow.project == project_of(ctx))
                               .order_by(FeatureDefinitionRow.kind,
                                                                     FeatureDefinitionRow.name,
                                                                     FeatureDefinitionRow.version))
    latest: dict[tuple[str, str], FeatureDefinitionRow] = {}
    for r in rows:
        latest[(r.kind, r.name)] = r
    return list(latest.values())


def load_defs(ctx: Ctx) -> Defs:
    """The current definitions, parsed."""
    defs = Defs()
    for r in _current_rows(ctx):
        target = {"entity": defs.entities, "view": defs.views, "service": defs.services}[r.kind]
        target[r.name] = KINDS[r.kind].model_validate(r.spec)  # type: ignore[index]
        defs.versions[(r.kind, r.name)] = r.version
    return defs


# ---------------------------------------------------------------- definitions

def apply(ctx: Ctx, body: FeatureSetSpec) -> ApplyResult:
    """Apply definitions: each new or changed entity, view and service gets a new version. A change that
    breaks a feature service (a removed or retyped feature, an entity's key type or join key changed under
    its views) is refused with the reasons unless ``force``."""
    for v in body.views:  # a SQL or Parquet-path source reads the server's disk: running code, not data
        if v.source.kind in ("sql", "parquet"):
            require(ctx, "pipelines:code")
    current = load_defs(ctx)
    new, breaking = plan_apply(current, body)
    if breaking and not body.force:
        reasons = [f"{kind} {name!r} {r}" for (kind, name), rs in breaking.items() for r in rs]
        plural = {"entity": "entities", "view": "views", "service": "services"}
        raise Conflict("these changes break feature services (apply with force to do it anyway): "
                       + "; ".join(reasons), code="breaking_change",
                       errors=[{"loc": ["body", plural[kind], name], "msg": r}
                               for (kind, name), rs in breaking.items() for r in rs])
    changes: list[Change] = []
    now = utcnow()
    for kind, items in (("entity", body.entities), ("view", body.views),
                        ("service", [new.services[s.name] for s in body.services])):
        for item in items:
            spec = item.model_dump(mode="json")
            digest = _digest(spec)
            version = current.versions.get((kind, item.name), 0)
            old = ctx.session.get(FeatureDefinitionRow, (project_of(ctx), kind, item.name, version)) if version else None
            if old is not None and old.digest == digest:
                changes.append(Change(kind=kind, name=item.name, action="unchanged", version=version))  # type: ignore[arg-type]
                continue
            ctx.session.add(FeatureDefinitionRow(project=project_of(ctx), kind=kind, name=item.name, version=version + 1, spec=spec,
                                                 digest=digest, created_by=ctx.actor, created_at=now))
            changes.append(Change(kind=kind, name=item.name, action="updated" if version else "created",  # type: ignore[arg-type]
                                  version=version + 1, breaking=breaking.get((kind, item.name), [])))
    ctx.session.flush()
    changed = [c for c in changes if c.action != "unchanged"]
    if changed:
        emit(ctx.session, "features.applied", "feature-sets",
             {"changes": [c.model_dump() for c in changed], "message": body.message}, ctx.actor)
    if ctx.runtime is not None:
        from mainsail.features.online import Reader

        Reader.invalidate_all(ctx.runtime)
    return ApplyResult(changes=changes)


def list_feature_sets(ctx: Ctx) -> FeatureSets:
    """The current version of every entity, view and service."""
    out = FeatureSets()
    for r in _current_rows(ctx):
        {"entity": out.entities, "view": out.views, "service": out.services}[r.kind].append(_definition(r))
    return out


def get_definition(ctx: Ctx, kind: Literal["entities", "views", "services"], name: Name,
                   version: VersionNumber | None = None) -> Definition:
    """One definition: its current version, or ``version``."""
    k = PLURAL[kind]
    q = select(FeatureDefinitionRow).where(FeatureDefinitionRow.project == project_of(ctx),
                                           FeatureDefinitionRow.kind == k, FeatureDefinitionRow.name == name)
    q = q.where(FeatureDefinitionRow.version == version) if version else q.order_by(
        FeatureDefinitionRow.version.desc()).limit(1)
    row = ctx.session.scalar(q)
    if row is None:
        known = ctx.session.scalars(select(FeatureDefinitionRow.name).where(
            FeatureDefinitionRow.project == project_of(ctx), FeatureDefinitionRow.kind == k).distinct())
        label = {"entity": "entity", "view": "feature view", "service": "feature service"}[k]
        if version and name in set(known):
            raise unknown(f"{label} version", f"{name} v{version}", [], ["query", "version"])
        raise unknown(label, name, list(known), ["path", "name"])
    return _definition(row)


def list_versions(ctx: Ctx, kind: Literal["entities", "views", "services"], name: Name) -> list[Definition]:
    """Every version of one definition, newest first."""
    rows = list(ctx.session.scalars(select(FeatureDefinitionRow).where(
        FeatureDefinitionRow.project == project_of(ctx), FeatureDefinitionRow.kind == PLURAL[kind],
        FeatureDefinitionRow.name == name)
        .order_by(FeatureDefinitionRow.version.desc())))
    if not rows:
        get_definition(ctx, kind, name)  # raises, naming the nearest names
    return [_definition(r) for r in rows]


# ---------------------------------------------------------------- sources

def _local_object(ctx: Ctx, digest: str) -> str:
    store = ctx.store
    if getattr(store, "_local", False):
        return store.path(digest)
    dest = ctx.settings.home / "cache" / f"{digest}.parquet"
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        store.get_file(digest, dest, name=f"pushed rows {digest[:16]}")
    return str(dest)


def view_source(ctx: Ctx, defs: Defs, view: FeatureView) -> Any:
    """Where the view's rows are: its source plus the Parquet objects of rows pushed to it."""
    from mainsail.features import offline

    src = view.source
    base: str | None
    if src.kind == "dataset":
        from mainsail.data import service as data

        name, _, version = (src.dataset or "").partition("@")
        v = data.get_version(ctx, name, version or "latest")
        base = offline.source_sql("parquet", path=data.version_file(ctx, v.digest))
    elif src.kind == "push":
        base = None
    else:
        base = offline.source_sql(src.kind, path=src.path, query=src.query)
    digests = ctx.session.scalars(select(FeaturePushBatchRow.digest).where(FeaturePushBatchRow.project == project_of(ctx),
                                                                        FeaturePushBatchRow.view == view.name)
                                  .order_by(FeaturePushBatchRow.created_at, FeaturePushBatchRow.id))
    pushed = [_local_object(ctx, d) for d in dict.fromkeys(digests)]
    ents = [defs.entities[e] for e in view.entities]
    return offline.ViewSource(view, [str(e.join_key) for e in ents], [e.type for e in ents],
                              offline.from_item(base, pushed))


def offline_reads(ctx: Ctx, features: list[str] | None, service: str | None,
                  full_feature_names: bool) -> list[tuple[Any, list[str], list[str]]]:
    """The sources, features and output names a historical retrieval reads."""
    defs = load_defs(ctx)
    reads = []
    for vname, fnames in resolve(defs, features, service):
        src = view_source(ctx, defs, defs.views[vname])
        reads.append((src, fnames, [f"{vname}__{f}" if full_feature_names else f for f in fnames]))
    return reads


def historical_table(runtime: Runtime, actor: str | None, entity: Any, features: list[str] | None,
                     service: str | None, timestamp_column: str, full_feature_names: bool,
                     start: dt.datetime | None = None, end: dt.datetime | None = None, project: str | None = None) -> Any:
    """The point-in-time join (an Arrow table); no transaction is open while DuckDB runs. Without an
    ``entity`` frame, every (keys, event time) of the views' rows in ``[start, end)`` is one."""
    from mainsail.features import offline
    from mainsail.features.online import Reader

    project = project or "default"
    with runtime.transaction(write=False, actor=actor, project=project) as ctx:
        reads = offline_reads(ctx, features, service, full_feature_names)
    if entity is None:
        entity = offline.entity_rows([src for src, _, _ in reads], timestamp_column, start, end)
    table = offline.historical(entity, timestamp_column, reads)
    reader = Reader.for_runtime(runtime, project)
    for src, _, _ in reads:
        reader.count(src.view.name, "offline", 1)
    return table


def get_historical_features(ctx: Ctx, data: bytes, features: list[str] | None = None, service: Name | None = None,
                            timestamp_column: str = "event_timestamp", full_feature_names: bool = False,
                            start: UtcDatetime | None = None, end: UtcDatetime | None = None) -> bytes:
    """Point-in-time join of an entity frame (Parquet body: join keys and ``timestamp_column``) with the
    features; answers Parquet. For each row, each view's latest values at or before its time, within TTL.
    An empty body takes every (keys, event time) of the views' rows in ``[start, end)`` as the frame."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    entity = None
    if data:
        try:
            entity = pq.read_table(io.BytesIO(data))
        except (pa.ArrowException, OSError) as exc:
            raise InvalidInput(f"the body is not a readable Parquet file: {exc}", code="invalid_parquet",
                               errors=[{"loc": ["body"], "msg": "not a readable Parquet file"}]) from None
    assert ctx.runtime is not None
    table = historical_table(ctx.runtime, ctx.actor, entity, features, service, timestamp_column,
                             full_feature_names, start, end, project_of(ctx))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


# ---------------------------------------------------------------- online

def get_online_features(ctx: Ctx, body: OnlineRequest) -> OnlineFeatures:
    """Latest materialized or pushed values for entity rows: one store read per view per entity."""
    from mainsail.features.online import Reader

    assert ctx.runtime is not None
    cols = Reader.for_runtime(ctx.runtime, project_of(ctx)).get(body.entity_rows, body.features, body.service,
                                                body.full_feature_names)
    return OnlineFeatures.of(cols)


def _state(ctx: Ctx, view: str) -> FeatureViewStateRow:
    row = ctx.session.get(FeatureViewStateRow, (project_of(ctx), view))
    if row is None:
        row = FeatureViewStateRow(project=project_of(ctx), view=view, last_rows=0, pushed_rows=0, online_reads=0, offline_reads=0)
        ctx.session.add(row)
        ctx.session.flush()
    return row


def materialize(ctx: Ctx, body: MaterializeRequest) -> MaterializeResult:
    """Copy each view's latest values with an event time in ``[start, end)`` to the online store, then
    move its watermark to ``end``. Without ``start``: from the watermark (incremental), else from
    ``end - ttl``, else from the beginning. Safe to rerun after a crash."""
    from mainsail.features import offline
    from mainsail.features.online import Reader

    assert ctx.runtime is not None
    runtime = ctx.runtime
    defs = load_defs(ctx)
    if body.views:
        views = [view_of(defs, n, ["body", "views", i]) for i, n in enumerate(body.views)]
    else:
        views = [v for v in defs.views.values() if v.online]
    end = body.end or utcnow()
    store = Reader.for_runtime(runtime, project_of(ctx)).store
    marks = {r.view: r.materialized_until for r in ctx.session.scalars(
        select(FeatureViewStateRow).where(FeatureViewStateRow.project == project_of(ctx)))}
    sources = {v.name: view_source(ctx, defs, v) for v in views}
    out = []
    for v in views:
        started = time.perf_counter()
        start = body.start or marks.get(v.name) or (end - dt.timedelta(seconds=v.ttl) if v.ttl else None)
        if start is not None and start >= end:
            out.append(ViewMaterialization(view=v.name, start=start, end=end, rows=0, seconds=0.0))
            continue
        n = store.write(v.name, offline.latest_rows(sources[v.name], start, end)) if sources[v.name].sql else 0
        with runtime.transaction(actor=ctx.actor, project=project_of(ctx)) as w:  # the watermark, written last
            st = _state(w, v.name)
            if st.materialized_until is None or st.materialized_until < end:
                st.materialized_until = end
            st.last_materialized_at, st.last_rows = utcnow(), n
            emit(w.session, "features.materialized", v.name, {"view": v.name, "start": start.isoformat() if start else None,
                                                              "end": end.isoformat(), "rows": n}, ctx.actor)
        out.append(ViewMaterialization(view=v.name, start=start, end=end, rows=n,
                                       seconds=time.perf_counter() - started))
    return MaterializeResult(views=out)


def push(ctx: Ctx, body: PushRequest) -> PushResult:
    """Validate rows against the view's schema (422 naming row and column, nothing written), append them
    to the offline store and write them to the online store at once."""
    import pyarrow.parquet as pq

    from mainsail.features import push as pushing
    from mainsail.features.online import Reader

    defs = load_defs(ctx)
    view = view_of(defs, body.view, ["body", "view"])
    table, online_rows = pushing.validate(view, [defs.entities[e] for e in view.entities], body.rows)
    digest = None
    if body.to != "online":
        buf = io.BytesIO()
        pq.write_table(table, buf)
        digest = ctx.store.put_bytes(buf.getvalue()).digest
        ctx.session.add(FeaturePushBatchRow(id=new_id(), project=project_of(ctx), view=view.name, digest=digest, rows=table.num_rows,
                                            created_by=ctx.actor, created_at=utcnow()))
        st = _state(ctx, view.name)
        st.pushed_rows = (st.pushed_rows or 0) + table.num_rows
        emit(ctx.session, "features.pushed", view.name, {"view": view.name, "rows": table.num_rows,
                                                         "digest": digest}, ctx.actor)
        ctx.session.flush()
    if body.to != "offline" and ctx.runtime is not None:
        Reader.for_runtime(ctx.runtime, project_of(ctx)).store.write(view.name, online_rows)
    return PushResult(view=view.name, rows=table.num_rows, offline_digest=digest)


# ---------------------------------------------------------------- stats and usage

def add_usage(ctx: Ctx, counts: dict[tuple[str, str], int]) -> None:
    """Add counted reads (``{(view, "online"|"offline"): n}``) to the views' usage counters."""
    for (view, kind), n in sorted(counts.items()):
        _state(ctx, view)
        col = FeatureViewStateRow.online_reads if kind == "online" else FeatureViewStateRow.offline_reads
        ctx.session.execute(update(FeatureViewStateRow).where(FeatureViewStateRow.project == project_of(ctx),
                                                              FeatureViewStateRow.view == view)
                            .values({col: col + n}))


def view_stats(ctx: Ctx, name: Name) -> ViewStats:
    """Freshness (watermark, staleness), quality (null rates, ranges) and usage of one view."""
    from mainsail.features import offline
    from mainsail.features.online import Reader

    defs = load_defs(ctx)
    view = view_of(defs, name, ["path", "name"])
    if ctx.runtime is not None:
        reader = Reader.for_runtime(ctx.runtime, project_of(ctx))
        pending = {k: v for k, v in reader.pending_usage().items() if k[0] == name}
    else:
        pending = {}
    st = ctx.session.get(FeatureViewStateRow, (project_of(ctx), name))
    body = offline.stats(view_source(ctx, defs, view))
    until = st.materialized_until if st else None
    return ViewStats(
        view=name, version=defs.versions[("view", name)], rows=body["rows"], entities=body["entities"],
        first_event=body.get("first_event"), last_event=body.get("last_event"), materialized_until=until,
        last_materialized_at=st.last_materialized_at if st else None,
        staleness_seconds=(utcnow() - until).total_seconds() if until else None,
        pushed_rows=st.pushed_rows if st else 0,
        online_reads=(st.online_reads if st else 0) + pending.get((name, "online"), 0),
        offline_reads=(st.offline_reads if st else 0) + pending.get((name, "offline"), 0),
        features=body["features"])
