"""Hosted deployments of every project: ``mainsail server --auth --deployments all`` serves a deployment of
project P at ``/projects/P/deployments/NAME/…`` and ``/projects/P/v2/models/NAME/…`` (the plain
``/deployments/NAME/…`` routes stay the server's own project). The ``predict`` check uses the project the
PATH names: a ``Mainsail-Project`` header never lets a caller with ``predict`` in another project through.
``MAINSAIL_PUBLIC_DEPLOYMENTS`` takes ``P/name`` as well as ``name``."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import httpx
import pytest
from _auth_support import make_callers
from _services import ServerProcess

from mainsail import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))


def test_each_projects_deployments_are_served_under_their_project(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from _serving_support import churn_data, register
    from sklearn.dummy import DummyClassifier

    uri, root = f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts")
    local = Client(uri, artifact_root=root)
    tokens = make_callers(local)  # editor: predict in default; outsider: admin (and predict) of "other" only
    other = Client(uri, artifact_root=root, project="other")
    x, y = churn_data(50)
    register(local, tmp_path / "d", DummyClassifier(strategy="constant", constant=0).fit(x.to_numpy(), y))
    register(other, tmp_path / "o", DummyClassifier(strategy="constant", constant=1).fit(x.to_numpy(), y))
    local.create_deployment("api", "models:/churn/1")
    for name in ("api", "open"):  # the same name as default's, and a public one
        other.create_deployment(name, "models:/churn/1")
    monkeypatch.setenv("MAINSAIL_PUBLIC_DEPLOYMENTS", "other/open")
    srv = ServerProcess(uri, root, tmp_path, "--auth", "--deployments", "all").start(timeout=120)
    records = {"records": x.head(2).to_dict("records")}

    def post(who: str | None, path: str, project: str | None = None, body: dict | None = None,
             wait: bool = False) -> httpx.Response:
        headers = {"authorization": f"Bearer {tokens[who]}"} if who else {}
        if project:
            headers["mainsail-project"] = project
        for _ in range(300 if wait else 1):  # the hosted apps load their models in the background
            r = httpx.post(srv.url + path, json=body or records, headers=headers, timeout=30)
            if r.status_code != 503 and not (r.status_code == 404 and "not hosted" in r.text):
                return r
            time.sleep(0.2)
        return r

    try:
        for who, path in (("editor", "/deployments/api/predict"), ("outsider", "/projects/other/deployments/open/predict")):
            post(who, path, wait=True)  # every hosted deployment loaded
        r = post("outsider", "/projects/other/deployments/api/predict", wait=True)
        assert r.status_code == 200 and r.json()["predictions"] == [1, 1], r.text  # other's model
        r = post("editor", "/deployments/api/predict")
        assert r.status_code == 200 and r.json()["predictions"] == [0, 0], r.text  # the server's own project
        r = post("editor", "/projects/default/deployments/api/predict")
        assert r.status_code == 200 and r.json()["predictions"] == [0, 0], r.text

        # the header never moves the check away from the path's project
        r = post("outsider", "/deployments/api/predict", project="other")
        assert r.status_code == 403 and r.json()["code"] == "role_required", r.text
        assert "'default'" in r.json()["detail"]
        r = post("editor", "/projects/other/deployments/api/predict", project="default")
        assert r.status_code == 403 and "'other'" in r.json()["detail"], r.text
        assert post("viewer", "/projects/default/deployments/api/predict").status_code == 403  # no predict
        assert post(None, "/projects/other/deployments/api/predict").status_code == 401

        # public: only the deployment named with its project
        r = post(None, "/projects/other/deployments/open/predict")
        assert r.status_code == 200 and r.json()["predictions"] == [1, 1], r.text
        assert post(None, "/deployments/open/predict").status_code == 401  # default has no public "open"

        oip = {"inputs": [{"name": c, "shape": [1], "datatype": "FP64", "data": [float(x[c].iloc[0])]}
                          for c in x.columns]}
        r = post("outsider", "/projects/other/v2/models/api/infer", body=oip)
        assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [1], r.text
        assert post("outsider", "/v2/models/api/infer", project="other", body=oip).status_code == 403
        assert post("editor", "/projects/other/v2/models/api/infer", body=oip).status_code == 403

        # the server's /metrics keeps the two projects' "api" apart by a project label
        text = httpx.get(srv.url + "/metrics", timeout=30).text
        answered = {re.search(r'project="([^"]+)"', ln).group(1): float(ln.rsplit(" ", 1)[1])
                    for ln in text.splitlines()
                    if ln.startswith("mainsail_prediction_requests_total{") and 'deployment="api"' in ln}
        assert answered.keys() == {"default", "other"} and min(answered.values()) >= 2, answered

        # a project or deployment hosted nowhere: a 404 problem naming it; hostile names never a 500
        r = post("admin", "/projects/nope/deployments/api/predict")
        assert r.status_code == 404 and r.json()["code"] == "deployment_not_hosted", r.text
        for bad in ("/projects/other%00/deployments/api/predict", "/projects/other/deployments/%2e%2e/predict",
                    "/projects/" + "p" * 5000 + "/deployments/api/predict", "/projects/other/v2/nothing"):
            r = post("admin", bad)
            assert r.status_code in (400, 404, 414, 422), (bad[:60], r.status_code, r.text[:300])
    finally:
        srv.stop()
        other.close()
        local.close()
