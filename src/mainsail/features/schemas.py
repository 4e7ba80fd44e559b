"""Feature store pydantic types: definitions (entities, feature views, feature services) and what the
API, the SDK and the CLI exchange."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from mainsail.core.types import ObjectName, UtcDatetime

Name = ObjectName
Column = Annotated[str, StringConstraints(min_length=1, max_length=200)]
FeatureType = Literal["int64", "int32", "float64", "float32", "string", "bool", "timestamp"]
FEATURE_TYPES: tuple[str, ...] = FeatureType.__args__  # type: ignore[attr-defined]
_TYPE_ALIASES = {"int": "int64", "integer": "int64", "float": "float64", "double": "float64", "str": "string",
                 "boolean": "bool", "datetime": "timestamp"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _type(value: Any) -> Any:
    return _TYPE_ALIASES.get(value.lower(), value.lower()) if isinstance(value, str) else value


def parse_ttl(value: Any) -> Any:
    """Seconds from ``timedelta``, a number, or text such as ``"90s"``, ``"12h"``, ``"30d"``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dt.timedelta):
        return int(value.total_seconds())
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return int(float(m.group(1)) * _UNITS[m.group(2)])
        if value.strip().isdigit():
            return int(value)
    return value


class Entity(BaseModel):
    """What features describe (a customer, a plant): its name and its join key column and type."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    join_key: Column | None = Field(None, description="the key column (default: the entity's name)")
    type: FeatureType = "string"
    description: str | None = Field(None, max_length=10_000)

    _t = field_validator("type", mode="before")(_type)

    @model_validator(mode="after")
    def _default_key(self) -> Entity:
        if self.join_key is None:
            self.join_key = self.name
        return self


class Feature(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Column
    type: FeatureType
    description: str | None = Field(None, max_length=10_000)

    _t = field_validator("type", mode="before")(_type)


class Source(BaseModel):
    """Where a view's rows come from: a ``dataset`` (``name`` or ``name@version``; latest when read),
    a ``parquet`` path or glob, a DuckDB ``sql`` query, or ``push`` (rows arrive by ``push``). Rows
    pushed to any view are added to its source."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["dataset", "parquet", "sql", "push"]
    dataset: str | None = None
    path: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Source:
        need = {"dataset": "dataset", "parquet": "path", "sql": "query"}.get(self.kind)
        if need and not getattr(self, need):
            raise ValueError(f"a {self.kind} source needs {need!r}")
        return self


class FeatureView(BaseModel):
    """Typed features of one or more entities, read from a source with an event timestamp column.
    Values older than ``ttl`` seconds (``None``: no limit) at a point in time are not used."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    entities: list[Name] = Field(min_length=1)
    features: list[Feature] = Field(min_length=1)
    source: Source
    timestamp_field: Column = "event_timestamp"
    ttl: Annotated[int, Field(ge=1, le=10**10)] | None = None
    owner: str | None = Field(None, max_length=200)
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = Field(None, max_length=10_000)
    online: bool = True

    _ttl = field_validator("ttl", mode="before")(parse_ttl)

    @field_validator("entities", mode="before")
    @classmethod
    def _entity_names(cls, v: Any) -> Any:
        if isinstance(v, (str, Entity)):
            v = [v]
        return [e.name if isinstance(e, Entity) else e for e in v] if isinstance(v, list) else v

    @field_validator("features", mode="before")
    @classmethod
    def _feature_map(cls, v: Any) -> Any:
        """``{"age": "int64"}`` is short for ``[Feature(name="age", type="int64")]``."""
        return [{"name": k, "type": t} for k, t in v.items()] if isinstance(v, dict) else v

    @field_validator("source", mode="before")
    @classmethod
    def _source_text(cls, v: Any) -> Any:
        """``"dataset:churn"``, ``"push"``, ``"data/*.parquet"`` or ``"SELECT …"`` as a source."""
        if not isinstance(v, str):
            return v
        text = v.strip()
        if text == "push":
            return {"kind": "push"}
        if text.startswith("dataset:"):
            return {"kind": "dataset", "dataset": text.removeprefix("dataset:")}
        if re.match(r"(?is)^\s*(select|with|from)\b", text):
            return {"kind": "sql", "query": text}
        return {"kind": "parquet", "path": text}

    @field_validator("features")
    @classmethod
    def _unique(cls, v: list[Feature]) -> list[Feature]:
        seen: set[str] = set()
        for f in v:
            if f.name in seen:
                raise ValueError(f"feature {f.name!r} is declared twice")
            seen.add(f.name)
        return v

    @property
    def feature_types(self) -> dict[str, str]:
        return {f.name: f.type for f in self.features}


class FeatureService(BaseModel):
    """A named group of view features a model uses: ``"view:feature"``, or ``"view"`` for every feature
    of the view at apply time."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    features: list[Annotated[str, StringConstraints(min_length=1, max_length=400)]] = Field(min_length=1)
    owner: str | None = Field(None, max_length=200)
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = Field(None, max_length=10_000)


