"""The small filter language of MLflow's experiment, registered-model and model-version searches:
comparisons (``=``, ``!=``, ``LIKE``, ``ILIKE``) of attributes and ``tags.<key>``, joined by ``AND``.
(Run searches use Mainsail's own filter language, a superset of MLflow's.)"""

from __future__ import annotations

import re
from typing import Any

from mainsail.mlflow_compat.dispatch import invalid
from mainsail.mlflow_compat.names import NAME_TAG, mlflow_name


def like(pattern: str, text: str, case: bool) -> bool:
    """SQL LIKE (``%`` and ``_``), case-sensitive or not."""
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, 0 if case else re.I | re.S) is not None


_CLAUSE = re.compile(r"^\s*(?:attributes?\.)?(?:(tags?)\.(?:`([^`]+)`|\"([^\"]+)\"|([\w.\-/:]+))|(\w+))\s*"
                     r"(=|!=|LIKE|ILIKE)\s*(?:'((?:[^']|'')*)'|(\d+))\s*$", re.I)


def parse_filter(text: str | None, allowed: set[str]) -> list[tuple[str, str, str]]:
    """``a = 'x' AND tags.`k` != 'y'`` as [(field, op, value)]; a tag field is ``tag:<key>``, other fields
    are limited to ``allowed``."""
    if not text or not text.strip():
        return []
    out = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.I):
        m = _CLAUSE.match(part)
        field = f"tag:{m.group(2) or m.group(3) or m.group(4)}" if m and m.group(1) else (m and m.group(5).lower())
        if not m or not (field.startswith("tag:") or field in allowed):
            raise invalid(f"Unsupported filter {text!r}: Mainsail answers comparisons (=, !=, LIKE, ILIKE) of "
                          f"{', '.join(sorted(allowed))} and tags.<key>, joined by AND")
        value = m.group(7).replace("''", "'") if m.group(7) is not None else m.group(8)
        out.append((field, m.group(6).upper(), value))
    return out


def matches(op: str, value: str, actual: str | None, absent_differs: bool = True) -> bool:
    """Whether ``actual <op> value``. An absent tag (``actual`` None) equals nothing; whether it counts as
    different follows MLflow's stores: not for experiments (``absent_differs=False``), yes for registered
    models and versions (MLflow's client filters them with ``tags.`mlflow.prompt.is_prompt` != 'true'``)."""
    if actual is None:
        return op == "!=" and absent_differs
    return {"=": actual == value, "!=": actual != value, "LIKE": like(value, actual, True),
            "ILIKE": like(value, actual, False)}[op]


def field_of(obj: Any, field: str) -> str | None:
    """A field of an experiment or a registered model as MLflow sees it (``name`` is the MLflow name)."""
    if field.startswith("tag:"):
        return None if field[4:] == NAME_TAG else obj.tags.get(field[4:])
    return mlflow_name(obj) if field == "name" else str(getattr(obj, field))
