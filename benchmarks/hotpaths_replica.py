"""Hot path: a replica's own cost per one-record ``/predict``, without sockets, and its GC pauses.

1. The replica's ASGI app called in-process (no HTTP server, no load generator) against a bare Starlette
   app that parses the records and calls ``model.predict`` (the floor), interleaved rounds: the
   difference is what Mainsail adds per request (routing, codec, metrics, batching, logging).
2. Full (generation-2) garbage collections while the replica answers ``--requests`` requests with
   inference logging on, in a fresh process each: as shipped (heap frozen after start-up) and with
   ``MAINSAIL_GC_FREEZE=0``. Each full collection stops the event loop for its whole duration.

    python benchmarks/hotpaths_replica.py [--smoke] [--rounds 5] [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import fmt_spread, print_load, spread


def _apps(home: Path, log: bool) -> tuple[Any, Any, Any, Any, bytes]:
    import orjson
    from serving import setup
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from mainsail import Client
    from mainsail.core.heap import settle
    from mainsail.serving.app import create_replica_app
    from mainsail.serving.replica import ReplicaState

    model, x, cols, uri = setup(home)
    state = ReplicaState(Client(uri, artifact_root=str(home / "artifacts")), "bench", log_inferences=log).start()
    app = create_replica_app(state)
    full = create_replica_app(state)
    full._lane = False  # the same replica without the prediction lane (mainsail/serving/lane.py)
    settle()  # what `mainsail serve` does before it answers (a no-op with MAINSAIL_GC_FREEZE=0)

    async def route(request: Any) -> Any:
        body = await request.json()
        xx = np.array([[r[c] for c in cols] for r in body["records"]], dtype=float)
        return JSONResponse({"predictions": model.predict(xx).tolist()})

    bare = Starlette(routes=[Route("/predict", route, methods=["POST"])])
    return state, app, full, bare, orjson.dumps({"records": [dict(zip(cols, map(float, x[0]), strict=True))]})


async def _calls(app: Any, body: bytes, n: int) -> list[int]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/predict", "raw_path": b"/predict", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    out = []
    for _ in range(n):
        sent: list[dict[str, Any]] = []

        async def send(m: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
            sent.append(m)

        t = time.perf_counter_ns()
        await app(dict(scope), receive, send)
        out.append(time.perf_counter_ns() - t)
        assert sent[0]["status"] == 200, sent
    return out


def gc_child(n: int) -> None:
    """Answer ``n`` requests (logging on) and print the full collections seen, as JSON."""
    pauses: list[float] = []
    start = [0.0]

    def cb(phase: str, info: dict[str, Any]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                start[0] = time.perf_counter()
            else:
                pauses.append(time.perf_counter() - start[0])

    with tempfile.TemporaryDirectory() as tmp:
        state, app, _, _, body = _apps(Path(tmp), True)
        gc.callbacks.append(cb)
        t = time.perf_counter()
        asyncio.run(_calls(app, body, n))
        elapsed = time.perf_counter() - t
        gc.callbacks.remove(cb)
        state.stop()
    print(json.dumps({"full_collections": len(pauses), "pause_ms_total": sum(pauses) * 1000,
                      "pause_ms_max": max(pauses, default=0) * 1000, "seconds": elapsed}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000, help="ASGI calls per system per round")
    ap.add_argument("--requests", type=int, default=20000, help="requests per GC measurement")
    ap.add_argument("--gc-child", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.gc_child:
        gc_child(a.gc_child)
        return 0
    if a.smoke:
        a.rounds, a.calls, a.requests = 1, 100, 300
    print_load("before: ")
    with tempfile.TemporaryDirectory() as tmp:
        state, app, full, bare, body = _apps(Path(tmp), False)
        apps = {"ours": app, "full": full, "floor": bare}
        for each in apps.values():
            asyncio.run(_calls(each, body, 200))
        p50: dict[str, list[float]] = {k: [] for k in apps}
        names = list(apps)
        for r in range(a.rounds):
            for name in names[r % 3:] + names[:r % 3]:
                p50[name].append(statistics.median(asyncio.run(_calls(apps[name], body, a.calls))) / 1000)
        state.stop()
    ours, full_, floor = p50["ours"], p50["full"], p50["floor"]
    over = [o - f for o, f in zip(ours, floor, strict=True)]
    over_full = [o - f for o, f in zip(full_, floor, strict=True)]
    print(f"replica app in-process p50: {fmt_spread(spread(ours), ' µs', 1)}; without the prediction lane: "
          f"{fmt_spread(spread(full_), ' µs', 1)}; bare Starlette + predict: {fmt_spread(spread(floor), ' µs', 1)}")
    print(f"Mainsail adds {fmt_spread(spread(over), ' µs', 1)} per request "
          f"(without the lane {fmt_spread(spread(over_full), ' µs', 1)})")
    here = Path(__file__).resolve()
    modes = (("heap frozen (as shipped)", "1"), ("MAINSAIL_GC_FREEZE=0", "0")) * max(1, a.rounds // 2)
    for label, freeze in modes[:1] if a.smoke else modes:  # a smoke checks that a child runs, once
        out = subprocess.run([sys.executable, str(here), "--gc-child", str(a.requests)], capture_output=True,
                             text=True, env={**os.environ, "MAINSAIL_GC_FREEZE": freeze}, timeout=1800)
        if out.returncode:
            print(out.stderr[-2000:])
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{label:26s} {a.requests} requests in {r['seconds']:.1f} s: {r['full_collections']} full collections, "
              f"{r['pause_ms_total']:.0f} ms paused (longest {r['pause_ms_max']:.0f} ms)")
    print_load("after: ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
