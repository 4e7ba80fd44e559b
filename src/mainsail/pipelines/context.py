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
    _client: Any = None

    @property
    def client(self) -> Any:
        """A :class:`mainsail.Client` on the same metadata store and artifact root as the worker."""
        if self._client is None:
            from mainsail.client import Client

            self._client = Client(self.uri, artifact_root=self.artifact_root or None)
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
