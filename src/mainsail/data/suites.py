"""Validation suites: a named list of checks, declared in Python or YAML.

.. code-block:: yaml

    name: churn-basic
    checks:
      - {type: row_count, min: 1000}
      - {type: not_null, column: customer_id}
      - {type: unique, column: customer_id}
      - {type: range, column: age, min: 18, max: 100}
      - {type: allowed_values, column: plan, values: [basic, pro]}
      - {type: regex, column: customer_id, pattern: '^C[0-9]{6}$'}
      - {type: column_type, column: age, dtype: integer}
      - {type: freshness, column: event_timestamp, max_age: 30d}
      - {type: distribution, column: monthly_charges, reference: previous, metric: psi, threshold: 0.2}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from mainsail.core.errors import InvalidInput, describe_errors, pydantic_errors

Column = Annotated[str, Field(min_length=1, max_length=500)]
Value = bool | int | float | str
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
DURATION_PATTERN = r"^\s*([0-9]*[1-9][0-9]*(\.[0-9]+)?|[0-9]+\.[0-9]*[1-9][0-9]*)\s*(s|m|h|d|w)?\s*$"  # > 0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
DTYPE_FAMILIES = ("integer", "float", "numeric", "string", "boolean", "timestamp", "date", "temporal")


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200, description="label in results; defaults to type(column)")

    def label(self) -> str:
        """The check's name in results: ``name`` or ``type(column)``."""
        col = getattr(self, "column", None)
        return self.name or (f"{self.type}({col})" if col else self.type)  # type: ignore[attr-defined]


class RowCount(_Check):
    """The number of rows lies in ``[min, max]``."""

    type: Literal["row_count"] = "row_count"
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> RowCount:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class ColumnType(_Check):
    """The column exists and has this type: an Arrow type (``int64``, ``string``, ``timestamp[us]``) or a
    family (``integer``, ``float``, ``numeric``, ``string``, ``boolean``, ``timestamp``, ``date``)."""

    type: Literal["column_type"] = "column_type"
    column: Column
    dtype: str = Field(min_length=1, max_length=100)


class NotNull(_Check):
    """No nulls in the column."""
    type: Literal["not_null"] = "not_null"
    column: Column


class Unique(_Check):
    """No value occurs twice (nulls are ignored); failing_count is the number of extra occurrences."""

    type: Literal["unique"] = "unique"
    column: Column


class Range(_Check):
    """Non-null values lie in ``[min, max]`` (numbers, or ISO timestamps for temporal columns)."""

    type: Literal["range"] = "range"
    column: Column
    min: float | int | str | None = None
    max: float | int | str | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if (isinstance(self.min, int | float) and isinstance(self.max, int | float) and self.min > self.max):
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class AllowedValues(_Check):
    """Non-null values are among ``values``."""

    type: Literal["allowed_values"] = "allowed_values"
    column: Column
    values: list[Value] = Field(min_length=1, max_length=10_000)


class Regex(_Check):
    """Non-null values (as text) fully match ``pattern`` (RE2 syntax: no look-arounds)."""

    type: Literal["regex"] = "regex"
    column: Column
    pattern: str = Field(min_length=1, max_length=2000)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


class Freshness(_Check):
    """The newest value of a timestamp column is at most ``max_age`` old (``90s``, ``15m``, ``12h``, ``7d``,
    ``2w`` or seconds)."""

    type: Literal["freshness"] = "freshness"
    column: Column
    # The pattern is documented in the schema, but checked by ``parse_duration`` so that a bad value
    # gets "is not a duration" instead of pydantic's regex dump.
    max_age: Annotated[float, Field(gt=0)] | Annotated[str, WithJsonSchema({"type": "string",
                                                                            "pattern": DURATION_PATTERN})]

    @field_validator("max_age")
    @classmethod
    def _duration(cls, v: float | str) -> float:
        return parse_duration(v)


class Distribution(_Check):
    """The column's distribution is close to the same column in a reference version: KS statistic or PSI
    at most ``threshold``; with ``p_value`` set (KS on numeric columns), it also fails when the KS test's
    p-value is below it. ``reference`` is a version id or ``previous`` (the version before this one)."""

    type: Literal["distribution"] = "distribution"
    column: Column
    reference: str = Field("previous", pattern=r"^(previous|[0-9a-fA-F]{4,64})$")
    metric: Literal["ks", "psi"] = "psi"
    threshold: float = Field(0.2, gt=0)
    p_value: float | None = Field(None, gt=0, lt=1)


Check = Annotated[RowCount | ColumnType | NotNull | Unique | Range | AllowedValues | Regex | Freshness
                  | Distribution, Field(discriminator="type")]


