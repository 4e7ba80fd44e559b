"""Data quality of live inputs against the reference (the training data's profile): per feature and
window, the share of nulls, of values outside the reference's range, of categories the reference never
had; and the features that are missing, extra or of another type than the reference's. Every count
is one Arrow compute kernel over the window's column (no per-row Python).

Each check is a result dict ``{"kind": "quality", "feature", "test", "value", "threshold", "status"}``
with status ``ok``, ``breach`` or ``insufficient_data`` (an empty window)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

MAX_CATEGORIES = 100_000  # a reference column with more distinct values is not checked for unseen ones


@dataclass
class ColumnRef:
    """What the reference says about one column."""

    name: str
    kind: str  # numeric | categorical | boolean | temporal | other
    type: str
    null_share: float = 0.0
    min: float | None = None
    max: float | None = None
    categories: pa.Array | None = field(default=None, repr=False)


def kind_of(t: pa.DataType) -> str:
    """The profile's kind of a column type (:func:`mainsail.data.profiles.kind_of`), strings and
    dictionaries being ``categorical``, an all-null column ``null``."""
    from mainsail.data.profiles import kind_of as profile_kind

    if pa.types.is_null(t):
        return "null"
    if pa.types.is_dictionary(t):
        return "categorical"
    kind = profile_kind(t)
    return "categorical" if kind == "string" else kind


def _finite(col: pa.ChunkedArray | pa.Array) -> Any:
    if pa.types.is_floating(col.type):
        return pc.is_finite(col)
    return None


def profile_reference(table: pa.Table, columns: list[str], profile: dict[str, Any] | None = None) -> dict[str, ColumnRef]:
    """Per column: kind, type, null share, range and categories. ``profile`` (a stored dataset profile,
    ``{"columns": [{"name", "min", "max", "null_fraction"}, …]}``) gives the range and null share without
    a scan; the categories come from the reference's values."""
    stored = {c["name"]: c for c in (profile or {}).get("columns", [])}
    out: dict[str, ColumnRef] = {}
    n = max(table.num_rows, 1)
    for name in columns:
        col = table[name]
        kind = kind_of(col.type)
        ref = ColumnRef(name, kind, str(col.type), null_share=col.null_count / n)
        p = stored.get(name)
        if kind == "numeric":
            if p is not None and isinstance(p.get("min"), int | float) and isinstance(p.get("max"), int | float):
                ref.min, ref.max = float(p["min"]), float(p["max"])
            else:
                fin = _finite(col)
                mm = pc.min_max(col.filter(fin) if fin is not None else col)
                lo, hi = mm["min"].as_py(), mm["max"].as_py()
                ref.min, ref.max = (None if lo is None else float(lo)), (None if hi is None else float(hi))
        elif kind == "categorical":
            values = pc.unique(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col).drop_null()
            if len(values) <= MAX_CATEGORIES:
                ref.categories = values.cast(pa.string())
        out[name] = ref
    return out


def _result(feature: str, test: str, value: float | None, threshold: float | None, status: str) -> dict[str, Any]:
    return {"kind": "quality", "feature": feature, "test": test, "value": value, "threshold": threshold,
            "status": status}


def check_window(reference: dict[str, ColumnRef], current: pa.Table, features: list[str], *,
                 max_null_share: float = 0.05, max_out_of_range: float = 0.01, max_unseen: float = 0.01) -> list[dict[str, Any]]:
    """The quality results of one window (``current``) for ``features`` against ``reference``.

    ``null_share`` breaches when the window's share of nulls exceeds the reference's by more than
    ``max_null_share``; ``out_of_range`` and ``unseen_categories`` when their share exceeds the threshold;
    ``missing`` (a feature the window lacks) and ``type`` (another kind of values than the reference's)
    always breach (extra columns are the caller's: it knows which columns are not features)."""
    out: list[dict[str, Any]] = []
    rows = current.num_rows
    present = set(current.column_names)
    for name in features:
        ref = reference.get(name)
        if rows == 0:
            tests = ["null_share"] + (["out_of_range"] if ref and ref.kind == "numeric" else
                                      ["unseen_categories"] if ref and ref.kind == "categorical" else [])
            out += [_result(name, test, None, None, "insufficient_data") for test in tests]
            continue
        if name not in present or (current[name].null_count == rows and pa.types.is_null(current[name].type)):
            out.append(_result(name, "missing", 1.0, 0.0, "breach"))
            continue
        if ref is None:
            continue
        col = current[name]
        kind = kind_of(col.type)
        if kind not in (ref.kind, "null") and not {kind, ref.kind} <= {"numeric", "boolean"}:
            out.append(_result(name, "type", 1.0, 0.0, "breach"))
            continue
        nulls = col.null_count
        fin = _finite(col)
        if fin is not None:
            nulls += int(pc.sum(pc.invert(pc.fill_null(fin, True))).as_py() or 0)  # NaN counts as missing
        share = nulls / rows
        limit = ref.null_share + max_null_share
        out.append(_result(name, "null_share", share, limit, "breach" if share > limit else "ok"))
        valid = rows - nulls
        if ref.kind == "numeric" and ref.min is not None and ref.max is not None:
            outside = pc.or_(pc.less(col, ref.min), pc.greater(col, ref.max))
            if fin is not None:
                outside = pc.and_(outside, fin)
            n_out = int(pc.sum(pc.cast(pc.fill_null(outside, False), pa.int64())).as_py() or 0)
            s = n_out / valid if valid else 0.0
            out.append(_result(name, "out_of_range", s, max_out_of_range, "breach" if s > max_out_of_range else "ok"))
        elif ref.kind == "categorical" and ref.categories is not None:
            seen = pc.is_in(col.cast(pa.string()), value_set=ref.categories)
            new = pc.and_(pc.invert(pc.fill_null(seen, True)), pc.is_valid(col))  # a null is no category
            n_new = int(pc.sum(pc.cast(new, pa.int64())).as_py() or 0)
            s = n_new / valid if valid else 0.0
            out.append(_result(name, "unseen_categories", s, max_unseen, "breach" if s > max_unseen else "ok"))
    return out
