"""Audit benchmark: what the hash-chained audit row costs a tracking write.

Embedded Client on SQLite (and on a scratch PostgreSQL database when reachable): ``--writes`` tracking
writes per round — alternately ``log_batch`` of 10 metrics and ``set_tag`` — with the audit row recorded
(as shipped) and with :func:`mainsail.audit.service.record` switched off (the floor: the same write
without its audit row). There is no peer: MLflow and the others keep no audit trail. Rounds are
interleaved; figures are writes per second, median (min–max), and the per-round overhead ratio.

    python benchmarks/audit.py [--smoke] [--rounds 3] [--writes 300] [--no-postgres] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import fmt_spread, now, print_load, ratio_spread, rounds, scratch_postgres, spread


def _writer(uri: str, root: str, writes: int) -> tuple[Callable[[], float], Any]:
    from mainsail import Client

    client = Client(uri, artifact_root=root)
    run = client.create_run(client.create_experiment("bench").id)

    def work() -> float:
        t0 = now()
        for i in range(writes):
            if i % 2:
                client.set_tag(run.id, "k", str(i))
            else:
                client.log_batch(run.id, [(f"m{j}", float(i), i, 1.0) for j in range(10)])
        return writes / (now() - t0)

    return work, client


def measure(uri: str, root: str, writes: int, n: int) -> dict[str, Any]:
    from mainsail.audit import service

    real = service.record
    work, client = _writer(uri, root, writes)

    def off() -> float:
        service.record = lambda *a, **k: None  # type: ignore[assignment]
        try:
            return work()
        finally:
            service.record = real

    res = rounds({"audit on": work, "audit off": off}, n)
    v = client.verify_audit()
    client.close()
    if not v.ok:
        raise SystemExit(f"audit chain broken after the benchmark: {v.problems[:3]}")
    return {"on": spread(res["audit on"]), "off": spread(res["audit off"]),
            "overhead": ratio_spread(res["audit off"], res["audit on"]), "rows": v.rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--writes", type=int, default=300)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    writes = 20 if a.smoke else a.writes
    print_load()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = measure(f"sqlite:///{Path(tmp) / 'a.db'}", str(Path(tmp) / "art"), writes, a.rounds)
        if not (a.smoke or a.no_postgres):
            try:
                with scratch_postgres() as url:
                    out["postgres"] = measure(url, str(Path(tmp) / "art-pg"), writes, a.rounds)
            except Exception as exc:  # noqa: BLE001
                print(f"postgres skipped: {exc}")
    if a.json:
        print(json.dumps(out, indent=2))
        return
    for name, r in out.items():
        print(f"{name}: audit on {fmt_spread(r['on'], ' w/s', 0)}, off {fmt_spread(r['off'], ' w/s', 0)}; "
              f"time per write with audit / without: {fmt_spread(r['overhead'])} (chain of {r['rows']} rows verified)")


if __name__ == "__main__":
    main()
