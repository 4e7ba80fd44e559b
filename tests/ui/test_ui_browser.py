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
           "train_runs": [r.id for r in train_runs], "v1": v1.id, "v2": v2.id, "pipeline_run": pipeline_run.id}
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
    server.start()
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
