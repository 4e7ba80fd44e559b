"""Alerts and Prometheus gauges: what evaluating rules on monitor results and serving the gauges cost.

- Rule evaluation: ``evaluate_pending`` over E ``monitor.completed`` events of R results each, with K
  rules (embedded SQLite: the idempotency row, the open alerts, state changes, ``alert.*`` events and
  deliveries, all committed), against the floor — the same selectors and conditions matched in memory,
  nothing stored. Figures: events/s and the ratio to the floor.
- Gauges: one scrape of the monitor gauges (``MonitoringCollector.read`` + text, over M monitors whose
  latest runs hold R results) against the floor — the raw sqlite3 query of the same rows and
  ``json.loads`` — and the peer — prometheus_client ``Gauge(...).labels(...).set()`` for the same
  series plus ``generate_latest``, i.e. keeping the gauges in process memory (which is wrong across
  processes, the reason we read the database) for the three drift gauges; ours also renders the model
  metric, quality, breach, last-run and alert gauges. The drift series are checked equal to the peer's.

Rounds are interleaved (>= 3); ratios per round, median (min–max).

    python benchmarks/alerts.py [--smoke] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt_spread, load_line, now, ratio_spread, rounds, spread  # noqa: E402


def results(r: int, shift: float) -> list[dict[str, Any]]:
    out = [{"kind": "drift", "feature": f"f{i}", "test": "psi", "variant": None, "value": (i % 10) / 20 + shift,
            "threshold": 0.2, "status": "drift" if (i % 10) / 20 + shift > 0.2 else "ok", "estimated": False}
           for i in range(r - 2)]
    out.append({"kind": "performance", "feature": None, "test": "accuracy", "variant": "champion",
                "value": 0.8 - shift, "threshold": 0.75, "status": "ok", "estimated": False})
    out.append({"kind": "quality", "feature": "f0", "test": "null_share", "variant": None, "value": shift / 10,
                "threshold": 0.05, "status": "ok", "estimated": False})
    return out


def setup(root: Path, k: int) -> Any:
    from mainsail import Client

    client = Client(f"sqlite:///{root / 'meta.db'}", artifact_root=str(root / "art"))
    client.create_alert_channel("log", "log", min_severity="critical")
    for i in range(k):
        client.create_alert_rule(f"rule-{i}", f"value > {0.1 + i / 20}", selector={"kind": "drift"} if i % 2 else {})
    return client


def emit_events(client: Any, e: int, r: int, monitors: int = 1) -> None:
    from mainsail.core.events import emit

    with client._backend.runtime.transaction() as ctx:
        for j in range(e):
            m = f"monitor-{j % monitors}"
            emit(ctx.session, "monitor.completed", m, {"monitor": m, "deployment": f"dep-{j % monitors}",
                                                        "dataset": None, "window_start": "", "window_end": "",
                                                        "results": results(r, (j % 4) / 10)})


def floor_match(events: list[list[dict[str, Any]]], rules: list[tuple[dict[str, str], str]]) -> int:
    from mainsail.alerts.conditions import parse_condition, selector_matches

    hits = 0
    for res in events:
        for selector, condition in rules:
            cond = parse_condition(condition)
            for s in res:
                if selector_matches(selector, s) and cond.holds(s):
                    hits += 1
    return hits


def bench_evaluation(e: int, r: int, k: int, n: int) -> dict[str, Any]:
    clients: list[Any] = []
    tmp = tempfile.TemporaryDirectory()

    def ours() -> float:
        root = Path(tmp.name) / f"eval-{len(clients)}"
        client = setup(root, k)
        clients.append(client)
        emit_events(client, e, r)
        t = now()
        report = client.evaluate_alerts(limit=e)
        elapsed = now() - t
        assert report.events == e
        return elapsed

    samples = [results(r, (j % 4) / 10) for j in range(e)]
    rules = [({"kind": "drift"} if i % 2 else {}, f"value > {0.1 + i / 20}") for i in range(k)]

    def floor() -> float:
        t = now()
        floor_match(samples, rules)
        return now() - t

    out = rounds({"ours": ours, "floor": floor}, n)
    for c in clients:
        c.close()
    tmp.cleanup()
    return out


def bench_scrape(m: int, r: int, n: int) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry, Gauge, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from mainsail.monitoring.prometheus import MonitoringCollector

    tmp = tempfile.TemporaryDirectory()
    root = Path(tmp.name)
    client = setup(root, 1)
    emit_events(client, m, r, monitors=m)
    collector = MonitoringCollector(client._backend.runtime, ttl=0)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ours_text = generate_latest(registry).decode()
    db = str(root / "meta.db")
    sql = ("SELECT payload, created_at FROM events WHERE id IN (SELECT max(id) FROM events "
           "WHERE type = 'monitor.completed' GROUP BY subject)")

    def floor() -> float:
        t = now()
        with sqlite3.connect(db) as conn:
            rows = [(json.loads(p), c) for p, c in conn.execute(sql)]
        assert len(rows) == m
        return now() - t

    labels = ["monitor", "deployment", "variant", "feature", "test"]

    def drift_gauges() -> tuple[Any, list[Any]]:
        reg = CollectorRegistry()
        return reg, [Gauge(f"mainsail_drift_{n}", "", labels, registry=reg) for n in ("score", "threshold", "detected")]

    def set_drift(gauges: list[Any], monitor: str, deployment: str, res: list[dict[str, Any]]) -> None:
        score, threshold, detected = gauges
        for x in res:
            if x["kind"] == "drift":
                key = (monitor, deployment, "", x["feature"], x["test"])
                score.labels(*key).set(x["value"])
                threshold.labels(*key).set(x["threshold"])
                detected.labels(*key).set(1.0 if x["status"] == "drift" else 0.0)

    def peer_text() -> str:
        reg, gauges = drift_gauges()
        with sqlite3.connect(db) as conn:
            for (p, _c) in conn.execute(sql):
                payload = json.loads(p)
                set_drift(gauges, payload["monitor"], payload["deployment"], payload["results"])
        return generate_latest(reg).decode()

    reg, gauges = drift_gauges()
    payloads = [results(r, (j % 4) / 10) for j in range(m)]

    def peer() -> float:  # in-process state: set every drift series, then render (what a scrape costs that way)
        t = now()
        for j, res in enumerate(payloads):
            set_drift(gauges, f"monitor-{j}", f"dep-{j}", res)
        generate_latest(reg)
        return now() - t

    def ours() -> float:
        t = now()
        generate_latest(registry)
        return now() - t

    def series(text: str) -> dict[tuple[Any, ...], float]:
        return {(f.name, *sorted(s.labels.items())): s.value for f in text_string_to_metric_families(text)
                if f.name.startswith("mainsail_drift_") for s in f.samples}

    checked = series(ours_text) == series(peer_text())
    out = rounds({"ours": ours, "floor": floor, "peer": peer}, n)
    client.close()
    tmp.cleanup()
    return {**out, "checked": checked, "series": len(series(ours_text))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    e, r, k, m = (20, 10, 4, 20) if args.smoke else (500, 25, 10, 500)
    print(load_line())
    ev = bench_evaluation(e, r, k, args.rounds)
    print(f"rule evaluation: {e} monitor.completed events x {r} results x {k} rules (SQLite, committed)")
    print(f"  ours   {fmt_spread(spread([e / s for s in ev['ours']]), ' events/s', 0)}"
          f"   {fmt_spread(spread([s * 1000 / e for s in ev['ours']]), ' ms/event')}")
    print(f"  floor  {fmt_spread(spread([e / s for s in ev['floor']]), ' events/s', 0)} (matching in memory)")
    print(f"  ours / floor time {fmt_spread(ratio_spread(ev['ours'], ev['floor']))}")
    sc = bench_scrape(m, r, args.rounds)
    print(f"gauges scrape: {m} monitors x {r} results ({sc['series']} drift samples; same as the peer's: "
          f"{sc['checked']})")
    for name, what in (("ours", "collector: query + families + text"), ("floor", "raw sqlite3 query + json"),
                       ("peer", "prometheus_client in-process Gauges set + text, drift only")):
        print(f"  {name:5}  {fmt_spread(spread([s * 1000 for s in sc[name]]), ' ms')}  ({what})")
    print(f"  ours / floor {fmt_spread(ratio_spread(sc['ours'], sc['floor']))}   "
          f"ours / peer {fmt_spread(ratio_spread(sc['ours'], sc['peer']))}")
    print(load_line())
    if not sc["checked"]:
        sys.exit("the collector's series differ from prometheus_client's")


if __name__ == "__main__":
    main()
