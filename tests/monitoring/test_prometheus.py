"""Monitor and alert gauges on the server's /metrics, read from the database (right whichever process ran
the monitor), and the shipped Prometheus config, rules and Grafana dashboard against a real Prometheus."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from _services import free_port, require_service, stop_process
from prometheus_client.parser import text_string_to_metric_families

from mainsail import Client

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _emit(uri: str, artifacts: str, monitor: str, results: list[dict[str, Any]], deployment: str = "churn") -> None:
    from mainsail.core.events import emit
    from mainsail.core.runtime import Runtime
    from mainsail.core.settings import Settings

    with Runtime.for_settings(Settings.from_env().with_uri(uri, artifacts)).transaction() as ctx:
        emit(ctx.session, "monitor.completed", monitor, {
            "monitor": monitor, "deployment": deployment, "dataset": None,
            "window_start": "2026-12-01T00:00:00+00:00", "window_end": "2026-12-01T01:00:00+00:00",
            "results": results})


def _r(kind: str, feature: str | None, test: str | None, value: float, status: str, **kw: Any) -> dict[str, Any]:
    return {"kind": kind, "feature": feature, "test": test, "variant": kw.get("variant"), "value": value,
            "threshold": kw.get("threshold", 0.2), "status": status, "estimated": kw.get("estimated", False)}


SCENARIO = [
    _r("drift", "age", "psi", 0.42, "drift"), _r("drift", "income", "ks", 0.05, "ok", threshold=0.1),
    _r("multivariate_drift", None, "pca_reconstruction", 0.3, "drift"),
    _r("performance", None, "accuracy", 0.71, "breach", threshold=0.8, variant="champion"),
    _r("estimated_performance", None, "roc_auc", 0.77, "ok", threshold=0.7, variant="champion", estimated=True),
    _r("quality", "age", "null_share", 0.12, "breach", threshold=0.05),
    _r("drift", "plan", "chi2", None, "insufficient_data"),  # type: ignore[arg-type]
]


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


@pytest.mark.parametrize("runtime_settings", ["sqlite", "postgres"], indirect=True)
def test_gauges_come_from_the_latest_stored_results(runtime_settings) -> None:
    from mainsail.core.runtime import Runtime
    from mainsail.monitoring.prometheus import metrics_text

    uri, art = runtime_settings.uri, runtime_settings.artifact_root
    client = Client(uri, artifact_root=art)
    client.create_alert_rule("perf", "status == breach", selector={"kind": "performance"}, severity="critical")
    _emit(uri, art, "churn-drift", [_r("drift", "age", "psi", 0.9, "drift")])  # superseded by the next run
    _emit(uri, art, "churn-drift", SCENARIO)
    _emit(uri, art, "fraud-drift", [_r("drift", "amount", "wasserstein", 0.01, "ok")], deployment="fraud")
    client.evaluate_alerts()
    text = metrics_text(Runtime.for_settings(runtime_settings), ttl=0)().decode()
    s = _samples(text)
    drift = {(lab["deployment"], lab["feature"], lab["test"]): v for lab, v in s["mainsail_drift_score"]}
    assert drift == {("churn", "age", "psi"): 0.42, ("churn", "income", "ks"): 0.05,
                     ("churn", "*", "pca_reconstruction"): 0.3, ("fraud", "amount", "wasserstein"): 0.01}
    detected = {lab["feature"]: v for lab, v in s["mainsail_drift_detected"] if lab["deployment"] == "churn"}
    assert detected == {"age": 1.0, "income": 0.0, "*": 1.0}
    metrics = {(lab["metric"], lab["variant"], lab["estimated"]): v for lab, v in s["mainsail_model_metric"]}
    assert metrics == {("accuracy", "champion", "false"): 0.71, ("roc_auc", "champion", "true"): 0.77}
    [(quality_labels, quality)] = s["mainsail_data_quality"]
    assert quality == 0.12 and quality_labels["check"] == "null_share" and quality_labels["feature"] == "age"
    breach = {(lab["deployment"], lab["kind"]): v for lab, v in s["mainsail_monitor_breach"]}
    assert breach[("churn", "drift")] == 1 and breach[("churn", "performance")] == 1 and breach[("fraud", "drift")] == 0
    assert {lab["severity"]: v for lab, v in s["mainsail_alerts_active"]} == {"info": 0, "warning": 0, "critical": 1}
    assert len(s["mainsail_monitor_last_run_timestamp_seconds"]) == 2
    client.close()


def _prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus")
    if binary is None:
        require_service("prometheus", "the Debian package 'prometheus' is not installed (apt-get install -y prometheus)")
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(DEPLOY / "prometheus" / "alerts.yml")]
    config["scrape_configs"] = [c for c in config["scrape_configs"] if c["job_name"] == "mainsail"]
    config["scrape_configs"][0]["static_configs"] = [{"targets": [target]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    check = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    for _ in range(3):
        port = free_port()
        log = (tmp_path / f"prometheus-{port}.log").open("wb")
        proc = subprocess.Popen([binary, f"--config.file={path}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                    return proc, url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        proc.kill()
        proc.wait(10)
    raise RuntimeError(f"prometheus did not start: {(tmp_path / f'prometheus-{port}.log').read_text()[-2000:]}")


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    body = httpx.get(url + "/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", f"{expr}: {body}"
    return body["data"]["result"]


def _signal(expr: str) -> str:
    """An alert's expression without its final comparison: the series it watches."""
    return re.split(r"\s(?:==|!=|>=|<=|>|<)\s(?=[^()]*$)", expr.strip())[0]


