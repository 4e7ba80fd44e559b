"""Pipelines: DAG definitions (``@pipeline``/``@task`` or the seeds' JSON), runs on a local process
pool or database-queue workers, retries, timeouts, caching, resume, cron and event triggers."""

from mainsail.pipelines.dsl import op, pipeline, task

__all__ = ["op", "pipeline", "task"]
