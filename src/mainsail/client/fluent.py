"""The module-level SDK (``mainsail.start_run``, ``mainsail.log_metric``…): a thin face over a
default :class:`Client` with an active-run stack per thread and buffered metrics."""

from __future__ import annotations

import atexit
import functools
import logging
import math
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mainsail.client.buffer import MetricBuffer
from mainsail.client.client import Client
from mainsail.core.errors import Conflict, InvalidInput, MainsailError, ServiceUnavailable
from mainsail.core.settings import Settings
from mainsail.costs.hooks import run_meter, run_usage
from mainsail.tracking.schemas import KEY_PATTERN, ArtifactInfo, Experiment, Run, RunStatus
from mainsail.tracking.sdk import metric_step, metric_timestamp, metric_value

_KEY = re.compile(KEY_PATTERN)
_lock = threading.RLock()
_client: Client | None = None
_buffer: MetricBuffer | None = None
_experiment: Experiment | None = None


class _Local(threading.local):
    def __init__(self) -> None:
        self.stack: list[ActiveRun] = []


_local = _Local()
_now = time.time
_all_active: list[ActiveRun] = []


def set_tracking_uri(uri: str | None) -> None:
    """Point the module-level SDK at another URI (``None``: back to ``MAINSAIL_URI``)."""
    global _client, _buffer, _experiment
    with _lock:
        if _buffer is not None:
            _buffer.close()
        _client = Client(uri) if uri else None
        _buffer = None
        _experiment = None


def get_client() -> Client:
    """The default client the module-level functions use."""
    global _client
    with _lock:
        if _client is None:
            _client = Client()
        return _client


def _metric_buffer() -> MetricBuffer:
    global _buffer
    with _lock:
        if _buffer is None:
            s = Settings.from_env()
            from mainsail.client.backends import LocalBackend

            backend = get_client()._backend
            # in-process, a flush of up to ``metric_flush_rows`` points is one transaction (one COPY and one
            # commit on PostgreSQL); over HTTP a request carries at most the server's ``max_batch_points``
            local = isinstance(backend, LocalBackend)
            batch = max(s.max_batch_points, s.metric_flush_rows) if local else s.max_batch_points
            _buffer = MetricBuffer(backend, interval=s.metric_flush_interval,
                                   max_rows=s.metric_flush_rows, batch=batch,
                                   flush_timeout=s.metric_flush_timeout,
                                   heartbeat_interval=s.run_heartbeat_interval)
        return _buffer


def set_experiment(name: str) -> Experiment:
    """Use (and create if needed) the experiment called ``name`` for new runs."""
    global _experiment
    _experiment = get_client().ensure_experiment(name)
    return _experiment


def _stack() -> list[ActiveRun]:
    return _local.stack


