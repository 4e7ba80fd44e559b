"""The web UI in a real browser: Playwright driving Debian's Chromium against a real ``mainsail server``
on data the quickstart made. Every page opens with no console error, no failed request and no
accessibility violation of the label, contrast and keyboard-focus rules (axe-core); the main flows are
clicked through; a screenshot of each page is kept (``MAINSAIL_UI_ARTIFACTS``, else a temp folder)."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _services import ServerProcess, require_service

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).with_name("axe.min.js")
HOSTILE = "<img src=x onerror=alert(1)>"
AXE_RULES = [  # labels, contrast and keyboard focus
    "label", "button-name", "link-name", "select-name", "aria-input-field-name", "input-button-name",
    "image-alt", "color-contrast", "tabindex", "scrollable-region-focusable", "nested-interactive",
    "frame-focusable-content", "focus-order-semantics", "aria-hidden-focus", "bypass", "document-title",
    "html-has-lang", "accesskeys",
]
STEPS = '''
import time


def nap(seconds: float, name: str) -> str:
    time.sleep(seconds)
    print(f"{name} slept {seconds}s")
    return name
'''


def _png() -> bytes:
    """A 2×2 PNG (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00\x00\x00\xff" for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _typed_log(c: Any, deployment: str, at: float, prefix: str, tenure: Any, charges: Any, p1: Any) -> None:
    """One inference-log file in the replicas' typed format (features, prediction, class probabilities)."""
    import datetime as dt
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mainsail.serving.inference_log import FORMAT, FORMAT_KEY

    n = len(p1)
    table = pa.table({"request_id": [f"{prefix}{i}" for i in range(n)], "row": pa.array([0] * n, pa.int32()),
                      "time": pa.array([int((at + i % 60) * 1e6) for i in range(n)], pa.timestamp("us", tz="UTC")),
                      "deployment": [deployment] * n, "variant": ["primary"] * n, "model": ["churn"] * n,
                      "version": pa.array([1] * n, pa.int32()), "latency_ms": [2.0] * n, "shadow": [False] * n,
                      "status": pa.array([200] * n, pa.int16()), "tenure": tenure, "charges": charges,
                      "prediction": (p1 >= 0.5).astype(np.int64), "proba_0": 1 - p1, "proba_1": p1})
    buf = io.BytesIO()
    pq.write_table(table.replace_schema_metadata({FORMAT_KEY: FORMAT}), buf)
    when = dt.datetime.fromtimestamp(at, dt.UTC)
    c.add_inference_log(deployment, buf.getvalue(), rows=n, first_at=when, last_at=when + dt.timedelta(minutes=1),
                        replica="ui-test")


def _seed_monitoring(c: Any, deployment: str) -> None:
    """Four hours of logged traffic with labels (the first the reference, then ``tenure`` drifting more
    each hour), a monitor with drift, quality and accuracy (measured and estimated), and two rules that
    fire: open alerts to acknowledge and to silence."""
    import datetime as dt
    import time

    import numpy as np

    rng = np.random.default_rng(5)
    hour = int(time.time() // 3600) * 3600 - 4 * 3600
    for i in range(4):
        p1 = rng.uniform(0, 1, 300)
        _typed_log(c, deployment, hour + i * 3600 + 60, f"w{i}-", rng.normal(30 + 15 * i, 10, 300),
                   rng.normal(60, 20, 300), p1)
        c.push_labels(deployment, {f"w{i}-{k}": int(v) for k, v in enumerate(rng.uniform(0, 1, 300) < p1)})
    start = dt.datetime.fromtimestamp(hour, dt.UTC)
    c.create_alert_rule("tenure-drift", "status == drift", selector={"monitor": "churn-ui-watch", "kind": "drift",
                                                                    "feature": "tenure"}, severity="critical")
    c.create_alert_rule("charges-watch", "value >= 0", selector={"monitor": "churn-ui-watch", "kind": "drift",
                                                                "feature": "charges"}, severity="info")
    c.create_monitor("churn-ui-watch", deployment=deployment, every="1h", features=["tenure", "charges"],
                     metrics=["accuracy"], description="the UI tests' monitor",
                     reference={"kind": "window", "start": start, "end": start + dt.timedelta(hours=1)})
    c.run_monitor("churn-ui-watch", start=start + dt.timedelta(hours=1), end=start + dt.timedelta(hours=4))
    c.evaluate_alerts()


def _seed(home: Path) -> dict[str, Any]:
    """Beyond the quickstart: a run with a hostile name, artifacts to preview and a long metric, a
    second version of the churn dataset, a deployment and a pipeline slow enough to watch."""
    import pandas as pd

    from mainsail import Client

    c = Client(f"sqlite:///{home / 'mainsail.db'}", artifact_root=str(home / "artifacts"))
    exp = c.ensure_experiment("ui-hostile")  # object names are restricted; run names and tags are free text
    run = c.create_run(exp.id, name=HOSTILE, params={"lr": 0.1, "note": HOSTILE}, tags={"team": HOSTILE})
    c.log_batch(run.id, metrics=[("loss", 1.0 / (i + 1), i, 1.7e9 + i) for i in range(5000)])
    files = home / "files"
    files.mkdir()
    (files / "notes.txt").write_text(f"hello {HOSTILE}\n")
    (files / "table.csv").write_text("a,b\n1,x\n2,<b>y</b>\n")
    (files / "plot.png").write_bytes(_png())
    for f in files.iterdir():
        c.log_artifact(run.id, f)
    c.end_run(run.id)
    frame = c.load_dataset("churn")
    frame["tenure_months"] = frame["tenure_months"] + 3
    v2 = c.ingest_dataset(frame.head(800).reset_index(drop=True), "churn")
    c.create_deployment("churn-ui", "models:/churn@champion", description="deployed by the UI tests")
    _seed_monitoring(c, "churn-ui")
    for who in ("viewer", "editor"):
        c.create_user(f"ui-{who}", password=f"{who}-password-1", role=who)
    champion = c.get_model_version_by_alias("churn", "champion")
    c.register_model_version("churn", source=champion.source, description="a candidate for the UI's canary")
    (home / "steps.py").write_text(STEPS)
    ref = f"{home / 'steps.py'}:nap"
    c.apply_pipeline({"name": "ui-sleepy", "tasks": [
        {"name": "first", "operator": "python", "params": {"callable": ref, "kwargs": {"seconds": 2, "name": "first"}}},
        {"name": "second", "operator": "python", "depends_on": ["first"],
         "params": {"callable": ref, "kwargs": {"seconds": 2, "name": "second"}}}]})
    experiment = c.get_experiment_by_name("churn-quickstart")
    train_runs = [r for r in c.search_runs([experiment.id]) if r.name.startswith("churn-")]
    v1 = [v for v in c.list_dataset_versions("churn") if v.id != v2.id][0]
    pipeline_run = c.list_pipeline_runs("churn-quickstart").items[0]
    out = {"experiment": experiment.id, "hostile_experiment": exp.id, "hostile_run": run.id,
           "train_runs": [r.id for r in train_runs], "v1": v1.id, "v2": v2.id, "pipeline_run": pipeline_run.id,
           "home": str(home)}
    c.close()
    assert pd is not None
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """A real server (background services on, so pipeline runs execute) over quickstart data."""
    if not Path(CHROMIUM).exists():
        require_service("chromium", f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        require_service("playwright", "pip install playwright (the dev extra)")
    home = tmp_path_factory.mktemp("ui-home")
    env = {**os.environ, "MAINSAIL_HOME": str(home)}
    for var in ("MAINSAIL_URI", "MAINSAIL_ARTIFACT_ROOT", "MAINSAIL_TOKEN"):
        env.pop(var, None)
    done = subprocess.run([sys.executable, "-m", "mainsail.cli.main", "quickstart", "--skip-serving", "--rows", "1000"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ids = _seed(home)
    server = ServerProcess(f"sqlite:///{home / 'mainsail.db'}", str(home / "artifacts"), home, "--background",
                           "--deployments", "none")
    server.start(timeout=120)  # a loaded machine may take long to import and migrate
    try:
        yield server.url, ids
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(site: Any) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("MAINSAIL_UI_ARTIFACTS") or tmp_path_factory.mktemp("ui-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Watch:
    """A page with its console errors, failed requests and error responses recorded."""

    def __init__(self, browser: Any, base: str):
        self.base = base
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))
        self.page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))

    def open(self, path: str) -> Any:
        self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        return self.page

    def axe(self) -> list[dict[str, Any]]:
        self.page.evaluate(AXE.read_text() + "\n;0")  # through DevTools: the page's CSP forbids inline script
        result = self.page.evaluate("rules => axe.run(document, {runOnly: {type: 'rule', values: rules}})",
                                    AXE_RULES)
        return [{"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"][:5]]}
                for v in result["violations"]]

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def watch(browser: Any, site: Any) -> Iterator[Watch]:
    w = Watch(browser, site[0])
    yield w
    w.close()


