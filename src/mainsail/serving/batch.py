"""Batch inference: score a Parquet path or a dataset version with a model or a deployment's primary,
in chunks, on a local process pool or as Ray tasks (each worker loads the verified package once),
writing Parquet in input order; optionally stored as a new dataset version."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mainsail.core.errors import InvalidInput

Progress = Callable[[int, int], None]
_model: Any = None
_loaded: tuple[str, str | None] | None = None  # (folder, manifest digest) of ``_model`` in a Ray worker
_remote: Any = None
EXECUTORS = ("local", "ray")


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


def _package_files(folder: str) -> dict[str, bytes]:
    root = Path(folder)
    return {str(f.relative_to(root)): f.read_bytes() for f in root.rglob("*") if f.is_file()}


def _score_on_ray(package: list[Any], key: tuple[str, str | None], frame: Any, column: str, proba: bool) -> Any:
    """One chunk as a Ray task: load the package once per worker process (from its folder when this
    host has it, else from the package's files in the object store), then score like a pool process."""
    global _loaded
    if _loaded != key:
        folder, digest = key
        if not Path(folder).is_dir():  # another node: unpack the package's files (once per worker)
            import hashlib
            import tempfile

            import ray

            tag = digest or hashlib.sha256(folder.encode()).hexdigest()
            target = Path(tempfile.gettempdir()) / f"mainsail-batch-{tag}"
            if not target.is_dir():
                tmp = Path(tempfile.mkdtemp(prefix=".mainsail-batch-"))
                for rel, data in ray.get(package[0]).items():
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    (tmp / rel).write_bytes(data)
                try:
                    os.replace(tmp, target)
                except OSError:  # another worker unpacked it first
                    import shutil

                    shutil.rmtree(tmp, ignore_errors=True)
            folder = str(target)
        _init_worker(folder, digest)
        _loaded = key
    return _score(frame, column, proba)


def _scored_on_ray(batches: Iterator[Any], folder: str, digest: str | None, column: str, proba: bool,
                   workers: int | None, address: str | None) -> Iterator[Any]:
    """Scored chunks in input order, each chunk one Ray task; at most two per slot in flight."""
    global _remote
    from mainsail.pipelines.ray_pool import connect

    ray, started = connect(address)
    try:
        if _remote is None:
            _remote = ray.remote(_score_on_ray)
        fn = _remote.options(num_cpus=1)
        slots = workers if workers and workers > 0 else int(ray.cluster_resources().get("CPU", 1))
        package = [ray.put(_package_files(folder))]  # in a list: a worker fetches it only if it must
        key = (folder, digest)
        pending: deque[Any] = deque()
        for frame in batches:
            pending.append(fn.remote(package, key, frame, column, proba))
            if len(pending) >= 2 * max(1, slots):
                yield ray.get(pending.popleft())
        while pending:
            yield ray.get(pending.popleft())
    finally:
        if started:
            ray.shutdown()


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
                  output_dataset: str | None = None, progress: Progress | None = None, executor: str = "local",
                  ray_address: str | None = None) -> BatchResult:
    """Score ``source`` (a Parquet file or folder, or ``dataset:NAME[@VERSION]``) with ``model``
    (``models:/…`` or a deployment name) and write ``output`` (Parquet). ``executor="local"``:
    ``workers`` processes (default: CPU count; 0 scores in this process); ``executor="ray"``: each
    chunk is a Ray task on ``ray_address`` (default ``MAINSAIL_RAY_ADDRESS``, else a local cluster),
    at most ``2 * workers`` (default: the cluster's CPUs) in flight."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from mainsail.registry.schemas import MANIFEST

    if chunk_rows < 1:
        raise InvalidInput("chunk_rows must be at least 1", errors=[{"loc": ["chunk_rows"], "msg": "must be >= 1"}])
    if executor not in EXECUTORS:
        raise InvalidInput(f"executor {executor!r}: expected local or ray",
                           errors=[{"loc": ["executor"], "msg": "expected local or ray"}])
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
    if workers is None and executor == "local":
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
        if executor == "ray":
            for scored in _scored_on_ray(batches, folder, ref.digest, column, proba, workers, ray_address):
                write(scored)
        elif workers is None or workers <= 0:
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
