"""Connectors: open a source as a stream of Arrow record batches, on the client side of an ingest.

Sources: a CSV, Parquet or JSON-lines file (local path, ``file://`` or ``s3://``; compressed CSV/JSON by
extension), a folder of Parquet files, a SQL query over any SQLAlchemy URL, a pandas DataFrame or an
Arrow table / record batch / reader. Files are read in blocks (CSV) or row groups (Parquet), so an
ingest holds a few batches in memory, not the whole source. Every failure names where: the CSV line,
the SQL position, the column and both types.
"""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from mainsail.core.errors import InvalidInput, MainsailError, NotFound
from mainsail.data.canonical import apply_schema, from_pandas, parse_type

Progress = Callable[[int, "int | None"], None]  # (done, total) in bytes or rows
FORMATS = ("csv", "parquet", "jsonl")
_EXT = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
        ".parq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
_COMPRESSED = (".gz", ".bz2", ".zst", ".lz4")
_SQL_SCHEMES = re.compile(r"^(postgres(ql)?|sqlite|mysql|mariadb|mssql|oracle|duckdb|snowflake|redshift|"
                          r"bigquery|trino|clickhouse|cockroachdb)(\+\w+)?://", re.IGNORECASE)
BATCH_ROWS = 65_536
CSV_BLOCK = 4 << 20


