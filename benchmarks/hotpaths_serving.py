"""Hot path: the serving throughput swing and the one-record overhead.

Starts the bare Starlette + ``model.predict`` floor, a FastAPI echo and three ``mainsail serve`` replicas of
the same deployment: one as shipped (the heap frozen after start-up, see ``mainsail/core/heap.py``; the
prediction lane, ``mainsail/serving/lane.py``), one with ``MAINSAIL_PREDICTION_LANE=0`` and one with
``MAINSAIL_GC_FREEZE=0`` (what ran before). Each round drives every server in turn (order rotated)
for ``--seconds`` at each client count; the spread of each server's req/s over the rounds is the swing.

    python benchmarks/hotpaths_serving.py [--smoke] [--rounds 6] [--seconds 2] [--clients 1,32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import fmt_spread, print_load, ratio_spread, spread
from serving import ECHO_APP, STARLETTE_APP, Server, free_port, load, setup


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--clients", default="1,32")
    args = ap.parse_args()
    if args.smoke:  # checks that every server answers correctly under load; no figures
        args.rounds, args.seconds, args.clients = 1, 0.2, "1,8"
    clients = [int(c) for c in args.clients.split(",")]
    print_load("before: ")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        model, x, cols, uri = setup(home)
        import orjson

        body = orjson.dumps({"records": [dict(zip(cols, map(float, x[0]), strict=True))]})
        (home / "echo_app.py").write_text(ECHO_APP)
        (home / "starlette_app.py").write_text(STARLETTE_APP)
        env = {**os.environ, "MAINSAIL_HOME": str(home), "BENCH_MODEL": str(home / "model.joblib"),
               "BENCH_COLS": json.dumps(cols),
               "MAINSAIL_URI": uri, "MAINSAIL_ARTIFACT_ROOT": str(home / "artifacts")}
        servers: list[Server] = []
        for key, app in (("echo", "echo_app:app"), ("starlette", "starlette_app:app")):
            port = free_port()
            servers.append(Server(key, key, [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--log-level",
                                             "warning", "--no-access-log", "--app-dir", str(home)], env,
                                  f"http://127.0.0.1:{port}/health", f"http://127.0.0.1:{port}/predict", body, home))
        variants = (("mainsail", "1", "1"), ("mainsail_nolane", "1", "0"), ("mainsail_nofreeze", "0", "1"))
        for key, freeze, lane in variants[:1] if args.smoke else variants:
            port = free_port()
            servers.append(Server(key, key, [sys.executable, "-m", "mainsail.cli.main", "serve", "bench", "--port",
                                             str(port)], {**env, "MAINSAIL_GC_FREEZE": freeze,
                                                          "MAINSAIL_PREDICTION_LANE": lane},
                                  f"http://127.0.0.1:{port}/ready", f"http://127.0.0.1:{port}/predict", body, home))
        try:
            for s in servers:
                s.wait()
            rps: dict[tuple[str, int], list[float]] = {}
            p50: dict[str, list[float]] = {}
            for r in range(args.rounds):
                order = servers[r % len(servers):] + servers[:r % len(servers)]
                for c in clients:
                    for s in order:
                        res = asyncio.run(load(s.url, body, c, args.seconds))
                        assert res["errors"] == 0, (s.key, res)
                        rps.setdefault((s.key, c), []).append(res["rps"])
                        if c == 1:
                            p50.setdefault(s.key, []).append(res["p50_ms"])
        finally:
            for s in servers:
                s.stop()
    raw = [0.0] * 5

    xx = x[:1]
    for i in range(5):
        t = time.perf_counter()
        for _ in range(200):
            model.predict(xx)
        raw[i] = (time.perf_counter() - t) / 200 * 1000
    raw_ms = float(np.median(raw))
    for c in clients:
        print(f"\n{c} client(s): req/s per server, median (min–max) over {args.rounds} rounds; max/min = the swing")
        for s in servers:
            v = rps[(s.key, c)]
            print(f"  {s.key:20s} {fmt_spread(spread(v), '', 0):>24s}   max/min {max(v) / min(v):5.2f}")
        for key in [s.key for s in servers if s.key.startswith("mainsail")]:
            print(f"  {key} ÷ starlette floor, per round: {fmt_spread(ratio_spread(rps[(key, c)], rps[('starlette', c)]))}")
    for key in [s.key for s in servers if s.key != "echo"]:
        over = [m - e - raw_ms for m, e in zip(p50[key], p50["echo"], strict=True)]
        print(f"one-client p50 of {key} over echo + raw predict ({raw_ms:.3f} ms): "
              f"{fmt_spread(spread(over), ' ms', 3)}")
    print_load("after: ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
