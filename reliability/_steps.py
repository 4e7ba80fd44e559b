"""The task the pipeline kill -9 trials run (imported by file path in the task processes)."""

from __future__ import annotations

import os
import time


def mark(path: str, name: str, sleep: float) -> str:
    """Append ``name`` to ``path`` (one line per execution), then sleep."""
    with open(path, "a") as fh:
        fh.write(f"{name} {os.getpid()}\n")
    time.sleep(sleep)
    return name


def where(context) -> dict:  # noqa: ANN001 - the task context the python operator passes
    """Which executor and process ran this task."""
    return {"executor": context.executor, "pid": os.getpid()}
