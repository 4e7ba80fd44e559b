"""Pipeline methods of the Client. Embedded, ``run_pipeline(wait=True)`` executes the run in this
process on a local process pool; remote, the server's executor (or ``mainsail worker``) runs it and
the client follows its state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mainsail.client.backends import Backend, LocalBackend
from mainsail.core.errors import InvalidInput, ServiceUnavailable
from mainsail.core.ops import LazyOpSet
from mainsail.core.pagination import Page

if TYPE_CHECKING:  # annotations only: importing the Client does not build these models
    from mainsail.pipelines.schemas import (
        OperatorInfo,
        Pipeline,
        PipelineRun,
        PipelineVersion,
        Schedule,
    )

ops = LazyOpSet("mainsail.pipelines.ops")  # imported on first call: composing the Client stays cheap


class PipelineMethods:
    _backend: Backend

    # ------------------------------------------------------------ definitions
    def apply_pipeline(self, definition: Any) -> PipelineVersion | list[PipelineVersion]:
        """Register a definition: a ``@pipeline`` function, a :class:`PipelineSpec`, the seeds' JSON as a
        mapping, or a ``.json``/``.yaml``/``.py`` file (a list back when the file holds several)."""
        from mainsail.pipelines.dsl import PipelineDefinition, load_definitions, shipped_code

        if isinstance(definition, str | Path) and not isinstance(definition, Mapping):
            specs = load_definitions(definition)
            out = [self.apply_pipeline(s) for s in specs]
            return out[0] if len(out) == 1 else out  # type: ignore[return-value]
        if isinstance(definition, PipelineDefinition):
            definition = definition.spec()
        from mainsail.pipelines.schemas import PipelineSpec

        if isinstance(definition, PipelineSpec):
            definition = definition.model_dump(mode="json", exclude_unset=True)
        elif isinstance(definition, list | tuple):  # the seeds' bare list of tasks, in its canonical form
            definition = PipelineSpec.model_validate(list(definition)).model_dump(mode="json", exclude_unset=True)
        if isinstance(definition, Mapping):
            for digest, data in shipped_code(definition).items():  # the tasks' own code travels with them
                self._backend.call(ops.put_code, {"digest": digest, "data": data})
        return self._backend.call(ops.apply_pipeline, {"body": definition})

    def get_pipeline_code(self, digest: str) -> bytes:
        """The module source a ``python`` task shipped with its definition (verified by digest)."""
        return self._backend.call(ops.get_code, {"digest": digest})

    def get_pipeline(self, name: str) -> Pipeline:
        return self._backend.call(ops.get_pipeline, {"name": name})

    def list_pipelines(self, cursor: str | None = None, limit: int = 100) -> Page[Pipeline]:
        return self._backend.call(ops.list_pipelines, {"cursor": cursor, "limit": limit})

    def list_pipeline_versions(self, name: str) -> list[PipelineVersion]:
        return self._backend.call(ops.list_pipeline_versions, {"name": name})

    def list_pipeline_operators(self) -> list[OperatorInfo]:
        return self._backend.call(ops.list_operators, {})

    # ------------------------------------------------------------ runs
    def run_pipeline(self, name: Any, params: Mapping[str, Any] | None = None, *, version: int | None = None,
                     wait: bool = True, timeout: float | None = None, processes: int | None = None,
                     executor: str | None = None, ray_address: str | None = None) -> PipelineRun:
        """Start a run; with ``wait`` return it finished (embedded: executed here on ``processes``
        local processes, or on Ray with ``executor="ray"``; remote: executed by the server or workers).
        ``name`` is a pipeline's name or id, or (the seeds' ``run_pipeline(definition)``) a definition
        as :meth:`apply_pipeline` takes it, even a bare list of tasks: applied, then run. ``params``: the
        pipeline's declared params and, per task name, operator params the definition left out."""
        if not isinstance(name, str) or Path(name).suffix in (".json", ".yaml", ".yml", ".py") and Path(name).is_file():
            applied = self.apply_pipeline(name)
            if isinstance(applied, list):
                raise InvalidInput(f"{name} holds {len(applied)} pipelines: run one by name",
                                   errors=[{"loc": ["definition"], "msg": "several pipelines"}])
            name, version = applied.pipeline_id, applied.version
        run = self._backend.call(ops.create_run, {"body": {"pipeline_id": name, "params": dict(params or {}),
                                                           "version": version}})
        if not wait:
            return run
        return self.wait_pipeline_run(run.id, timeout=timeout, processes=processes, executor=executor,
                                      ray_address=ray_address)

    def get_pipeline_run(self, run_id: str) -> PipelineRun:
        return self._backend.call(ops.get_run, {"id": run_id})

    def list_pipeline_runs(self, pipeline: str | None = None, status: str | None = None, cursor: str | None = None,
                           limit: int = 100) -> Page[PipelineRun]:
        return self._backend.call(ops.list_runs, {"pipeline": pipeline, "status": status, "cursor": cursor,
                                                  "limit": limit})

    def wait_pipeline_run(self, run_id: str, *, timeout: float | None = None, processes: int | None = None,
                          poll: float = 0.5, execute: bool = True, executor: str | None = None,
                          ray_address: str | None = None) -> PipelineRun:
        """Block until the run ends. Embedded (and ``execute``), this process executes its tasks: on
        ``processes`` local processes, or with ``executor="ray"`` on the Ray cluster at ``ray_address``
        (default ``MAINSAIL_RAY_ADDRESS``, else a local one)."""
        if isinstance(self._backend, LocalBackend) and execute:
            from mainsail.pipelines.worker import Worker

            if len(run_id) < 32:  # a unique prefix
                run_id = self.get_pipeline_run(run_id).id

            stop = threading.Event()
            timer = threading.Timer(timeout, stop.set) if timeout else None
            if timer:
                timer.start()
            try:
                Worker(self._backend.runtime, run_id=run_id, processes=processes, executor=executor,
                       ray_address=ray_address).run(stop)
            finally:
                if timer:
                    timer.cancel()
            return self.get_pipeline_run(run_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.get_pipeline_run(run_id)
            if run.done or (deadline is not None and time.monotonic() > deadline):
                return run
            time.sleep(poll)

    def resume_pipeline_run(self, run_id: str, *, processes: int | None = None, timeout: float | None = None,
                            executor: str | None = None, ray_address: str | None = None) -> PipelineRun:
        """Finish a run whose process died: finished tasks are kept, tasks held by dead processes of this
        host are retaken at once (others when their lease expires)."""
        if not isinstance(self._backend, LocalBackend):
            raise ServiceUnavailable("resume runs against the database (the server's executor resumes on its own)")
        from mainsail.pipelines.worker import reap_dead_local_owners

        run_id = self.get_pipeline_run(run_id).id  # a unique prefix is enough
        reap_dead_local_owners(self._backend.runtime, run_id)
        return self.wait_pipeline_run(run_id, timeout=timeout, processes=processes, executor=executor,
                                      ray_address=ray_address)

    def cancel_pipeline_run(self, run_id: str) -> PipelineRun:
        return self._backend.call(ops.cancel_run, {"id": run_id})

    def pipeline_task_log(self, run_id: str, task: str) -> str:
        """A task's captured stdout and stderr."""
        return self._backend.call(ops.get_task_log, {"id": run_id, "task": task}).decode("utf-8", "replace")

    # ------------------------------------------------------------ schedules
    def schedule_pipeline(self, name: str, *, cron: str | None = None, event: str | None = None,
                          filter: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None) -> Schedule:
        """Run ``name`` on a ``cron`` schedule or on each ``event`` (type, ``x.*`` prefix) matching ``filter``."""
        if (cron is None) == (event is None):
            raise InvalidInput("give exactly one of cron or event", errors=[{"loc": ["cron"], "msg": "cron or event"}])
        return self._backend.call(ops.create_schedule, {"name": name, "body": {
            "cron": cron, "event": event, "filter": dict(filter or {}), "params": dict(params or {})}})

    def schedule(self, cron: str, *, name: str | None = None, params: Mapping[str, Any] | None = None
                 ) -> Callable[[Any], Any]:
        """The seeds' ``@registry.schedule("0 0 * * 0")`` decorator, a spelling of :meth:`apply_pipeline`
        plus :meth:`schedule_pipeline`: a ``@pipeline`` is applied as it is; a plain function becomes a
        one-task pipeline (its ``python`` operator calls the function) named after it. The function
        comes back unchanged, with the :class:`Schedule` as its ``schedule`` attribute."""
        from mainsail.pipelines.dsl import PipelineDefinition, callable_ref, ship

        def register(fn: Any) -> Any:
            if isinstance(fn, PipelineDefinition):
                definition: Any = fn
            else:
                task = name or fn.__name__
                target = ship(fn) or {"callable": callable_ref(fn)}  # its source travels with it (by digest)
                definition = {"name": task, "tasks": [{"name": task, "operator": "python", "params": target}]}
            applied = self.apply_pipeline(definition)
            assert not isinstance(applied, list)
            fn.schedule = self.schedule_pipeline(applied.name, cron=cron, params=params)
            return fn

        return register

    def list_pipeline_schedules(self, pipeline: str | None = None) -> list[Schedule]:
        return self._backend.call(ops.list_schedules, {"pipeline": pipeline})

    def delete_pipeline_schedule(self, schedule_id: str) -> None:
        self._backend.call(ops.delete_schedule, {"id": schedule_id})
