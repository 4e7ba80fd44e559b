"""Usage is measured where work happens: each pipeline task attempt (CPU seconds, peak memory, wall
time, its reservation), each tracked run at its end (CPU and peak memory from the SDK; not billed twice
inside a task), each serving replica interval (requests served)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import mainsail
from mainsail import Client
from mainsail.costs.hooks import ReplicaUsage

BURN = str(Path(__file__).with_name("burn.py").resolve())


@pytest.fixture(params=["sqlite", "postgres"])
def c(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    uri = f"sqlite:///{tmp_path / 'u.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    monkeypatch.setenv("MAINSAIL_URI", uri)
    monkeypatch.setenv("MAINSAIL_ARTIFACT_ROOT", str(tmp_path / "art"))
    monkeypatch.setenv("MAINSAIL_PIPELINE_PROCESSES", "1")
    mainsail.set_tracking_uri(None)
    client = Client(uri, artifact_root=str(tmp_path / "art"))
    yield client
    mainsail.set_tracking_uri(None)
    client.close()


def test_pipeline_tasks_are_measured(c: Client) -> None:
    c.apply_pipeline({"name": "busy", "tasks": [
        {"name": "burn", "operator": "python", "params": {"callable": f"{BURN}:burn",
                                                          "kwargs": {"seconds": 0.6, "megabytes": 150}}, "retries": 2},
        {"name": "nested", "operator": "python", "depends_on": ["burn"],
         "params": {"callable": f"{BURN}:train_in_task", "kwargs": {"uri": c.uri, "seconds": 0.3}}}]})
    run = c.run_pipeline("busy")
    assert run.status == "succeeded", [c.pipeline_task_log(run.id, t.name) for t in run.tasks]
    tasks = {u.task: u for u in c.list_usage("task", pipeline="busy")}
    burn = tasks["burn"]
    assert burn.pipeline_run == run.id and burn.status == "succeeded" and burn.retries == 2
    assert 0.5 <= burn.cpu_seconds <= burn.wall_seconds + 0.5
    assert burn.peak_memory >= 150 << 20  # the task's own peak
    assert tasks["nested"].peak_memory < burn.peak_memory  # the peak is reset between tasks of one process
    assert burn.cpu_request == 1.0 and burn.memory_request == 2 << 30  # the price sheet's reservation
    [inner] = c.list_usage("run")
    assert inner.run_id == run.task("nested").output["run_id"] and inner.cpu_seconds >= 0.25
    assert inner.billable is False  # the task's record counts it
    by_run = c.cost_report("run")
    assert [ln.key for ln in by_run.lines] == [inner.run_id]
    assert c.cost_report("pipeline").lines[0].records == 2  # the run inside is not counted again


def test_tracked_runs_are_measured_at_their_end(c: Client) -> None:
    import time

    with mainsail.start_run("fit", experiment="costs") as run:
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
        block = bytearray(80 << 20)
        block[::4096] = b"y" * len(block[::4096])
    [u] = c.list_usage("run", run_id=run.id)
    assert u.billable and u.status == "finished" and u.cpu_seconds >= 0.25 and u.peak_memory >= 80 << 20
    assert u.wall_seconds > 0 and u.experiment == run.info.experiment_id
    # ended without the SDK (another client): its wall time still counts
    other = c.create_run(run.info.experiment_id, "plain")
    c.end_run(other.id, "failed")
    [p] = c.list_usage("run", run_id=other.id)
    assert p.status == "failed" and p.cpu_seconds == 0 and p.wall_seconds >= 0


def test_replica_usage_reports_requests_and_process_usage(c: Client) -> None:
    usage = ReplicaUsage(c, "churn", "host-1-abc", interval=3600)
    assert usage.maybe_report(5, ["churn-model"]) is False  # the interval has not passed
    assert usage.maybe_report(12, ["churn-model", "churn-model"], force=True) is True
    assert usage.maybe_report(20, ["churn-model"], force=True) is True
    first, second = sorted(c.list_usage("replica", deployment="churn"), key=lambda u: u.id)
    assert (first.requests, second.requests) == (12, 8) and first.model == "churn-model"
    assert first.replica == "host-1-abc" and first.peak_memory > 0 and second.started_at >= first.ended_at


def test_the_server_checks_every_projects_budgets(c: Client, tmp_path: Path) -> None:
    import datetime as dt

    from mainsail.core.runtime import Runtime
    from mainsail.core.settings import Settings
    from mainsail.costs.host import check_all

    c.set_prices(cpu_hour=1.0, memory_gb_hour=0.0)
    c.create_budget("daily", 1.0, period="day", thresholds=[1.0])
    now = dt.datetime.now(dt.UTC)
    c.record_usage([{"kind": "replica", "deployment": "d", "started_at": now - dt.timedelta(seconds=1),
                     "ended_at": now, "wall_seconds": 1.0, "cpu_seconds": 7200.0}])  # 2.0 of 1.0
    runtime = Runtime.for_settings(Settings.from_env().with_uri(c.uri, str(tmp_path / "art")))
    assert check_all(runtime) == 1
    assert c.list_alerts().items == []  # the check only emits; the alerts subscriber (or this) evaluates
    fired = c.evaluate_alerts().fired
    [alert] = c.list_alerts().items
    assert alert.id in fired and alert.labels["budget"] == "daily" and alert.value == 2.0


def test_task_resources_are_billed_and_right_sized(c: Client) -> None:
    from mainsail.core.errors import InvalidInput

    GiB, MiB = 1 << 30, 1 << 20
    c.set_prices(cpu_hour=1.0, memory_gb_hour=0.5, gpu_hour=10.0, spot_discount=0.5)
    burn = {"callable": f"{BURN}:burn"}
    c.apply_pipeline({"name": "res", "tasks": [
        {"name": "big", "operator": "python", "params": {**burn, "kwargs": {"seconds": 0.2, "megabytes": 20}},
         "resources": {"cpus": 4, "memory_gb": 8, "gpus": 1, "spot": True}},
        {"name": "tiny", "operator": "python", "params": {**burn, "kwargs": {"seconds": 0.3, "megabytes": 100}},
         "resources": {"cpus": 0.25, "memory_gb": 0.01}}]})
    assert c.get_pipeline("res").spec.tasks[0].resources.cpus == 4
    run = c.run_pipeline("res")
    assert run.status == "succeeded", [c.pipeline_task_log(run.id, t.name) for t in run.tasks]
    u = {r.task: r for r in c.list_usage("task", pipeline="res")}
    big, tiny = u["big"], u["tiny"]
    assert (big.cpu_request, big.memory_request, big.gpu_request, big.spot) == (4, 8 * GiB, 1, True)
    assert (tiny.cpu_request, tiny.memory_request, tiny.spot) == (0.25, int(0.01 * GiB), False)
    assert tiny.peak_memory >= 100 * MiB > tiny.memory_request  # used more than it reserved

    costs = {ln.key: ln.cost for ln in c.cost_report("task").lines}
    w = big.wall_seconds / 3600  # billed on the reservation, at the spot discount
    assert costs["res/big"] == pytest.approx((4 * w * 1.0 + 8 * w * 0.5 + 1 * w * 10.0) * 0.5, abs=2e-6)
    w = tiny.wall_seconds / 3600  # billed on the larger of reserved and used: the measured peak memory
    cpu = max(0.25 * tiny.wall_seconds, tiny.cpu_seconds) / 3600
    assert costs["res/tiny"] == pytest.approx(cpu * 1.0 + tiny.peak_memory / GiB * w * 0.5, abs=2e-6)

    recs = [r for r in c.cost_recommendations() if r.kind == "right_size"]
    assert [r.target for r in recs] == ["res/big"]  # the declared 4 cores and 8 GiB vs a ~20 MiB, 1-core peak
    ev = recs[0].evidence
    assert ev["cpu_request"] == 4 and ev["memory_request"] == 8 * GiB and ev["peak_memory"] == big.peak_memory
    assert ev["suggested_memory"] < 8 * GiB and ev["suggested_cpus"] <= 2

    for bad in ({"cpus": -1}, {"memory_gb": 0}, {"gpus": 100}, {"cpus": 1, "disk": 5}):
        with pytest.raises(InvalidInput) as exc:
            c.apply_pipeline({"name": "res", "tasks": [{"name": "big", "operator": "python",
                                                        "params": {**burn, "kwargs": {}}, "resources": bad}]})
        assert "resources" in str(exc.value.errors), bad
    assert c.get_pipeline("res").latest_version == 1  # refused definitions changed nothing
