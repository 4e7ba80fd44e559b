"""Where a version's Parquet lives and how it is read: projection, row filter and limit pushed down to
the Parquet scan (DuckDB over a local file, or DuckDB over a pyarrow dataset on the store's fsspec
filesystem), so reading three columns of ten million rows reads three columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from mainsail.core.artifacts import ArtifactStore
from mainsail.core.errors import InvalidInput

OUTPUTS = ("pandas", "arrow", "duckdb")


def quote(name: str) -> str:
    """A DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_str(value: str) -> str:
    """A DuckDB string literal."""
    return "'" + value.replace("'", "''") + "'"


def local_path(store: ArtifactStore, digest: str) -> str | None:
    """The object's local path when the store is a local folder, else None."""
    if getattr(store, "_local", False):
        return store.path(digest)
    return None


def cached_file(store: ArtifactStore, digest: str, cache_dir: Path) -> str:
    """A local copy of the object: the store's own file for a local store, else a verified download
    into ``cache_dir/<digest>.parquet`` (kept for the next read)."""
    path = local_path(store, digest)
    if path is not None:
        return path
    dest = cache_dir / f"{digest}.parquet"
    if not dest.is_file():
        store.get_file(digest, dest, name=f"dataset object {digest[:16]}")
    return str(dest)


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection (all cores unless ``threads``)."""
    con = duckdb.connect(config={"threads": threads} if threads else {})
    return con


def scan_sql(path: str, row_numbers: bool = False) -> str:
    """``read_parquet(...)`` of a local file, optionally with the 0-based ``file_row_number``."""
    return f"read_parquet({sql_str(path)}{', file_row_number=true' if row_numbers else ''})"


def check_selection(available: list[str], columns: list[str] | None, limit: int | None = None) -> None:
    """``InvalidInput`` for an empty column list, a column not in ``available`` or a negative limit."""
    if limit is not None and limit < 0:
        raise InvalidInput("limit must be >= 0", errors=[{"loc": ["limit"], "msg": "must be >= 0"}])
    if columns is None:
        return
    if not columns:
        raise InvalidInput("columns: give at least one column (or None for all)",
                           errors=[{"loc": ["columns"], "msg": "empty list"}])
    missing = [c for c in columns if c not in available]
    if missing:
        raise InvalidInput(f"column {missing[0]!r} is not in the dataset (columns: {', '.join(available[:30])})",
                           code="unknown_column", errors=[{"loc": ["columns", c], "msg": "no such column"}
                                                          for c in missing])


def relation(con: duckdb.DuckDBPyConnection, source: str | Any, available: list[str],
             columns: list[str] | None = None, where: str | None = None,
             limit: int | None = None) -> duckdb.DuckDBPyRelation:
    """A DuckDB relation over a local Parquet path or a pyarrow dataset, with the projection, filter
    and limit in the query so the scan pushes them down."""
    check_selection(available, columns, limit)
    base = con.sql(f"SELECT * FROM {scan_sql(source)}") if isinstance(source, str) else con.from_arrow(source)
    cols = ", ".join(quote(c) for c in columns) if columns else "*"
    sql = f"SELECT {cols} FROM base"
    if where:
        sql += f" WHERE {where}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    try:
        return base.query("base", sql)
    except duckdb.Error as exc:
        msg = str(exc).strip().splitlines()[0]
        raise InvalidInput(f"where: {msg}", code="invalid_filter", errors=[{"loc": ["where"], "msg": msg}]) from None


def read_table(source: str | Any, available: list[str], columns: list[str] | None = None,
               where: str | None = None, limit: int | None = None) -> pa.Table:
    """An Arrow table; without a filter, pyarrow reads the columns directly (exact types kept)."""
    if where is None:
        check_selection(available, columns, limit)
        if isinstance(source, str):
            import pyarrow.parquet as pq

            if limit is None:
                return pq.read_table(source, columns=columns, use_threads=True)
            return _head(pq.ParquetFile(source), columns, limit)
        scanner = source.scanner(columns=columns)
        return scanner.head(limit) if limit is not None else scanner.to_table()
    from mainsail.core.sandbox import duckdb_sandbox

    con = duckdb_sandbox([source] if isinstance(source, str) else [])  # ``where`` is user SQL: this file only
    try:
        return to_arrow(relation(con, source, available, columns, where, limit))
    finally:
        con.close()


def _head(pf: Any, columns: list[str] | None, limit: int) -> pa.Table:
    batches, n = [], 0
    if limit > 0:
        for batch in pf.iter_batches(batch_size=min(limit, 65_536), columns=columns):
            batches.append(batch.slice(0, limit - n))
            n += batches[-1].num_rows
            if n >= limit:
                break
    schema = pf.schema_arrow if columns is None else pa.schema([pf.schema_arrow.field(c) for c in columns])
    return pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()


def to_arrow(rel: duckdb.DuckDBPyRelation) -> pa.Table:
    """A relation's result as one Arrow table (across DuckDB versions' method names)."""
    fetch = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table
    out = fetch()
    return out.read_all() if isinstance(out, pa.RecordBatchReader) else out


def fs_dataset(store: ArtifactStore, digest: str) -> Any:
    """A pyarrow dataset over the object on the store's (remote) filesystem: reads only what is asked."""
    import pyarrow.dataset as ds
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    return ds.dataset(store.path(digest), filesystem=PyFileSystem(FSSpecHandler(store.fs)), format="parquet")

