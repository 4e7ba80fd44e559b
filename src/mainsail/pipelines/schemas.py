"""Pipeline pydantic types: definitions (the seeds' JSON), runs, tasks and schedules."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from mainsail.core.types import NAME_PATTERN, ObjectName, VersionNumber

PipelineName = ObjectName
TaskName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NAME_PATTERN)]


class TaskResources(BaseModel):
    """What a task reserves: it is billed on the reservation (or on what it used, when more), spot at the
    price sheet's discount; on Ray the task asks for ``cpus`` and ``gpus``."""

    model_config = ConfigDict(extra="forbid")

    cpus: float | None = Field(None, gt=0, le=1024, allow_inf_nan=False, description="Cores reserved.")
    memory_gb: float | None = Field(None, gt=0, le=65536, allow_inf_nan=False, description="GiB of memory reserved.")
    gpus: float | None = Field(None, ge=0, le=64, allow_inf_nan=False, description="GPUs reserved.")
    spot: bool = Field(False, description="Runs on spot (preemptible) capacity: billed at the spot discount.")


class TaskSpec(BaseModel):
    """One task: an operator with its params, run after ``depends_on`` (and after every task its
    params refer to with ``${tasks.NAME…}``). The operator's params may also be written at the task's
    top level (the seeds' ``{"name": "q", "operator": "sql_query", "query": "…"}``); they are moved
    into ``params``. A task given no params at all takes its operator's required params from each
    run (``params: {"TASK": {…}}``)."""

    # other keys are the operator's params (moved into ``params``, checked against its model)
    model_config = ConfigDict(extra="forbid", json_schema_extra={"additionalProperties": True})

    @model_validator(mode="before")
    @classmethod
    def _top_level_params(cls, data: Any) -> Any:
        if (isinstance(data, dict) and isinstance(data.get("params", {}), dict)
                and (extra := [k for k in data if k not in cls.model_fields])):
            own = {k: v for k, v in data.items() if k in cls.model_fields}
            own["params"] = {**own.get("params", {}), **{k: data[k] for k in extra}}
            return own
        return data

    name: TaskName
    operator: str = Field(min_length=1, max_length=100, examples=["model_training"])
    params: dict[str, Any] = Field(default_factory=dict, description="The operator's params; "
                                   "'${tasks.T.key}' and '${params.p}' are filled in at run time.")
    depends_on: list[TaskName] = Field(default_factory=list)
    retries: int = Field(0, ge=0, le=20, description="Extra attempts after a failure.")
    retry_backoff: float = Field(1.0, ge=0, le=3600, description="Seconds before the first retry; doubles.")
    timeout: float | None = Field(None, gt=0, le=7 * 86400, description="Seconds before the task is killed.")
    cache: bool | None = Field(None, description="Reuse the output of an identical earlier attempt "
                               "(same operator and inputs). Default: the operator's own setting.")
    resources: TaskResources | None = Field(None, description="What the task reserves (cpus, memory_gb, gpus, "
                                            "spot); default: the price sheet's task_cpus and task_memory_gb.")


class PipelineSpec(BaseModel):
    """A pipeline definition: ``{"name": …, "tasks": [{"name", "operator", "params", "depends_on"}, …]}``,
    or just the list of tasks (named ``pipeline-`` and the first 12 hex digits of the list's SHA-256).

    Tasks without ``depends_on`` run in parallel, except in the seeds' two shapes, which are steps: a
    bare list of tasks, and a definition whose tasks all come without params. When none of their tasks
    declares ``depends_on`` or refers to another, each task depends on the one before it."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _seed_shapes(cls, data: Any) -> Any:
        bare = isinstance(data, list)
        if bare:
            canonical = json.dumps(data, sort_keys=True, default=str).encode()  # any int, unlike orjson
            data = {"name": "pipeline-" + hashlib.sha256(canonical).hexdigest()[:12], "tasks": data}
        tasks = data.get("tasks") if isinstance(data, dict) else None
        if not isinstance(tasks, list) or len(tasks) < 2 or not all(isinstance(t, dict) and "name" in t for t in tasks):
            return data
        templates = all(t.keys() <= TEMPLATE_KEYS for t in tasks)
        linked = any("depends_on" in t for t in tasks) or "${tasks." in json.dumps(tasks, default=str)
        if (bare or templates) and not linked:
            data = {**data, "tasks": [tasks[0], *({**t, "depends_on": [tasks[i]["name"]]}
                                                  for i, t in enumerate(tasks[1:]))]}
        return data

    name: PipelineName
    description: str | None = Field(None, max_length=5000)
    params: dict[str, Any] = Field(default_factory=dict, description="Run parameters and their defaults.")
    tasks: list[TaskSpec] = Field(min_length=1, max_length=20_000)


TEMPLATE_KEYS = frozenset(set(TaskSpec.model_fields) - {"params", "depends_on"})  # a task given without params
MAX_CODE = 8 << 20  # bytes of one shipped module's source


class CodeRef(BaseModel):
    """A module's source shipped with a definition, stored by its SHA-256."""

    digest: str
    size: int