class FeatureSetSpec(BaseModel):
    """A set of definitions to apply (``POST /api/v1/feature-sets``). Objects not named are left as they
    are; a change that breaks a feature service is refused unless ``force``."""

    model_config = ConfigDict(extra="forbid")
    entities: list[Entity] = Field(default_factory=list)
    views: list[FeatureView] = Field(default_factory=list)
    services: list[FeatureService] = Field(default_factory=list)
    force: bool = False
    message: str | None = Field(None, max_length=2000)


class Change(BaseModel):
    kind: Literal["entity", "view", "service"]
    name: str
    action: Literal["created", "updated", "unchanged"]
    version: int
    breaking: list[str] = Field(default_factory=list, description="why it breaks a service (applied with force)")


class ApplyResult(BaseModel):
    changes: list[Change]


class Definition(BaseModel):
    """One stored version of an entity, view or service."""

    kind: Literal["entity", "view", "service"]
    name: str
    version: int
    spec: dict[str, Any]
    digest: str
    created_by: str | None = None
    created_at: dt.datetime


class FeatureSets(BaseModel):
    """The current version of every definition."""

    entities: list[Definition] = Field(default_factory=list)
    views: list[Definition] = Field(default_factory=list)
    services: list[Definition] = Field(default_factory=list)


class MaterializeRequest(BaseModel):
    """Copy the latest value per entity with an event time in ``[start, end)`` to the online store.
    Without ``start``: from each view's watermark (incremental), else from ``end - ttl``, else all."""

    model_config = ConfigDict(extra="forbid")
    views: list[Name] | None = Field(None, description="default: every online view")
    start: UtcDatetime | None = None
    end: UtcDatetime | None = Field(None, description="default: now")


class ViewMaterialization(BaseModel):
    view: str
    start: dt.datetime | None
    end: dt.datetime
    rows: int
    seconds: float


class MaterializeResult(BaseModel):
    views: list[ViewMaterialization]


class PushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    view: Name
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=100_000)
    to: Literal["online_and_offline", "online", "offline"] = "online_and_offline"


class PushResult(BaseModel):
    view: str
    rows: int
    offline_digest: str | None = None


class OnlineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity_rows: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    features: list[str] | None = None
    service: Name | None = None
    full_feature_names: bool = False


class OnlineFeatures(BaseModel):
    """Columns: the entity keys, then each feature (``None`` where an entity has no value)."""

    columns: dict[str, list[Any]]

    @classmethod
    def of(cls, columns: dict[str, list[Any]]) -> OnlineFeatures:
        """Wrap columns built by the read path without validating them again (the hot path)."""
        m = object.__new__(cls)
        object.__setattr__(m, "__dict__", {"columns": columns})
        object.__setattr__(m, "__pydantic_fields_set__", {"columns"})
        object.__setattr__(m, "__pydantic_extra__", None)
        object.__setattr__(m, "__pydantic_private__", None)
        return m

    def to_dict(self) -> dict[str, list[Any]]:
        return self.columns

    def rows(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        return [dict(zip(names, vals, strict=True)) for vals in zip(*self.columns.values(), strict=True)]

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.columns)


class FeatureStats(BaseModel):
    name: str
    type: str
    null_rate: float | None = None
    distinct: int | None = None
    min: Any = None
    max: Any = None
    mean: float | None = None


class ViewStats(BaseModel):
    """Freshness, quality and usage of one view."""

    view: str
    version: int
    rows: int
    entities: int
    first_event: dt.datetime | None = None
    last_event: dt.datetime | None = None
    materialized_until: dt.datetime | None = None
    last_materialized_at: dt.datetime | None = None
    staleness_seconds: float | None = Field(None, description="now minus materialized_until")
    pushed_rows: int = 0
    online_reads: int = 0
    offline_reads: int = 0
    features: list[FeatureStats] = Field(default_factory=list)
