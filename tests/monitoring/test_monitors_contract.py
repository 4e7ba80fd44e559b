"""Monitors over every back end (sqlite, postgres, http): create, run, results by time range, runs,
events, bad input, idempotency per window."""

from __future__ import annotations

import datetime as dt

import pytest
from _monitoring_support import FEATURES, HOUR

from mainsail import Client
from mainsail.core.errors import Conflict, InvalidInput, NotFound


def test_monitor_finds_drift_in_the_drifted_hour_only(client: Client, monitored: dict) -> None:
    h = monitored["hours"]
    m = client.create_monitor("churn-drift", deployment="api", every="1h", target="churned")
    assert m.reference.kind == "training" and m.window.every == "1h" and m.schedule is None
    run = client.run_monitor("churn-drift", start=h[0])
    assert run.windows == 3 and run.rows == monitored["rows"] and run.drifted_windows == 1 and run.status == "succeeded"
    share = client.monitor_results("churn-drift", kind="drift", test="share_drifted")
    assert [r.status for r in share] == ["ok", "ok", "drift"] and [r.window_start for r in share] == h
    charges = client.monitor_results("churn-drift", kind="drift", feature="charges")
    assert [r.status for r in charges] == ["ok", "ok", "drift"] and charges[-1].test == "wasserstein"
    assert charges[-1].value > charges[-1].threshold == 0.1 and charges[-1].rows == 500
    # the prediction against the training labels, quality per feature
    assert {r.feature for r in run.items if r.kind == "drift"} >= {*FEATURES, "prediction", None}
    rng = client.monitor_results("churn-drift", kind="quality", feature="charges", test="out_of_range")
    assert [r.status for r in rng] == ["ok", "ok", "breach"]
    assert all(r.status == "ok" for r in client.monitor_results("churn-drift", kind="quality", test="null_share"))
    # a time range picks windows
    only = client.monitor_results("churn-drift", start=h[1], end=h[2], kind="drift", feature="tenure")
    assert [r.window_start for r in only] == [h[1]]
    # rerunning the same windows replaces their results: one per window
    again = client.run_monitor("churn-drift", start=h[0])
    assert again.windows == 3 and len(client.monitor_results("churn-drift", kind="drift", feature="charges")) == 3
    runs = client.list_monitor_runs("churn-drift").items
    assert [r.id for r in runs][:2] == [again.id, run.id] and runs[0].trigger == "manual"
    assert [x.name for x in client.list_monitors(deployment="api").items] == ["churn-drift"]


def test_events_follow_the_contract(client: Client, monitored: dict, backend: str) -> None:
    if backend.startswith("http"):
        pytest.skip("events are read from the database in-process")
    from mainsail.core.events import list_events

    h = monitored["hours"]
    client.create_monitor("m", deployment="api", every="1h")
    client.run_monitor("m", start=h[0])
    rt = client._backend.runtime  # type: ignore[attr-defined]
    with rt.transaction(write=False) as ctx:
        done = list_events(ctx.session, type="monitor.completed")
        drift = list_events(ctx.session, type="drift.detected")
    assert len(done) == 3 and done[0].subject == "m"
    p = done[-1].payload
    assert set(p) == {"monitor", "project", "deployment", "dataset", "window_start", "window_end", "results"}
    assert p["project"] == "default"  # alert rules of the monitor's project evaluate it
    assert p["deployment"] == "api" and p["dataset"] is None and p["window_start"] == h[2].isoformat()
    assert set(p["results"][0]) == {"kind", "feature", "test", "variant", "value", "threshold", "status", "estimated"}
    share = next(r for r in p["results"] if r["test"] == "share_drifted")
    assert share["feature"] is None and share["variant"] is None and share["status"] == "drift"
    assert len(drift) == 1 and "charges" in drift[0].payload["features"]
    assert set(drift[0].payload) == {"monitor", "project", "deployment", "window_start", "window_end", "share_drifted", "features"}
    assert drift[0].payload["share_drifted"] == pytest.approx(len(drift[0].payload["features"]) / 3)


def test_empty_windows_are_insufficient_data_never_drift(client: Client, monitored: dict) -> None:
    h = monitored["hours"]
    client.create_monitor("quiet", deployment="api", every="1h")
    run = client.run_monitor("quiet", start=h[0] - 5 * HOUR, end=h[0])  # five hours without traffic
    assert run.windows == 5 and run.rows == 0 and run.drifted_windows == 0
    assert {r.status for r in run.items} == {"insufficient_data"}


