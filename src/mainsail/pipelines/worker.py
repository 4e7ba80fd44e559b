"""The executor loop shared by ``mainsail worker``, ``mainsail server`` and ``mainsail pipelines run``:
claim ready tasks from the database queue, run them on the local process pool, record outcomes.

Each turn is one transaction that records every outcome gathered since the last turn and claims as
many tasks as there are free processes, so a chain of tasks moves one link per turn and a wide
fan-out is taken in batches. Leases are renewed every third of their length; a worker that dies
stops renewing and its tasks are retaken by any worker once the lease runs out."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select

from mainsail.core.errors import ServiceUnavailable
from mainsail.core.runtime import Runtime
from mainsail.costs import hooks as costs_hooks
from mainsail.pipelines import dag, operators, queue
from mainsail.pipelines.health import WorkerHealth
from mainsail.pipelines.models import PipelineRunRow, PipelineVersionRow
from mainsail.pipelines.pool import Finished, ProcessPool, task_log_path
from mainsail.pipelines.schemas import TERMINAL_RUN, PipelineSpec, TaskSpec

log = logging.getLogger(__name__)


RAY_ENV_PREFIXES = ("MAINSAIL_", "AWS_")


def default_processes() -> int:
    return int(os.environ.get("MAINSAIL_PIPELINE_PROCESSES") or 0) or os.cpu_count() or 2


def default_executor() -> str:
    """``MAINSAIL_PIPELINE_EXECUTOR=ray`` sends tasks to Ray; anything else runs them on the local pool."""
    return "ray" if (os.environ.get("MAINSAIL_PIPELINE_EXECUTOR") or "").lower() == "ray" else "local"


def default_lease() -> float:
    return float(os.environ.get("MAINSAIL_TASK_LEASE") or 30.0)


@dataclass
class _Plan:
    """A pipeline version, parsed once per worker."""

    spec: PipelineSpec
    tasks: dict[str, TaskSpec]
    dag: dag.Dag
    closures: dict[str, list[str]] = field(default_factory=dict)
    inputs: dict[str, list[str]] = field(default_factory=dict)  # task -> the tasks whose outputs it may read

    def __post_init__(self) -> None:
        self.inputs = self.dag.ancestors()  # run params may refer to any task finished before

    def closure(self, name: str) -> list[str]:
        if name not in self.closures:
            seen: list[str] = []
            stack = list(self.dag.downstream[name])
            while stack:
                n = stack.pop()
                if n not in seen:
                    seen.append(n)
                    stack.extend(self.dag.downstream[n])
            self.closures[name] = seen
        return self.closures[name]


class Worker:
    """Runs pipeline tasks from the queue; ``run_id`` limits it to one run and ends it with that run."""

    def __init__(self, runtime: Runtime, *, processes: int | None = None, run_id: str | None = None,
                 lease: float | None = None, poll: float = 0.2, executor: str | None = None,
                 ray_address: str | None = None):
        self.runtime = runtime
        self.run_id = run_id
        self.lease = lease or default_lease()
        self.poll = poll
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.executor = executor or default_executor()
        self.ray_address: str | None = None
        self.pool: Any
        if self.executor == "ray":
            from mainsail.pipelines.ray_pool import RayPool

            self.pool = RayPool(processes or None, ray_address)
            self.ray_address = self.pool.address
        elif self.executor == "local":
            self.pool = ProcessPool(processes or default_processes())
        else:
            from mainsail.core.errors import InvalidInput

            raise InvalidInput(f"executor must be 'local' or 'ray', not {self.executor!r}",
                               errors=[{"loc": ["executor"], "msg": "unknown executor"}])
        self.home = runtime.settings.home
        self.logs = task_log_path(self.home, 0, 0).parent
        self.logs.mkdir(parents=True, exist_ok=True)
        self._plans: dict[str, _Plan] = {}
        self._inflight: dict[int, tuple[queue.Claimed, TaskSpec, str | None]] = {}
        self._ready: list[queue.Outcome] = []
        self._memo = queue.Memo()
        self.executed = 0
        self._usage: list[dict[str, Any]] = []  # costs: measured usage of finished tasks, stored each turn
        # A Ray task runs in a process of the cluster's, not a child of this worker: it gets this worker's
        # Mainsail and object-store settings (endpoint, credentials, region) with each task.
        self._ray_env = {k: v for k, v in os.environ.items() if k.startswith(RAY_ENV_PREFIXES)} \
            if self.executor == "ray" else {}
        self.health = WorkerHealth(self.owner, stale=max(30.0, 10 * poll))

    # ------------------------------------------------------------ preparing claimed tasks
    def _plan(self, version_id: str) -> _Plan:
        plan = self._plans.get(version_id)
        if plan is None:
            with self.runtime.transaction(write=False) as ctx:
                raw = ctx.session.scalar(select(PipelineVersionRow.spec).where(PipelineVersionRow.id == version_id))
            spec = PipelineSpec.model_validate(raw)
            plan = self._plans[version_id] = _Plan(spec, {t.name: t for t in spec.tasks},
                                                   dag.validate(spec, defer=True))
        return plan

    def _outcome(self, c: queue.Claimed, ts: TaskSpec, status: str, **kw: Any) -> queue.Outcome:
        plan = self._plan(c.version_id)
        return queue.Outcome(c, status, retries=ts.retries, backoff=ts.retry_backoff,
                             downstream=plan.dag.downstream[c.name],
                             closure=plan.closure(c.name) if status != "succeeded" else [], **kw)

    def _prepare(self, session: Any, claimed: list[queue.Claimed]) -> list[tuple[queue.Claimed, TaskSpec, dict[str, Any], str | None]]:
        """Render params and look up cached outputs; tasks that cannot start get their outcome now."""
        for c in claimed:
            self._plan(c.version_id)
        queue.fill_inputs(session, claimed, {v: p.inputs for v, p in self._plans.items()}, self._memo)
        todo: list[tuple[queue.Claimed, TaskSpec, dict[str, Any], str | None]] = []
        for c in claimed:
            plan = self._plans[c.version_id]
            ts = plan.tasks[c.name]
            op = operators.get(ts.operator)
            if c.lost > queue.MAX_LOST:
                self._ready.append(self._outcome(c, ts, "failed", error=f"its worker vanished {c.lost} times "
                                                 "(lease expired); giving up", retries=0))
                continue
            if op is None or op.unavailable():
                self._ready.append(self._outcome(c, ts, "failed", error=op.unavailable() if op else
                                                 f"unknown operator {ts.operator!r}"))
                continue
            try:
                params = dag.render(dag.task_params(plan.spec, ts, c.params), c.inputs, c.params, c.run_id)
            except dag.RenderError as exc:
                self._ready.append(self._outcome(c, ts, "failed", error=f"params: {exc}"))
                continue
            use_cache = op.deterministic if ts.cache is None else ts.cache
            scope = [ts.operator, params] if c.project == "default" else [ts.operator, params, c.project]
            key = hashlib.sha256(orjson.dumps(scope, option=orjson.OPT_SORT_KEYS)).hexdigest() \
                if use_cache else None  # outputs name a project's objects: cached per project
            todo.append((c, ts, params, key))
        hits = queue.cached_outputs(session, [k for *_, k in todo if k])
        start = []
        for c, ts, params, key in todo:
            if key in hits:
                self._ready.append(self._outcome(c, ts, "succeeded", output=hits[key], cache_key=key, cached=True,
                                                 seconds=0.0))
            else:
                start.append((c, ts, params, key))
        return start

    def _submit(self, c: queue.Claimed, ts: TaskSpec, params: dict[str, Any], key: str | None) -> None:
        plan = self._plans[c.version_id]
        payload = {
            "operator": ts.operator, "params": params,
            "log_path": str(task_log_path(self.home, c.id, c.attempt)),
            "env": {**self._ray_env, "MAINSAIL_HOME": str(self.home)},
            "context": {"run_id": c.run_id, "task": c.name, "pipeline": plan.spec.name, "attempt": c.attempt,
                        "uri": self.runtime.settings.uri, "artifact_root": self.runtime.settings.artifact_root,
                        "params": c.params, "executor": self.executor,
                        "inputs": {u: c.inputs.get(u) for u in plan.dag.upstream[c.name]},
                        "ray_address": self.ray_address, "project": c.project, "starter": c.starter},
        }
        if ts.resources is not None and (ts.resources.cpus or ts.resources.gpus):
            payload["resources"] = {"cpus": ts.resources.cpus, "gpus": ts.resources.gpus}  # Ray asks for them
        self.pool.submit(c.id, payload, ts.timeout)
        self._inflight[c.id] = (c, ts, key)

    def _finished(self, f: Finished) -> queue.Outcome | None:
        entry = self._inflight.pop(f.key, None)
        if entry is None:
            return None
        c, ts, key = entry
        self.executed += 1
        path = task_log_path(self.home, c.id, c.attempt)
        if f.log is not None:  # written on another Ray node and sent back with the result
            path.write_bytes(f.log)
        digest = None
        try:
            if path.stat().st_size:
                digest = self.runtime.store.put_file(path).digest
            path.unlink()
        except FileNotFoundError:
            pass
        status = "failed" if f.status == "timeout" else f.status
        if f.usage:
            self._usage.append({**f.usage, "kind": "task", "pipeline": self._plans[c.version_id].spec.name,
                                "pipeline_run": c.run_id, "task": c.name, "attempt": c.attempt,
                                "retries": ts.retries, "status": status, **costs_hooks.reserved(ts.resources)})
        return self._outcome(c, ts, status, output=f.output, error=f.error, log_digest=digest,
                             seconds=round(f.seconds, 6), cache_key=key if status == "succeeded" else None)

    # ------------------------------------------------------------ the loop
    def _turn(self, timeout: float) -> set[str]:
        for f in self.pool.wait(timeout):
            if (o := self._finished(f)) is not None:
                self._ready.append(o)
        outcomes, self._ready = self._ready, []
        usage, self._usage = self._usage, []
        try:
            with self.runtime.transaction() as ctx:
                done = queue.record(ctx.session, self.owner, outcomes, self._memo) if outcomes else set()
                if usage:
                    costs_hooks.record_tasks(ctx, usage)
                claimed = queue.claim(ctx.session, self.owner, self.pool.free, self.lease, self.run_id, self._memo)
                start = self._prepare(ctx.session, claimed) if claimed else []
                if self.run_id and not claimed and not self._inflight and not self._ready and self.run_id not in done:
                    status = ctx.session.scalar(select(PipelineRunRow.status).where(PipelineRunRow.id == self.run_id))
                    if status in TERMINAL_RUN or status is None:
                        done.add(self.run_id)
        except BaseException:
            # nothing of this turn was committed: keep its outcomes for the next one (dropping those _prepare
            # gave to claims that were rolled back), and forget what the memo learned inside the transaction
            self._ready = outcomes
            self._usage = usage + self._usage
            self._memo.forget(list(self._memo.runs))
            self._memo.outputs.clear()
            raise
        if done:
            self._memo.forget(done)
        for c, ts, params, key in start:
            self._submit(c, ts, params, key)
        return done

    def _heartbeat(self) -> None:
        with self.runtime.transaction() as ctx:
            cancel, lost = queue.heartbeat(ctx.session, self.owner, list(self._inflight), self.lease)
        for task_id in cancel:
            f = self.pool.kill(task_id, "cancelled", "cancelled with its run")
            if f and (o := self._finished(f)):
                self._ready.append(o)
        for task_id in lost - cancel:
            self.pool.kill(task_id)
            self._inflight.pop(task_id, None)
            log.warning("task %s was retaken by another worker after this worker's lease ran out", task_id)

    def run(self, stop: threading.Event | None = None) -> None:
        """Work until ``stop`` is set (or, with ``run_id``, until that run is finished)."""
        stop = stop or threading.Event()
        beat = time.monotonic()
        first = True
        backoff = 0.0
        try:
            while not stop.is_set():
                if self._ready or first:  # the first turn claims at once
                    first = False
                    timeout = 0.0
                else:
                    timeout = self.poll
                    if (deadline := self.pool.next_deadline()) is not None:
                        timeout = min(timeout, max(0.0, deadline - time.monotonic()))
                try:
                    done = self._turn(timeout)
                    # renew leases (a third of their length) and notice cancelled runs within a second
                    if self._inflight and time.monotonic() - beat > min(self.lease / 3, 1.0):
                        self._heartbeat()
                        beat = time.monotonic()
                except ServiceUnavailable as exc:
                    # The database is down: keep the tasks running here and the outcomes gathered (they are
                    # recorded by the first turn that gets through), report not-ready, retry with backoff.
                    self.health.turned(executed=self.executed, inflight=len(self._inflight), error=exc)
                    backoff = min(max(backoff * 2, 0.25), 5.0)
                    log.warning("worker %s: %s; retrying in %.2gs", self.owner, exc, backoff)
                    stop.wait(backoff)
                    continue
                backoff = 0.0
                self.health.turned(executed=self.executed, inflight=len(self._inflight))
                if self.run_id and self.run_id in done:
                    return
        finally:
            self.close()

    def close(self) -> None:
        """Stop the processes; tasks still running here become claimable at once."""
        running = list(self._inflight)
        self.pool.close()
        self._inflight.clear()
        if running:
            try:
                with self.runtime.transaction() as ctx:
                    queue.release(ctx.session, self.owner, running)
            except Exception:  # noqa: BLE001 - the database may be what failed; leases expire anyway
                log.exception("could not release leases")


def reap_dead_local_owners(runtime: Runtime, run_id: str) -> int:
    """Tasks of ``run_id`` held by processes of this host that no longer exist become claimable now
    (what ``pipelines resume`` does after a kill -9, instead of waiting for the lease)."""
    host = socket.gethostname()
    with runtime.transaction() as ctx:
        dead = []
        for owner in queue.running_owners(ctx.session, run_id):
            h, _, rest = owner.partition(":")
            pid = rest.partition(":")[0]
            if h == host and pid.isdigit() and not _alive(int(pid)):
                dead.append(owner)
        return queue.expire_leases(ctx.session, run_id, dead)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
