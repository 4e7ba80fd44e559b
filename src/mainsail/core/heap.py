"""Keeping Python's cyclic garbage collector off a server's request path.

A server process holds a few hundred thousand long-lived objects (imported modules, the app, loaded
models). CPython's full (generation 2) collection walks all of them: 100–400 ms on a shared 2-core
machine, during which no request is answered. Requests, the inference-log buffer and background syncs
promote enough objects for such a collection to run every few tens of thousands of requests, so a
throughput measurement over a few seconds either contains one or not: the 3x swing between identical
serving rounds. :func:`settle` moves everything alive at start-up (and after a model load) into the
permanent generation (``gc.freeze``), which full collections skip; what requests allocate is still
collected. ``MAINSAIL_GC_FREEZE=0`` turns it off."""

from __future__ import annotations

import gc
import os


def enabled() -> bool:
    return os.environ.get("MAINSAIL_GC_FREEZE", "1").strip().lower() not in ("0", "false", "no", "off")


def settle(*, collect: bool = True) -> bool:
    """Collect once (unless ``collect`` is false: e.g. on a serving thread, where the pause would show),
    then freeze what survives. Returns whether it froze."""
    if not enabled():
        return False
    if collect:
        gc.collect()
    gc.freeze()
    return True