def test_last_n_rows_window_and_explicit_reference(client: Client, monitored: dict) -> None:
    ref = f"train@{monitored['version']}"
    client.create_monitor("recent", deployment="api", rows=400, reference=ref, features=["charges", "tenure"],
                          drift={"tests": {"charges": "psi"}, "thresholds": {"psi": 0.2}})
    run = client.run_monitor("recent")
    assert run.windows == 1 and run.items[0].rows == 400
    psi = next(r for r in run.items if r.feature == "charges" and r.kind == "drift")
    assert psi.test == "psi" and psi.threshold == 0.2 and psi.status == "drift"
    assert not any(r.feature == "calls" for r in run.items if r.kind == "drift")


def test_a_past_window_as_reference(client: Client, monitored: dict) -> None:
    h = monitored["hours"]
    client.create_monitor("vs-first-hour", deployment="api", every="1h",
                          reference={"kind": "window", "start": h[0], "end": h[0] + HOUR},
                          drift={"drift_share": 0.3})
    client.run_monitor("vs-first-hour", start=h[1])
    pred = client.monitor_results("vs-first-hour", feature="prediction", kind="drift")
    assert len(pred) == 2  # the reference window has predictions: prediction drift without a target
    share = client.monitor_results("vs-first-hour", test="share_drifted")
    assert [r.status for r in share] == ["ok", "drift"]
    ks = client.monitor_results("vs-first-hour", feature="charges", kind="drift")
    assert [r.test for r in ks] == ["ks", "ks"] and ks[1].value < 0.05  # a 500-row reference: KS p-values


def test_bad_input_names_what_and_leaves_state(client: Client, monitored: dict) -> None:
    with pytest.raises(InvalidInput, match=r"no column 'nope'.*tenure"):
        client.create_monitor("m1", deployment="api", features=["tenure", "nope"])
    with pytest.raises(InvalidInput, match="unknown feature 'nope'"):
        client.create_monitor("m1", deployment="api", drift={"tests": {"nope": "ks"}})
    with pytest.raises(InvalidInput, match="unknown test 'kss'"):
        client.create_monitor("m1", deployment="api", drift={"tests": {"tenure": "kss"}})
    with pytest.raises(InvalidInput, match="not a cron"):
        client.create_monitor("m1", deployment="api", schedule="every day")
    with pytest.raises(InvalidInput, match="not a duration"):
        client.create_monitor("m1", deployment="api", every="an hour")
    with pytest.raises(InvalidInput, match="deployment or dataset"):
        client.create_monitor("m1")
    with pytest.raises(NotFound, match="nope"):
        client.create_monitor("m1", deployment="nope")
    with pytest.raises(NotFound):
        client.create_monitor("m1", deployment="api", reference="train@ffffffff")
    with pytest.raises(InvalidInput):
        client.create_monitor("../etc", deployment="api")
    assert client.list_monitors().items == []
    client.create_monitor("m1", deployment="api")
    with pytest.raises(Conflict):
        client.create_monitor("m1", deployment="api")
    with pytest.raises(InvalidInput, match="known: .*charges"):
        client.run_monitor("m1", start=monitored["hours"][0]) and client.monitor_results("m1", feature="nope")
    with pytest.raises(InvalidInput, match="kind"):
        client.monitor_results("m1", kind="vibes")
    with pytest.raises(InvalidInput, match="before end"):
        client.run_monitor("m1", start=dt.datetime.now(dt.UTC), end=dt.datetime.now(dt.UTC) - HOUR)
    with pytest.raises(NotFound):
        client.run_monitor("nope")
    client.delete_monitor("m1")
    with pytest.raises(NotFound):
        client.get_monitor("m1")


def test_a_model_without_training_data_in_its_lineage_says_so(client: Client, monitored: dict, tmp_path) -> None:
    from _monitoring_support import FEATURES as F
    from sklearn.linear_model import LogisticRegression

    from mainsail.registry.packaging import save_model

    frame = monitored["frame"]
    run = client.create_run(client.ensure_experiment("monitoring").id)
    save_model(LogisticRegression().fit(frame[F].to_numpy(), frame["churned"]), tmp_path / "p2",
               input_example=frame[F].head(3))
    client.log_artifacts(run.id, tmp_path / "p2", "model")
    client.register_model_version("bare", source=f"runs:/{run.id}/model")
    client.create_deployment("bare-api", "models:/bare/1")
    with pytest.raises(InvalidInput, match="records no training dataset"):
        client.create_monitor("b", deployment="bare-api")
