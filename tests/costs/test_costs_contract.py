"""The costs contract, the same embedded (sqlite), on postgres and over http: price sheets, usage
records, cost reports by every key over a period, budgets raising alerts through alert rules."""

from __future__ import annotations

import datetime as dt

import pytest

from mainsail import Client
from mainsail.core.errors import Conflict, InvalidInput, NotFound

NOW = dt.datetime.now(dt.UTC)
GiB = 1 << 30


def task(pipeline: str, name: str, hours: float = 1.0, ago: float = 1.0, **kw) -> dict:
    end = NOW - dt.timedelta(hours=ago)
    return {"kind": "task", "pipeline": pipeline, "task": name, "started_at": end - dt.timedelta(hours=hours),
            "ended_at": end, "wall_seconds": hours * 3600, "cpu_seconds": 60.0, "peak_memory": 100 << 20, **kw}


def replica(deployment: str, model: str, requests: int, ago_min: float, cpu: float = 6.0) -> dict:
    end = NOW - dt.timedelta(minutes=ago_min)
    return {"kind": "replica", "deployment": deployment, "replica": "r1", "model": model, "requests": requests,
            "started_at": end - dt.timedelta(minutes=1), "ended_at": end, "wall_seconds": 60.0, "cpu_seconds": cpu,
            "peak_memory": GiB}


def test_price_sheet_defaults_edit_and_bad_input(client: Client) -> None:
    sheet = client.get_prices()
    assert sheet.default and sheet.project == "default" and sheet.cpu_hour > 0 and 0 < sheet.spot_discount < 1
    new = client.set_prices(cpu_hour=0.1, memory_gb_hour=0.01, team="risk")
    assert not new.default and new.cpu_hour == 0.1 and new.team == "risk"
    assert new.gpu_hour == sheet.gpu_hour  # left out: the default
    assert client.get_prices().memory_gb_hour == 0.01
    for bad in ({"cpu_hour": -1}, {"spot_discount": 1.5}, {"cpu_hour": float("nan")}, {"bogus": 1}):
        with pytest.raises(InvalidInput) as exc:
            client.set_prices(**bad)
        assert exc.value.errors and exc.value.errors[0]["loc"][0] == "body"
    assert client.get_prices().cpu_hour == 0.1  # unchanged by refused writes


def test_cost_report_by_every_key_over_a_period(client: Client) -> None:
    client.set_prices(cpu_hour=1.0, memory_gb_hour=0.5, gpu_hour=10.0, spot_discount=0.5, task_cpus=2,
                      task_memory_gb=4, team="risk")
    written = client.record_usage([
        task("train", "fit", hours=1.0),  # reserves 2 cores and 4 GiB: 2*1 + 4*0.5 = 4.0
        task("train", "fit", hours=1.0, spot=True),  # half price: 2.0
        task("etl", "load", hours=0.5, cpu_request=1.0, memory_request=GiB),  # 0.5 + 0.25 = 0.75
        task("etl", "load", hours=1.0, ago=24 * 40),  # outside the default 30 days
        replica("churn", "churn-model", 10, 5), replica("churn", "churn-model", 0, 3),  # measured: 2 x (6s, 1 GiB 60 s)
    ])
    assert written.written == 6
    rep = client.cost_report("pipeline")
    costs = {ln.key: ln.cost for ln in rep.lines}
    assert costs == {"train": pytest.approx(6.0), "etl": pytest.approx(0.75)}
    assert rep.lines[0].key == "train"  # most expensive first
    assert rep.total == pytest.approx(6.75)

    replica_cost = 2 * (6 / 3600 * 1.0 + 60 / 3600 * 0.5)
    by_project = client.cost_report("project")
    assert [ln.key for ln in by_project.lines] == ["default"]
    assert by_project.total == pytest.approx(6.75 + replica_cost)
    assert client.cost_report("team").lines[0].key == "risk"
    dep = client.cost_report("deployment")
    assert dep.lines[0].key == "churn" and dep.lines[0].requests == 10
    assert dep.total == pytest.approx(replica_cost)
    assert client.cost_report("model").lines[0].key == "churn-model"
    tasks = {ln.key: ln for ln in client.cost_report("task").lines}
    assert tasks["train/fit"].records == 2 and tasks["train/fit"].cpu_hours == pytest.approx(4.0)

    # any period: the old record alone
    old = client.cost_report("pipeline", since=NOW - dt.timedelta(days=60), until=NOW - dt.timedelta(days=31))
    assert [(ln.key, ln.records) for ln in old.lines] == [("etl", 1)]
    assert client.cost_report("pipeline", since=NOW + dt.timedelta(days=1), until=NOW + dt.timedelta(days=2)).lines == []
    with pytest.raises(InvalidInput):
        client.cost_report("pipeline", since=NOW, until=NOW - dt.timedelta(days=1))
    with pytest.raises(InvalidInput) as exc:
        client.cost_report("colour")
    assert exc.value.errors[0]["loc"] == ["query", "by"]