@dataclass
class Stream:
    """An open source: its Arrow schema, an iterator of record batches (read lazily), and a description
    of where the data came from (recorded with the version)."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    info: dict[str, Any] = field(default_factory=dict)
    rows: int | None = None  # known up front for in-memory tables and Parquet

    def read_all(self) -> pa.Table:
        """Every batch as one table (for small sources and tests)."""
        return pa.Table.from_batches(list(self.batches), schema=self.schema)


def _bad(msg: str, loc: list[Any], code: str = "invalid_source") -> InvalidInput:
    return InvalidInput(msg, code=code, errors=[{"loc": loc, "msg": msg}])


def is_sql_url(source: str) -> bool:
    """Whether ``source`` is a SQLAlchemy database URL (``postgresql://…``, ``sqlite:///…``, …)."""
    return bool(_SQL_SCHEMES.match(source))


def detect_format(path: str, format: str | None) -> str:
    """``csv``, ``parquet`` or ``jsonl``: ``format`` if given, else from the path's extension."""
    if format:
        fmt = {"json": "jsonl", "ndjson": "jsonl", "tsv": "csv", "pq": "parquet"}.get(format.lower(), format.lower())
        if fmt not in FORMATS:
            raise _bad(f"unknown format {format!r}: use csv, parquet or jsonl", ["format"])
        return fmt
    name = path.lower().rstrip("/")
    for ext in _COMPRESSED:
        name = name.removesuffix(ext)
    fmt = _EXT.get(os.path.splitext(name)[1])
    if fmt is None:
        raise _bad(f"cannot tell the format of {path!r} from its extension: pass format='csv', "
                   "'parquet' or 'jsonl'", ["format"])
    return fmt


def open_source(source: Any, *, format: str | None = None, query: str | None = None,
                schema: dict[str, str] | None = None, progress: Progress | None = None,
                delimiter: str | None = None) -> Stream:
    """Open ``source`` as a :class:`Stream`; ``schema`` (``{"age": "int64"}``) casts the named columns of
    every batch, and a cast that fails names the column and both types."""
    stream = _open_source(source, format=format, query=query, schema=schema, progress=progress,
                          delimiter=delimiter)
    if not schema:
        return stream
    target = apply_schema(stream.schema.empty_table(), schema).schema
    if target == stream.schema:  # the reader applied the types already (CSV)
        return stream
    return Stream(target, _cast(stream.batches, schema, target), stream.info, stream.rows)


SECRET_PREFIX = "secret:"


def open_secret_source(source: Any, resolve: Callable[[str], str], **kwargs: Any) -> Stream:
    """:func:`open_source`, where a ``secret:NAME`` source is the named secret's value (a database URL with
    its password, an ``s3://`` URL with a token): it is opened, but only ``secret:NAME`` is recorded as
    where the data came from, and any error carries ``secret:NAME`` in place of the value."""
    if not (isinstance(source, str) and source.startswith(SECRET_PREFIX)):
        return open_source(source, **kwargs)
    value = resolve(source[len(SECRET_PREFIX):])
    try:
        stream = open_source(value, **kwargs)
    except MainsailError as exc:
        scrub = lambda text: str(text).replace(value, source).replace(_redact(value), source)  # noqa: E731
        exc.detail = scrub(exc.detail)
        exc.args = (exc.detail,)
        exc.errors = [{**e, "msg": scrub(e.get("msg", ""))} for e in exc.errors]
        raise
    except Exception as exc:  # a driver's own error may quote the URL
        raise _bad(f"cannot open {source}: {type(exc).__name__}", ["source"]) from None
    if "uri" in stream.info or "path" in stream.info:
        stream.info = {**stream.info, **{k: source for k in ("uri", "path") if k in stream.info}}
    return stream


def _cast(batches: Iterator[pa.RecordBatch], schema: dict[str, str], target: pa.Schema) -> Iterator[pa.RecordBatch]:
    for b in batches:
        yield from apply_schema(pa.Table.from_batches([b]), schema).cast(target).to_batches()


def read(source: Any, **kwargs: Any) -> tuple[pa.Table, dict[str, Any]]:
    """``source`` read whole into an Arrow table, with its description (see :func:`open_source`)."""
    stream = open_source(source, **kwargs)
    return stream.read_all(), stream.info


def _in_memory(table: pa.Table, kind: str) -> Stream:
    return Stream(table.schema, iter(table.to_batches()), {"kind": kind}, table.num_rows)


def _open_source(source: Any, *, format: str | None, query: str | None, schema: dict[str, str] | None,
                 progress: Progress | None, delimiter: str | None) -> Stream:
    if isinstance(source, pa.Table):
        return _in_memory(source, "arrow")
    if isinstance(source, pa.RecordBatch):
        return _in_memory(pa.Table.from_batches([source]), "arrow")
    if isinstance(source, pa.RecordBatchReader):
        return Stream(source.schema, iter(source), {"kind": "arrow"})
    if type(source).__module__.startswith("pandas") and hasattr(source, "columns"):
        return _in_memory(from_pandas(source), "pandas")
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        raise _bad(f"cannot ingest a {type(source).__name__}: give a path, an s3:// URL, a SQLAlchemy URL "
                   "with a query, a pandas DataFrame or an Arrow table", ["source"])
    if query is not None or is_sql_url(source):
        if not query:
            raise _bad("a SQL source needs a query", ["query"])
        table = read_sql(source, query, progress)
        return Stream(table.schema, iter(table.to_batches()),
                      {"kind": "sql", "uri": _redact(source), "query": query[:4000]}, table.num_rows)
    return open_file(source, format=format, schema=schema, progress=progress, delimiter=delimiter)


def _redact(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def prefetch(batches: Iterator[pa.RecordBatch], depth: int = 3) -> Iterator[pa.RecordBatch]:
    """``batches`` read ahead by a background thread, so reading (decoding, decompressing) overlaps with
    whatever the caller does with each batch. Errors are raised in the caller, in order."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for b in batches:
                while not stop.is_set():
                    try:
                        q.put(("batch", b), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(("error", exc))

    thread = threading.Thread(target=produce, name="mainsail-read", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)
        close = getattr(batches, "close", None)
        if close is not None:
            close()


# ------------------------------------------------------------------------------------------ files

def _open(path: str) -> tuple[IO[bytes], int | None, str]:
    import fsspec

    opts: dict[str, Any] = {}
    if path.startswith(("s3://", "s3a://")):
        endpoint = os.environ.get("MAINSAIL_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
        opts = {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}
    try:
        fs, fpath = fsspec.core.url_to_fs(path, **opts)
        size = fs.size(fpath)
        return fs.open(fpath, "rb"), size, fpath
    except FileNotFoundError:
        raise NotFound(f"source {path!r} not found", code="source_not_found") from None
    except (OSError, ValueError, ImportError) as exc:
        raise _bad(f"cannot open {path!r}: {exc}", ["source"]) from None


class _Counting(io.RawIOBase):
    """Reports bytes read through it to a progress callback."""

    def __init__(self, fh: IO[bytes], total: int | None, progress: Progress | None):
        self.fh, self.total, self.progress, self.done = fh, total, progress, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.fh.read(len(b))
        n = len(data)
        b[:n] = data
        self.done += n
        if self.progress:
            self.progress(self.done, self.total)
        return n


def open_file(path: str, *, format: str | None = None, schema: dict[str, str] | None = None,
              progress: Progress | None = None, delimiter: str | None = None) -> Stream:
    """Open a local or remote file (or a local folder of Parquet files) as a stream of batches."""
    local = path.removeprefix("file://")
    if "://" not in local and os.path.isdir(local):
        return _parquet_dir(local, progress)
    fmt = detect_format(path, format)
    uri = path if "://" in path else str(Path(path).resolve())
    fh, size, _ = _open(path)
    try:
        if fmt == "parquet":
            stream = _parquet(fh, path, progress)
        elif fmt == "csv":
            stream = _csv(fh, size, path, schema, delimiter, progress)
        else:
            with fh:
                stream = _jsonl(_decompressed(path, _Counting(fh, size, progress)), path)
    except BaseException:
        fh.close()
        raise
    stream.info = {"kind": fmt, "uri": uri}
    return stream


def _closing(fh: IO[bytes], batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    with fh:
        yield from batches


def _decompressed(path: str, raw: IO[bytes]) -> IO[bytes]:
    name = path.lower()
    buffered = io.BufferedReader(raw, 1 << 20)  # type: ignore[arg-type]
    if name.endswith(".gz"):
        import gzip

        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    if name.endswith(".bz2"):
        import bz2

        return bz2.BZ2File(buffered)  # type: ignore[return-value]
    if name.endswith((".zst", ".lz4")):
        codec = "zstd" if name.endswith(".zst") else "lz4"
        return pa.CompressedInputStream(pa.PythonFile(buffered, mode="r"), codec)  # type: ignore[return-value]
    return buffered  # type: ignore[return-value]


def _parquet(fh: IO[bytes], path: str, progress: Progress | None) -> Stream:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(fh)
        schema, total = pf.schema_arrow, pf.metadata.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise _bad(f"{path}: not a readable Parquet file: {exc}", ["source"], "invalid_parquet") from None

    def batches() -> Iterator[pa.RecordBatch]:
        done = 0
        for i in range(pf.num_row_groups):
            try:
                part = pf.read_row_group(i, use_threads=True)
            except (pa.ArrowInvalid, OSError) as exc:
                raise _bad(f"{path}: row group {i} is not readable: {exc}", ["source", f"row group {i}"],
                           "invalid_parquet") from None
            yield from part.to_batches()
            done += part.num_rows
            if progress:
                progress(done, total)

    return Stream(schema, _closing(fh, batches()), rows=total)


def _parquet_dir(path: str, progress: Progress | None) -> Stream:
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(path, format="parquet")
        total = dataset.count_rows()
    except (pa.ArrowInvalid, OSError) as exc:
        raise _bad(f"{path}: not a folder of readable Parquet files: {exc}", ["source"], "invalid_parquet") from None

    def batches() -> Iterator[pa.RecordBatch]:
        done = 0
        try:
            for b in dataset.to_batches(batch_size=BATCH_ROWS):
                done += b.num_rows
                yield b
                if progress:
                    progress(done, total)
        except (pa.ArrowInvalid, OSError) as exc:
            raise _bad(f"{path}: not a folder of readable Parquet files: {exc}", ["source"],
                       "invalid_parquet") from None

    return Stream(dataset.schema, batches(), {"kind": "parquet", "uri": str(Path(path).resolve())}, total)


def _csv(fh: IO[bytes], size: int | None, path: str, schema: dict[str, str] | None, delimiter: str | None,
         progress: Progress | None) -> Stream:
    import pyarrow.csv as pcsv

    delim = delimiter or ("\t" if path.lower().split(".gz")[0].endswith(".tsv") else ",")
    types = {k: parse_type(v, k) for k, v in (schema or {}).items()}
    raw: pa.NativeFile | None = None
    if os.path.isfile(path):
        # A local file is read by pyarrow natively: a Python file object would be called back from
        # pyarrow's read-ahead thread, and such a callback during interpreter exit aborts the process.
        fh.close()
        raw = pa.OSFile(path)
        codec = _codec(path)
        stream: Any = pa.CompressedInputStream(raw, codec) if codec else raw
        closer: Any = stream
    else:
        stream = _decompressed(path, _Counting(fh, size, progress))
        closer = fh
    try:
        reader = pcsv.open_csv(stream, read_options=pcsv.ReadOptions(block_size=CSV_BLOCK),
                               parse_options=pcsv.ParseOptions(delimiter=delim),
                               convert_options=pcsv.ConvertOptions(column_types=types))
    except pa.ArrowInvalid as exc:
        closer.close()
        raise _csv_error(path, str(exc), delim) from None

    def batches() -> Iterator[pa.RecordBatch]:
        checked = False  # the whole file is scanned for an unclosed quote at most once
        try:
            for batch in reader:
                if raw is not None and progress:
                    progress(raw.tell(), size)
                if not checked and _swallowed(batch):
                    checked = True
                    line = _unterminated_quote(path, delim)
                    if line is not None:
                        raise _quote_error(path, line)
                yield batch
        except pa.ArrowInvalid as exc:
            raise _csv_error(path, str(exc), delim) from None

    return Stream(reader.schema, _closing(closer, batches()))


def _swallowed(batch: pa.RecordBatch) -> bool:
    """Whether the batch's last row holds a line break in a text value: what pyarrow yields when a quote
    is never closed (the field runs to the end of the block). A legitimate quoted multi-line value looks
    the same, so this only decides whether to check the file with :func:`_unterminated_quote`."""
    if not batch.num_rows:
        return False
    last = batch.slice(batch.num_rows - 1, 1)
    for col in last.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            value = col[0].as_py()
            if value and ("\n" in value or "\r" in value):
                return True
    return False


def _quote_error(path: str, line: int) -> InvalidInput:
    msg = "a quoted field opened on this line is never closed (unterminated quote)"
    return InvalidInput(f"{path}, line {line}: malformed CSV: {msg}", code="invalid_csv",
                        errors=[{"loc": ["source", f"line {line}"], "msg": msg}])


def _unterminated_quote(path: str, delim: str) -> int | None:
    """The line where a quoted field that is never closed starts, or None if every quote is closed."""
    fh, _, _ = _open(path)
    with fh:
        text = io.TextIOWrapper(_decompressed(path, fh), encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text, delimiter=delim, strict=True)
        start = 1
        try:
            for _ in reader:
                start = reader.line_num + 1
        except csv.Error:
            return start
    return None


def _codec(path: str) -> str | None:
    name = path.lower()
    for ext, codec in ((".gz", "gzip"), (".bz2", "bz2"), (".zst", "zstd"), (".lz4", "lz4")):
        if name.endswith(ext):
            return codec
    return None


def _csv_error(path: str, message: str, delim: str) -> InvalidInput:
    """Find the line a pyarrow CSV error is about (pyarrow does not say) and name it."""
    message = message.strip()
    where: tuple[int, int | None, str | None] | None = None
    try:
        if "out of sync with chunker" in message or "Expected" in message:  # a quote that runs on?
            line = _unterminated_quote(path, delim)
            if line is not None:
                return _quote_error(path, line)
        where = _find_bad_line(path, message, delim)
    except Exception:  # noqa: BLE001 - locating the line is best effort; the message still stands
        where = None
    if where is None:
        return _bad(f"{path}: malformed CSV: {message}", ["source"], "invalid_csv")
    line, col, name = where
    loc: list[Any] = ["source", f"line {line}"] + ([f"column {col + 1}"] if col is not None else [])
    at = f", column {col + 1} ({name!r})" if col is not None else ""
    msg = f"{path}, line {line}{at}: malformed CSV: {message}"
    return InvalidInput(msg, code="invalid_csv", errors=[{"loc": loc, "msg": message}])


def _find_bad_line(path: str, message: str, delim: str) -> tuple[int, int | None, str | None] | None:
    fh, _, _ = _open(path)
    with fh:
        text = io.TextIOWrapper(_decompressed(path, fh), encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text, delimiter=delim)
        header = next(reader, None)
        if header is None:
            return None
        conv = re.search(r"column #(\d+): CSV conversion error to (\S+): invalid value '(.*)'$", message, re.S)
        if conv:
            col, value = int(conv.group(1)), conv.group(3)
            for row in reader:
                if col < len(row) and row[col] == value:
                    return reader.line_num, col, header[col] if col < len(header) else None
            return None
        for row in reader:
            if row and len(row) != len(header):
                return reader.line_num, None, None
    return None


def _jsonl(stream: IO[bytes], path: str) -> Stream:
    """JSON lines are read whole: pyarrow infers one schema over all lines (a streaming reader would
    fix the types from the first block and reject a later line that widens them)."""
    import pyarrow.json as pjson

    data = stream.read()
    try:
        table = pjson.read_json(io.BytesIO(data))
    except pa.ArrowInvalid as exc:
        line = None
        for i, raw in enumerate(data.splitlines(), 1):
            if raw.strip():
                try:
                    if not isinstance(json.loads(raw), dict):
                        line = i
                        break
                except ValueError:
                    line = i
                    break
        msg = f"{path}" + (f", line {line}" if line else "") + f": malformed JSON lines: {exc}"
        loc: list[Any] = ["source"] + ([f"line {line}"] if line else [])
        raise InvalidInput(msg, code="invalid_json", errors=[{"loc": loc, "msg": str(exc)}]) from None
    return Stream(table.schema, iter(table.to_batches()), rows=table.num_rows)


# ------------------------------------------------------------------------------------------ SQL

def read_sql(url: str, query: str, progress: Progress | None = None) -> pa.Table:
    """Run ``query`` on the database at ``url``; a SQL error names its position in the query. Rows are
    fetched in batches and turned into Arrow columns batch by batch (a column whose type differs
    between batches is widened, or becomes text)."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

    try:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1)
                               if url.startswith("postgresql://") else url)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        raise _bad(f"cannot use database URL {_redact(url)!r}: {exc}", ["source"]) from None
    dbapi_error: Any = getattr(engine.dialect.dbapi, "Error", None) or Exception
    parts: list[pa.Table] = []
    try:
        with engine.connect() as conn:
            # the raw DB-API cursor, without parameters: '%' and ':name' in the query stay literal SQL
            cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cur.execute(query)
            except dbapi_error as exc:
                raise _sql_error(query, exc) from None
            if cur.description is None:
                raise _bad("the query returns no rows (use a SELECT)", ["query"], "invalid_query")
            names = [d[0] for d in cur.description]
            done = 0
            while rows := cur.fetchmany(BATCH_ROWS):
                cols = list(zip(*rows, strict=True))
                parts.append(pa.table({n: _column(list(v)) for n, v in zip(names, cols, strict=True)}))
                done += len(rows)
                if progress:
                    progress(done, None)
            cur.close()
    except DBAPIError as exc:
        raise _bad(f"cannot query {_redact(url)}: {str(exc.orig or exc).strip()}", ["source"]) from None
    except SQLAlchemyError as exc:
        raise _bad(f"cannot query {_redact(url)}: {exc}", ["source"]) from None
    finally:
        engine.dispose()
    if not parts:
        return pa.table({n: pa.array([], pa.null()) for n in names})
    return _concat(parts)


