"""The pages of reviews, costs, the closed loop and projects in a real browser (Playwright driving
Debian's Chromium) against a real ``mainsail server --auth`` on quickstart data: each page opens with no
console error, no failed request and no axe violation, a screenshot kept; the flows clicked through:
promote a version with an approval (refused with the 409 shown until a reviewer approves), watch a loop
episode go drift → retrain → canary, switch projects (a non-member gets a 404, never the data)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _services import ServerProcess, require_service
from test_ui_browser import CHROMIUM, Watch, _typed_log

PASSWORD = "{}-password-1"
CANDIDATE = '''
def register(uri: str) -> dict:
    return {"uri": uri}
'''


def _seed_loop(c: Any, home: Path) -> dict[str, Any]:
    """A deployment with four hours of logged traffic (``tenure`` drifting), a monitor not yet run, a
    retrain pipeline whose task names a registered candidate, and a loop policy over them."""
    import numpy as np

    c.create_deployment("churn-loop", "models:/churn@champion", description="the loop's deployment")
    rng = np.random.default_rng(7)
    hour = int(time.time() // 3600) * 3600 - 4 * 3600
    for i in range(4):
        _typed_log(c, "churn-loop", hour + i * 3600 + 60, f"l{i}-", rng.normal(30 + 20 * i, 10, 300),
                   rng.normal(60, 20, 300), rng.uniform(0, 1, 300))
    start = dt.datetime.fromtimestamp(hour, dt.UTC)
    c.create_monitor("loop-watch", deployment="churn-loop", every="1h", features=["tenure"],
                     reference={"kind": "window", "start": start, "end": start + dt.timedelta(hours=1)})
    champion = c.get_model_version_by_alias("churn", "champion")
    candidate = c.register_model_version("churn", source=champion.source, description="the loop's candidate")
    (home / "candidate.py").write_text(CANDIDATE)
    c.apply_pipeline({"name": "ui-retrain", "tasks": [
        {"name": "register", "operator": "python",
         "params": {"callable": f"{home / 'candidate.py'}:register",
                    "kwargs": {"uri": f"models:/churn/{candidate.version}"}}}]})
    c.create_loop("ui-loop", deployment="churn-loop", pipeline="ui-retrain", candidate_task="register",
                  steps=(50, 100), step_seconds=1.0, min_requests=3, cooldown=0, min_labels=10_000,
                  description="the UI tests' loop")
    return {"loop_start": start, "loop_candidate": candidate.version}


def _seed(home: Path) -> dict[str, Any]:
    """Users (an editor, a reviewer, a viewer, a project admin, a server admin), a second project with its own experiment (the
    editor a member, the viewer not), usage and a budget for the costs page, a version to promote."""
    from mainsail import Client

    c = Client(f"sqlite:///{home / 'mainsail.db'}", artifact_root=str(home / "artifacts"))
    for who, role in (("editor", "editor"), ("reviewer", "editor"), ("viewer", "viewer"), ("lead", "admin")):
        c.create_user(f"ui-{who}", password=PASSWORD.format(who), role=role)
    c.create_user("ui-admin", password=PASSWORD.format("admin"), admin=True, role="admin")
    c.create_project("lab", description="the UI tests' second project")
    c.set_member("lab", "ui-editor", "editor")
    lab = Client(f"sqlite:///{home / 'mainsail.db'}", artifact_root=str(home / "artifacts"), project="lab")
    lab.ensure_experiment("lab-only-experiment")
    lab.close()
    now = dt.datetime.now(dt.UTC)
    at = {"started_at": (now - dt.timedelta(hours=3)).isoformat(), "ended_at": (now - dt.timedelta(hours=2)).isoformat()}
    c.record_usage([
        {"kind": "task", "pipeline": "churn-quickstart", "task": "train_logreg", "wall_seconds": 3600,
         "cpu_seconds": 1800, "cpu_request": 16, "memory_request": 64 * 2**30, "peak_memory": 2**30, **at},
        {"kind": "replica", "deployment": "churn-loop", "model": "churn", "wall_seconds": 3600, "cpu_seconds": 600,
         "requests": 1200, "cpu_request": 4, "memory_request": 8 * 2**30, "peak_memory": 2**29, **at}])
    c.create_budget("monthly", 0.05, thresholds=[0.5, 1.0])
    c.create_budget("daily", 1000.0, period="day")
    champion = c.get_model_version_by_alias("churn", "champion")
    promote = c.register_model_version("churn", source=champion.source, description="to promote with an approval")
    out = {"promote": promote.version, "home": str(home), **_seed_loop(c, home)}
    c.close()
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """A real server with auth and background services on (pipelines, monitors, loops) over quickstart data."""
    if not Path(CHROMIUM).exists():
        require_service("chromium", f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        require_service("playwright", "pip install playwright (the dev extra)")
    home = tmp_path_factory.mktemp("ui-loop-home")
    env = {**os.environ, "MAINSAIL_HOME": str(home)}
    for var in ("MAINSAIL_URI", "MAINSAIL_ARTIFACT_ROOT", "MAINSAIL_TOKEN", "MAINSAIL_PROJECT"):
        env.pop(var, None)
    done = subprocess.run([sys.executable, "-m", "mainsail.cli.main", "quickstart", "--skip-serving", "--rows", "1000"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ids = _seed(home)
    server = ServerProcess(f"sqlite:///{home / 'mainsail.db'}", str(home / "artifacts"), home, "--auth",
                           "--background", "--deployments", "none")
    server.env["MAINSAIL_ADMIN_PASSWORD"] = "admin-password-1"
    server.start(timeout=120)
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


@pytest.fixture(scope="module")
def admin(site: Any) -> Iterator[Any]:
    """A Client of the server signed in as an admin."""
    from mainsail import Client

    token = Client(site[0]).login("ui-admin", PASSWORD.format("admin")).token
    c = Client(site[0], token=token)
    yield c
    c.close()


@pytest.fixture(scope="module")
def episode(site: Any, admin: Any) -> str:
    """The monitor finds drift over the logged hours: the server's loop starts an episode (retrain, gate,
    canary)."""
    start = site[1]["loop_start"]
    admin.run_monitor("loop-watch", start=start + dt.timedelta(hours=1), end=start + dt.timedelta(hours=4))
    for _ in range(240):
        runs = admin.list_loop_runs("ui-loop").items
        if runs and any(s.step == "canary_started" for s in runs[0].steps) or runs and runs[0].state != "running":
            return runs[0].id
        time.sleep(0.5)
    raise AssertionError(f"no loop episode reached the canary: {admin.list_loop_runs('ui-loop').items}")


def sign_in(browser: Any, site: Any, who: str, path: str = "/") -> Watch:
    watch = Watch(browser, site[0])
    page = watch.open(path)
    assert "/login" in page.url  # a page without a session asks to sign in first
    page.fill("#username", f"ui-{who}")
    page.fill("#password", PASSWORD.format(who))
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#user").inner_text() == f"ui-{who}"
    return watch


PAGES = {
    "costs": "/costs",
    "costs-model": "/costs?by=model&days=7",
    "costs-deployment": "/costs?by=deployment",
    "costs-pipeline": "/costs?by=pipeline&days=90",
    "loops": "/loops",
    "loop": "/loops/ui-loop",
    "home-editor": "/",
    "version-reviews": "/models/churn/1",
    "experiments-lab": "/experiments?project=lab",
}


@pytest.mark.parametrize("name", list(PAGES))
def test_page_opens_clean_and_accessible(name: str, browser: Any, site: Any, episode: str, shots: Path) -> None:
    watch = sign_in(browser, site, "editor", PAGES[name])
    try:
        page = watch.page
        assert page.locator("h1").count() == 1
        assert page.locator("script[src*='plotly']").count() <= 1
        if page.locator("[data-chart]").count():
            page.wait_for_function("document.querySelectorAll('[data-chart] .main-svg').length > 0")
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        assert watch.problems == []
        assert watch.axe() == []
    finally:
        watch.close()


def test_costs_show_groups_budgets_and_recommendations(browser: Any, site: Any) -> None:
    watch = sign_in(browser, site, "viewer", "/costs?by=pipeline")
    try:
        page = watch.page
        assert "churn-quickstart" in page.locator("#cost-report").inner_text()
        page.wait_for_function("document.querySelectorAll('[data-chart] .main-svg').length > 0")
        monthly = page.locator("#budgets tr[data-budget=monthly]").inner_text()
        assert "over" in monthly and "(reached)" in monthly  # 0.05 a month: spent past its limit
        assert "(reached)" not in page.locator("#budgets tr[data-budget=daily]").inner_text()
        recs = page.locator("#recommendations").inner_text()
        assert "train_logreg" in recs and "right size" in recs
        page.select_option("#by", "deployment")
        page.click("#costs-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "churn-loop" in page.locator("#cost-report").inner_text()
        assert watch.problems == []
    finally:
        watch.close()


def test_loop_episode_timeline(browser: Any, site: Any, episode: str, shots: Path) -> None:
    """The closed-loop view: what triggered the episode (drift of tenure), the retrain run, the gate,
    the candidate's canary; the timeline is live while the episode runs."""
    watch = sign_in(browser, site, "viewer", "/loops")
    try:
        page = watch.page
        run = page.locator(f"#loop-run-{episode}")
        assert "drift detected by monitor loop-watch" in run.locator(".trigger").inner_text()
        assert "tenure" in run.locator(".trigger").inner_text()
        steps = [li.get_attribute("data-step") for li in run.locator("ol.timeline li").all()]
        assert steps[:3] == ["detected", "retrain_started", "retrain_finished"], steps
        assert "registered" in steps and "canary_started" in steps, steps
        phases = {li.get_attribute("data-phase"): li.get_attribute("data-state")
                  for li in run.locator("ol.phases li").all()}
        assert phases["trigger"] == phases["retrain"] == phases["gate"] == "done", phases
        assert run.locator(f"a[href^='/models/churn/{site[1]['loop_candidate']}']").count() == 1
        if run.get_attribute("data-state") == "running":
            assert phases["canary"] == "current" and run.get_attribute("hx-get")  # polled while it runs
        page.click(f"#loop-run-{episode} a[href^='/pipeline-runs/']")
        page.wait_for_load_state("networkidle")
        assert page.locator("#run-status").inner_text() == "succeeded"
        page = watch.open("/loops/ui-loop")
        assert episode[:12] in page.locator("#episodes").inner_text()
        page.screenshot(path=str(shots / "loop-episode.png"), full_page=True)
        assert watch.problems == []
    finally:
        watch.close()


