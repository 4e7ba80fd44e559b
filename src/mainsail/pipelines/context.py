"""What a running task sees: its run, its inputs (upstream outputs by reference) and a Client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskContext:
    """Handed to every operator (and to ``@task`` functions that take a ``context`` argument)."""

    run_id: str
    task: str
    pipeline: str
    attempt: int
    uri: str
    artifact_root: str
    params: dict[str, Any] = field(default_factory=dict)  # the run's params
    inputs: dict[str, Any] = field(default_factory=dict)  # upstream task name -> its output
    executor: str = "local"  # where this task runs: "local" (a pool process) or "ray" (a Ray task)
    ray_address: str | None = None  # the Ray cluster of the executor, when it is "ray"
    project: str = "default"  # the run's project: every call of the task works in it
    starter: dict[str, Any] | None = None  # the principal the task acts as: who started the run (or the
    # schedule's owner); None for runs recorded before starters were (the local admin)
    _client: Any = None

    @property
    def client(self) -> Any:
        """A :class:`mainsail.Client` on the same metadata store and artifact root as the worker, in the
        run's project, acting as the principal that started the run."""
        if self._client is None:
            self._client = task_client(self.uri, self.artifact_root, self.project, self.starter)
        return self._client

    @property
    def tags(self) -> dict[str, str]:
        """Tags that tie a tracked run to this task."""
        return {"mainsail.pipeline": self.pipeline, "mainsail.pipeline_run_id": self.run_id,
                "mainsail.pipeline_task": self.task}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def task_client(uri: str, artifact_root: str | None, project: str = "default", starter: dict[str, Any] | None = None
                ) -> Any:
    """A Client for code a task runs: in ``project``, acting as ``starter`` (its role checks are the
    starter's, so a task can do no more than the principal that started its run)."""
    from mainsail.client import Client
    from mainsail.core.principal import principal_from

    client = Client(uri, artifact_root=artifact_root or None, project=project)
    backend = client._backend
    if hasattr(backend, "principal"):  # in-process: the services check this principal's roles
        backend.principal = principal_from(starter)
        if starter:
            backend.actor = str(starter.get("name") or backend.actor)
    return client
