"""The canonical Parquet form of a dataset version, and so its content address.

A table is normalised (string/binary views and large variants become ``string``/``binary``,
dictionaries are decoded, schema and field metadata are dropped, a pandas index is kept only if it
carries information) and written with fixed settings: row groups of 131,072 rows, snappy, format 2.6,
statistics on, dictionary encoding for string, binary, boolean and integer columns with no dictionary
size fallback (fallback depends on how the input was chunked), plain encoding for the rest. With those
settings the bytes depend only on the rows, their order and the schema — not on how the table was
chunked in memory — so the SHA-256 of the file is a digest of the data, and the version id is its
first 16 hex characters. The writer's version (pyarrow's ``created_by``) is part of the bytes: a
pyarrow upgrade that changes the encoding can give identical data a new version id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mainsail.core.errors import InvalidInput

ROW_GROUP_ROWS = 131_072
MARKER = b"mainsail.parquet"
MARKER_VALUE = b"1"
_SIMPLE: dict[str, pa.DataType] = {
    "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(), "int": pa.int64(),
    "integer": pa.int64(), "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(),
    "uint64": pa.uint64(), "float32": pa.float32(), "float": pa.float64(), "float64": pa.float64(),
    "double": pa.float64(), "string": pa.string(), "str": pa.string(), "utf8": pa.string(),
    "bool": pa.bool_(), "boolean": pa.bool_(), "date": pa.date32(), "date32": pa.date32(),
    "date32[day]": pa.date32(), "timestamp": pa.timestamp("us"), "datetime": pa.timestamp("us"),
    "binary": pa.binary(),
}
_TS = re.compile(r"^timestamp\[(s|ms|us|ns)(?:,\s*tz=([^\]]+))?\]$")
_DEC = re.compile(r"^decimal(?:128)?\((\d+),\s*(\d+)\)$")


def parse_type(text: str, column: str = "?") -> pa.DataType:
    """An Arrow type from its name: ``int64``, ``float64``, ``string``, ``bool``, ``date``,
    ``timestamp[us]``, ``timestamp[ns, tz=UTC]``, ``decimal(10, 2)``…"""
    t = text.strip().lower()
    if t in _SIMPLE:
        return _SIMPLE[t]
    if m := _TS.match(t):
        tz = re.search(r"tz=([^\]]+)\]", text, re.IGNORECASE)
        return pa.timestamp(m.group(1), tz=tz.group(1).strip() if tz else None)
    if m := _DEC.match(t):
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    msg = (f"unknown type {text!r}: use int64, float64, string, bool, date, timestamp[us], "
           "timestamp[ns, tz=UTC], decimal(p, s), …")
    raise InvalidInput(f"column {column!r}: {msg}", code="invalid_schema", errors=[{"loc": ["schema", column],
                                                                                    "msg": msg}])


def _canonical_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(t):
        return _canonical_type(t.value_type)
    if pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t):
        return pa.string()
    if pa.types.is_large_binary(t) or getattr(pa.types, "is_binary_view", lambda _: False)(t):
        return pa.binary()
    return t


def from_pandas(df: Any) -> pa.Table:
    """An Arrow table from a DataFrame; a non-default index becomes columns, a RangeIndex is dropped."""
    import pandas as pd

    if not isinstance(df.index, pd.RangeIndex) or df.index.name is not None:
        df = df.reset_index()
    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        col = re.search(r"column (\S+)", str(exc))
        name = col.group(1) if col else "?"
        raise InvalidInput(f"cannot convert the DataFrame to Arrow: {exc}", code="invalid_data",
                           errors=[{"loc": ["data", name], "msg": str(exc)}]) from None


def _check_names(names: list[Any]) -> None:
    if not names:
        raise InvalidInput("the data has no columns", code="invalid_data",
                           errors=[{"loc": ["data"], "msg": "no columns"}])
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"column #{i} has an empty name", code="invalid_data",
                               errors=[{"loc": ["data", i], "msg": "empty column name"}])
        if name in seen:
            raise InvalidInput(f"column {name!r} appears twice", code="invalid_data",
                               errors=[{"loc": ["data", name], "msg": "duplicate column name"}])
        seen.add(name)


def canonical_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` normalised for hashing: unique string column names, canonical types, no metadata."""
    _check_names(schema.names)
    fields = [pa.field(f.name, _canonical_type(f.type)) for f in schema]  # all nullable: same data, same bytes
    return pa.schema(fields, metadata={MARKER: MARKER_VALUE})