def test_promote_a_version_with_an_approval(browser: Any, site: Any, admin: Any, shots: Path) -> None:
    """Without an approval the move to production is refused and the page says why (409
    approvals_required); the project admin asks for a review, the reviewer approves, the move succeeds
    (an editor is not offered production at all: it needs the admin role)."""
    admin.set_review_policy(1)
    version = site[1]["promote"]
    path = f"/models/churn/{version}"
    editor = sign_in(browser, site, "editor", path)
    assert "production" not in editor.page.locator("#stage").inner_text()
    editor.close()
    editor = sign_in(browser, site, "lead", path)
    reviewer = None
    try:
        page = editor.page
        assert "0 of 1" in page.locator("#approval-status").inner_text()
        page.select_option("#stage", "production")
        page.click("#stage-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        problem = page.locator("#problem").inner_text()
        assert "approvals_required" in problem and "1 is missing" in problem, problem
        page.screenshot(path=str(shots / "version-approvals-required.png"), full_page=True)
        assert f"HTTP 409: {site[0]}{path}/stage" in editor.problems  # the refusal's answer, nothing else
        assert all("409" in p for p in editor.problems), editor.problems
        assert editor.axe() == []
        editor.problems.clear()
        page.fill("#reviewers", "ui-reviewer")
        page.fill("#review-comment", "ready for production?")
        page.click("#review-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator("#message").inner_text() == "review asked of ui-reviewer"
        assert page.locator("#review-list .respond-form").count() == 0  # the lead is no reviewer

        reviewer = sign_in(browser, site, "reviewer", "/")
        rpage = reviewer.page
        waiting = rpage.locator("#my-reviews").inner_text()
        assert f"churn v{version}" in waiting and "ui-lead" in waiting
        rpage.click(f"#my-reviews a[href^='/models/churn/{version}']")
        rpage.wait_for_load_state("networkidle")
        row = rpage.locator("#review-list tbody tr").first
        row.locator("input[name=comment]").fill("looks good")
        row.locator("button[value=approve]").click()
        rpage.wait_for_load_state("networkidle")
        assert rpage.locator("#message").inner_text() == "approved"
        assert "1 of 1" in rpage.locator("#approval-status").inner_text()
        assert "ui-reviewer" in rpage.locator("#review-list").inner_text()
        assert "churn v" not in (rpage.locator("#my-reviews").all_inner_texts() or [""])[0]
        assert reviewer.problems == []

        page = editor.open(path)
        page.select_option("#stage", "production")
        page.fill("#reason", "approved by ui-reviewer")
        page.click("#stage-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator("#message").inner_text() == "moved to production"
        assert page.locator("h1 .status").inner_text() == "production"
        page = editor.open("/")
        assert f"moved churn v{version}" in page.locator("#activity-feed").inner_text()
        assert editor.problems == []
    finally:
        admin.set_review_policy(0)
        editor.close()
        if reviewer is not None:
            reviewer.close()


def test_switch_projects(browser: Any, site: Any) -> None:
    """A member switches to another of their projects (the choice kept in a cookie); a non-member asking
    for it gets a 404 and none of its data; a forged cookie falls back to the server's project."""
    editor = sign_in(browser, site, "editor", "/experiments")
    try:
        page = editor.page
        assert "churn-quickstart" in page.locator("main").inner_text()
        assert [o.inner_text() for o in page.locator("#project-select option").all()] == ["default", "lab"]
        page.select_option("#project-select", "lab")
        page.click("#project-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.url.endswith("/experiments?project=lab")
        text = page.locator("main").inner_text()
        assert "lab-only-experiment" in text and "churn-quickstart" not in text
        page = editor.open("/models")  # the cookie keeps the choice
        assert page.locator("#project-select").input_value() == "lab"
        assert "churn" not in page.locator("main").inner_text().replace("Models", "")
        page = editor.open("/loops")  # no loop of the default project (the domain may not take projects yet)
        assert "ui-loop" not in page.locator("main").inner_text()
        page = editor.open("/costs?by=pipeline")
        assert "churn-quickstart" not in page.locator("main").inner_text()
        assert "budget-default" not in page.locator("main").inner_text()
        page = editor.open("/experiments?project=default")
        assert "churn-quickstart" in page.locator("main").inner_text()
        assert editor.problems == []
    finally:
        editor.close()
    viewer = sign_in(browser, site, "viewer", "/")
    try:
        page = viewer.page
        assert page.locator("#project-select").count() == 0  # a member of one project has nothing to switch
        r = page.request.get(site[0] + "/experiments?project=lab")
        assert r.status == 404 and "lab-only-experiment" not in r.text()
        page.context.add_cookies([{"name": "mainsail_project", "value": "lab", "url": site[0]}])
        page = viewer.open("/experiments")
        assert "churn-quickstart" in page.locator("main").inner_text()
        assert "lab-only-experiment" not in page.content()
        assert viewer.problems == []
    finally:
        viewer.close()
