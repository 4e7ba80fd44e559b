"""The feature store contract: the same behaviour embedded (sqlite), on postgres and over http."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from mainsail import Client
from mainsail.core.errors import Conflict, InvalidInput, NotFound
from mainsail.features.schemas import Entity, Feature, FeatureService, FeatureView

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def client(backend: str):
    c = Client(backend)
    yield c
    c.close()


def define(c: Client, ttl: str | None = "2d") -> None:
    rows = pd.DataFrame({"plant": ["P1", "P1", "P2"],
                         "event_timestamp": [T0, T0 + dt.timedelta(days=1), T0 + dt.timedelta(hours=5)],
                         "height": [10.0, 12.5, 7.0], "leaves": [3, 4, None]})
    c.ingest_dataset(rows, "plants")
    plant = Entity(name="plant", type="string")
    c.apply_features([
        plant,
        FeatureView(name="plant_features", entities=[plant], features={"height": "float64", "leaves": "int64"},
                    source="dataset:plants", ttl=ttl, owner="garden", tags={"team": "green"}),
        FeatureView(name="plant_live", entities=["plant"], features={"water": "float64"}, source="push"),
        FeatureService(name="plant_model", features=["plant_features:height", "plant_live:water"]),
    ])


def test_apply_versions_and_breaking_changes(client: Client) -> None:
    define(client)
    sets = client.list_feature_sets()
    assert [d.name for d in sets.views] == ["plant_features", "plant_live"]
    assert client.get_feature_view("plant_features").ttl == 2 * 86400
    again = client.apply_features([Entity(name="plant")])
    assert [c.action for c in again.changes] == ["unchanged"]
    # adding a feature is fine: a new version
    base = client.get_feature_view("plant_features")
    wider = base.model_copy(update={"features": [*base.features, Feature(name="color", type="string")]})
    res = client.apply_features([wider])
    assert res.changes[0].action == "updated" and res.changes[0].version == 2
    # removing or retyping a feature the service uses is refused, with the reason, unless forced
    retyped = type(base).model_validate({**base.model_dump(), "features": [{"name": "height", "type": "string"},
                                                                           {"name": "leaves", "type": "int64"}]})
    with pytest.raises(Conflict) as ei:
        client.apply_features([retyped])
    assert ei.value.code == "breaking_change" and "plant_features:height" in ei.value.detail
    assert "plant_model" in ei.value.detail and "float64" in ei.value.detail
    removed = type(base).model_validate({**base.model_dump(), "features": [{"name": "leaves", "type": "int64"}]})
    with pytest.raises(Conflict) as ei:
        client.apply_features([removed])
    assert "removes feature plant_features:height" in ei.value.detail
    assert client.get_feature_view("plant_features").feature_types["height"] == "float64"  # nothing changed
    forced = client.apply_features([retyped], force=True)
    assert forced.changes[0].version == 3 and forced.changes[0].breaking
    versions = client.list_feature_definition_versions("views", "plant_features")
    assert [v.version for v in versions] == [3, 2, 1]
    assert client.get_feature_definition("views", "plant_features", version=1).spec["features"][0]["type"] == "float64"


def test_entity_key_type_change_is_breaking(client: Client) -> None:
    """Retyping an entity's key (string → int64) orphans every stored key of its views: refused, naming
    the views and the services that read them, unless forced."""
    define(client)
    with pytest.raises(Conflict) as ei:
        client.apply_features([Entity(name="plant", type="int64")])
    err = ei.value
    assert err.code == "breaking_change" and "key type from string to int64" in err.detail
    assert "'plant_features'" in err.detail and "'plant_live'" in err.detail and "'plant_model'" in err.detail
    assert err.errors[0]["loc"] == ["body", "entities", "plant"]
    assert client.get_feature_definition("entities", "plant").spec["type"] == "string"  # nothing changed
    with pytest.raises(Conflict, match="join key from 'plant' to 'plant_id'"):
        client.apply_features([Entity(name="plant", join_key="plant_id")])
    forced = client.apply_features([Entity(name="plant", type="int64")], force=True)
    assert forced.changes[0].version == 2 and forced.changes[0].breaking
    # an entity no view uses may change freely
    client.apply_features([Entity(name="pot", type="string")])
    assert client.apply_features([Entity(name="pot", type="int64")]).changes[0].action == "updated"


def test_unknown_names_suggest_the_nearest(client: Client) -> None:
    define(client)
    with pytest.raises(NotFound) as ei:
        client.get_feature_definition("views", "plant_feature")
    assert "'plant_features'" in ei.value.detail
    with pytest.raises(NotFound) as ei:
        client.apply_features([FeatureService(name="s", features=["plant_features:heigth"])])
    assert "plant_features:height" in ei.value.detail
    with pytest.raises(NotFound) as ei:
        client.apply_features([FeatureView(name="v", entities=["plnt"], features={"x": "int64"}, source="push")])
    assert "unknown entity 'plnt'" in ei.value.detail and "'plant'" in ei.value.detail
    with pytest.raises(NotFound) as ei:
        client.get_online_features([{"plant": "P1"}], ["plant_fetures:height"])
    assert "'plant_features'" in ei.value.detail
    with pytest.raises(NotFound):
        client.materialize_features("nope")


def test_historical_materialize_online_push_and_stats(client: Client) -> None:
    define(client)
    ent = pd.DataFrame({"plant": ["P1", "P1", "P2", "P3"],
                        "event_timestamp": [T0 + dt.timedelta(hours=1), T0 + dt.timedelta(days=1),
                                            T0 + dt.timedelta(days=3), T0]})
    out = client.get_historical_features(ent, ["plant_features:height", "plant_features:leaves"])
    assert [None if pd.isna(x) else x for x in out["height"]] == [10.0, 12.5, None, None]  # P2 past TTL at 3d
    # online: nothing before materialization
    assert client.get_online_features([{"plant": "P1"}], ["plant_features:height"]).columns["height"] == [None]
    m = client.materialize_features(end=T0 + dt.timedelta(days=2))
    by_view = {v.view: v for v in m.views}
    assert by_view["plant_features"].rows == 2 and by_view["plant_live"].rows == 0
    got = client.get_online_features([{"plant": "P1"}, {"plant": "P2"}, {"plant": "P9"}],
                                     ["plant_features:height", "plant_features:leaves"])
    assert got.columns == {"plant": ["P1", "P2", "P9"], "height": [12.5, 7.0, None], "leaves": [4, None, None]}
    again = client.materialize_features(end=T0 + dt.timedelta(days=2))  # incremental: nothing new
    assert {v.view: v.rows for v in again.views}["plant_features"] == 0
    # push: online at once, offline appended
    res = client.push_features("plant_live", [{"plant": "P1", "event_timestamp": T0 + dt.timedelta(days=1),
                                               "water": 0.4}])
    assert res.rows == 1 and res.offline_digest
    svc = client.get_online_features([{"plant": "P1"}], service="plant_model")
    assert svc.columns == {"plant": ["P1"], "height": [12.5], "water": [0.4]}
    assert svc.rows() == [{"plant": "P1", "height": 12.5, "water": 0.4}]
    hist = client.get_historical_features(pd.DataFrame({"plant": ["P1"], "event_timestamp": [T0 + dt.timedelta(days=1)]}),
                                          service="plant_model")
    assert hist["water"].tolist() == [0.4]
    stats = client.feature_view_stats("plant_features")
    assert stats.rows == 3 and stats.entities == 2 and stats.materialized_until == T0 + dt.timedelta(days=2)
    assert stats.staleness_seconds is not None and stats.staleness_seconds > 0
    leaves = {f.name: f for f in stats.features}["leaves"]
    assert leaves.null_rate == pytest.approx(1 / 3) and leaves.min == 3 and leaves.max == 4
    assert stats.online_reads >= 4 and stats.offline_reads >= 2
    live = client.feature_view_stats("plant_live")
    assert live.pushed_rows == 1 and live.rows == 1


def test_push_validation_writes_nothing(client: Client) -> None:
    define(client)
    bad = [{"plant": "P1", "event_timestamp": T0, "water": 0.5},
           {"plant": "P2", "event_timestamp": T0, "water": "lots"}]
    with pytest.raises(InvalidInput) as ei:
        client.push_features("plant_live", bad)
    assert ei.value.code == "invalid_rows"
    assert ei.value.errors[0]["loc"] == ["body", "rows", 1, "water"] and "row 1" in ei.value.detail
    with pytest.raises(InvalidInput) as ei:
        client.push_features("plant_live", [{"plant": "P1", "water": 1.0}])
    assert ei.value.errors[0]["loc"] == ["body", "rows", 0, "event_timestamp"]
    with pytest.raises(InvalidInput) as ei:
        client.push_features("plant_live", [{"plant": "P1", "event_timestamp": T0, "watr": 1.0}])
    assert "watr" in str(ei.value.errors) and "water" in ei.value.errors[0]["msg"]
    assert client.get_online_features([{"plant": "P1"}], ["plant_live:water"]).columns["water"] == [None]
    assert client.feature_view_stats("plant_live").pushed_rows == 0