def canonical_table(table: pa.Table) -> pa.Table:
    """``table`` normalised for hashing: unique string column names, canonical types, no metadata."""
    target = canonical_schema(table.schema)
    columns = [col if col.type == f.type else col.cast(f.type) for f, col in zip(target, table.columns, strict=True)]
    return pa.Table.from_arrays(columns, schema=target)


def apply_schema(table: pa.Table, schema: dict[str, str] | None) -> pa.Table:
    """Cast the named columns to the declared types; a missing column or a failed cast is an error
    naming the column and both types."""
    if not schema:
        return table
    for name, text in schema.items():
        want = parse_type(text, name)
        if name not in table.column_names:
            raise InvalidInput(f"schema: column {name!r} is not in the data (columns: "
                               f"{', '.join(table.column_names[:20])})", code="schema_mismatch",
                               errors=[{"loc": ["schema", name], "msg": "column not in the data"}])
        i = table.column_names.index(name)
        have = table.schema.field(i).type
        if have == want:
            continue
        try:
            table = table.set_column(i, pa.field(name, want), table.column(i).cast(want))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            msg = f"column {name!r} is {_canonical_type(have)} in the data but the schema declares {want}: {exc}"
            raise InvalidInput(msg, code="schema_mismatch",
                               errors=[{"loc": ["schema", name], "msg": msg}]) from None
    return table


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_binary(f.type)
            or pa.types.is_boolean(f.type) or pa.types.is_integer(f.type)]


def _writer_options(schema: pa.Schema) -> dict[str, Any]:
    return {"compression": "snappy", "version": "2.6", "use_dictionary": _dictionary_columns(schema),
            "dictionary_pagesize_limit": 1 << 40, "write_statistics": True, "data_page_version": "1.0",
            "store_schema": True, "write_page_index": False}


def write_batches(schema: pa.Schema, batches: Iterable[pa.RecordBatch], path: str | Path,
                  on_rows: Callable[[int], None] | None = None) -> tuple[pa.Schema, int]:
    """Write a stream of batches deterministically to ``path``, one row group of exactly
    ``ROW_GROUP_ROWS`` rows at a time (contiguous arrays, so neither the batch sizes nor the chunking
    shows in the bytes). Holds at most one row group plus one batch in memory. Returns the canonical
    schema and the number of rows."""
    target = canonical_schema(schema)
    rows = 0
    with pq.ParquetWriter(str(path), target, **_writer_options(target)) as writer:
        pending: list[pa.RecordBatch] = []
        held = 0

        def flush(n: int) -> None:
            nonlocal pending, held, rows
            table = pa.Table.from_batches(pending, schema=target)
            writer.write_table(table.slice(0, n).combine_chunks(), row_group_size=ROW_GROUP_ROWS)
            rest = table.slice(n)
            pending, held, rows = rest.to_batches(), rest.num_rows, rows + n
            if on_rows:
                on_rows(rows)

        for batch in batches:
            if batch.num_rows == 0:
                continue
            if batch.schema != target:
                batch = _conform(batch, target)
            pending.append(batch)
            held += batch.num_rows
            while held >= ROW_GROUP_ROWS:
                flush(ROW_GROUP_ROWS)
        if held:
            flush(held)
    return target, rows


def _conform(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    if batch.schema.names != target.names:
        raise InvalidInput(f"a batch has columns {batch.schema.names[:20]}, expected {target.names[:20]}",
                           code="schema_mismatch", errors=[{"loc": ["data"], "msg": "columns changed mid-stream"}])
    arrays = []
    for f, col in zip(target, batch.columns, strict=True):
        if col.type != f.type:
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                msg = f"column {f.name!r} is {col.type} in a later part of the data but {f.type} before: {exc}"
                raise InvalidInput(msg, code="schema_mismatch",
                                   errors=[{"loc": ["data", f.name], "msg": msg}]) from None
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, schema=target)


def write_parquet(table: pa.Table, path: str | Path) -> Path:
    """Write ``table`` (canonicalised first) deterministically to ``path``."""
    write_batches(table.schema, table.to_batches(), path)
    return Path(path)


def is_canonical(path: str | Path) -> bool:
    """Whether a Parquet file was written by :func:`write_parquet` (carries our marker)."""
    meta = pq.read_metadata(str(path)).metadata or {}
    return meta.get(MARKER) == MARKER_VALUE


def columns_of(schema: pa.Schema) -> list[dict[str, Any]]:
    """The ``columns`` list recorded with a version."""
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]
