"""``mainsail.datasets``: the data layer over the default client (``MAINSAIL_URI``).

    import mainsail
    v = mainsail.datasets.ingest("customers.csv", "customers")
    df = mainsail.datasets.load("customers", columns=["age"], where="age > 60")
    result = mainsail.datasets.validate("customers", "suite.yaml")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mainsail.data.schemas import Dataset, DatasetDiff, DatasetVersion, Profile, ValidationResult
from mainsail.data.suites import (
    AllowedValues,
    ColumnType,
    Distribution,
    Freshness,
    NotNull,
    Range,
    Regex,
    RowCount,
    Suite,
    Unique,
    allowed_values,
    column_type,
    distribution,
    fresh,
    in_range,
    matches,
    not_null,
    row_count,
    unique,
)

__all__ = [
    "AllowedValues", "ColumnType", "Dataset", "DatasetDiff", "DatasetVersion", "Distribution", "Freshness",
    "NotNull", "Profile", "Range", "Regex", "RowCount", "Suite", "Unique", "ValidationResult", "allowed_values",
    "column_type", "diff", "distribution", "fresh", "get", "in_range", "ingest", "list", "load", "matches",
    "not_null", "profile", "row_count", "unique", "validate", "version", "versions",
]


def _client() -> Any:
    from mainsail.client.fluent import get_client

    return get_client()


def ingest(source: Any, name: str, **kwargs: Any) -> DatasetVersion:
    """Load ``source`` as a version of dataset ``name`` (see ``Client.ingest_dataset``)."""
    return _client().ingest_dataset(source, name, **kwargs)


def get(name: str) -> Dataset:
    """The dataset ``name``, with its version count and latest version."""
    return _client().get_dataset(name)


def list() -> list[Dataset]:  # noqa: A001 - reads as mainsail.datasets.list()
    return [*_client().iter_datasets()]


def versions(name: str, limit: int = 100) -> list[DatasetVersion]:
    """Every dataset, by name."""
    """Versions of ``name``, newest first."""
    return _client().list_dataset_versions(name, limit=limit).items


def version(ref: str, version: str | None = None) -> DatasetVersion:
    """A version by ``"name@version"`` (or name and version; default latest)."""
    return _client().get_dataset_version(ref, version)


def load(ref: str, version: str | None = None, **kwargs: Any) -> Any:
    """A version as pandas (``as_="arrow"`` or ``"duckdb"`` for the others); ``columns``, ``where``, ``limit``."""
    return _client().load_dataset(ref, version, **kwargs)


def profile(ref: str, version: str | None = None, refresh: bool = False) -> Profile:
    """The profile of ``name[@version]`` (computed and stored on first use)."""
    return _client().profile_dataset(ref, version, refresh=refresh)


def validate(ref: str, suite: Suite | dict[str, Any] | str | Path, version: str | None = None) -> ValidationResult:
    """Run a suite (a Suite, mapping, YAML text or file) on ``name[@version]``; the result is stored."""
    return _client().validate_dataset(ref, suite, version)


def diff(name: str, base: str, other: str) -> DatasetDiff:
    """Schema, row count and per-column distribution changes from ``base`` to ``other``."""
    return _client().diff_dataset_versions(name, base, other)
