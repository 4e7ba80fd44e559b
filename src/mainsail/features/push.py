"""Validating pushed rows against a view's schema and turning them into an Arrow table (the offline
append) and online-store rows. Every bad cell is reported as ``["body", "rows", i, column]``; a push
with any bad cell writes nothing."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pyarrow as pa

from mainsail.core.errors import InvalidInput
from mainsail.features.definitions import nearest
from mainsail.features.offline import arrow_type
from mainsail.features.online import Row, encode_key
from mainsail.features.schemas import Entity, FeatureView

_EPOCH = dt.datetime(1970, 1, 1)
_US = dt.timedelta(microseconds=1)
_INT_RANGE = {"int64": (-(2**63), 2**63 - 1), "int32": (-(2**31), 2**31 - 1)}


def _timestamp(v: Any) -> dt.datetime:
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    if not isinstance(v, dt.datetime):
        if hasattr(v, "to_pydatetime"):  # pandas.Timestamp
            v = v.to_pydatetime()
        else:
            raise TypeError("expected a datetime or an ISO 8601 string")
    return v.astimezone(dt.UTC).replace(tzinfo=None) if v.tzinfo else v


def convert(value: Any, t: str) -> Any:
    """``value`` as type ``t`` (``None`` stays ``None``); ``TypeError``/``ValueError`` says why not."""
    if value is None:
        return None
    if t in _INT_RANGE:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() or hasattr(value, "item") and not isinstance(value.item(), (bool, float)):
                value = int(value)
            else:
                raise TypeError(f"expected an integer ({t}), got {type(value).__name__} {value!r:.60}")
        lo, hi = _INT_RANGE[t]
        if not lo <= value <= hi:
            raise ValueError(f"{value} is out of range for {t}")
        return value
    if t in ("float64", "float32"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if hasattr(value, "item") and isinstance(value.item(), (int, float)) and not isinstance(value.item(), bool):
                return float(value)
            raise TypeError(f"expected a number ({t}), got {type(value).__name__} {value!r:.60}")
        return float(value)
    if t == "string":
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__} {value!r:.60}")
        return value
    if t == "bool":
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {type(value).__name__} {value!r:.60}")
        return value
    return _timestamp(value)


def validate(view: FeatureView, entities: list[Entity], rows: list[dict[str, Any]]
             ) -> tuple[pa.Table, list[Row]]:
    """Check every row; return the Arrow table to append offline and the rows to write online."""
    keys = [(str(e.join_key), e.type) for e in entities]
    ftypes = view.feature_types
    schema = [*keys, (view.timestamp_field, "timestamp"), *ftypes.items()]
    known = {c for c, _ in schema}
    columns: dict[str, list[Any]] = {c: [] for c, _ in schema}
    errors: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        for col in row:
            if col not in known:
                errors.append({"loc": ["body", "rows", i, col],
                               "msg": f"unknown column{nearest(col, known)}"})
        for col, t in schema:
            value = row.get(col)
            required = col == view.timestamp_field or any(col == k for k, _ in keys)
            if value is None or (isinstance(value, float) and math.isnan(value) and t.startswith("float")):
                if required:
                    errors.append({"loc": ["body", "rows", i, col], "msg": "required: a join key or the event time"})
                columns[col].append(None)
                continue
            try:
                columns[col].append(convert(value, t))
            except (TypeError, ValueError) as exc:
                errors.append({"loc": ["body", "rows", i, col], "msg": str(exc)})
                columns[col].append(None)
        if len(errors) >= 50:
            break
    if errors:
        first = errors[0]
        raise InvalidInput(f"push to {view.name!r}: row {first['loc'][2]}, column {first['loc'][3]!r}: {first['msg']}"
                           f"{f' (and {len(errors) - 1} more)' if len(errors) > 1 else ''}; nothing was written",
                           code="invalid_rows", errors=errors)
    table = pa.table({c: pa.array(columns[c], type=arrow_type(t)) for c, t in schema})
    ktypes = [t for _, t in keys]
    ts_us = [(ts - _EPOCH) // _US for ts in columns[view.timestamp_field]]
    online: list[Row] = []
    for i in range(len(rows)):
        key = encode_key([columns[k][i] for k, _ in keys], ktypes)
        online.append((key, ts_us[i], {f: _json(columns[f][i]) for f in ftypes}))
    return table, online


def _json(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.datetime) else v
