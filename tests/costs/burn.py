"""Task functions the costs tests run in pipeline pool processes (imported by file path)."""

from __future__ import annotations

import time


def burn(seconds: float, megabytes: int) -> dict:
    """Hold ``megabytes`` of touched memory and keep one core busy for ``seconds``."""
    block = bytearray(megabytes << 20)
    block[::4096] = b"x" * len(block[::4096])
    end, n = time.process_time() + seconds, 0
    while time.process_time() < end:
        n += 1
    return {"loops": n, "held": len(block)}


def train_in_task(uri: str, seconds: float) -> dict:
    """A tracked run inside a pipeline task (its usage is the task's: not billed twice)."""
    import mainsail

    mainsail.set_tracking_uri(uri)
    with mainsail.start_run("inside", experiment="costs") as run:
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass
    return {"run_id": run.id}
