"""What runs inside a pool process: one task at a time, its stdout and stderr (file descriptors 1 and
2, so C extensions and subprocesses too) captured to the task's log file."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from typing import Any

import orjson

MAX_OUTPUT = 1 << 20  # outputs are references and small values, not data


def _execute(payload: dict[str, Any]) -> tuple[str, Any]:
    from mainsail.pipelines import operators
    from mainsail.pipelines.context import TaskContext

    op = operators.get(payload["operator"])
    if op is None:
        return "failed", f"unknown operator {payload['operator']!r}"
    tc = TaskContext(**payload["context"])
    try:
        params = op.params.model_validate(payload["params"])
        out = op.fn(tc, params)
    finally:
        tc.close()
    try:
        data = orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:
        return "failed", (f"the task's output is not JSON ({exc}); return references (run ids, dataset "
                          "versions, model versions) and small values")
    if len(data) > MAX_OUTPUT:
        return "failed", f"the task's output is {len(data):,} bytes; keep outputs under {MAX_OUTPUT:,} (pass data by reference)"
    return "succeeded", orjson.loads(data)


def run_task(payload: dict[str, Any], saved: tuple[int, int]) -> tuple[str, Any, str | None, float, dict[str, Any]]:
    """Run one task with fds 1 and 2 sent to its log file; return (status, output, error, seconds, usage)."""
    from mainsail.costs.hooks import TASK_ENV, task_usage
    from mainsail.costs.meter import Meter

    os.environ[TASK_ENV], meter = "1", Meter()  # costs: measured from here to the end, no sampling
    log_path = payload.get("log_path")
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if log_path else None
    if fd is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    t0 = time.perf_counter()
    try:
        status, value = _execute(payload)
        if status == "succeeded":
            return status, value, None, time.perf_counter() - t0, task_usage(meter)
        print(value, file=sys.stderr)
        return status, None, value, time.perf_counter() - t0, task_usage(meter)
    except BaseException as exc:  # noqa: BLE001 - a task's failure is data for its run, never the pool's end
        traceback.print_exc()
        return "failed", None, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0, task_usage(meter)
    finally:
        os.environ.pop(TASK_ENV, None)
        if fd is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(fd)


def _die_with_parent() -> None:
    """On Linux, be killed when the worker dies (even by kill -9), so no orphan runs a task twice."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def main(conn: Any) -> None:
    """Serve tasks from the parent over ``conn`` until it closes."""
    _die_with_parent()
    saved = (os.dup(1), os.dup(2))
    while True:
        try:
            payload = conn.recv()
        except (EOFError, OSError):
            payload = None
        if payload is None:
            # Every task's client is closed and its log flushed; skip the interpreter's teardown (a few
            # hundred milliseconds with ML libraries loaded) so a worker stops at once.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        conn.send(run_task(payload, saved))


if __name__ == "__main__":
    from multiprocessing.connection import Connection

    main(Connection(int(sys.argv[1])))
