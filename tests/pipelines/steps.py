"""Task functions the pipeline tests run (imported by file path in the worker processes)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def mark(path: str, name: str, sleep: float = 0.0) -> dict[str, Any]:
    """Append ``name`` to ``path`` (one line per execution), then sleep."""
    with open(path, "a") as fh:
        fh.write(f"{name} {os.getpid()} {time.time()}\n")
    time.sleep(sleep)
    return {"name": name, "pid": os.getpid()}


def executions(path: str | Path) -> list[str]:
    p = Path(path)
    return [ln.split()[0] for ln in p.read_text().splitlines()] if p.exists() else []


def flaky(path: str, fail_times: int) -> int:
    """Fail the first ``fail_times`` executions."""
    with open(path, "a") as fh:
        fh.write("try\n")
    n = len(Path(path).read_text().splitlines())
    if n <= fail_times:
        raise RuntimeError(f"flaky failure {n}")
    return n


def boom(message: str) -> None:
    print("about to fail")
    raise ValueError(message)


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def add(a: float, b: float) -> float:
    return a + b


def with_context(context: Any) -> dict[str, Any]:
    return {"run_id": context.run_id, "task": context.task, "inputs": sorted(context.inputs)}


def mark_slow_once(path: str, name: str, sleep: float = 0.0) -> dict[str, Any]:
    """Like :func:`mark`, but sleeps only on the first execution of ``name`` (a rerun is quick)."""
    first = name not in executions(path)
    return mark(path, name, sleep if first else 0.0)


def where(context: Any) -> dict[str, Any]:
    """Which executor and process ran this task."""
    return {"executor": context.executor, "pid": os.getpid(), "ray_address": context.ray_address}


def assigned() -> dict[str, float]:
    """The resources Ray assigned to this task."""
    import ray

    return {k: float(v) for k, v in ray.get_runtime_context().get_assigned_resources().items()}


def chatty(path: str, seconds: float) -> str:
    """Print a line, signal that it did (by creating ``path``), then sleep: for reading a live log."""
    print("first line from a running task", flush=True)
    Path(path).touch()
    time.sleep(seconds)
    print("last line", flush=True)
    return "done"
