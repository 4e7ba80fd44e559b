"""Batch inference: score a Parquet path or a dataset version with a model or a deployment's primary,
in chunks, on a local process pool (each worker loads the verified package once), writing Parquet in
input order; optionally stored as a new dataset version."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mainsail.core.errors import InvalidInput

Progress = Callable[[int, int], None]
_model: Any = None


@dataclass
class BatchResult:
    output: str
    rows: int
    chunks: int
    model: str
    version: int
    dataset_version: str | None = None


def _init_worker(folder: str, manifest_sha256: str | None) -> None:
    global _model
    from mainsail.registry.packaging import load_package

    _model = load_package(folder, manifest_sha256=manifest_sha256)


def _score(frame: Any, column: str, proba: bool) -> Any:
    assert _model is not None
    pred = np.asarray(_model.predict(frame))
    out = frame.copy()
    if pred.ndim == 1:
        out[column] = pred
    else:
        for j in range(pred.shape[1]):
            out[f"{column}_{j}"] = pred[:, j]
    if proba and hasattr(_model, "predict_proba"):
        p = np.asarray(_model.predict_proba(frame))
        out[f"{column}_proba"] = p[:, -1] if p.ndim == 2 else p
    return out


def _resolve_model(client: Any, model: str) -> Any:
    """A model version from ``models:/…`` or from a deployment name (its heaviest primary variant)."""
    if model.startswith("models:/"):
        return client.resolve_model(model)
    d = client.get_deployment(model)
    primary = max((v for v in d.variants if v.role == "primary" and v.version is not None), key=lambda v: v.weight,
                  default=None)
    if primary is None:
        raise InvalidInput(f"deployment {model!r} has no resolvable primary variant",
                           errors=[{"loc": ["model"], "msg": "no primary model"}])
    return client.get_model_version(primary.model_name, primary.version)


def _source_path(client: Any, source: str) -> str:
    if source.startswith("dataset:"):
        if not hasattr(client, "dataset_path"):
            raise InvalidInput("dataset sources need the data layer (mainsail.data)",
                               errors=[{"loc": ["source"], "msg": "datasets unavailable"}])
        ref = source.removeprefix("dataset:")
        path = client.dataset_path(ref)
        if not isinstance(path, str | Path):
            raise InvalidInput(f"dataset {ref!r} is not readable as a local Parquet file here",
                               errors=[{"loc": ["source"], "msg": "not a local file"}])
        return str(path)
    if not Path(source).exists():
        raise InvalidInput(f"source {source!r} does not exist", errors=[{"loc": ["source"], "msg": "no such path"}])
    return source


def batch_predict(client: Any, model: str, source: str, output: str | Path, *, chunk_rows: int = 50_000,
                  workers: int | None = None, column: str = "prediction", proba: bool = False,
                  output_dataset: str | None = None, progress: Progress | None = None) -> BatchResult:
    """Score ``source`` (a Parquet file or folder, or ``dataset:NAME[@VERSION]``) with ``model``
    (``models:/…`` or a deployment name) and write ``output`` (Parquet). ``workers`` processes
    (default: CPU count; 0 scores in this process)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from mainsail.registry.schemas import MANIFEST

    if chunk_rows < 1:
        raise InvalidInput("chunk_rows must be at least 1", errors=[{"loc": ["chunk_rows"], "msg": "must be >= 1"}])
    version = _resolve_model(client, model)
    ref = version.files.get(MANIFEST)
    if ref is None:
        raise InvalidInput(f"{version.name} v{version.version} is not a Mainsail model package",
                           code="not_a_model_package", errors=[{"loc": ["model"], "msg": "no manifest"}])
    folder = str(client.download_model(f"models:/{version.name}/{version.version}"))
    data = ds.dataset(_source_path(client, source), format="parquet")
    total = data.count_rows()
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f".{out.name}.part")
    if workers is None:
        workers = os.cpu_count() or 1
    writer: pq.ParquetWriter | None = None
    done = chunks = 0
    if progress:
        progress(0, total)

    def write(frame: Any) -> None:
        nonlocal writer, done, chunks
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(part, table.schema, compression="zstd")
        writer.write_table(table)
        done += len(frame)
        chunks += 1
        if progress:
            progress(done, total)

    batches = (b.to_pandas() for b in data.to_batches(batch_size=chunk_rows))
    try:
        if workers <= 0:
            _init_worker(folder, ref.digest)
            for frame in batches:
                write(_score(frame, column, proba))
        else:
            with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(folder, ref.digest)) as pool:
                pending: deque[Future[Any]] = deque()
                for frame in batches:
                    pending.append(pool.submit(_score, frame, column, proba))
                    if len(pending) >= 2 * workers:
                        write(pending.popleft().result())
                while pending:
                    write(pending.popleft().result())
        if writer is None:  # no rows: still write a file with the input's columns
            pq.write_table(data.schema.empty_table(), part)
        else:
            writer.close()
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    result = BatchResult(str(out), done, chunks, version.name, version.version)
    if output_dataset:
        if not hasattr(client, "ingest_dataset"):
            raise InvalidInput("writing a dataset version needs the data layer (mainsail.data)",
                               errors=[{"loc": ["output_dataset"], "msg": "datasets unavailable"}])
        result.dataset_version = client.ingest_dataset(str(out), output_dataset).ref
    return result
