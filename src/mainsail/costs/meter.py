"""Measuring a process's usage without sampling: CPU seconds from ``getrusage`` (this process and the
children it waited for), peak memory from the kernel's high-water mark (``VmHWM``, reset between tasks
through ``/proc/self/clear_refs``), GPU seconds from NVML accounting when ``nvidia-ml-py`` and a GPU
exist. Reading them costs tens of microseconds at the start and end of a task, nothing while it runs."""

from __future__ import annotations

import datetime as dt
import os
import resource
import sys
import time
from typing import Any

_LINUX = sys.platform.startswith("linux")


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss() -> int:
    """This process's peak resident memory in bytes (since the last :func:`reset_peak` on Linux)."""
    if _LINUX:
        try:
            with open("/proc/self/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def reset_peak() -> bool:
    """Start a new peak-memory measurement (Linux ≥ 4.0); False when the kernel does not allow it."""
    if not _LINUX:
        return False
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


_nvml: Any = None  # the pynvml module once initialised; False when there is no NVML or no GPU


def _gpu_seconds() -> float | None:
    """GPU time this process used on every device (NVML accounting), or None without a GPU/NVML (probed
    once per process)."""
    global _nvml
    if _nvml is None:
        try:
            import pynvml  # nvidia-ml-py, optional

            pynvml.nvmlInit()
            _nvml = pynvml if pynvml.nvmlDeviceGetCount() > 0 else False
        except Exception:  # noqa: BLE001 - not installed, no driver, no device
            _nvml = False
    if _nvml is False:
        return None
    pynvml = _nvml
    try:
        total = 0.0
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            try:
                total += pynvml.nvmlDeviceGetAccountingStats(handle, os.getpid()).time / 1000.0
            except pynvml.NVMLError:
                continue
        return total
    except Exception:  # noqa: BLE001 - no driver, no device: no GPU usage
        return None


class Meter:
    """Usage of this process between :meth:`start` and :meth:`stop` (one task, one interval)."""

    __slots__ = ("started_at", "_t0", "_cpu0", "_gpu0")

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        reset_peak()
        self.started_at = dt.datetime.now(dt.UTC)
        self._t0 = time.perf_counter()
        self._cpu0 = _cpu()
        self._gpu0 = _gpu_seconds()

    def stop(self, restart: bool = False) -> dict[str, Any]:
        """The measurements since :meth:`start` as :class:`~mainsail.costs.schemas.UsageRecord` fields."""
        wall, cpu, peak = time.perf_counter() - self._t0, _cpu() - self._cpu0, peak_rss()
        gpu = _gpu_seconds()
        out = {"started_at": self.started_at, "ended_at": dt.datetime.now(dt.UTC), "wall_seconds": round(wall, 6),
               "cpu_seconds": round(max(cpu, 0.0), 6), "peak_memory": peak,
               "gpu_seconds": round(max((gpu or 0.0) - (self._gpu0 or 0.0), 0.0), 3)}
        if restart:
            self.start()
        return out