class Suite(BaseModel):
    """A named list of checks run together against one dataset version."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=256)
    description: str | None = Field(None, max_length=10_000)
    checks: list[Check] = Field(min_length=1, max_length=1000)

    @classmethod
    def of(cls, name: str, *checks: Any) -> Suite:
        """A suite from checks: ``Suite.of("basic", not_null("id"), unique("id"))``."""
        return cls(name=name, checks=list(checks))

    @classmethod
    def from_dict(cls, data: Any, where: str = "suite") -> Suite:
        """Validate a mapping; errors name the check index and field (``checks.2.min``)."""
        if not isinstance(data, dict):
            raise InvalidInput(f"{where}: a suite must be a mapping with 'name' and 'checks'",
                               errors=[{"loc": [where], "msg": "must be a mapping with 'name' and 'checks'"}])
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            errors = pydantic_errors(exc)
            raise InvalidInput(f"{where}: {describe_errors(errors)}", code="invalid_suite",
                               errors=[{**e, "loc": [where, *e["loc"]]} for e in errors]) from None

    @classmethod
    def from_yaml(cls, text: str, where: str = "suite") -> Suite:
        """Parse YAML text; a syntax error names its line and column."""
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            pos = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
            problem = getattr(exc, "problem", None) or str(exc)
            raise InvalidInput(f"{where}: YAML syntax error at {pos}: {problem}", code="invalid_suite",
                               errors=[{"loc": [where, pos], "msg": str(problem)}]) from None
        return cls.from_dict(data, where)

    @classmethod
    def load(cls, path: str | Path) -> Suite:
        """Read a suite from a ``.yaml``/``.yml`` (or ``.json``) file."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise InvalidInput(f"cannot read suite file {str(p)!r}: {exc.strerror or exc}",
                               errors=[{"loc": ["suite"], "msg": f"cannot read {p}"}]) from None
        return cls.from_yaml(text, where=p.name)

    def to_yaml(self) -> str:
        """The suite as YAML, loadable by :meth:`from_yaml`."""
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)


def as_suite(suite: Suite | dict[str, Any] | str | Path) -> Suite:
    """A ``Suite`` from a Suite, a mapping, a path to a YAML file, or YAML text."""
    if isinstance(suite, Suite):
        return suite
    if isinstance(suite, dict):
        return Suite.from_dict(suite)
    if isinstance(suite, Path) or (isinstance(suite, str) and "\n" not in suite
                                   and suite.endswith((".yaml", ".yml", ".json"))):
        return Suite.load(suite)
    return Suite.from_yaml(str(suite))


def parse_duration(v: float | int | str) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"12h"``, ``"7d"`` or ``"2w"``."""
    if isinstance(v, bool):
        raise ValueError("a duration must be a number of seconds or text like '7d'")
    if isinstance(v, int | float):
        if v <= 0:
            raise ValueError("a duration must be positive")
        return float(v)
    m = _DURATION.match(v)
    if not m:
        raise ValueError(f"{v!r} is not a duration: use seconds or a number with s, m, h, d or w")
    secs = float(m.group(1)) * _UNITS[m.group(2)]
    if secs <= 0:
        raise ValueError("a duration must be positive")
    return secs


# ---- concise builders: Suite.of("basic", not_null("id"), unique("id"), in_range("age", 18, 100))

def row_count(min: int | None = None, max: int | None = None) -> RowCount:
    """Between ``min`` and ``max`` rows."""
    return RowCount(min=min, max=max)


def column_type(column: str, dtype: str) -> ColumnType:
    """The column has this type or type family."""
    return ColumnType(column=column, dtype=dtype)


def not_null(column: str) -> NotNull:
    """No nulls in the column."""
    return NotNull(column=column)


def unique(column: str) -> Unique:
    """No value occurs twice (nulls ignored)."""
    return Unique(column=column)


def in_range(column: str, min: Any = None, max: Any = None) -> Range:
    """Non-null values lie in ``[min, max]``."""
    return Range(column=column, min=min, max=max)


def allowed_values(column: str, values: list[Any]) -> AllowedValues:
    """Non-null values are among ``values``."""
    return AllowedValues(column=column, values=values)


def matches(column: str, pattern: str) -> Regex:
    """Non-null values fully match the regular expression."""
    return Regex(column=column, pattern=pattern)


def fresh(column: str, max_age: float | str) -> Freshness:
    """The newest value is at most ``max_age`` old."""
    return Freshness(column=column, max_age=max_age)


def distribution(column: str, reference: str = "previous", metric: str = "psi",
                 threshold: float = 0.2, p_value: float | None = None) -> Distribution:
    """The distribution is within ``threshold`` (KS or PSI) of a reference version's (and, with
    ``p_value``, the KS test's p-value is not below it)."""
    return Distribution(column=column, reference=reference, metric=metric, threshold=threshold,  # type: ignore[arg-type]
                        p_value=p_value)
