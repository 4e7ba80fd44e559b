"""Inference logs, written off the request path: the request path appends one tuple to a deque (the
parsed input and the predictions as they are, no JSON encoding); a background thread turns what has
gathered into a Parquet file every few seconds (or sooner when many rows wait) and hands it to a sink
(the artifact store, indexed by the serving service).

A file holds one row per predicted record, in typed columns (format 2):

- ``request_id``, ``row`` (the record's index in its request), ``time``, ``deployment``, ``variant``,
  ``model``, ``version``, ``latency_ms``, ``shadow``, ``status``;
- one column per input feature, named as the feature and typed as the model signature says (a feature
  whose name is one of the columns above or below is stored as ``input_<name>``);
- ``prediction``, and ``proba_<class>`` for classifiers (computed here, in one batch per flush, off the
  request path);
- ``inputs`` / ``outputs``: JSON text, only for what is not tabular (tensor models, multi-output
  predictions, error messages).

Files written before format 2 (one row per request, inputs and outputs as JSON text) stay readable:
:mod:`mainsail.monitoring.logs` flattens them when it reads them."""

from __future__ import annotations

import collections
import datetime as dt
import io
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from mainsail.core.background import Periodic

log = logging.getLogger(__name__)

FORMAT_KEY = b"mainsail.inference_log"
FORMAT = b"2"
META = pa.schema([
    ("request_id", pa.string()), ("row", pa.int32()), ("time", pa.timestamp("us", tz="UTC")),
    ("deployment", pa.string()), ("variant", pa.string()), ("model", pa.string()), ("version", pa.int32()),
    ("latency_ms", pa.float64()), ("shadow", pa.bool_()), ("status", pa.int16()),
])
RAW = pa.schema([("inputs", pa.string()), ("outputs", pa.string())])
#: the columns of files written before format 2 (one row per request, JSON text)
LEGACY_SCHEMA = pa.schema([f for f in META if f.name != "row"] + list(RAW))
RESERVED = frozenset(META.names) | frozenset(RAW.names) | {"prediction"}
Sink = Callable[[bytes, int, dt.datetime, dt.datetime], None]


def feature_column(name: str) -> str:
    """The log column of input feature ``name``."""
    return f"input_{name}" if name in RESERVED or name.startswith("proba_") else name


def arrow_type(signature_type: str) -> pa.DataType:
    """The Arrow type of a signature column type (``float64``, ``int64``, ``bool``, ``string``, …)."""
    if signature_type in ("string", "category", "object"):
        return pa.string()
    if signature_type == "datetime":
        return pa.timestamp("us", tz="UTC")
    try:
        return pa.from_numpy_dtype(np.dtype(signature_type))
    except TypeError:
        return pa.string()


@dataclass(frozen=True)
class LogSpec:
    """How one variant's requests are logged: its signature's columns, and its probabilities."""

    columns: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    proba: Callable[[Any], Any] | None = None
    classes: tuple[str, ...] | None = None

    @classmethod
    def of(cls, model: Any, columns: Sequence[str], types: Sequence[str]) -> LogSpec:
        """From a loaded model (a ``PyFuncModel``) and its input signature's columns."""
        proba = None
        classes = None
        try:
            proba = model.predict_proba
            raw = getattr(model, "raw", None)
            if raw is not None and getattr(raw, "classes_", None) is not None:
                classes = tuple(str(c) for c in raw.classes_)
        except AttributeError:
            pass
        return cls(tuple(columns), tuple(types), proba, classes)


NO_SPEC = LogSpec()


