"""Tracking methods of the Client. Each is a thin call to a declared operation."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mainsail.client.backends import Backend
from mainsail.core.errors import InvalidInput
from mainsail.core.ops import LazyOpSet
from mainsail.core.pagination import Page
from mainsail.core.sandbox import contained
from mainsail.core.settings import Settings
from mainsail.core.types import INT64_MAX, INT64_MIN, artifact_key
from mainsail.tracking.schemas import (
    ArtifactInfo,
    Experiment,
    Heartbeat,
    MetricBatch,
    MetricHistory,
    MetricSamples,
    Run,
    RunComparison,
    RunStatus,
)

ops = LazyOpSet("mainsail.tracking.ops")  # imported on first call: composing the Client stays cheap


def metric_value(key: str, value: Any) -> float:
    """``value`` as a float, or :class:`InvalidInput` naming the metric (bools and strings refused)."""
    if type(value) is float or type(value) is int:
        return float(value)
    if isinstance(value, bool) or not hasattr(value, "__float__") or isinstance(value, str | bytes):
        raise InvalidInput(f"metric {key!r}: value {value!r} is not a number",
                           errors=[{"loc": ["metrics", key], "msg": "value is not a number"}])
    return float(value)


def metric_step(key: str, step: Any) -> int:
    """``step`` as an int that fits a 64-bit column, or :class:`InvalidInput` naming the metric."""
    if type(step) is not int:
        if isinstance(step, bool) or not hasattr(step, "__index__"):
            raise InvalidInput(f"metric {key!r}: step {step!r} is not an integer",
                               errors=[{"loc": ["metrics", "step"], "msg": "step is not an integer"}])
        step = int(step)
    if not INT64_MIN <= step <= INT64_MAX:
        raise InvalidInput(f"metric {key!r}: step {step} does not fit a 64-bit integer",
                           errors=[{"loc": ["metrics", "step"], "msg": "step is out of the 64-bit range"}])
    return step


def metric_timestamp(key: str, timestamp: Any) -> float:
    """``timestamp`` (epoch seconds) as a finite float, or :class:`InvalidInput` naming the metric."""
    value = metric_value(key, timestamp)
    if not math.isfinite(value):
        raise InvalidInput(f"metric {key!r}: timestamp {timestamp!r} is not a finite number",
                           errors=[{"loc": ["metrics", "timestamp"], "msg": "timestamp is not finite"}])
    return value


class TrackingMethods:
    _backend: Backend

    # ------------------------------------------------------------ experiments
    def create_experiment(self, name: str, description: str | None = None,
                          tags: Mapping[str, Any] | None = None) -> Experiment:
        """Create an experiment (409 if the name is taken)."""
        body = {"name": name, "description": description, "tags": dict(tags or {})}
        return self._backend.call(ops.create_experiment, {"body": body})

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._backend.call(ops.get_experiment, {"experiment_id": experiment_id})

    def get_experiment_by_name(self, name: str) -> Experiment:
        return self._backend.call(ops.get_experiment_by_name, {"name": name})

    def ensure_experiment(self, name: str) -> Experiment:
        """The experiment with this name, created if missing."""
        return self._backend.call(ops.ensure_experiment, {"name": name})

    def list_experiments(self, cursor: str | None = None, limit: int = 100) -> Page[Experiment]:
        return self._backend.call(ops.list_experiments, {"cursor": cursor, "limit": limit})

    def iter_experiments(self) -> Iterator[Experiment]:
        """Every experiment, following cursors."""
        cursor = None
        while True:
            page = self.list_experiments(cursor=cursor, limit=1000)
            yield from page.items
            if not (cursor := page.next_cursor):
                return

    # ------------------------------------------------------------ runs
    def create_run(self, experiment_id: str, name: str | None = None, *, tags: Mapping[str, Any] | None = None,
                   params: Mapping[str, Any] | None = None, parent_run_id: str | None = None) -> Run:
        """Start a run in an experiment."""
        body = {"experiment_id": experiment_id, "name": name, "tags": dict(tags or {}),
                "params": dict(params or {}), "parent_run_id": parent_run_id}
        return self._backend.call(ops.create_run, {"body": body})

    def get_run(self, run_id: str) -> Run:
        return self._backend.call(ops.get_run, {"run_id": run_id})

    def end_run(self, run_id: str, status: RunStatus | str = RunStatus.finished,
                usage: dict[str, float | int | bool] | None = None) -> Run:
        """End a run as finished, failed or killed (``usage``: what was measured, see docs/costs.md)."""
        body: dict[str, Any] = {"status": status} if usage is None else {"status": status, "usage": usage}
        return self._backend.call(ops.update_run, {"run_id": run_id, "body": body})

    def rename_run(self, run_id: str, name: str) -> Run:
        return self._backend.call(ops.update_run, {"run_id": run_id, "body": {"name": name}})

    def delete_run(self, run_id: str) -> None:
        self._backend.call(ops.delete_run, {"run_id": run_id})

    def log_batch(self, run_id: str, metrics: Iterable[tuple[str, float, int, float]] | MetricBatch | None = None,
                  params: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None) -> None:
        """Log metrics ``(key, value, step, timestamp)``, params and tags in one call and transaction.
        More than ``MAINSAIL_MAX_BATCH_POINTS`` points (10,000 by default) are sent in chunks of that
        size, each stored in its own transaction (params and tags go with the first), so a huge batch
        never holds the store's write lock for long."""
        batch: dict[str, Any] | None = None
        if isinstance(metrics, MetricBatch):
            batch = dict(metrics)  # re-validated below, like any caller's input
        elif metrics is not None:
            pts = [(k, metric_value(k, v), s, t) for k, v, s, t in metrics]
            batch = {"key": [p[0] for p in pts], "value": [p[1] for p in pts], "step": [p[2] for p in pts],
                     "timestamp": [p[3] for p in pts]}
        size = Settings.from_env().max_batch_points
        n = len(batch["key"]) if batch is not None and isinstance(batch.get("key"), list) else 0
        first = batch if n <= size else {c: batch[c][:size] for c in ("key", "value", "step", "timestamp")}
        body = {"metrics": first, "params": dict(params or {}), "tags": dict(tags or {})}
        self._backend.call(ops.log_batch, {"run_id": run_id, "body": body})
        for i in range(size, n, size):
            part = {c: batch[c][i:i + size] for c in ("key", "value", "step", "timestamp")}  # type: ignore[index]
            self._backend.call(ops.log_batch, {"run_id": run_id, "body": {"metrics": part}})

    def heartbeat(self, run_id: str) -> Heartbeat:
        """Tell the store the run's process is alive (the fluent SDK does this in the background;
        any write to the run counts too). Silent for ``MAINSAIL_RUN_HEARTBEAT_TIMEOUT`` seconds, a
        running run is marked ``killed``; a later heartbeat or write brings it back to running."""
        return self._backend.call(ops.heartbeat, {"run_id": run_id})

    def log_metric(self, run_id: str, key: str, value: float, step: int = 0, timestamp: float | None = None) -> None:
        """Log one metric point now (the fluent API buffers; this does not)."""
        self.log_batch(run_id, [(key, value, step, time.time() if timestamp is None else timestamp)])

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0,
                    timestamp: float | None = None) -> None:
        ts = time.time() if timestamp is None else timestamp
        self.log_batch(run_id, [(k, v, step, ts) for k, v in metrics.items()])

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.log_batch(run_id, params={key: value})

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self.log_batch(run_id, params=params)

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.log_batch(run_id, tags={key: value})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        self.log_batch(run_id, tags=tags)

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        """Every point of one metric, in columns (``.to_pandas()`` for a frame)."""
        return self._backend.call(ops.get_metric_history, {"run_id": run_id, "key": key})

    def sample_metric(self, run_id: str, key: str, points: int = 1000) -> MetricSamples:
        """One metric reduced to about ``points`` points for drawing (min and max per x bucket)."""
        return self._backend.call(ops.sample_metric, {"run_id": run_id, "key": key, "points": points})

    def search_runs(self, experiment_ids: list[str] | None = None, filter: str | None = None,
                    order_by: list[str] | None = None, cursor: str | None = None, limit: int = 100) -> Page[Run]:
        """Runs matching ``filter`` (e.g. ``metrics.auc > 0.8 and params.model = 'rf'``)."""
        return self._backend.call(ops.search_runs, {"experiment_ids": experiment_ids, "filter": filter,
                                                    "order_by": order_by, "cursor": cursor, "limit": limit})

    def iter_runs(self, experiment_ids: list[str] | None = None, filter: str | None = None,
                  order_by: list[str] | None = None) -> Iterator[Run]:
        cursor = None
        while True:
            page = self.search_runs(experiment_ids, filter, order_by, cursor=cursor, limit=1000)
            yield from page.items
            if not (cursor := page.next_cursor):
                return

    def compare_runs(self, run_ids: list[str]) -> RunComparison:
        return self._backend.call(ops.compare_runs, {"run_ids": run_ids})

    # ------------------------------------------------------------ artifacts
    def log_artifact(self, run_id: str, local_path: str | Path, artifact_path: str | None = None) -> list[ArtifactInfo]:
        """Log a file, or a folder with everything under it, to the run under ``artifact_path``.
        A folder logged without ``artifact_path`` keeps its own name (``model/`` → ``model/…``)."""
        local = Path(local_path)
        if local.is_dir() and artifact_path is None:
            artifact_path = local.name
        return self.log_artifacts(run_id, local, artifact_path)

    def log_artifacts(self, run_id: str, local_path: str | Path, artifact_path: str | None = None) -> list[ArtifactInfo]:
        """Log a file, or the contents of a folder, under ``artifact_path`` (the run's root by default)."""
        local = Path(local_path)
        if not local.exists():
            raise InvalidInput(f"local_path {str(local)!r} does not exist",
                               errors=[{"loc": ["local_path"], "msg": "no such file or folder"}])
        prefix = ""
        if artifact_path not in (None, "", "."):
            try:  # refused before any upload: '/etc/x' is absolute (never silently made relative), '..' climbs
                prefix = artifact_key(str(artifact_path))
            except ValueError as exc:
                raise InvalidInput(f"artifact_path {artifact_path!r}: {exc}",
                                   errors=[{"loc": ["artifact_path"], "msg": str(exc)}]) from None
        if local.is_file():
            return [self._backend.put_artifact_file(run_id, f"{prefix}/{local.name}".strip("/"), local)]
        out = []
        for f in sorted(p for p in local.rglob("*") if p.is_file()):
            rel = f.relative_to(local).as_posix()
            out.append(self._backend.put_artifact_file(run_id, f"{prefix}/{rel}".strip("/"), f))
        return out

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[ArtifactInfo]:
        return self._backend.call(ops.list_artifacts, {"run_id": run_id, "prefix": prefix})

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """A run artifact's bytes (SHA-256 verified)."""
        return self._backend.call(ops.download_artifact, {"run_id": run_id, "path": path})

    def download_artifacts(self, run_id: str, dest: str | Path, prefix: str | None = None) -> Path:
        """Copy the run's artifacts (or those under ``prefix``) into ``dest``; return ``dest``."""
        root = Path(dest)
        for info in self.list_artifacts(run_id, prefix):
            target = contained(root, info.path, "artifact key")  # checked again on the way out
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.read_artifact(run_id, info.path))
        return root