def _column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        return pa.array([None if v is None else json.dumps(v, default=str) if isinstance(v, dict | list)
                         else str(v) for v in values], pa.string())


def _concat(parts: list[pa.Table]) -> pa.Table:
    try:
        return pa.concat_tables(parts, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    schema = parts[0].schema
    for name in schema.names:  # types no promotion reconciles: the column as text
        if len({p.schema.field(name).type for p in parts} - {pa.null()}) > 1:
            parts = [p.set_column(p.schema.get_field_index(name), name, p.column(name).cast(pa.string()))
                     for p in parts]
    return pa.concat_tables(parts, promote_options="permissive")


def _sql_error(query: str, orig: BaseException) -> InvalidInput:
    diag = getattr(orig, "diag", None)
    text = (getattr(diag, "message_primary", None) or str(orig)).strip().splitlines()[0]
    pos: int | None = None
    if diag is not None and getattr(diag, "statement_position", None):
        pos = int(diag.statement_position)  # 1-based character offset (PostgreSQL)
    else:
        m = re.search(r'near "([^"]+)"', str(orig))  # SQLite names the token, not the offset
        if m and m.group(1) in query:
            pos = query.index(m.group(1)) + 1
    if pos is None:
        return InvalidInput(f"SQL error: {text}", code="sql_error", errors=[{"loc": ["query"], "msg": text}])
    line = query.count("\n", 0, pos - 1) + 1
    column = pos - (query.rfind("\n", 0, pos - 1) + 1)
    snippet = query.splitlines()[line - 1] if query.splitlines() else query
    msg = f"SQL error at position {pos} (line {line}, column {column}): {text}\n  {snippet}\n  {' ' * (column - 1)}^"
    return InvalidInput(msg, code="sql_error", errors=[{"loc": ["query", f"position {pos}"], "msg": text}])