class InferenceLogger:
    """Buffers log rows and flushes them as Parquet. ``log`` costs one deque append."""

    def __init__(self, deployment: str, sink: Sink, *, interval: float = 2.0, max_rows: int = 20_000,
                 max_buffer: int = 1_000_000, proba: bool = True):
        self.deployment = deployment
        self.sink = sink
        self.interval = interval
        self.max_rows = max_rows
        self.max_buffer = max_buffer
        self.proba = proba
        self.dropped = 0
        self.written = 0
        self._rows: collections.deque[tuple[Any, ...]] = collections.deque()
        self._lock = threading.Lock()
        # on a sink failure the rows stay buffered and the next round retries
        self._loop = Periodic("mainsail-inference-log", self._drain, interval, "writing inference logs")

    def log(self, request_id: str, time: float, variant: str, model: str, version: int, latency_ms: float,
            shadow: bool, status: int, inputs: Any, outputs: Any, spec: LogSpec = NO_SPEC) -> None:
        """Record one request (``time`` in seconds since the epoch). ``inputs``: the model input (a float
        matrix in the signature's column order, records, a dict of columns) or anything else (logged as
        JSON); ``outputs``: the predictions, or an error message."""
        self._rows.append((request_id, time, variant, model, version, latency_ms, shadow, status, inputs, outputs,
                           spec))
        if len(self._rows) >= self.max_rows:
            self._loop.wake()

    def flush(self) -> int:
        """Write what has gathered now; returns the number of requests written. On a sink failure the
        rows go back to the buffer (the oldest are dropped beyond ``max_buffer``)."""
        with self._lock:
            rows = []
            while self._rows and len(rows) < self.max_rows * 5:
                rows.append(self._rows.popleft())
            if not rows:
                return 0
            table = build_table(self.deployment, rows, proba=self.proba)
            buf = io.BytesIO()
            pq.write_table(table, buf, compression="zstd")
            times = [r[1] for r in rows]
            first = dt.datetime.fromtimestamp(min(times), dt.UTC)
            last = dt.datetime.fromtimestamp(max(times), dt.UTC)
            try:
                self.sink(buf.getvalue(), table.num_rows, first, last)
            except Exception:
                self._rows.extendleft(reversed(rows))
                while len(self._rows) > self.max_buffer:
                    self._rows.popleft()
                    self.dropped += 1
                raise
            self.written += len(rows)
            return len(rows)

    def _drain(self) -> None:
        while self.flush() >= self.max_rows:
            pass

    def start(self) -> InferenceLogger:
        self._loop.start()
        return self

    def close(self) -> None:
        self._loop.stop()
        try:
            while self.flush():
                pass
        except Exception:  # noqa: BLE001
            log.exception("final inference log flush failed; %d rows lost", len(self._rows))


# ---------------------------------------------------------------- building a file

def _records_of(inputs: Any, spec: LogSpec) -> int | None:
    """How many records a request's input holds, or None when it is not tabular for ``spec``."""
    if not spec.columns:
        return None
    if isinstance(inputs, np.ndarray):
        return int(inputs.shape[0]) if inputs.ndim == 2 and inputs.shape[1] == len(spec.columns) else None
    if isinstance(inputs, list) and inputs and all(isinstance(r, dict) for r in inputs):
        return len(inputs)
    if isinstance(inputs, dict) and inputs and all(isinstance(v, list) for v in inputs.values()):
        return len(next(iter(inputs.values())))
    return None


def _scalar_preds(outputs: Any, n: int) -> Any:
    """The predictions as a 1-D sequence of ``n`` scalars, or None (errors, multi-output)."""
    if isinstance(outputs, np.ndarray):
        return outputs if outputs.ndim == 1 and outputs.shape[0] == n else None
    if isinstance(outputs, list) and len(outputs) == n and not any(isinstance(v, list | dict) for v in outputs):
        return outputs
    return None


