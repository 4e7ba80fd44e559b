"""Point-in-time correctness of get_historical_features on hand-built cases (embedded)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from mainsail import Client
from mainsail.core.errors import InvalidInput, NotFound
from mainsail.features.schemas import Entity, FeatureService, FeatureView

T0 = pd.Timestamp("2026-01-01 00:00:00")


def t(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


@pytest.fixture
def client(tmp_path: Path):
    c = Client(f"sqlite:///{tmp_path / 'pit.db'}")
    # view "stats": customer 1 has values at 0h, 10h, 20h; customer 2 at 5h. TTL 6 hours.
    stats = pd.DataFrame({"customer_id": [1, 1, 1, 2], "event_timestamp": [t(0), t(10), t(20), t(5)],
                          "spend": [1.0, 2.0, 3.0, 50.0], "plan": ["a", "b", "c", "z"]})
    # view "risk" (a Parquet path source): customer 1 at 2h, no TTL; different timestamp column name
    risk = pd.DataFrame({"customer_id": [1, 2], "ts": [t(2), t(100)], "score": [0.7, 0.1]})
    risk.to_parquet(tmp_path / "risk.parquet")
    c.ingest_dataset(stats, "customer_stats_src")
    cust = Entity(name="customer", join_key="customer_id", type="int64")
    c.apply_features([
        cust,
        FeatureView(name="stats", entities=[cust], features={"spend": "float64", "plan": "string"},
                    source="dataset:customer_stats_src", ttl="6h"),
        FeatureView(name="risk", entities=["customer"], features={"score": "float64"},
                    source=str(tmp_path / "risk.parquet"), timestamp_field="ts"),
        FeatureService(name="churn", features=["stats:spend", "risk"]),
    ])
    yield c
    c.close()


def entity_frame(rows: list[tuple[int, pd.Timestamp]]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [r[0] for r in rows], "event_timestamp": [r[1] for r in rows]})


def test_exact_just_after_before_ttl_and_missing(client: Client) -> None:
    ent = entity_frame([
        (1, t(10)),                            # exactly at a value's timestamp: that value
        (1, t(10) + pd.Timedelta(microseconds=1)),  # just after: the same value
        (1, t(10) - pd.Timedelta(microseconds=1)),  # just before: the previous one (0h, 10h old > TTL 6h) -> null
        (1, t(3)),                             # 3h after the 0h value: within TTL
        (1, t(6)),                             # exactly TTL after the 0h value: still valid
        (1, t(6) + pd.Timedelta(seconds=1)),   # past TTL
        (1, t(-1)),                            # before any value
        (3, t(10)),                            # unknown entity
        (2, t(11)),                            # exactly TTL after customer 2's value
    ])
    out = client.get_historical_features(ent, ["stats:spend", "stats:plan"])
    assert list(out.columns) == ["customer_id", "event_timestamp", "spend", "plan"]
    assert out["customer_id"].tolist() == ent["customer_id"].tolist()  # entity order kept
    spend = [None if pd.isna(x) else x for x in out["spend"]]
    assert spend == [2.0, 2.0, None, 1.0, 1.0, None, None, None, 50.0]
    assert [None if pd.isna(x) else x for x in out["plan"]] == ["b", "b", None, "a", "a", None, None, None, "z"]


def test_several_views_with_different_ttls_and_a_service(client: Client) -> None:
    ent = entity_frame([(1, t(30)), (1, t(1)), (2, t(7)), (2, t(200))])
    out = client.get_historical_features(ent, service="churn", as_="arrow")
    assert isinstance(out, pa.Table)
    rows = out.to_pylist()
    # stats (TTL 6h): at 30h the 20h value is 10h old -> null; risk (no TTL): the 2h score holds forever
    assert [(r["spend"], r["score"]) for r in rows] == [(None, 0.7), (1.0, None), (50.0, None), (None, 0.1)]
    full = client.get_historical_features(ent, ["stats:spend", "risk:score"], full_feature_names=True)
    assert {"stats__spend", "risk__score"} <= set(full.columns)


def test_timezones_are_compared_in_utc(client: Client) -> None:
    aware = pd.DataFrame({"customer_id": [1], "event_timestamp": [pd.Timestamp("2026-01-01 12:00", tz="Europe/Paris")]})
    out = client.get_historical_features(aware, ["stats:spend"])  # 11:00 UTC -> the 10h value
    assert out["spend"].tolist() == [2.0]
    text = pd.DataFrame({"customer_id": [1], "event_timestamp": ["2026-01-01T10:00:00"]})
    assert client.get_historical_features(text, ["stats:spend"])["spend"].tolist() == [2.0]


def test_bad_entity_frames_and_unknown_names(client: Client) -> None:
    ent = entity_frame([(1, t(10))])
    with pytest.raises(InvalidInput) as ei:
        client.get_historical_features(ent.rename(columns={"event_timestamp": "when"}), ["stats:spend"])
    assert "event_timestamp" in ei.value.detail and ei.value.errors[0]["loc"] == ["entity_df", "event_timestamp"]
    out = client.get_historical_features(ent.rename(columns={"event_timestamp": "when"}), ["stats:spend"],
                                         timestamp_column="when")
    assert out["spend"].tolist() == [2.0]
    with pytest.raises(InvalidInput) as ei:
        client.get_historical_features(ent.rename(columns={"customer_id": "cust"}), ["stats:spend"])
    assert "customer_id" in ei.value.detail and ei.value.code == "missing_join_key"
    with pytest.raises(NotFound) as ei:
        client.get_historical_features(ent, ["stat:spend"])
    assert "'stat'" in ei.value.detail and "'stats'" in ei.value.detail  # the nearest name
    with pytest.raises(NotFound) as ei:
        client.get_historical_features(ent, ["stats:spnd"])
    assert "stats:spnd" in ei.value.detail and "stats:spend" in ei.value.detail
    with pytest.raises(NotFound) as ei:
        client.get_historical_features(ent, service="chrun")
    assert "'churn'" in ei.value.detail


def test_training_set_as_a_dataset_version(client: Client) -> None:
    ent = entity_frame([(1, t(10)), (2, t(6))])
    v = client.get_historical_features(ent, ["stats:spend"], output_dataset="training", as_="version")
    assert v.dataset == "training" and v.row_count == 2
    assert v.source["kind"] == "features" and v.source["features"] == ["stats:spend"]
    back = client.load_dataset("training")
    assert back["spend"].tolist() == [2.0, 50.0]
    assert client.feature_view_stats("stats").offline_reads >= 1


def test_push_rows_join_offline(client: Client) -> None:
    client.push_features("stats", [{"customer_id": 3, "event_timestamp": t(50).to_pydatetime(), "spend": 9.5,
                                    "plan": "p"}])
    out = client.get_historical_features(entity_frame([(3, t(51)), (3, t(49))]), ["stats:spend"])
    assert [None if pd.isna(x) else x for x in out["spend"]] == [9.5, None]


def test_entity_frame_as_list_of_dicts(client: Client) -> None:
    rows = [{"customer_id": 1, "event_timestamp": dt.datetime(2026, 1, 1, 21)}]
    assert client.get_historical_features(rows, ["stats:plan"])["plan"].tolist() == ["c"]


def test_same_timestamp_types_compare_natively_with_ttl(client: Client, tmp_path: Path) -> None:
    """A view whose times have the entity frame's type is joined without casts (TTL edges included),
    next to a view of another type that needs them."""
    utc = pd.DataFrame({"customer_id": [1, 1], "event_timestamp": [t(0), t(10)], "bal": [5.0, 6.0]})
    utc["event_timestamp"] = utc["event_timestamp"].astype("datetime64[us]").dt.tz_localize("UTC")
    utc.to_parquet(tmp_path / "bal.parquet")
    client.apply_features([FeatureView(name="bal", entities=["customer"], features={"bal": "float64"},
                                       source=str(tmp_path / "bal.parquet"), ttl="2h")])
    ent = entity_frame([(1, t(12)), (1, t(12) + pd.Timedelta(microseconds=1)), (1, t(1)), (1, t(-1)), (2, t(1))])
    ent["event_timestamp"] = ent["event_timestamp"].astype("datetime64[us]").dt.tz_localize("UTC")
    out = client.get_historical_features(ent, ["bal:bal", "risk:score"])
    assert list(out.columns) == ["customer_id", "event_timestamp", "bal", "score"]
    assert [None if pd.isna(x) else x for x in out["bal"]] == [6.0, None, 5.0, None, None]
    assert [None if pd.isna(x) else x for x in out["score"]] == [0.7, 0.7, None, None, None]
    assert out["customer_id"].tolist() == [1, 1, 1, 1, 2]
