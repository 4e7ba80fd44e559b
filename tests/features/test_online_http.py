"""The online read's plain HTTP route: same answers and same 422 problems as the declared operation."""

from __future__ import annotations

import httpx
import pytest

from mainsail import Client
from mainsail.features.schemas import Entity, FeatureService, FeatureView

PATH = "/api/v1/feature-sets/online"


@pytest.fixture
def server_url(http_server):  # type: ignore[no-untyped-def]
    c = Client(http_server.url)
    plant = Entity(name="plant", type="string")
    c.apply_features([plant, FeatureView(name="live", entities=[plant], features={"water": "float64"}, source="push"),
                      FeatureService(name="svc", features=["live:water"])])
    c.push_features("live", [{"plant": "P1", "event_timestamp": "2026-01-01T00:00:00Z", "water": 1.5}], to="online")
    c.close()
    return http_server.url


def test_plain_route_answers_and_validates(server_url: str) -> None:
    with httpx.Client(base_url=server_url) as h:
        ok = h.post(PATH, json={"entity_rows": [{"plant": "P1"}, {"plant": "P9"}], "features": ["live:water"]})
        assert ok.status_code == 200 and ok.headers["content-type"] == "application/json"
        assert ok.json() == {"columns": {"plant": ["P1", "P9"], "water": [1.5, None]}}
        svc = h.post(PATH, json={"entity_rows": [{"plant": "P1"}], "service": "svc", "full_feature_names": True})
        assert svc.json() == {"columns": {"plant": ["P1"], "live__water": [1.5]}}
        for body, loc in (({"entity_rows": []}, ["body", "entity_rows"]),
                          ({"entity_rows": [{"plant": "P1"}], "extra": 1}, ["body", "extra"]),
                          ({"entity_rows": [{"plant": "P1"}], "features": "live:water"}, ["body", "features"]),
                          ({"entity_rows": [{"plant": "P1"}], "service": "bad name!"}, ["body", "service"])):
            bad = h.post(PATH, json=body)
            assert bad.status_code == 422, body
            assert bad.headers["content-type"] == "application/problem+json"
            assert bad.json()["errors"][0]["loc"] == loc
        junk = h.post(PATH, content=b"{not json", headers={"content-type": "application/json"})
        assert junk.status_code == 422 and junk.json()["errors"][0]["loc"] == ["body"]
        missing = h.post(PATH, json={"entity_rows": [{"plnt": "P1"}], "features": ["live:water"]})
        assert missing.status_code == 422 and missing.json()["code"] == "missing_join_key"
        unknown = h.post(PATH, json={"entity_rows": [{"plant": "P1"}], "features": ["liv:water"]})
        assert unknown.status_code == 404 and "'live'" in unknown.json()["detail"]
        doc = h.get("/openapi.json").json()
        assert "OnlineRequest" in str(doc["paths"][PATH]["post"]["requestBody"])  # still documented
