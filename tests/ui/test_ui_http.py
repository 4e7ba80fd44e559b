"""The UI's pages over HTTP against a real server: hostile paths and input answer clear 4xx pages (never
a 500), artifacts are served so stored HTML or SVG cannot run in the UI's origin, and pages carry a
Content-Security-Policy."""

from __future__ import annotations

import httpx
import pytest
from _services import ServerProcess

from mainsail import Client


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("ui-http")
    server = ServerProcess(f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "artifacts"), tmp_path).start()
    c = Client(server.url)
    run = c.create_run(c.create_experiment("ui").id, name="<script>alert(1)</script>")
    page = tmp_path / "page.html"
    page.write_text("<script>alert(1)</script>")
    c.log_artifact(run.id, page)
    c.log_artifact(run.id, tmp_path.joinpath("x.svg").write_text("<svg onload=alert(1)>") and tmp_path / "x.svg")
    yield server.url, run.id
    c.close()
    server.stop()


def test_hostile_paths_and_input_are_4xx_pages(served) -> None:  # noqa: ANN001
    url, run_id = served
    cases = {
        f"/runs/{run_id}/raw/..%2F..%2Fetc%2Fpasswd": (404, 422),
        f"/runs/{run_id}/artifacts/%00": (404, 422),
        "/runs/" + "x" * 5000: (404, 422),
        "/experiments/nope?filter=metrics.auc+%3E": (404, 422),
        "/compare?run=a": (422,),
        "/models/%3Cscript%3E/1": (404,),
        "/models/churn/99999999999999999999999": (404, 422),
        "/datasets/churn/diff?base=zz&other=yy": (404, 422),
        "/pipeline-runs/nope/logs/..%2F..": (404,),
        "/serving/%00": (404, 422),
        "/costs?by=%3Cscript%3E": (422,),
        "/costs?days=0": (422,),
        "/costs/recommendations?days=99999": (422,),
        "/loops/%3Cscript%3E": (404, 422),
        "/loops/nope?run=x": (404,),
        "/loop-runs/%3Cscript%3E/timeline": (404, 422),
        "/?project=%3Cscript%3E": (404,),
        "/experiments?project=nope": (404,),
    }
    for path, statuses in cases.items():
        r = httpx.get(url + path)
        assert r.status_code in statuses, (path, r.status_code, r.text[:300])
        assert "<script>" not in r.text


def test_pages_escape_names_and_set_a_csp(served) -> None:  # noqa: ANN001
    url, run_id = served
    r = httpx.get(f"{url}/runs/{run_id}")
    assert r.status_code == 200
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_stored_html_and_svg_are_downloads_not_pages(served) -> None:  # noqa: ANN001
    url, run_id = served
    for name in ("page.html", "x.svg"):
        r = httpx.get(f"{url}/runs/{run_id}/raw/{name}")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/octet-stream")
        assert r.headers["content-disposition"].startswith("attachment")
        assert "sandbox" in r.headers["content-security-policy"]
    preview = httpx.get(f"{url}/runs/{run_id}/artifacts/page.html")
    assert "&lt;script&gt;" in preview.text  # shown as text


def test_static_files_and_plotly_come_from_the_package(served) -> None:  # noqa: ANN001
    url, _ = served
    htmx = httpx.get(url + "/ui/static/htmx.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text[:200]
    plotly = httpx.get(url + "/ui/static/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
    assert httpx.get(url + "/ui/static/..%2F__init__.py").status_code == 404


def test_sign_in_never_redirects_off_site(served) -> None:  # noqa: ANN001
    url, _ = served
    with httpx.Client(base_url=url) as http:
        http.get("/")  # the CSRF cookie
        csrf = http.cookies["mainsail_csrf"]
        for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "/models"):
            r = http.post("/login", data={"csrf": csrf, "username": "x", "password": "y", "next": target})
            assert r.status_code == 303
            assert r.headers["location"] == ("/models" if target == "/models" else "/"), target
        assert http.get("/login").headers.get("location") == "/"  # auth off: nobody to sign in
        assert http.post("/logout", data={"csrf": "0" * 32}).status_code == 403  # CSRF checked


def test_alert_forms_reject_bad_input(served) -> None:  # noqa: ANN001
    url, _ = served
    with httpx.Client(base_url=url) as http:
        http.get("/alerts")
        csrf = http.cookies["mainsail_csrf"]
        for matchers in ("", "novalue", "=x", "k=" + "\x00"):
            r = http.post("/alerts/silences", data={"csrf": csrf, "matchers": matchers, "duration": "2h"})
            assert r.status_code == 422, (matchers, r.status_code)
        r = http.post("/alerts/silences", data={"csrf": csrf, "matchers": "deployment=x", "duration": "forever"})
        assert r.status_code == 422 and "duration" in r.text
        assert http.post("/alerts/nope/ack", data={"csrf": csrf}).status_code == 404
        assert http.get("/alerts?state=bogus").status_code == 422
        assert http.get("/monitoring/%3Cscript%3E").status_code in (404, 422)
        assert http.get("/monitoring/x?days=0").status_code == 422


def test_review_forms_reject_bad_input(served) -> None:  # noqa: ANN001
    url, run_id = served
    from mainsail import Client

    c = Client(url)
    c.register_model_version("ui-reviewed", source=f"runs:/{run_id}/x.svg", framework="custom")
    c.close()
    with httpx.Client(base_url=url) as http:
        http.get("/models/ui-reviewed/1")
        csrf = http.cookies["mainsail_csrf"]
        r = http.post("/models/ui-reviewed/1/reviews", data={"csrf": csrf, "reviewers": " , "})
        assert r.status_code == 422 and "reviewers" in r.text
        r = http.post("/models/ui-reviewed/1/reviews", data={"csrf": csrf, "reviewers": "<script>nobody</script>"})
        assert r.status_code == 422 and "<script>" not in r.text and 'id="problem"' in r.text  # shown on the page
        r = http.post("/models/ui-reviewed/1/reviews/1/respond", data={"csrf": csrf, "verdict": "maybe"})
        assert r.status_code == 422 and "verdict" in r.text
        r = http.post("/models/ui-reviewed/1/reviews/999/respond", data={"csrf": csrf, "verdict": "approve"})
        assert r.status_code == 404
        assert http.post("/models/ui-reviewed/1/reviews", data={"reviewers": "x"}).status_code == 403  # no CSRF
        r = http.get("/", params={"project": "default"})
        assert r.status_code == 200 and r.cookies.get("mainsail_project") == "default"
