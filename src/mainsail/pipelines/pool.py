"""A small process pool with what ``concurrent.futures`` lacks for tasks: we know which process runs
which task, so a task that overruns its timeout, or whose run is cancelled, is killed (and its
process replaced) without disturbing the others. Processes start lazily and are reused, so a task
costs a pipe round trip, not a process spawn."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any


def task_log_path(home: str | Path, task_id: int, attempt: int) -> Path:
    """Where an attempt's stdout and stderr go while it runs (on the executing worker's host); stored
    content-addressed in the artifact store when the attempt ends."""
    return Path(home) / "tmp" / "task-logs" / f"{task_id}-{attempt}.log"


@dataclass
class _Slot:
    proc: Any
    conn: Connection
    key: Any = None
    deadline: float | None = None
    started: float = 0.0


@dataclass
class Finished:
    key: Any
    status: str  # succeeded | failed | timeout | cancelled
    output: Any = None
    error: str | None = None
    seconds: float = 0.0
    log: bytes | None = None  # the log's bytes when it was written elsewhere (a Ray task on another node)
    usage: dict[str, Any] | None = None  # what the task used (costs.meter), when it ran to its end


class ProcessPool:
    def __init__(self, size: int):
        self.size = max(1, size)
        self._idle: list[_Slot] = []
        self._busy: dict[Any, _Slot] = {}

    @property
    def free(self) -> int:
        return self.size - len(self._busy)

    @property
    def running(self) -> list[Any]:
        return list(self._busy)

    def _spawn(self) -> _Slot:
        # A fresh interpreter (not fork, not multiprocessing's spawn): nothing of the parent's threads,
        # locks or ``__main__`` is inherited; the two ends talk over a socket pair.
        mine, theirs = socket.socketpair()
        proc = subprocess.Popen([sys.executable, "-m", "mainsail.pipelines.child", str(theirs.fileno())],
                                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        return _Slot(proc, Connection(mine.detach()))

    def submit(self, key: Any, payload: dict[str, Any], timeout: float | None = None) -> None:
        if not self.free:
            raise RuntimeError("no free process")
        slot = self._idle.pop() if self._idle else self._spawn()
        slot.key, slot.started = key, time.monotonic()
        slot.deadline = slot.started + timeout if timeout else None
        slot.conn.send(payload)
        self._busy[key] = slot

    def next_deadline(self) -> float | None:
        deadlines = [s.deadline for s in self._busy.values() if s.deadline is not None]
        return min(deadlines) if deadlines else None

    def wait(self, timeout: float) -> list[Finished]:
        """Results of tasks that finished within ``timeout`` seconds (plus tasks killed for overrunning)."""
        done: list[Finished] = []
        if self._busy:
            by_conn = {s.conn: s for s in self._busy.values()}
            for conn in wait(list(by_conn), timeout=max(0.0, timeout)):
                slot = by_conn[conn]  # type: ignore[index]
                try:
                    status, output, error, seconds, usage = slot.conn.recv()
                except (EOFError, OSError):
                    code = _reap(slot.proc, 1)
                    done.append(self._discard(slot, "failed", f"the task's process died (exit code {code})"))
                    continue
                del self._busy[slot.key]
                done.append(Finished(slot.key, status, output, error, seconds, usage=usage))
                slot.key = None
                self._idle.append(slot)
        elif timeout > 0:
            time.sleep(timeout)
        now = time.monotonic()
        for slot in [s for s in self._busy.values() if s.deadline is not None and now >= s.deadline]:
            done.append(self._discard(slot, "timeout", f"timed out after {slot.deadline - slot.started:g}s"))
        return done

    def kill(self, key: Any, status: str = "cancelled", reason: str = "cancelled") -> Finished | None:
        slot = self._busy.get(key)
        return None if slot is None else self._discard(slot, status, reason)

    def _discard(self, slot: _Slot, status: str, error: str) -> Finished:
        self._busy.pop(slot.key, None)
        if slot.proc.poll() is None:
            slot.proc.kill()
        _reap(slot.proc, 5)
        slot.conn.close()
        return Finished(slot.key, status, None, error, time.monotonic() - slot.started)

    def close(self) -> None:
        for slot in self._idle:
            with contextlib.suppress(OSError):
                slot.conn.send(None)
        for slot in self._busy.values():
            slot.proc.kill()
        # idle processes exit on their own, all at once: wait for them together, not one after another
        deadline = time.monotonic() + 0.5
        for slot in [*self._idle, *self._busy.values()]:
            if _reap(slot.proc, max(0.0, deadline - time.monotonic())) is None:
                slot.proc.kill()
                _reap(slot.proc, 2)
            slot.conn.close()
        self._idle.clear()
        self._busy.clear()


def _reap(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    """The exit code once ``proc`` has exited within ``timeout`` seconds, else None."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None
