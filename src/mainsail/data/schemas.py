"""The data layer's pydantic types: what the API, the SDK and the CLI exchange."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from mainsail.core.types import ObjectName

DatasetName = ObjectName
VersionRef = Annotated[str, StringConstraints(to_lower=True, pattern=r"^(latest|[0-9a-fA-F]{4,64})$")]
Scalar = bool | int | float | str | None
VERSION_ID_LENGTH = 16


class ColumnSchema(BaseModel):
    """One column: its name and Arrow type (``int64``, ``double``, ``string``, ``timestamp[us]``, …)."""

    name: str
    type: str
    nullable: bool = True


class DatasetCreate(BaseModel):
    """An empty dataset to create (ingesting creates one when missing)."""

    name: DatasetName
    description: str | None = Field(None, max_length=10_000)
    tags: dict[Annotated[str, StringConstraints(min_length=1, max_length=250)],
               Annotated[str, StringConstraints(max_length=8000)]] = Field(default_factory=dict)


class Dataset(BaseModel):
    """A named, versioned dataset."""

    id: str
    name: str
    project: str = "default"
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    created_by: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    version_count: int = 0
    latest_version: str | None = Field(None, description="id of the latest version: the one most recently ingested")


class DatasetVersion(BaseModel):
    """An immutable version: Parquet in the artifact store, addressed by the SHA-256 of its bytes. ``id``
    is the first 16 hex characters of ``digest``, so the same data gives the same id."""

    id: str
    dataset: str
    number: int = Field(description="1 for the dataset's first version, then 2, 3, …")
    digest: str
    size: int
    row_count: int
    columns: list[ColumnSchema]
    source: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None
    created_by: str | None = None
    created_at: dt.datetime
    has_profile: bool = False
    deduplicated: bool = Field(False, description="true when an ingest found this exact data already stored")

    @property
    def ref(self) -> str:
        """``name@version``: how runs and the registry refer to this version."""
        return f"{self.dataset}@{self.id}"

    def column(self, name: str) -> ColumnSchema | None:
        return next((c for c in self.columns if c.name == name), None)


class Histogram(BaseModel):
    """``counts[i]`` values fall in ``[edges[i], edges[i+1])`` (the last bin is closed). Temporal columns
    use seconds since the epoch."""

    edges: list[float]
    counts: list[int]


class TopValue(BaseModel):
    """A frequent value and how many rows hold it."""

    value: Scalar
    count: int


class ColumnProfile(BaseModel):
    """Statistics of one column of a version."""

    name: str
    type: str
    kind: str = Field(description="numeric | temporal | string | boolean | other")
    count: int = Field(description="non-null values")
    nulls: int
    null_fraction: float
    distinct: int | None = None
    distinct_approx: bool = False
    min: Scalar = None
    max: Scalar = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, Scalar] = Field(default_factory=dict, description="p01 … p99")
    histogram: Histogram | None = None
    top_values: list[TopValue] = Field(default_factory=list)
    top_values_approx: bool = False


class Profile(BaseModel):
    """Per-column statistics of a version, stored with it."""

    dataset: str
    version: str
    row_count: int
    columns: list[ColumnProfile]
    sample_rows: int = Field(description="rows the quantiles were computed on (all rows when fewer)")
    computed_at: dt.datetime
    seconds: float = 0.0

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)


class FailingRow(BaseModel):
    """A row that fails a check: its 0-based index, the column and the value."""

    row: int = Field(description="0-based row index in the version")
    column: str | None = None
    value: Any = None


class CheckResult(BaseModel):
    """The outcome of one check: pass/fail, how many rows fail, a sample of them."""

    name: str
    type: str
    column: str | None = None
    passed: bool
    failing_count: int | None = Field(None, description="rows that fail (None for table-level checks)")
    observed: Any = None
    message: str = ""
    failing_rows: list[FailingRow] = Field(default_factory=list)


class ValidationResult(BaseModel):
    """A suite run on a version, as stored (``dataset.validated`` is emitted with it)."""

    id: str
    dataset: str
    version: str
    suite: str
    passed: bool
    row_count: int
    checks: list[CheckResult]
    created_by: str | None = None
    created_at: dt.datetime
    seconds: float = 0.0

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]


class TypeChange(BaseModel):
    """A column whose type differs between two versions."""

    column: str
    base_type: str
    other_type: str


class ValueShare(BaseModel):
    """A value's share of rows in each version."""

    value: Scalar
    base_share: float
    other_share: float
    change: float


class ColumnShift(BaseModel):
    """How one column's distribution moved from ``base`` to ``other``."""

    column: str
    kind: str
    null_fraction_base: float
    null_fraction_other: float
    mean_base: float | None = None
    mean_other: float | None = None
    mean_change: float | None = None
    std_base: float | None = None
    std_other: float | None = None
    std_change: float | None = None
    ks: float | None = Field(None, description="two-sample Kolmogorov–Smirnov statistic")
    ks_pvalue: float | None = None
    psi: float | None = Field(None, description="population stability index")
    top_values: list[ValueShare] = Field(default_factory=list)


class DatasetDiff(BaseModel):
    """What changed between two versions: schema, row count, distributions."""

    dataset: str
    base: str
    other: str
    row_count_base: int
    row_count_other: int
    row_count_change: int
    added: list[ColumnSchema]
    removed: list[ColumnSchema]
    retyped: list[TypeChange]
    shifts: list[ColumnShift]
    same_data: bool = Field(description="true when both versions hold identical bytes")