def dashboard_exprs() -> list[str]:
    doc = json.loads((DEPLOY / "grafana" / "mainsail.json").read_text())
    exprs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                exprs.append(node["expr"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return exprs


def test_promtool_checks_the_shipped_files() -> None:
    if shutil.which("promtool") is None:
        require_service("promtool", "the Debian package 'prometheus' is not installed")
    for args in (["check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
                 ["check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")]):
        out = subprocess.run(["promtool", *args], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


def test_real_prometheus_scrapes_the_server_and_every_expression_returns_series(http_server, tmp_path: Path) -> None:
    uri, art = f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "server-artifacts")
    client = Client(http_server.url)
    client.create_alert_rule("perf", "status == breach", selector={"kind": "*performance"}, severity="critical")
    _emit(uri, art, "churn-drift", SCENARIO)  # written by this process, served by the server's /metrics
    client.evaluate_alerts()
    for _ in range(20):  # traffic: reads, a 404 and a 422
        client.list_alerts()
        httpx.get(http_server.url + "/api/v1/alerts/rules/missing")
        httpx.get(http_server.url + "/api/v1/alerts", params={"limit": "0"})
    proc, prom = _prometheus(tmp_path, http_server.url.removeprefix("http://"))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # two scrapes at least, so rates have two samples
            up = _query(prom, 'count_over_time(up{job="mainsail"}[1m])')
            if up and float(up[0]["value"][1]) >= 3 and _query(prom, "mainsail:http_requests:rate5m"):
                break
            client.list_alerts()
            time.sleep(0.5)
        assert _query(prom, 'up{job="mainsail"}')[0]["value"][1] == "1"
        exprs = dashboard_exprs()
        assert len(exprs) >= 10
        for expr in exprs:
            assert _query(prom, expr), f"dashboard expression returned no series: {expr}"
        groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
        rules = [r for g in groups for r in g["rules"]]
        for rule in rules:
            _query(prom, rule["expr"])  # evaluates without error
            watched = rule["expr"] if "record" in rule else _signal(rule["expr"])
            assert _query(prom, watched), f"{rule.get('record') or rule['alert']}: no series for {watched}"
        rule_state = httpx.get(prom + "/api/v1/rules", timeout=10).json()["data"]["groups"]
        assert all(r["health"] == "ok" for g in rule_state for r in g["rules"]), rule_state
        deadline = time.monotonic() + 20
        active: dict[str, str] = {}
        while time.monotonic() < deadline and len(active) < 4:
            alerts = httpx.get(prom + "/api/v1/alerts", timeout=10).json()["data"]["alerts"]
            active = {a["labels"]["alertname"]: a["state"] for a in alerts}
            time.sleep(0.5)
        # the synthetic run drifts, breaches a model metric and a quality check, and a critical alert fires
        assert {"MainsailFeatureDrift", "MainsailModelPerformanceBreach", "MainsailDataQualityBreach",
                "MainsailCriticalAlertsFiring"} <= set(active), active
        assert "MainsailDown" not in active
    finally:
        stop_process(proc, grace=10)
        client.close()