PAGES = {
    "home": lambda ids: "/",
    "experiments": lambda ids: "/experiments",
    "runs": lambda ids: f"/experiments/{ids['experiment']}",
    "run": lambda ids: f"/runs/{ids['train_runs'][0]}",
    "hostile-run": lambda ids: f"/runs/{ids['hostile_run']}",
    "artifact-text": lambda ids: f"/runs/{ids['hostile_run']}/artifacts/notes.txt",
    "artifact-image": lambda ids: f"/runs/{ids['hostile_run']}/artifacts/plot.png",
    "artifact-table": lambda ids: f"/runs/{ids['hostile_run']}/artifacts/table.csv",
    "compare": lambda ids: "/compare?" + "&".join(f"run={r}" for r in ids["train_runs"]),
    "models": lambda ids: "/models",
    "model": lambda ids: "/models/churn",
    "version": lambda ids: "/models/churn/1",
    "datasets": lambda ids: "/datasets",
    "dataset": lambda ids: "/datasets/churn",
    "dataset-version": lambda ids: f"/datasets/churn/{ids['v1']}",
    "dataset-diff": lambda ids: f"/datasets/churn/diff?base={ids['v1']}&other={ids['v2']}",
    "features": lambda ids: "/features",
    "feature-view": lambda ids: "/features/views/customer_churn",
    "pipelines": lambda ids: "/pipelines",
    "pipeline": lambda ids: "/pipelines/churn-quickstart",
    "pipeline-run": lambda ids: f"/pipeline-runs/{ids['pipeline_run']}",
    "task-log": lambda ids: f"/pipeline-runs/{ids['pipeline_run']}/logs/train_logreg",
    "deployments": lambda ids: "/serving",
    "deployment": lambda ids: "/serving/churn-ui",
    "monitors": lambda ids: "/monitoring",
    "monitor": lambda ids: "/monitoring/churn-ui-watch",
    "alerts": lambda ids: "/alerts",
    "alerts-all": lambda ids: "/alerts?state=all",
}


