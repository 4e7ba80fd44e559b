"""Pipelines: DAG definitions (``@pipeline``/``@task`` or the seeds' JSON), runs on a local process
pool or database-queue workers, retries, timeouts, caching, resume, cron and event triggers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["op", "pipeline", "task"]


def __getattr__(name: str) -> Any:  # the DSL is imported on first use: the Client's pipeline methods need not
    if name in __all__:
        from mainsail.pipelines import dsl

        return getattr(dsl, name)
    raise AttributeError(f"module 'mainsail.pipelines' has no attribute {name!r}")


if TYPE_CHECKING:
    from mainsail.pipelines.dsl import op, pipeline, task
