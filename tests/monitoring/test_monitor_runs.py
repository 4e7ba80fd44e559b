"""Monitor runs in-process: dataset monitors (new versions, quality: missing, extra, mistyped, unseen
categories), the schedule and the dataset-version trigger, and a crash in the middle of a run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _monitoring_support import last_hours, setup_monitored, write_logs

from mainsail import Client
from mainsail.core.errors import InvalidInput


@pytest.fixture
def local(tmp_path: Path) -> Client:
    c = Client(f"sqlite:///{tmp_path / 'm.db'}", artifact_root=str(tmp_path / "artifacts"))
    yield c
    c.close()


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"amount": rng.normal(100 + shift, 10, n), "country": rng.choice(["fr", "de", "it"], n),
                         "age": rng.integers(18, 90, n)})


def test_a_dataset_monitor_checks_each_new_version(local: Client) -> None:
    local.ingest_dataset(_frame(2000, 0), "tx")
    local.create_monitor("tx-quality", dataset="tx")
    with pytest.raises(InvalidInput, match="no version before"):
        local.run_monitor("tx-quality")  # one version: nothing to compare with
    bad = _frame(2000, 1, shift=30).assign(country=lambda f: np.where(np.arange(len(f)) % 10 == 0, "zz", f["country"]),
                                           age=lambda f: f["age"].astype(str)).drop(columns=["amount"]).assign(
        amount=lambda f: np.r_[np.full(400, np.nan), np.random.default_rng(2).normal(130, 10, 1600)], extra=1)
    v2 = local.ingest_dataset(bad, "tx")
    run = local.run_monitor("tx-quality")
    assert run.windows == 1 and run.rows == 2000
    got = {(r.feature, r.test): r for r in run.items if r.kind == "quality"}
    assert got[("country", "unseen_categories")].status == "breach" and got[("country", "unseen_categories")].value == \
        pytest.approx(0.1)
    assert got[("age", "type")].status == "breach"  # strings where the reference had integers
    assert got[("extra", "extra")].status == "breach"
    assert got[("amount", "null_share")].value == pytest.approx(0.2) and got[("amount", "null_share")].status == "breach"
    amount = next(r for r in run.items if r.kind == "drift" and r.feature == "amount")
    assert amount.status == "drift"
    # checked versions are not checked again; an explicit version is
    assert local.run_monitor("tx-quality").windows == 0
    assert local.run_monitor("tx-quality", version=v2.id).windows == 1
    assert len(local.monitor_results("tx-quality", feature="amount", kind="drift")) == 1
    with pytest.raises(InvalidInput, match="no column 'nope'"):
        local.create_monitor("tx-2", dataset="tx", features=["nope"], reference=f"tx@{v2.id}")


def test_new_versions_trigger_dataset_monitors_and_cron_runs_others(local: Client, tmp_path: Path) -> None:
    from mainsail.core.events import Dispatcher, Subscription, list_events
    from mainsail.monitoring import host, service

    rt = local._backend.runtime  # type: ignore[attr-defined]
    local.ingest_dataset(_frame(500, 0), "tx")
    local.create_monitor("on-version", dataset="tx", drift={"drift_share": 0.3})
    local.ingest_dataset(_frame(500, 1, shift=50), "tx")
    sub = {host.SUBSCRIBER: Subscription(host.SUBSCRIBER, host.dataset_handler(rt), frozenset({"dataset.version_created"}))}
    Dispatcher(rt, subscriptions=sub).run_once()
    runs = local.list_monitor_runs("on-version").items
    assert len(runs) == 1 and runs[0].trigger == "event" and runs[0].drifted_windows == 1
    with rt.transaction(write=False) as ctx:
        assert len(list_events(ctx.session, type="drift.detected")) == 1
    # a cron schedule: due monitors are claimed once and run
    ctx0 = setup_monitored(local, tmp_path)
    write_logs(local, "api", ctx0["model"], [(last_hours(1)[0], ctx0["frame"].iloc[:300])])
    m = local.create_monitor("hourly", deployment="api", schedule="*/5 * * * *")
    assert m.next_run_at is not None and m.next_run_at > dt.datetime.now(dt.UTC)
    later = m.next_run_at + dt.timedelta(seconds=1)
    with rt.transaction() as ctx:
        assert service.claim_due(ctx, later) == ["hourly"]
    with rt.transaction() as ctx:
        assert service.claim_due(ctx, later) == []  # claimed: the next time moved on
    host.run_one(rt, "hourly", "schedule")
    run = local.list_monitor_runs("hourly").items[0]
    assert run.trigger == "schedule" and run.status == "succeeded" and run.rows == 300
    # a failing scheduled run is recorded, not raised
    local.delete_deployment("api")
    host.run_one(rt, "hourly", "schedule")
    failed = local.list_monitor_runs("hourly").items[0]
    assert failed.status == "failed" and "api" in failed.error


def test_a_crash_mid_run_leaves_nothing_and_a_rerun_one_result_per_window(local: Client, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from mainsail.monitoring import service

    ctx0 = setup_monitored(local, tmp_path)
    h = last_hours(3)
    write_logs(local, "api", ctx0["model"], [(t, ctx0["frame"].iloc[i * 300:(i + 1) * 300]) for i, t in enumerate(h)])
    local.create_monitor("m", deployment="api")
    real, calls = service.emit, []

    def crash(session, type, *a, **k):  # type: ignore[no-untyped-def]
        calls.append(type)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return real(session, type, *a, **k)

    monkeypatch.setattr(service, "emit", crash)
    with pytest.raises(RuntimeError, match="killed"):
        local.run_monitor("m", start=h[0])
    monkeypatch.setattr(service, "emit", real)
    assert local.monitor_results("m") == [] and local.list_monitor_runs("m").items == []
    assert local.get_monitor("m").last_window_end is None
    local.run_monitor("m", start=h[0])
    local.run_monitor("m", start=h[0])
    share = local.monitor_results("m", test="share_drifted")
    assert [r.window_start for r in share] == h
    # the next run starts where the last one ended: no window twice
    assert local.run_monitor("m").windows == 0


def test_by_variant_adds_a_series_per_variant(local: Client, tmp_path: Path) -> None:
    ctx0 = setup_monitored(local, tmp_path)
    write_logs(local, "api", ctx0["model"], [(last_hours(1)[0], ctx0["frame"].iloc[:400])])
    local.create_monitor("v", deployment="api", by_variant=True)
    run = local.run_monitor("v", start=last_hours(1)[0])
    assert {r.variant for r in run.items} == {None, "primary"}
    assert local.monitor_results("v", variant="primary", test="share_drifted")[0].rows == 400
