"""The difference between two versions of a dataset: schema changes, row counts, and per column how
the distribution moved (numeric and temporal: mean/std change, KS and PSI on repeatable samples;
string and boolean: share of each top value, and PSI over categories)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mainsail.data import stats
from mainsail.data.profiles import kind_of, num_expr, numeric_values, sample
from mainsail.data.storage import connect
from mainsail.data.validation import category_shares

TOP_SHARES = 10
ID_LIKE_MIN = 100


def compute(base_path: str, other_path: str, base_types: dict[str, pa.DataType],
            other_types: dict[str, pa.DataType], base_rows: int, other_rows: int,
            base_profile: dict[str, Any] | None, other_profile: dict[str, Any] | None) -> dict[str, Any]:
    """The diff body (without the dataset/version names)."""
    added = [{"name": n, "type": str(t)} for n, t in other_types.items() if n not in base_types]
    removed = [{"name": n, "type": str(t)} for n, t in base_types.items() if n not in other_types]
    retyped = [{"column": n, "base_type": str(t), "other_type": str(other_types[n])}
               for n, t in base_types.items() if n in other_types and other_types[n] != t]
    bprof = {c["name"]: c for c in (base_profile or {}).get("columns", [])}
    oprof = {c["name"]: c for c in (other_profile or {}).get("columns", [])}
    shifts = []
    con = connect()
    try:
        for name, bt in base_types.items():
            if name not in other_types:
                continue
            bk, ok = kind_of(bt), kind_of(other_types[name])
            bp, op = bprof.get(name, {}), oprof.get(name, {})
            shift: dict[str, Any] = {
                "column": name, "kind": ok if bk == ok else f"{bk}->{ok}",
                "null_fraction_base": bp.get("null_fraction", 0.0), "null_fraction_other": op.get("null_fraction", 0.0),
            }
            numeric = {"numeric", "temporal"}
            if bk in numeric and ok in numeric:
                for stat in ("mean", "std"):
                    shift[f"{stat}_base"], shift[f"{stat}_other"] = bp.get(stat), op.get(stat)
                    shift[f"{stat}_change"] = stats.change(bp.get(stat), op.get(stat))
                b = numeric_values(sample(con, base_path, {"v": num_expr(name, bk)}, base_rows)["v"])
                o = numeric_values(sample(con, other_path, {"v": num_expr(name, ok)}, other_rows)["v"])
                shift["ks"], shift["ks_pvalue"] = stats.ks(b, o)
                shift["psi"] = stats.psi_numeric(b, o)
            elif bk in ("string", "boolean") and ok in ("string", "boolean") and not _id_like(bp, op):
                b_sh = category_shares(con, base_path, name, base_rows)
                o_sh = category_shares(con, other_path, name, other_rows)
                shift["psi"] = stats.psi_categorical(b_sh, o_sh)
                shift["top_values"] = _top_changes(b_sh, o_sh)
            shifts.append(shift)
    finally:
        con.close()
    return {"row_count_base": base_rows, "row_count_other": other_rows, "row_count_change": other_rows - base_rows,
            "added": added, "removed": removed, "retyped": retyped, "shifts": shifts}


def _id_like(bp: dict[str, Any], op: dict[str, Any]) -> bool:
    """Whether a string column is mostly unique values (an identifier): no category shares then."""
    return all((p.get("distinct") or 0) > ID_LIKE_MIN and (p.get("distinct") or 0) >= 0.9 * (p.get("count") or 0)
               for p in (bp, op))


def _top_changes(base: dict[Any, float], other: dict[Any, float]) -> list[dict[str, Any]]:
    """The values most common on either side, largest change in share first."""
    keys = [k for k in dict.fromkeys([*list(base)[:TOP_SHARES], *list(other)[:TOP_SHARES]]) if k != "<other>"]
    rows = [{"value": k, "base_share": base.get(k, 0.0), "other_share": other.get(k, 0.0),
             "change": other.get(k, 0.0) - base.get(k, 0.0)} for k in keys]
    rows.sort(key=lambda r: (-abs(r["change"]), str(r["value"])))
    return rows[:TOP_SHARES]
