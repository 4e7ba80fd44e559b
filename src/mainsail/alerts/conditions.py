"""Alert rule language: selectors over a result's labels and conditions over its values.

A condition is one or more comparisons joined by ``and`` / ``or`` (``and`` binds tighter), e.g.
``value > 0.2``, ``status == drift``, ``value > threshold and estimated == false``. The left side is a
result field; the right side is a number, ``true``/``false``, a quoted or bare word, or another field."""

from __future__ import annotations

import fnmatch
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

FIELDS = ("value", "threshold", "status", "estimated", "kind", "feature", "test", "variant", "metric",
          "monitor", "deployment", "dataset")
SELECTOR_KEYS = ("monitor", "deployment", "dataset", "kind", "feature", "test", "variant", "metric")
OPS: dict[str, Callable[[Any, Any], bool]] = {">=": operator.ge, "<=": operator.le, "==": operator.eq,
                                              "!=": operator.ne, ">": operator.gt, "<": operator.lt}
_TOKEN = re.compile(r"\s*(?:(>=|<=|==|!=|>|<)|('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|([^\s<>=!'\"]+))")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str
    literal: Any
    other_field: str | None = None  # right side names a field (``value > threshold``)

    def holds(self, sample: Mapping[str, Any]) -> bool:
        left = sample.get(self.field)
        right = sample.get(self.other_field) if self.other_field else self.literal
        if left is None or right is None:
            return (left == right) if self.op == "==" else (left != right) if self.op == "!=" else False
        if isinstance(left, bool) or isinstance(right, bool):
            left, right = _as_bool(left), _as_bool(right)
            if left is None or right is None:
                return False
        elif isinstance(left, int | float) or isinstance(right, int | float):
            try:
                left, right = float(left), float(right)
            except (TypeError, ValueError):
                return False
            if math.isnan(left) or math.isnan(right):
                return False
        else:
            left, right = str(left), str(right)
        try:
            return bool(OPS[self.op](left, right))
        except TypeError:
            return False


def _as_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return None


@dataclass(frozen=True)
class Condition:
    """``any(all(c for c in group) for group in groups)``: an ``or`` of ``and`` groups."""

    text: str
    groups: tuple[tuple[Comparison, ...], ...]

    def holds(self, sample: Mapping[str, Any]) -> bool:
        return any(all(c.holds(sample) for c in group) for group in self.groups)


def parse_condition(text: str) -> Condition:
    """Parse a condition; ``ValueError`` says what is wrong and where."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    if not text:
        raise ValueError("a condition is required, e.g. 'value > 0.2' or 'status == drift'")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unexpected {text[pos:pos + 10]!r} at character {pos + 1}")
        op, quoted, word = m.groups()
        tokens.append(("op", op) if op else ("str", quoted[1:-1]) if quoted else ("word", word))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    groups: list[tuple[Comparison, ...]] = []
    current: list[Comparison] = []
    i = 0
    while True:
        if i + 3 > len(tokens):
            raise ValueError(f"incomplete comparison at the end of {text!r}: expected FIELD OP VALUE, "
                             "e.g. 'value > 0.2'")
        (k1, field), (k2, op), (k3, lit) = tokens[i:i + 3]
        if k1 != "word" or field not in FIELDS:
            raise ValueError(f"unknown field {field!r} (known: {', '.join(FIELDS)})")
        if k2 != "op":
            raise ValueError(f"expected a comparison (>, >=, <, <=, ==, !=) after {field!r}, got {op!r}")
        if k3 == "op":
            raise ValueError(f"expected a value after {field} {op}")
        current.append(_comparison(field, op, lit, k3 == "str"))
        i += 3
        if i == len(tokens):
            break
        kind, joiner = tokens[i]
        if kind != "word" or joiner.lower() not in ("and", "or"):
            raise ValueError(f"expected 'and' or 'or' after {field} {op} {lit}, got {joiner!r}")
        if joiner.lower() == "or":
            groups.append(tuple(current))
            current = []
        i += 1
    groups.append(tuple(current))
    return Condition(text, tuple(groups))


def _comparison(field: str, op: str, lit: str, quoted: bool) -> Comparison:
    if quoted:
        return Comparison(field, op, lit)
    if lit in FIELDS:
        return Comparison(field, op, None, other_field=lit)
    if lit.lower() in ("true", "false"):
        return Comparison(field, op, lit.lower() == "true")
    try:
        number = float(lit)
    except ValueError:
        return Comparison(field, op, lit)
    if math.isnan(number):
        raise ValueError(f"{lit!r} is not a usable number")
    return Comparison(field, op, number)


def selector_matches(selector: Mapping[str, Any], sample: Mapping[str, Any]) -> bool:
    """Every key of ``selector`` matches the sample's label (a glob: ``*``, ``?``, ``[…]``); a
    selector value ``null`` matches a result without that label."""
    for key, pattern in selector.items():
        value = sample.get(key)
        if pattern is None:
            continue
        if value is None or not fnmatch.fnmatchcase(str(value), str(pattern)):
            return False
    return True


def parse_duration(v: float | int | str | None) -> float:
    """Seconds from ``0``, ``90``, ``"90s"``, ``"15m"``, ``"1h"``, ``"1d"``; ``ValueError`` otherwise."""
    if v is None:
        return 0.0
    if isinstance(v, bool):
        raise ValueError("a duration is a number of seconds or text like '5m'")
    if isinstance(v, int | float):
        seconds = float(v)
    else:
        m = _DURATION.match(v)
        if not m:
            raise ValueError(f"{v!r} is not a duration: use seconds or a number with ms, s, m, h, d or w")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if not math.isfinite(seconds) or seconds < 0 or seconds > 366 * 86400:
        raise ValueError("a duration must be between 0 and 366 days")
    return seconds