@pytest.mark.parametrize("name", list(PAGES))
def test_page_opens_clean_and_accessible(name: str, watch: Watch, site: Any, shots: Path) -> None:
    page = watch.open(PAGES[name](site[1]))
    assert page.locator("h1").count() == 1
    assert page.locator("script[src*='plotly']").count() <= 1  # at most one plotly bundle
    if page.locator("[data-chart]").count():
        page.wait_for_function("document.querySelectorAll('[data-chart] .main-svg').length > 0")
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert watch.problems == []
    assert watch.axe() == []


def test_hostile_names_are_shown_as_text(watch: Watch, site: Any) -> None:
    page = watch.open(f"/runs/{site[1]['hostile_run']}")
    assert page.locator("h1").inner_text().startswith(HOSTILE)
    assert page.locator("img[src=x]").count() == 0
    page = watch.open(f"/runs/{site[1]['hostile_run']}/artifacts/table.csv")
    assert "<b>y</b>" in page.locator("table").inner_text()
    assert watch.problems == []


def test_filter_sort_columns_and_paging(watch: Watch, site: Any) -> None:
    page = watch.open(f"/experiments/{site[1]['experiment']}")
    page.fill("#f-filter", "params.model = 'logreg'")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert [a.inner_text() for a in page.locator("#runs tbody td:nth-child(2) a").all()] == ["churn-logreg"]
    page.fill("#f-filter", "metrics.auc >")  # a bad filter is explained next to the form
    page.click("form[role=search] button[type=submit]")
    assert "metrics.auc" in page.locator("#filter-error").inner_text()
    watch.problems.clear()  # that page answered 422 on purpose
    page = watch.open(f"/experiments/{site[1]['experiment']}?order=metrics.auc+DESC&limit=2"
                      "&col=metrics.auc&col=params.model")
    assert [h.inner_text() for h in page.locator("#runs thead th").all()][-2:] == ["metrics.auc", "params.model"]
    first = [a.inner_text() for a in page.locator("#runs tbody td:nth-child(2) a").all()]
    assert len(first) == 2
    page.click("a[rel=next]")
    page.wait_for_load_state("networkidle")
    second = [a.inner_text() for a in page.locator("#runs tbody td:nth-child(2) a").all()]
    assert second and not set(first) & set(second)
    page.click("a[rel=prev]")
    page.wait_for_load_state("networkidle")
    assert [a.inner_text() for a in page.locator("#runs tbody td:nth-child(2) a").all()] == first
    assert watch.problems == []


