"""Feature store methods of :class:`mainsail.Client` (mixed into it), the same embedded or remote.

In-process, online reads go straight to the online store through a per-process reader (cached
definitions, no transaction, no HTTP) and point-in-time joins run in this process on the entity frame
as given; remotely, the entity frame travels as Parquet and the server runs the join."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mainsail.client.backends import Backend, LocalBackend
from mainsail.core.errors import InvalidInput
from mainsail.core.ops import LazyOpSet
from mainsail.features.schemas import (
    ApplyResult,
    Definition,
    Entity,
    FeatureService,
    FeatureSets,
    FeatureSetSpec,
    FeatureView,
    MaterializeResult,
    OnlineFeatures,
    PushResult,
    ViewStats,
)

ops = LazyOpSet("mainsail.features.ops")  # imported on first call: composing the Client stays cheap

Defn = Entity | FeatureView | FeatureService


def _as_arrow(df: Any) -> Any:
    import pyarrow as pa

    if isinstance(df, pa.Table):
        return df
    if isinstance(df, pa.RecordBatch):
        return pa.Table.from_batches([df])
    if hasattr(df, "to_arrow_table") or hasattr(df, "fetch_arrow_table"):  # a DuckDB relation
        out = (getattr(df, "to_arrow_table", None) or df.fetch_arrow_table)()
        return out.read_all() if isinstance(out, pa.RecordBatchReader) else out
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(df, pd.DataFrame):
        return pa.Table.from_pandas(df, preserve_index=False)
    if isinstance(df, list):
        return pa.Table.from_pylist(df)
    raise InvalidInput("entity_df must be a pandas DataFrame, an Arrow table or a list of dicts",
                       errors=[{"loc": ["entity_df"], "msg": f"unsupported type {type(df).__name__}"}])


def _time(value: str | dt.datetime | None) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _entity_rows(entities: Any) -> list[dict[str, Any]]:
    """Rows from the seeds' ``entities=``: rows, one row, or columns of equal length."""
    if isinstance(entities, Mapping):
        values = list(entities.values())
        if values and all(isinstance(v, (list, tuple)) for v in values):
            return [dict(zip(entities, row, strict=True)) for row in zip(*values, strict=True)]
        return [dict(entities)]
    return [dict(e) for e in entities]


