"""The monitor gauges (drift, model metrics, data quality) on ``/metrics`` of a real serve replica
(``mainsail serve`` in its own process), read through its Client: embedded (the metadata URI) and remote
(a live server's URL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from _monitoring_support import HOUR, churn_frame, last_hours, setup_monitored, write_logs
from _services import free_port, stop_process, wait_ready
from prometheus_client.parser import text_string_to_metric_families

from mainsail import Client


def _serve(uri: str, home: Path, artifact_root: str | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_HOME": str(home), "MAINSAIL_MONITOR_METRICS_TTL": "0.5"}
    if artifact_root:
        env["MAINSAIL_ARTIFACT_ROOT"] = artifact_root
    log = home / f"replica-{port}.log"
    proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "serve", "api", "--port", str(port),
                             "--poll-interval", "0.5", "--no-log-inferences"], env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)
    wait_ready(proc, url, log, "replica", 180)  # a loaded CI machine starts Python slowly
    return proc, url


def _gauges(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def _monitor(client: Client, tmp_path: Path) -> None:
    """A deployment with two logged hours, the second drifted, and a monitor run over both."""
    ctx = setup_monitored(client, tmp_path)
    h = last_hours(2)
    live = churn_frame(1000, seed=1)
    drifted = live.iloc[500:].assign(charges=live["charges"].iloc[500:] + 40)
    write_logs(client, "api", ctx["model"], [(h[0], live.iloc[:500]), (h[1], drifted)])
    client.create_monitor("api-drift", deployment="api", every="1h")
    run = client.run_monitor("api-drift", start=h[0], end=h[1] + HOUR)
    assert run.windows == 2


def _check(url: str) -> None:
    deadline = time.monotonic() + 20
    g: dict = {}
    while time.monotonic() < deadline:
        g = _gauges(url)
        if g.get("mainsail_drift_score"):
            break
        time.sleep(0.3)
    drift = {dict(k)["feature"]: v for k, v in g["mainsail_drift_score"].items()}
    detected = {dict(k)["feature"]: v for k, v in g["mainsail_drift_detected"].items()}
    # the latest window (the drifted hour): charges moved by two standard deviations, the rest did not
    assert set(drift) >= {"tenure", "charges", "calls", "*"}, drift
    assert detected["charges"] == 1.0 and detected["tenure"] == 0.0 and drift["charges"] > 1.0
    assert all(dict(k)["deployment"] == "api" and dict(k)["monitor"] == "api-drift" for k in g["mainsail_drift_score"])
    quality = {(dict(k)["feature"], dict(k)["check"]): v for k, v in g["mainsail_data_quality"].items()}
    assert quality[("charges", "null_share")] == 0.0 and ("charges", "out_of_range") in quality
    assert "mainsail_data_quality_breach" in g and "mainsail_monitor_last_run_timestamp_seconds" in g
    assert "mainsail_alerts_active" not in g  # the server's, not each replica's
    assert any(name.startswith("mainsail_model_loaded") for name in g)  # the replica's own metrics stay


def test_replica_metrics_show_the_deployments_monitor_gauges_embedded(tmp_path: Path) -> None:
    uri, root = f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts")
    client = Client(uri, artifact_root=root)
    try:
        _monitor(client, tmp_path)
        proc, url = _serve(uri, tmp_path, root)
        try:
            _check(url)
            # a newer run replaces the gauges (the replica rereads after its ttl)
            h = last_hours(1)[0]
            client.run_monitor("api-drift", start=h - HOUR, end=h)
            time.sleep(0.7)
            drift = {dict(k)["feature"]: v for k, v in _gauges(url)["mainsail_drift_detected"].items()}
            assert drift["charges"] == 0.0  # the latest window is now the undrifted hour
        finally:
            stop_process(proc)
    finally:
        client.close()


def test_replica_metrics_show_the_deployments_monitor_gauges_remote(http_server, tmp_path: Path) -> None:
    client = Client(http_server.url)
    try:
        _monitor(client, tmp_path)
        proc, url = _serve(http_server.url, tmp_path)
        try:
            _check(url)
        finally:
            stop_process(proc)
    finally:
        client.close()


def test_replica_without_monitors_has_no_monitor_gauges(tmp_path: Path) -> None:
    uri, root = f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts")
    client = Client(uri, artifact_root=root)
    try:
        setup_monitored(client, tmp_path)
        proc, url = _serve(uri, tmp_path, root)
        try:
            g = _gauges(url)
            assert not g.get("mainsail_drift_score") and not g.get("mainsail_model_metric")
            assert "mainsail_model_loaded" in g  # the replica's own metrics answer
        finally:
            stop_process(proc)
    finally:
        client.close()