def test_compare_three_runs(watch: Watch, site: Any) -> None:
    page = watch.open(f"/experiments/{site[1]['experiment']}")
    for run_id in site[1]["train_runs"][:3]:
        page.check(f"#sel-{run_id}")
    assert page.locator("button[data-compare-button]").inner_text() == "Compare 3 selected"
    page.click("button[data-compare-button]")
    page.wait_for_load_state("networkidle")
    assert "/compare?" in page.url
    assert page.locator("#metrics-diff thead th").count() == 4  # the metric + 3 runs
    assert page.locator("#params-diff").inner_text().count("differs") >= 1
    page.wait_for_function("document.querySelectorAll('[data-chart] .main-svg').length > 0")
    lines = page.evaluate("document.querySelector('[data-chart]').querySelectorAll('.scatterlayer .trace').length")
    assert lines == 3  # one line per run across the parallel axes
    assert watch.problems == []


def test_promote_a_version(watch: Watch, site: Any) -> None:
    page = watch.open("/models/churn/1")
    page.select_option("#stage", "staging")
    page.fill("#reason", "ui test promotion")
    page.click("#stage-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#message").inner_text() == "moved to staging"
    assert page.locator("h1 .status").inner_text() == "staging"
    page = watch.open("/models/churn")
    assert "ui test promotion" in page.locator("#history").inner_text()
    assert watch.problems == []


def test_watch_a_pipeline_run(watch: Watch, site: Any) -> None:
    page = watch.open("/pipelines/ui-sleepy")
    page.click("#run-form button[type=submit]")
    page.wait_for_url(re.compile(r"/pipeline-runs/[0-9a-f]+$"))
    seen: set[str] = set()
    for _ in range(120):  # htmx replaces the DAG every second: no reload
        seen |= {f"{t.get_attribute('data-task')}:{t.get_attribute('data-status')}"
                 for t in page.locator(".task[data-task]").all()}
        if page.locator("#run-status").inner_text() in ("succeeded", "failed", "cancelled"):
            break
        page.wait_for_timeout(250)
    assert page.locator("#run-status").inner_text() == "succeeded", seen
    assert "first:running" in seen and "second:pending" in seen | {"second:pending"}
    assert page.locator("#run-dag[hx-get]").count() == 0  # polling stopped
    page.click("a[href$='/logs/second']")
    page.wait_for_load_state("networkidle")
    assert "second slept" in page.locator("pre").inner_text()
    assert watch.problems == []


