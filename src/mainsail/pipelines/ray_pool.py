"""The Ray executor: the same interface as :class:`~mainsail.pipelines.pool.ProcessPool`, so the worker
loop (claims under leases, outcomes recorded by ``queue.py``, retries, timeouts, cancel) is unchanged;
only where a claimed task runs differs. Each task is one Ray task (``max_retries=0``: retries are the
queue's, with their backoff and fencing); a timeout or a cancelled run ends it with
``ray.cancel(force=True)``, which kills the Ray worker process running it.

Logs: on the worker's own host (a local cluster) the Ray task writes the task's log file in place, so
``pipelines logs`` reads it while the task runs; on another node it writes a temporary file and
returns its bytes with the result. Tasks on a remote cluster must reach the metadata database and
the artifact store (PostgreSQL and S3, not SQLite and a local folder) and have ``mainsail`` installed."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from mainsail.core.errors import InvalidInput
from mainsail.pipelines.pool import Finished

_remote: Any = None


def ray_address(address: str | None = None) -> str | None:
    """The cluster to use: ``address``, else ``MAINSAIL_RAY_ADDRESS``, else None (start a local one)."""
    return address or os.environ.get("MAINSAIL_RAY_ADDRESS") or None


def connect(address: str | None = None) -> tuple[Any, bool]:
    """``(ray, started)``: the ``ray`` module, initialised (reusing a connection this process already
    has, else joining ``address`` or starting a local cluster); ``started`` if this call started it."""
    try:
        import ray
    except ImportError as exc:
        raise InvalidInput("the Ray executor needs Ray: pip install 'mainsail[ray]'", code="ray_unavailable",
                           errors=[{"loc": ["executor"], "msg": "ray is not installed"}]) from exc
    if ray.is_initialized():
        return ray, False
    address = ray_address(address)
    # logging_level: Ray's own INFO lines ("Started a local Ray instance", "Connecting to existing Ray
    # cluster") are not for our users; warnings and errors still show.
    if address:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    return ray, True


def _run_on_ray(payload: dict[str, Any]) -> tuple[str, Any, str | None, float, bytes | None]:
    """Inside a Ray worker: run one task like a pool process does; return the log's bytes when its
    file is not on this host."""
    from mainsail.pipelines.child import run_task

    here = payload.get("host") == socket.gethostname()
    log_path = payload.get("log_path")
    tmp = None
    if log_path and not here:
        fd, tmp = tempfile.mkstemp(suffix=".log", prefix="mainsail-task-")
        os.close(fd)
        payload = {**payload, "log_path": tmp}
    env = payload.get("env") or {}
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    saved = (os.dup(1), os.dup(2))
    try:
        status, output, error, seconds, usage = run_task(payload, saved)
    finally:
        os.close(saved[0])
        os.close(saved[1])
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    log = None
    if tmp is not None:
        with open(tmp, "rb") as fh:
            log = fh.read()
        os.unlink(tmp)
    return status, output, error, seconds, log, usage


@dataclass
class _Job:
    ref: Any
    started: float
    deadline: float | None


class RayPool:
    """Up to ``size`` tasks at once on a Ray cluster (default: the cluster's CPU count)."""

    def __init__(self, size: int | None = None, address: str | None = None):
        global _remote
        self.ray, self._started = connect(address)
        if _remote is None:
            _remote = self.ray.remote(_run_on_ray)
        self._fn = _remote.options(num_cpus=1, max_retries=0, retry_exceptions=False)
        self.size = max(1, size or int(self.ray.cluster_resources().get("CPU", 1)))
        self.address = self.ray.get_runtime_context().gcs_address
        self._busy: dict[Any, _Job] = {}

    @property
    def free(self) -> int:
        return self.size - len(self._busy)

    @property
    def running(self) -> list[Any]:
        return list(self._busy)

    def submit(self, key: Any, payload: dict[str, Any], timeout: float | None = None) -> None:
        if not self.free:
            raise RuntimeError("no free slot")
        now = time.monotonic()
        payload = {**payload, "host": socket.gethostname()}
        fn = self._fn
        if res := payload.pop("resources", None):  # what the task reserves, capped at what the cluster has
            have = self.ray.cluster_resources()
            cpus = min(res.get("cpus") or 1, have.get("CPU", 1))
            gpus = min(res.get("gpus") or 0, have.get("GPU", 0))
            fn = _remote.options(num_cpus=cpus, num_gpus=gpus, max_retries=0, retry_exceptions=False)
        self._busy[key] = _Job(fn.remote(payload), now, now + timeout if timeout else None)

    def next_deadline(self) -> float | None:
        deadlines = [j.deadline for j in self._busy.values() if j.deadline is not None]
        return min(deadlines) if deadlines else None

    def wait(self, timeout: float) -> list[Finished]:
        """Results of tasks that finished within ``timeout`` seconds (plus tasks cancelled for overrunning)."""
        done: list[Finished] = []
        if self._busy:
            by_ref = {j.ref: k for k, j in self._busy.items()}
            refs = list(by_ref)
            ready, rest = self.ray.wait(refs, num_returns=1, timeout=max(0.0, timeout))
            if ready and rest:
                ready += self.ray.wait(rest, num_returns=len(rest), timeout=0)[0]
            for ref in ready:
                key = by_ref[ref]
                job = self._busy.pop(key)
                done.append(self._result(key, job))
        elif timeout > 0:
            time.sleep(timeout)
        now = time.monotonic()
        for key, job in [(k, j) for k, j in self._busy.items() if j.deadline is not None and now >= j.deadline]:
            done.append(self._cancel(key, job, "timeout", f"timed out after {job.deadline - job.started:g}s"))
        return done

    def _result(self, key: Any, job: _Job) -> Finished:
        ray = self.ray
        try:
            status, output, error, seconds, log, usage = ray.get(job.ref)
        except ray.exceptions.TaskCancelledError:
            return Finished(key, "cancelled", None, "cancelled", time.monotonic() - job.started)
        except ray.exceptions.RayError as exc:  # the worker process died, the node was lost, …
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return Finished(key, "failed", None, f"the task's Ray worker failed ({type(exc).__name__}): {first}",
                            time.monotonic() - job.started)
        return Finished(key, status, output, error, seconds, log, usage)

    def _cancel(self, key: Any, job: _Job, status: str, reason: str) -> Finished:
        self._busy.pop(key, None)
        with contextlib.suppress(Exception):  # already finished or its node is gone: nothing left to stop
            self.ray.cancel(job.ref, force=True)
        return Finished(key, status, None, reason, time.monotonic() - job.started)

    def kill(self, key: Any, status: str = "cancelled", reason: str = "cancelled") -> Finished | None:
        job = self._busy.get(key)
        return None if job is None else self._cancel(key, job, status, reason)

    def close(self) -> None:
        for key, job in list(self._busy.items()):
            self._cancel(key, job, "cancelled", "worker stopped")
        if self._started:
            self.ray.shutdown()
