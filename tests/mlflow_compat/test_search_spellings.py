"""MLflow's run-search spellings reach Mainsail's filter language: ``param.``/``metric.``/``tag.``/
``attribute.`` prefixes, ``user_id``, ``created``, ```Run Name```; string literals stay as written."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mainsail.api.app import create_app

M = "/api/2.0/mlflow"


@pytest.fixture
def api(sqlite_settings):
    with TestClient(create_app(sqlite_settings)) as c:
        yield c


def _search(api: TestClient, exp: str, flt: str, order: list[str] | None = None) -> list[str]:
    r = api.post(f"{M}/runs/search", json={"experiment_ids": [exp], "filter": flt, "order_by": order or []})
    assert r.status_code == 200, r.text
    return [run["info"]["run_name"] for run in r.json().get("runs", [])]


def test_mlflow_spellings_filter_and_order(api: TestClient) -> None:
    exp = api.post(f"{M}/experiments/create", json={"name": "s"}).json()["experiment_id"]
    for name, user, model, auc, start in [("a", "ana", "lr", 0.9, 1000), ("b", "bo", "lr", 0.8, 2000),
                                          ("c", "ana", "param.x", 0.7, 3000)]:
        run = api.post(f"{M}/runs/create", json={"experiment_id": exp, "run_name": name, "user_id": user,
                                                 "start_time": start}).json()["run"]["info"]["run_id"]
        api.post(f"{M}/runs/log-batch", json={"run_id": run, "params": [{"key": "model", "value": model}],
                                              "metrics": [{"key": "auc", "value": auc, "timestamp": 1, "step": 0}]})
    assert _search(api, exp, "param.model = 'lr' and metric.auc > 0.85") == ["a"]
    assert _search(api, exp, "attributes.user_id = 'ana'", ["attribute.created ASC"]) == ["a", "c"]
    assert _search(api, exp, "params.model = 'param.x'") == ["c"]  # a literal is not respelled
    assert _search(api, exp, "attributes.`Run Name` LIKE 'b%'") == ["b"]
    assert _search(api, exp, "", ["metric.auc DESC"]) == ["a", "b", "c"]
    r = api.post(f"{M}/runs/search", json={"experiment_ids": [exp], "filter": "datasets.name = 'train'"})
    assert r.status_code == 400 and "datasets" in r.json()["message"]