def test_forms_need_the_csrf_token(site: Any) -> None:
    import httpx

    r = httpx.post(site[0] + "/models/churn/1/stage", data={"stage": "production"})
    assert r.status_code == 403 and "CSRF" in r.text


def test_watch_a_rollout_advance(watch: Watch, site: Any) -> None:
    """Replicas report canary traffic; the deployment page shows the steps pass one after another live."""
    from mainsail import Client

    c = Client(site[0])
    champion = c.get_model_version_by_alias("churn", "champion").version
    candidate = next(v.version for v in c.list_model_versions("churn") if v.version != champion)
    c.start_rollout("churn-ui", f"models:/churn/{candidate}", steps=(50, 100), step_seconds=1.0, min_requests=3,
                    reason="ui test canary")
    page = watch.open("/serving/churn-ui")
    assert page.locator("#rollout[hx-get]").count() == 1
    seen: list[str] = []
    for _ in range(80):
        c.report_replica("churn-ui", "ui-replica", {"status": "healthy", "stats": {"canary": {"requests": 2}}})
        page.wait_for_timeout(500)
        steps = " ".join(li.inner_text() for li in page.locator("#rollout ol.steps li").all())
        if not seen or seen[-1] != steps:
            seen.append(steps)
        if page.locator("#rollout .status-promoted").count():
            break
    c.close()
    assert page.locator("#rollout .status-promoted").count() == 1, seen
    assert any("50% current" in s for s in seen) and seen[-1] == "50% passed 100% passed", seen
    assert page.locator("#rollout[hx-get]").count() == 0  # polling stopped
    assert watch.problems == []


def test_monitor_page_shows_drift_quality_and_metrics(watch: Watch, site: Any) -> None:
    page = watch.open("/monitoring")
    assert "churn-ui-watch" in page.locator("#monitors").inner_text()
    page.click("#monitors a[href='/monitoring/churn-ui-watch']")
    page.wait_for_load_state("networkidle")
    drift = page.locator("#drift").inner_text()
    assert "tenure" in drift and "drift" in drift and "charges" in drift
    page.wait_for_function("document.querySelectorAll('[data-chart] .main-svg').length >= 2")
    assert page.evaluate("document.querySelector('[data-chart]').querySelectorAll('.scatterlayer .trace').length") >= 2
    perf = page.locator("#performance").inner_text()
    assert "measured" in perf and "estimated" in perf and "accuracy" in perf
    assert page.locator("#quality tbody tr").count() >= 1
    runs = page.locator("#monitor-runs tbody tr").count()
    page.click("#run-monitor-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#message").inner_text().startswith("run ")
    assert page.locator("#monitor-runs tbody tr").count() == runs + 1
    assert watch.problems == []


def _row(page: Any, rule: str) -> Any:
    return page.locator("#alerts tbody tr", has_text=rule).first


def test_acknowledge_and_silence_alerts(watch: Watch, site: Any) -> None:
    page = watch.open("/")
    assert "tenure-drift" in page.locator("#open-alerts").inner_text()  # what needs attention
    page = watch.open("/alerts")
    _row(page, "tenure-drift").locator("form.ack-form button").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#message").inner_text().startswith("acknowledged tenure-drift")
    assert "acknowledged by" in _row(page, "tenure-drift").inner_text()
    assert _row(page, "tenure-drift").locator("form.ack-form").count() == 0
    row = _row(page, "charges-watch")
    row.locator("select").select_option("1h")
    row.locator("form.silence-form button").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#message").inner_text().startswith("silenced alert=")
    assert "silenced" in _row(page, "charges-watch").inner_text()
    assert page.locator("#silences tbody tr").count() == 1
    page.click("#silences button")
    page.wait_for_load_state("networkidle")
    assert page.locator("#message").inner_text() == "silence expired"
    assert page.locator("#silences").count() == 0
    assert watch.problems == []