def _json(v: Any) -> str:
    return v if isinstance(v, str) else orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _typed(values: Any, kind: str) -> pa.Array:
    """``values`` (a numpy column or a Python list) as the signature type ``kind`` says; what does not
    convert is kept as the type Arrow infers (a quality check reports the mismatch)."""
    target = arrow_type(kind)
    if isinstance(values, np.ndarray):
        if pa.types.is_integer(target) and not np.isfinite(values).all():
            return pa.array(values)  # missing values in an integer column stay float (NaN)
        values = values.astype(target.to_pandas_dtype(), copy=False) if not pa.types.is_string(target) else \
            values.astype(str)
        return pa.array(values, target)
    try:
        return pa.array(values, target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array([None if v is None else _json(v) for v in values], pa.string())


def _proba_columns(spec: LogSpec, inputs: Any, n: int) -> dict[str, pa.Array]:
    if spec.proba is None or n == 0:
        return {}
    try:
        p = np.asarray(spec.proba(inputs), dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - probabilities are a bonus; never lose the log
        log.warning("logging class probabilities failed: %s: %s", type(exc).__name__, exc)
        return {}
    if p.ndim != 2 or p.shape[0] != n:
        return {}
    classes = spec.classes if spec.classes and len(spec.classes) == p.shape[1] else tuple(map(str, range(p.shape[1])))
    return {f"proba_{c}": pa.array(p[:, j]) for j, c in enumerate(classes)}


def _group_table(rows: list[tuple[Any, ...]], counts: list[int], spec: LogSpec, proba: bool) -> pa.Table:
    """One table for requests of one spec whose inputs are tabular (one row per record)."""
    names = [feature_column(c) for c in spec.columns]
    matrices = [r[8] for r in rows if isinstance(r[8], np.ndarray)]
    if len(matrices) == len(rows):  # the fast path: float matrices in signature order
        x = np.concatenate(matrices) if len(matrices) > 1 else matrices[0]
        cols = {name: _typed(x[:, j], t) for j, (name, t) in enumerate(zip(names, spec.types, strict=True))}
        model_input: Any = x
    else:
        lists: dict[str, list[Any]] = {c: [] for c in spec.columns}
        for r in rows:
            data = r[8]
            if isinstance(data, np.ndarray):
                for j, c in enumerate(spec.columns):
                    lists[c].extend(data[:, j].tolist())
            elif isinstance(data, dict):
                k = len(next(iter(data.values())))
                for c in spec.columns:
                    lists[c].extend(data.get(c) or [None] * k)
            else:
                for c in spec.columns:
                    lists[c].extend([rec.get(c) for rec in data])
        cols = {name: _typed(lists[c], t) for name, c, t in zip(names, spec.columns, spec.types, strict=True)}
        model_input = {c: lists[c] for c in spec.columns}
    total = sum(counts)
    preds: list[Any] = []
    raw_out: list[str | None] = []
    all_scalar = True
    for r, n in zip(rows, counts, strict=True):
        p = _scalar_preds(r[9], n)
        if p is None:
            all_scalar = False
            preds.extend([None] * n)
            raw_out.extend([_json(r[9])] + [None] * (n - 1))
        else:
            preds.extend(p.tolist() if isinstance(p, np.ndarray) else p)
            raw_out.extend([None] * n)
    cols["prediction"] = pa.array(preds) if preds else pa.array([], pa.float64())
    if pa.types.is_null(cols["prediction"].type):
        cols["prediction"] = cols["prediction"].cast(pa.float64())
    if proba and all_scalar and all(r[7] == 200 for r in rows):
        cols.update(_proba_columns(spec, model_input, total))
    cols["outputs"] = pa.array(raw_out, pa.string())
    return pa.table(cols)


def build_table(deployment: str, rows: list[tuple[Any, ...]], *, proba: bool = True) -> pa.Table:
    """The Parquet table of a batch of logged requests (see the module doc)."""
    groups: dict[int, tuple[LogSpec, list[int]]] = {}
    counts: list[int] = []
    raw: list[int] = []
    for i, r in enumerate(rows):
        n = _records_of(r[8], r[10])
        counts.append(n or 1)
        if n is None:
            raw.append(i)
        else:
            groups.setdefault(id(r[10]), (r[10], []))[1].append(i)
    parts: list[tuple[list[int], pa.Table]] = []
    for spec, idx in groups.values():
        parts.append((idx, _group_table([rows[i] for i in idx], [counts[i] for i in idx], spec, proba)))
    if raw:
        parts.append((raw, pa.table({
            "prediction": pa.nulls(len(raw), pa.float64()),
            "inputs": pa.array([_json(rows[i][8]) for i in raw], pa.string()),
            "outputs": pa.array([_json(rows[i][9]) for i in raw], pa.string())})))
    order = [i for idx, _ in parts for i in idx]
    n = [counts[i] for i in order]
    take = np.repeat(np.arange(len(order)), n)
    starts = np.repeat(np.cumsum([0, *n[:-1]]), n)
    meta_cols = list(zip(*(rows[i][:8] for i in order), strict=True))
    times = [int(t * 1_000_000) for t in meta_cols[1]]
    meta = pa.table([pa.array(meta_cols[0], pa.string()), pa.array(np.zeros(len(order)), pa.int32()),
                     pa.array(times, META.field("time").type), pa.array([deployment] * len(order), pa.string()),
                     *(pa.array(c, META.field(j + 4).type) for j, c in enumerate(meta_cols[2:]))],
                    schema=META).take(pa.array(take))
    meta = meta.set_column(1, "row", pa.array(np.arange(len(take)) - starts, pa.int32()))
    body = pa.concat_tables([t for _, t in parts], promote_options="permissive") if len(parts) > 1 else parts[0][1]
    columns = {name: meta.column(name) for name in META.names}
    for name in body.column_names:
        columns[name] = body.column(name)
    for f in RAW:
        if f.name not in columns:
            columns[f.name] = pa.nulls(meta.num_rows, f.type)
    table = pa.table(columns)
    return table.replace_schema_metadata({FORMAT_KEY: FORMAT})
