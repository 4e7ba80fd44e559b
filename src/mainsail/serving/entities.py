"""Entity requests: ``{"entity_id": "C1"}`` (or a list of ids) and ``{"entities": [{"customer_id": "C1"}, …]}``.

A variant's features come from the online store through the feature store's Client API
(``client.get_online_features``): its ``feature_service`` (set on the variant or the deployment), else
the feature views recorded in the model version's lineage. Each entity row is merged over its features
(so a row may carry request-time features too) and the result goes through the usual records codec.
An entity the online store knows nothing about is a 404 naming it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mainsail.core.errors import InvalidInput, MainsailError, NotFound
from mainsail.serving.codec import bad

MAX_ENTITIES = 10_000


@dataclass
class FeatureSource:
    """Where one variant's features come from, with its join keys resolved on first use."""

    service: str | None
    views: tuple[str, ...] = ()
    _keys: tuple[str, ...] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def of(cls, feature_service: str | None, feature_views: Sequence[str]) -> FeatureSource | None:
        if feature_service:
            return cls(feature_service)
        views = tuple(v.split("@", 1)[0].split(":", 1)[0] for v in feature_views if v)
        return cls(None, views) if views else None

    @staticmethod
    def key(source: FeatureSource | None) -> tuple[str | None, tuple[str, ...]] | None:
        return None if source is None else (source.service, source.views)

    def describe(self) -> str:
        return f"feature service {self.service!r}" if self.service else f"feature view(s) {', '.join(self.views)}"

    def join_keys(self, client: Any) -> tuple[str, ...]:
        """The join key columns of the entities behind this source's views."""
        if self._keys is not None:
            return self._keys
        with self._lock:
            if self._keys is None:
                try:
                    views = self.views
                    if self.service:
                        spec = client.get_feature_definition("services", self.service).spec
                        views = tuple(dict.fromkeys(f.split(":", 1)[0] for f in spec["features"]))
                    keys: list[str] = []
                    for view in views:
                        for ent in client.get_feature_view(view).entities:
                            key = client.get_feature_definition("entities", ent).spec.get("join_key") or ent
                            if key not in keys:
                                keys.append(str(key))
                except NotFound as exc:
                    raise MainsailError(f"the deployment's {self.describe()} cannot be read: {exc.detail}",
                                        code="feature_source_unavailable") from None
                self._keys = tuple(keys)
        return self._keys

    def rows(self, client: Any, kind: str, data: Any) -> list[dict[str, Any]]:
        """Entity rows (``[{"customer_id": "C1"}]``) from an ``entity_id`` value or an ``entities`` list."""
        if kind == "entity_id":
            ids = data if isinstance(data, list) else [data]
            if not ids or len(ids) > MAX_ENTITIES:
                raise bad(["body", "entity_id"], f"expected an id or a list of 1 to {MAX_ENTITIES} ids")
            keys = self.join_keys(client)
            if len(keys) != 1:
                raise bad(["body", "entity_id"], f"the {self.describe()} has join keys {', '.join(keys)}; "
                                                 "send 'entities' rows naming each")
            for i, v in enumerate(ids):
                if not isinstance(v, str | int) or isinstance(v, bool):
                    raise bad(["body", "entity_id", *([i] if isinstance(data, list) else [])],
                              f"expected a string or an integer, got {type(v).__name__}")
            return [{keys[0]: v} for v in ids]
        if not isinstance(data, list) or not data or len(data) > MAX_ENTITIES:
            raise bad(["body", "entities"], f"expected a list of 1 to {MAX_ENTITIES} objects")
        keys = self.join_keys(client)
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise bad(["body", "entities", i], "expected an object")
            for k in keys:
                if k not in row:
                    raise bad(["body", "entities", i, k], f"join key required by the {self.describe()}")
                if not isinstance(row[k], str | int) or isinstance(row[k], bool):
                    raise bad(["body", "entities", i, k], f"expected a string or an integer, got "
                                                          f"{type(row[k]).__name__}")
        return data

    def records(self, client: Any, entity_rows: list[dict[str, Any]], kind: str,
                columns: Sequence[str]) -> list[dict[str, Any]]:
        """Each entity row merged over its online features; 404 naming the first unknown entity."""
        keys = self.join_keys(client)
        try:
            got = client.get_online_features([{k: r[k] for k in keys} for r in entity_rows],
                                             list(self.views) if not self.service else None,
                                             service=self.service).columns
        except InvalidInput as exc:
            raise InvalidInput(f"entities: {exc.detail}", code=exc.code, errors=[
                {**e, "loc": ["body", "entities", *list(e.get("loc", []))[1:]]} for e in exc.errors or []]) from None
        names = [c for c in got if c not in keys]
        out = []
        for i, row in enumerate(entity_rows):
            feats = {n: got[n][i] for n in names}
            if names and all(v is None for v in feats.values()):
                who = ", ".join(f"{k}={row[k]!r}" for k in keys)
                loc = ["body", "entity_id"] if kind == "entity_id" else ["body", "entities", i]
                raise NotFound(f"entity {who} has no features in the online store ({self.describe()})",
                               code="entity_not_found", errors=[{"loc": loc, "msg": f"unknown entity {who}"}])
            record = {**feats, **row}
            for c in columns:
                if c not in record:
                    loc = ["body", "entity_id"] if kind == "entity_id" else ["body", "entities", i, c]
                    raise InvalidInput(f"feature {c!r} the model needs is neither in the {self.describe()} nor in "
                                       "the request", code="invalid_model_input",
                                       errors=[{"loc": loc, "msg": f"feature {c!r} missing"}])
            out.append(record)
        return out