class ActiveRun:
    """A run being logged to from this process. Use as a context manager: the run ends ``finished``,
    or ``failed`` if the block raises. Metrics are buffered; everything else is written at once.

    ``log_metric`` returns once the point is buffered in this process. ``flush()`` and ``end()`` are
    the durability points: they return once every point is stored, or raise
    :class:`~mainsail.core.errors.ServiceUnavailable` keeping the points (and, for ``end()``, the run
    active) so the call can be made again. While the run is active a background thread sends its
    heartbeat; a process that dies leaves a run the store marks ``killed``."""

    def __init__(self, run: Run, client: Client, buffer: MetricBuffer):
        self.info = run
        self.id = run.id
        self.client = client
        self._buffer = buffer
        self._steps: dict[str, int] = {}
        self._keys: set[str] = set()
        self.ended = False
        buffer.watch(run.id)
        self._meter = run_meter()  # costs: CPU seconds and peak memory of this process while the run lasts

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.end(RunStatus.failed if exc_type else RunStatus.finished)

    def log_metric(self, key: str, value: float, step: int | None = None, timestamp: float | None = None) -> None:
        """Buffer one metric point. ``step`` defaults to one past this key's last step."""
        if self.ended:
            raise Conflict(f"run {self.id!r} has ended; it no longer accepts writes", code="run_not_running")
        if key not in self._keys:
            if not isinstance(key, str) or len(key) > 250 or not _KEY.match(key):
                raise InvalidInput(f"metric key {key!r} is invalid: use 1-250 letters, digits, _ - . / : or space",
                                   errors=[{"loc": ["metrics", "key"], "msg": "invalid metric key"}])
            self._keys.add(key)
        if type(value) is not float:
            value = metric_value(key, value)
        if step is None:
            step = self._steps.get(key, -1) + 1
        elif type(step) is not int or not -(2**63) <= step < 2**63:
            step = metric_step(key, step)
        if timestamp is None:
            timestamp = _now()
        elif type(timestamp) is not float or not math.isfinite(timestamp):
            timestamp = metric_timestamp(key, timestamp)
        self._steps[key] = step
        if self._buffer.error is not None:  # points were refused in the background: say so here
            err, self._buffer.error = self._buffer.error, None
            raise err
        self._buffer.add((self.id, key, value, step, timestamp))

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        ts = time.time()
        for k, v in metrics.items():
            self.log_metric(k, v, step, ts)

    def log_param(self, key: str, value: Any) -> None:
        self.client.log_batch(self.id, params={key: value})

    def log_params(self, params: dict[str, Any]) -> None:
        self.client.log_batch(self.id, params=params)

    def set_tag(self, key: str, value: Any) -> None:
        self.client.log_batch(self.id, tags={key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.client.log_batch(self.id, tags=tags)

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> list[ArtifactInfo]:
        return self.client.log_artifact(self.id, local_path, artifact_path)

    def flush(self, timeout: float | None = None) -> None:
        """Store every buffered metric point now (see the class docstring); retry an unreachable
        store for up to ``timeout`` seconds (``MAINSAIL_METRIC_FLUSH_TIMEOUT``, 30 by default)."""
        self._buffer.flush(timeout=timeout)

    def end(self, status: RunStatus | str = RunStatus.finished, timeout: float | None = None) -> Run:
        """Store every buffered point, then end the run. If the store cannot be reached within
        ``timeout`` this raises and the run stays active with its points kept: call ``end()`` again."""
        if self.ended:
            return self.info
        refused: MainsailError | None = None
        try:
            self._buffer.flush(timeout=timeout)
        except ServiceUnavailable:
            raise  # the points are kept and the run stays active
        except MainsailError as exc:  # points the store refused for good: end the run, then say so
            refused = exc
        try:
            self.info = self.client.end_run(self.id, status, usage=run_usage(self._meter))
        except Conflict as exc:  # ended elsewhere, or an earlier end() reached the store but its answer was lost
            if exc.code != "run_not_running":
                raise
            self.info = self.client.get_run(self.id)
            self._forget()
            if self.info.status != RunStatus(status):
                raise
        self._forget()
        if refused is not None:
            raise refused
        return self.info

    def _forget(self) -> None:
        """This run is over: no more heartbeats, no longer active."""
        self.ended = True
        self._buffer.unwatch(self.id)
        stack = _stack()
        if self in stack:
            stack.remove(self)
        with _lock:
            if self in _all_active:
                _all_active.remove(self)


@functools.lru_cache(maxsize=1)
def _source_tags() -> dict[str, str]:
    """Where the code runs from: the script and, inside a git work tree, the commit (for lineage)."""
    tags = {"mainsail.source": Path(sys.argv[0]).name} if sys.argv and sys.argv[0] else {}
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=2)
        if out.returncode == 0 and len(out.stdout.strip()) == 40:
            tags["mainsail.git_commit"] = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return tags


def start_run(run_name: str | None = None, *, experiment: str | None = None, tags: dict[str, Any] | None = None,
              params: dict[str, Any] | None = None, nested: bool = False) -> ActiveRun:
    """Start a run in the current experiment (or ``experiment``, by name) and make it active."""
    client = get_client()
    stack = _stack()
    if stack and not nested:
        raise Conflict(f"run {stack[-1].id!r} is already active; end it or pass nested=True",
                       code="run_already_active")
    exp = client.ensure_experiment(experiment) if experiment else (_experiment or set_experiment("default"))
    run = client.create_run(exp.id, run_name, tags={**_source_tags(), **(tags or {})}, params=params,
                            parent_run_id=stack[-1].id if (stack and nested) else None)
    active = ActiveRun(run, client, _metric_buffer())
    stack.append(active)
    with _lock:
        _all_active.append(active)
    return active


def active_run() -> ActiveRun | None:
    stack = _stack()
    return stack[-1] if stack else None


def _active() -> ActiveRun:
    stack = _local.stack
    return stack[-1] if stack else start_run()


def end_run(status: RunStatus | str = RunStatus.finished) -> Run | None:
    """End the active run, if any."""
    run = active_run()
    return run.end(status) if run else None


def log_metric(key: str, value: float, step: int | None = None, timestamp: float | None = None) -> None:
    stack = _local.stack  # _active() inlined: this is the call of a training loop's inner step
    (stack[-1] if stack else start_run()).log_metric(key, value, step, timestamp)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    _active().log_metrics(metrics, step)


def log_param(key: str, value: Any) -> None:
    _active().log_param(key, value)


def log_params(params: dict[str, Any]) -> None:
    _active().log_params(params)


def set_tag(key: str, value: Any) -> None:
    _active().set_tag(key, value)


def set_tags(tags: dict[str, Any]) -> None:
    _active().set_tags(tags)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> list[ArtifactInfo]:
    """Log one file (or a folder's files) to the active run."""
    return _active().log_artifact(local_path, artifact_path)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> list[ArtifactInfo]:
    """Log the contents of a folder to the active run (at its root, or under ``artifact_path``)."""
    run = _active()
    return run.client.log_artifacts(run.id, local_dir, artifact_path)


def flush(timeout: float | None = None) -> None:
    """Store every buffered metric point now: the durability point of ``log_metric``. Raises
    ``ServiceUnavailable`` (keeping the points) if the store stays unreachable for ``timeout`` seconds
    (``MAINSAIL_METRIC_FLUSH_TIMEOUT``, 30 by default); see docs/durability.md."""
    if _buffer is not None:
        _buffer.flush(timeout=timeout)


@atexit.register
def _end_runs_at_exit() -> None:
    for run in list(_all_active):
        try:
            run.end(RunStatus.finished)
        except Exception as exc:  # noqa: BLE001 - the process is exiting; say so and go on
            logging.getLogger(__name__).error("could not end run %s at exit: %s", run.id, exc)


def log_model(model: Any, name: str = "model", *, registered_model_name: str | None = None,
              input_example: Any = None, gate: dict[str, str] | None = None, stage: str = "development",
              flavor: str | None = None) -> Any:
    """Package ``model`` (flavor detected: sklearn, xgboost, lightgbm, onnx, torch or any object with
    ``predict``), log it to the active run under ``name``, and register it as a new version of
    ``registered_model_name`` if given, only if the ``gate`` thresholds (``{"auc": ">= 0.85"}``) hold on
    the run's metrics.

    Returns the :class:`ModelVersion` when registered. When the gate fails, the model is still logged,
    nothing is registered, nothing is raised: the run gets the tags ``mainsail.gate=failed`` and
    ``mainsail.gate_failures`` (which thresholds, with the actual values), a warning is logged, and a
    :class:`LoggedModel` with ``registered=False`` and the gate result is returned. Both results have
    ``.registered``. Without ``registered_model_name``, returns the package manifest."""
    import tempfile

    from mainsail.registry.gate import evaluate_gate
    from mainsail.registry.packaging import save_model
    from mainsail.registry.schemas import LoggedModel

    run = _active()
    run.flush()  # the registered version copies the run's metrics, so they must be stored first
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / name.strip("/").split("/")[-1]
        package = save_model(model, folder, input_example=input_example, flavor=flavor)
        run.client.log_artifacts(run.id, folder, name)
    if not registered_model_name:
        return package
    source = f"runs:/{run.id}/{name.strip('/')}"
    if gate:
        result = evaluate_gate(run.client.get_run(run.id).metrics, gate)
        if not result.passed:
            failures = "; ".join(f"{f.metric} = {'missing' if f.actual is None else f'{f.actual:.6g}'} is not "
                                 f"{f.op} {f.threshold:g}" for f in result.failures)
            run.client.set_tags(run.id, {"mainsail.gate": "failed", "mainsail.gate_failures": failures})
            logging.getLogger("mainsail").warning("quality gate failed, %s not registered: %s",
                                                  registered_model_name, failures)
            return LoggedModel(run_id=run.id, model_uri=source, name=registered_model_name, gate=result)
        run.client.set_tag(run.id, "mainsail.gate", "passed")
    return run.client.register_model_version(registered_model_name, source=source, gate=gate, stage=stage)


def load_model(uri: str) -> Any:
    """Load ``models:/NAME@ALIAS``, ``models:/NAME/STAGE``, ``models:/NAME/VERSION``, ``runs:/RUN/PATH``
    or a local package folder as an object with ``predict`` (digests checked before loading)."""
    return get_client().load_model(uri)