class FeatureMethods:
    _backend: Backend

    # ------------------------------------------------------------ definitions
    def apply_features(self, definitions: FeatureSetSpec | Sequence[Defn] | str | Path, *, force: bool = False,
                       message: str | None = None) -> ApplyResult:
        """Apply entities, feature views and services: objects, a ``FeatureSetSpec``, or a path to a Python
        or YAML file (or a folder of them). Refused if it breaks a feature service, unless ``force``."""
        from mainsail.features.definitions import load_path

        if isinstance(definitions, (str, Path)):
            spec = load_path(definitions)
        elif isinstance(definitions, FeatureSetSpec):
            spec = definitions
        else:
            items = list(definitions)
            spec = FeatureSetSpec(entities=[d for d in items if isinstance(d, Entity)],
                                  views=[d for d in items if isinstance(d, FeatureView)],
                                  services=[d for d in items if isinstance(d, FeatureService)])
        spec = spec.model_copy(update={"force": force or spec.force, "message": message or spec.message})
        return self._backend.call(ops.apply, {"body": spec})

    def list_feature_sets(self) -> FeatureSets:
        """The current version of every entity, feature view and feature service."""
        return self._backend.call(ops.list_feature_sets, {})

    def get_feature_definition(self, kind: str, name: str, version: int | None = None) -> Definition:
        """``kind`` is ``entities``, ``views`` or ``services``."""
        return self._backend.call(ops.get_definition, {"kind": kind, "name": name, "version": version})

    def get_feature_view(self, name: str, version: int | None = None) -> FeatureView:
        return FeatureView.model_validate(self.get_feature_definition("views", name, version).spec)

    def list_feature_definition_versions(self, kind: str, name: str) -> list[Definition]:
        return self._backend.call(ops.list_versions, {"kind": kind, "name": name})

    # ------------------------------------------------------------ offline
    def get_historical_features(self, entity_df: Any, features: Sequence[str] | None = None, *,
                                service: str | None = None, timestamp_column: str = "event_timestamp",
                                full_feature_names: bool = False, as_: str = "pandas",
                                output_dataset: str | None = None, start: str | dt.datetime | None = None,
                                end: str | dt.datetime | None = None) -> Any:
        """For each row of ``entity_df`` (join keys and ``timestamp_column``), the latest value of each
        feature (``"view:feature"``, ``"view"``, or a ``service``) at or before that time and within the
        view's TTL. Returns ``pandas`` (default) or ``arrow``, rows in the entity frame's order. With
        ``output_dataset``, the result is also stored as a version of that dataset, its source recording
        the features (``as_="version"`` returns that version instead). ``entity_df=None``: every (keys,
        event time) of the views' rows with an event time in ``[start, end)`` is the entity frame."""
        import pyarrow.parquet as pq

        if as_ not in ("pandas", "arrow", "version"):
            raise InvalidInput(f"as_ must be pandas, arrow or version, not {as_!r}",
                               errors=[{"loc": ["as_"], "msg": "unknown output"}])
        if as_ == "version" and not output_dataset:
            raise InvalidInput("as_='version' needs output_dataset", errors=[{"loc": ["output_dataset"],
                                                                            "msg": "required"}])
        entity = _as_arrow(entity_df) if entity_df is not None else None
        feats = list(features) if features is not None else None
        period = {"start": _time(start), "end": _time(end)}
        if isinstance(self._backend, LocalBackend):
            from mainsail.features.service import historical_table

            args = ops.get_historical_features.bind({"data": b"", "features": feats, "service": service,
                                                     "timestamp_column": timestamp_column,
                                                     "full_feature_names": full_feature_names, **period})
            table = historical_table(self._backend.runtime, self._backend.actor, entity, feats, service,
                                     timestamp_column, full_feature_names, args["start"], args["end"],
                                     self._backend.project)
        else:
            buf = io.BytesIO()
            if entity is not None:
                pq.write_table(entity, buf)
            data = self._backend.call(ops.get_historical_features, {
                "data": buf.getvalue(), "features": feats, "service": service,
                "timestamp_column": timestamp_column, "full_feature_names": full_feature_names, **period})
            table = pq.read_table(io.BytesIO(data))
        if output_dataset:
            version = self._store_training_set(table, output_dataset, {
                "kind": "features", "features": feats, "service": service, "timestamp_column": timestamp_column,
                "entity_rows": table.num_rows})
            if as_ == "version":
                return version
        return table if as_ == "arrow" else table.to_pandas()

    def _store_training_set(self, table: Any, name: str, source: dict[str, Any]) -> Any:
        """Store a retrieval result as a dataset version whose source names the features (lineage)."""
        import hashlib
        import tempfile

        import orjson

        from mainsail.core.settings import Settings
        from mainsail.data import canonical
        from mainsail.data.ops import ops as data_ops
        from mainsail.data.service import check_name, ingest_file

        check_name(name)
        local = isinstance(self._backend, LocalBackend)
        home = self._backend.runtime.settings.home if local else Settings.from_env().home  # type: ignore[attr-defined]
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="training-set-", dir=home / "tmp") as tmp:
            path = canonical.write_parquet(table, Path(tmp) / "data.parquet")
            desc = "training set: " + ", ".join(source.get("features") or [f"service {source.get('service')}"])
            if local:
                return ingest_file(self._backend.runtime, self._backend.actor, name, path, source,  # type: ignore[attr-defined]
                                   desc[:2000], True)
            data = path.read_bytes()
            return self._backend.call(data_ops.upload_version, {
                "name": name, "data": data, "source": orjson.dumps(source).decode(), "description": desc[:2000],
                "digest": hashlib.sha256(data).hexdigest(), "profile": True})

    # ------------------------------------------------------------ online
    def get_online_features(self, entity_rows: Sequence[Mapping[str, Any]] | None = None,
                            features: Sequence[str] | str | None = None, *, service: str | None = None,
                            full_feature_names: bool = False, entities: Any = None) -> OnlineFeatures:
        """The latest materialized or pushed values for each entity row (``[{"customer_id": 42}]``):
        columns of join keys then features, ``None`` where an entity has no value. The seeds' spelling:
        ``entities=`` (rows, one row ``{"customer_id": 42}``, or columns ``{"customer_id": [42, 43]}``)
        and ``features=`` a list of features or the name of a feature set."""
        if entities is not None:
            entity_rows = _entity_rows(entities)
        if entity_rows is None:
            raise InvalidInput("give entity_rows (or entities)", errors=[{"loc": ["entity_rows"], "msg": "required"}])
        if isinstance(features, str):
            features, service = None, features
        get = self._online_get
        if get is None and isinstance(self._backend, LocalBackend):
            from mainsail.features.online import Reader

            get = self._online_get = Reader.for_runtime(self._backend.runtime, self._backend.project).get
        if get is not None:
            rows = entity_rows if type(entity_rows) is list else list(entity_rows)
            if not rows:
                raise InvalidInput("entity_rows is empty", errors=[{"loc": ["entity_rows"], "msg": "empty"}])
            return OnlineFeatures.of(get(rows, features, service, full_feature_names))
        body = {"entity_rows": list(entity_rows), "features": list(features) if features is not None else None,
                "service": service, "full_feature_names": full_feature_names}
        request = getattr(self._backend, "request", None)
        if request is not None:  # a server: orjson both ways, the server validates
            import orjson

            try:
                content = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
            except TypeError:
                content = None  # values orjson cannot write: the generic call below converts them
            if content is not None:
                resp = request("POST", "/api/v1/feature-sets/online", content=content,
                               headers={"content-type": "application/json"})
                return OnlineFeatures.of(orjson.loads(resp.content)["columns"])
        return self._backend.call(ops.get_online_features, {"body": body})

    _online_get: Any = None  # the in-process reader's get, bound on first use

    # ------------------------------------------------------------ materialize, push, stats
    def materialize_features(self, views: str | Sequence[str] | None = None, start: str | dt.datetime | None = None,
                             end: str | dt.datetime | None = None) -> MaterializeResult:
        """Copy the latest values with event time in ``[start, end)`` to the online store. Without ``start``
        it is incremental (from each view's watermark); ``end`` defaults to now; ``views`` to every online
        view. Safe to rerun."""
        names = [views] if isinstance(views, str) else (list(views) if views is not None else None)
        return self._backend.call(ops.materialize, {"body": {"views": names, "start": _time(start),
                                                             "end": _time(end)}})

    def materialize(self, start: str | dt.datetime, end: str | dt.datetime,
                    views: str | Sequence[str] | None = None) -> MaterializeResult:
        return self.materialize_features(views, start=start, end=end)

    def materialize_incremental(self, end: str | dt.datetime | None = None,
                                views: str | Sequence[str] | None = None) -> MaterializeResult:
        return self.materialize_features(views, end=end)

    def push_features(self, view: str, rows: Any, *, to: str = "online_and_offline") -> PushResult:
        """Write rows (dicts, or a DataFrame) to the online store at once and append them offline; rows of
        the wrong type are refused (naming row and column) and nothing is written."""
        if not isinstance(rows, list):
            rows = _as_arrow(rows).to_pylist()
        return self._backend.call(ops.push, {"body": {"view": view, "rows": rows, "to": to}})

    # ------------------------------------------------------------ the seeds' spelling
    def create_feature_set(self, name: str, features: Sequence[str], **options: Any) -> ApplyResult:
        """The seeds' spelling of :meth:`apply_features` with one :class:`FeatureService`: a named set
        over existing features (``view:feature``, ``view``, or a feature name one view has).
        ``options``: ``owner``, ``tags``, ``description``."""
        return self.apply_features([FeatureService(name=name, features=list(features), **options)])

    def get_training_data(self, feature_set: str, start_date: str | dt.datetime | None = None,
                          end_date: str | dt.datetime | None = None, *, entity_df: Any = None,
                          as_: str = "pandas") -> Any:
        """The seeds' spelling of :meth:`get_historical_features` over a feature set: for every entity and
        event time of its views' rows from ``start_date`` (until ``end_date``), the features as they were
        then (or for the rows of ``entity_df``)."""
        return self.get_historical_features(entity_df, service=feature_set, start=start_date, end=end_date, as_=as_)

    def update_online_features(self, entity_id: Any, features: Mapping[str, Any], *,
                               event_time: str | dt.datetime | None = None,
                               to: str = "online_and_offline") -> list[PushResult]:
        """The seeds' spelling of :meth:`push_features` for one entity: ``features`` (``{"age": 31}``;
        names as in a feature set) are pushed, at ``event_time`` (default now), to each view that has
        them; the view's other features keep their current online values. ``entity_id`` is the key
        value, or ``{join_key: value}`` for a view with several entities."""
        from mainsail.features.definitions import Defs, resolve

        sets = self.list_feature_sets()
        defs = Defs(entities={d.name: Entity.model_validate(d.spec) for d in sets.entities},
                    views={d.name: FeatureView.model_validate(d.spec) for d in sets.views})
        when = _time(event_time) or dt.datetime.now(dt.UTC)
        out = []
        for vname, fnames in resolve(defs, list(features)):
            view = defs.views[vname]
            keys = [str(defs.entities[e].join_key) for e in view.entities]
            key = dict(entity_id) if isinstance(entity_id, Mapping) else {keys[0]: entity_id}
            others = [f.name for f in view.features if f.name not in fnames]
            row: dict[str, Any] = {}
            if others:
                current = self.get_online_features([key], [f"{vname}:{f}" for f in others]).rows()[0]
                row.update({f: current.get(f) for f in others})
            given = {f.partition(":")[2] or f: v for f, v in features.items()}
            row.update({**key, view.timestamp_field: when.isoformat(), **{f: given[f] for f in fnames}})
            out.append(self.push_features(vname, [row], to=to))
        return out

    def feature_view_stats(self, name: str) -> ViewStats:
        """Freshness, null rates and usage counts of a view."""
        if isinstance(self._backend, LocalBackend):
            from mainsail.features.online import Reader

            Reader.for_runtime(self._backend.runtime, self._backend.project).flush_usage()
        return self._backend.call(ops.view_stats, {"name": name})