class PipelineVersion(BaseModel):
    id: str
    pipeline_id: str
    name: str
    version: int
    digest: str
    spec: PipelineSpec
    created: bool = Field(description="false when the same definition was already the latest version")
    created_by: str | None = None
    created_at: dt.datetime


class Pipeline(BaseModel):
    id: str
    name: str
    latest_version: int
    description: str | None = None
    tasks: int
    spec: PipelineSpec
    created_at: dt.datetime
    updated_at: dt.datetime


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class TaskStatus(StrEnum):
    pending = "pending"
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"
    cancelled = "cancelled"


TERMINAL_TASK = frozenset({"succeeded", "failed", "skipped", "cancelled"})
TERMINAL_RUN = frozenset({"succeeded", "failed", "cancelled"})


class RunCreate(BaseModel):
    """Start a run (the seeds' ``POST /api/v1/runs``)."""

    model_config = ConfigDict(extra="forbid")

    pipeline_id: str = Field(min_length=1, max_length=200, description="The pipeline's id or name.")
    params: dict[str, Any] = Field(default_factory=dict, description="The pipeline's declared params, and "
                                   "per task name the operator params it was defined without: "
                                   '{"fetch-data": {"source": "s3://…/data.csv", "name": "raw"}}.')
    version: VersionNumber | None = Field(None, description="Default: the latest version.")


class TaskRun(BaseModel):
    name: str
    operator: str
    status: TaskStatus
    depends_on: list[str] = Field(default_factory=list)
    attempt: int = 0
    failures: int = 0
    cached: bool = False
    output: Any = None
    error: str | None = None
    has_log: bool = False
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    seconds: float | None = None


class PipelineRun(BaseModel):
    id: str
    pipeline_id: str
    pipeline: str
    version: int
    status: RunStatus
    params: dict[str, Any] = Field(default_factory=dict)
    trigger: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    cancel_requested: bool = False
    counts: dict[str, int] = Field(default_factory=dict, description="tasks per status")
    tasks: list[TaskRun] = Field(default_factory=list, description="Empty in lists; filled when reading one run.")
    created_by: str | None = None
    started_by: str | None = Field(None, description="The principal its tasks act as (who started it, or its "
                                    "schedule's owner).")
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_RUN

    def task(self, name: str) -> TaskRun:
        return next(t for t in self.tasks if t.name == name)


class ScheduleCreate(BaseModel):
    """A cron schedule (``cron``) or an event trigger (``event``, optionally with a ``filter`` on the
    event's payload and subject)."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(None, max_length=100, examples=["0 3 * * *"])
    event: str | None = Field(None, max_length=100, examples=["drift.detected", "dataset.*"])
    filter: dict[str, Any] = Field(default_factory=dict, description="Equality on payload keys "
                                   "(and 'subject'); all must match.")
    params: dict[str, Any] = Field(default_factory=dict, description="Run params; '${event.KEY}' is "
                                   "filled from the event payload ('${event.id}', '${event.subject}').")

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleCreate:
        if (self.cron is None) == (self.event is None):
            raise ValueError("give exactly one of cron or event")
        return self


class Schedule(BaseModel):
    id: str
    pipeline_id: str
    pipeline: str
    kind: str
    cron: str | None = None
    event: str | None = None
    filter: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    next_fire_at: dt.datetime | None = None
    last_fired_at: dt.datetime | None = None
    created_at: dt.datetime


class OperatorInfo(BaseModel):
    name: str
    description: str
    deterministic: bool
    available: bool
    unavailable_reason: str | None = None
    params_schema: dict[str, Any]