@pytest.fixture(scope="module")
def auth_site(site: Any) -> Iterator[str]:
    """A second server with auth on over the same data (users ui-viewer and ui-editor exist)."""
    home = Path(site[1]["home"])
    server = ServerProcess(f"sqlite:///{home / 'mainsail.db'}", str(home / "artifacts"), home, "--auth",
                           "--deployments", "none")
    server.env["MAINSAIL_ADMIN_PASSWORD"] = "admin-password-1"
    server.start(timeout=120)  # a loaded machine may take long to import and migrate
    try:
        yield server.url
    finally:
        server.stop()


def _sign_in(watch: Watch, who: str, next_path: str = "/models") -> Any:
    page = watch.open(next_path)
    assert "/login?next=" in page.url  # a page without a session asks to sign in first
    page.fill("#username", f"ui-{who}")
    page.fill("#password", f"{who}-password-1")
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(next_path)
    assert page.locator("#user").inner_text() == f"ui-{who}"
    return page


def test_login_wrong_password_and_logout(browser: Any, auth_site: str, shots: Path) -> None:
    watch = Watch(browser, auth_site)
    try:
        page = watch.open("/models")
        assert "/login?next=%2Fmodels" in page.url
        page.screenshot(path=str(shots / "login.png"), full_page=True)
        assert watch.axe() == []
        page.fill("#username", "ui-editor")
        page.fill("#password", "not-the-password")
        page.click("#login-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator("#login-error").inner_text() == "Wrong user name or password."
        assert f"HTTP 401: {auth_site}/login" in watch.problems  # the wrong password's answer, nothing else
        assert all("401" in p for p in watch.problems), watch.problems
        watch.problems.clear()
        page.fill("#password", "editor-password-1")
        page.click("#login-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.url == auth_site + "/models" and page.locator("#user").inner_text() == "ui-editor"
        cookie = next(c for c in page.context.cookies() if c["name"] == "mainsail_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        import httpx

        assert httpx.get(auth_site + "/api/v1/models", cookies={"mainsail_session": cookie["value"]}).status_code \
            == 401  # the session cookie is for pages only: the API wants a bearer token
        assert httpx.get(auth_site + "/get-artifact?path=a&run_uuid=b").status_code == 401  # MLflow's, not a page
        page = watch.open("/models/churn/1")
        assert page.locator("#stage-form").count() == 1  # an editor may move stages
        page.click("#logout-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.url.startswith(auth_site + "/login")
        page = watch.open("/models")
        assert "/login?next=" in page.url  # signed out: the token is revoked, the cookie gone
        assert watch.problems == []
    finally:
        watch.close()


def test_viewer_cannot_promote_or_acknowledge(browser: Any, auth_site: str, shots: Path) -> None:
    watch = Watch(browser, auth_site)
    try:
        page = _sign_in(watch, "viewer", "/models/churn/1")
        assert page.locator("#stage-form").count() == 0 and page.locator("#alias-form").count() == 0
        assert page.locator("#review-form").count() == 0 and page.locator(".respond-form").count() == 0
        page.screenshot(path=str(shots / "version-viewer.png"), full_page=True)
        assert watch.axe() == []
        page = watch.open("/alerts")
        assert page.locator("#alerts tbody tr").count() >= 1
        assert page.locator("form[method=post][action^='/alerts']").count() == 0  # no write form
        csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "mainsail_csrf")
        r = page.request.post(auth_site + "/models/churn/1/stage", form={"csrf": csrf, "stage": "archived"})
        assert r.status == 403 and "editor" in r.text()  # the operation refuses, whatever the page drew
        alert = page.locator("#alerts tbody tr").first.get_attribute("data-alert")
        r = page.request.post(f"{auth_site}/alerts/{alert}/ack", form={"csrf": csrf})
        assert r.status == 403
        page = watch.open("/")
        assert page.locator("h1").count() == 1 and watch.axe() == []
        assert watch.problems == []
    finally:
        watch.close()