def test_usage_records_are_listed_and_bad_ones_refused(client: Client) -> None:
    client.record_usage([task("train", "fit"), replica("churn", "m", 3, 1)])
    rows = client.list_usage()
    assert {r.kind for r in rows} == {"task", "replica"} and all(r.project == "default" for r in rows)
    t = client.list_usage("task")[0]
    assert t.pipeline == "train" and t.cpu_request == 1.0 and t.memory_request == 2 * GiB  # the sheet's reservation
    for bad in ({**task("p", "t"), "kind": "vm"}, {**task("p", "t"), "cpu_seconds": -1},
                {**task("p", "t"), "pipeline": "x\x00y"}):
        with pytest.raises(InvalidInput):
            client.record_usage([bad])
    with pytest.raises(InvalidInput):
        client.record_usage([])
    assert len(client.list_usage()) == 2


def test_budget_thresholds_raise_alerts_through_alert_rules(client: Client) -> None:
    client.set_prices(cpu_hour=1.0, memory_gb_hour=0.0)
    client.create_alert_channel("ops-log", "log")
    b = client.create_budget("monthly", 10.0, thresholds=[0.5, 1.0], severity="critical")
    assert b.rule == "budget-default-monthly" and b.thresholds == [0.5, 1.0]
    rule = client.get_alert_rule(b.rule)
    assert rule.selector.kind == "budget" and rule.severity == "critical"
    with pytest.raises(Conflict):
        client.create_budget("monthly", 5.0)
    with pytest.raises(InvalidInput):
        client.create_budget("neg", -5.0)
    with pytest.raises(NotFound):
        client.get_budget("nope")

    start = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    span = max((NOW - start).total_seconds() - 1, 1)
    rec = {"kind": "run", "run_id": "r" * 32, "started_at": NOW - dt.timedelta(seconds=span), "ended_at": NOW,
           "wall_seconds": span, "cpu_seconds": 6 * 3600.0}
    client.record_usage([rec])  # 6.0 spent: the 50% threshold is reached, not 100%
    [st] = client.check_budgets()
    assert st.spent == pytest.approx(6.0) and st.reached == [0.5] and len(st.alerts_fired) == 1
    firing = client.list_alerts().items
    assert [(a.rule, a.labels["test"], a.severity) for a in firing] == [(b.rule, "50%", "critical")]
    assert client.list_alert_deliveries().items  # queued to the channel
    assert client.check_budgets()[0].alerts_fired == []  # still firing: not fired twice

    client.record_usage([{**rec, "run_id": "s" * 32}])  # 12.0: over the budget
    [st] = client.check_budgets()
    assert st.reached == [0.5, 1.0] and len(st.alerts_fired) == 1
    assert client.get_budget("monthly").spent == pytest.approx(12.0)

    client.delete_budget("monthly")
    assert client.list_budgets() == []
    with pytest.raises(NotFound):
        client.get_alert_rule(b.rule)


def test_recommendations_carry_evidence_and_savings(client: Client, tmp_path) -> None:
    import pandas as pd

    client.set_prices(cpu_hour=1.0, memory_gb_hour=0.5)
    client.record_usage([
        # over-provisioned: 100 MiB and 60 CPU-s per hour of 2 GiB and 1 core reserved; retry-safe and 1 h long
        task("train", "fit", hours=1.0, retries=2), task("train", "fit", hours=1.0, ago=30, retries=2),
        # well-sized: uses its core and most of its memory
        task("etl", "load", hours=0.5, cpu_seconds=1700.0, peak_memory=int(1.8 * GiB)),
        # an endpoint with 3 requests in 20 intervals
        *[replica("quiet", "m", 1 if i % 7 == 0 else 0, i) for i in range(20)],
        # a busy one
        *[replica("busy", "m", 5000, i) for i in range(20)],
    ])
    exp = client.ensure_experiment("recs")
    run = client.create_run(exp.id, "to-delete")
    art = tmp_path / "weights.bin"
    art.write_bytes(b"w" * 4096)
    client.log_artifact(run.id, art)
    client.delete_run(run.id)
    frame = pd.DataFrame({"a": [1, 2, 3]})
    client.ingest_dataset(frame, "copy-a")
    client.ingest_dataset(frame, "copy-b")

    recs = client.cost_recommendations()
    kinds = {(r.kind, r.target): r for r in recs}
    assert set(kinds) == {("right_size", "train/fit"), ("spot", "train/fit"), ("batch", "quiet"),
                          ("archive", "deleted runs"), ("dedupe", "copy-a@1")}
    rs = kinds[("right_size", "train/fit")]
    assert rs.evidence["peak_memory"] == 100 << 20 and rs.evidence["suggested_memory"] == 128 << 20
    assert rs.evidence["suggested_cpus"] == 0.25 and rs.estimated_saving > 0 and rs.currency == "USD"
    assert kinds[("spot", "train/fit")].evidence["retries"] == 2
    batch = kinds[("batch", "quiet")]
    assert batch.evidence["requests"] == 3 and batch.evidence["active_share"] == 0.15
    assert kinds[("archive", "deleted runs")].evidence["bytes"] == 4096
    assert kinds[("dedupe", "copy-a@1")].evidence["versions"] == ["copy-a@1", "copy-b@1"]
    assert [r.estimated_saving for r in recs] == sorted((r.estimated_saving for r in recs), reverse=True)
    with pytest.raises(InvalidInput):
        client.cost_recommendations(days=0)
