"""Quickstart stage: the churn columns become features of entity ``customer`` (a feature view over
dataset ``churn``), the training set is built from them by a point-in-time join and stored as a
dataset version, and the view is materialized for online reads."""

from __future__ import annotations

from typing import Any

from mainsail.features.schemas import Entity, FeatureService, FeatureView
from mainsail.quickstart.churn import FEATURES

ENTITY = Entity(name="customer", join_key="customer_id", type="string", description="A customer of the churn demo")
VIEW = FeatureView(
    name="customer_churn",
    entities=["customer"],
    features={name: "float64" if name in ("monthly_charges", "total_charges", "days_since_login") else "int64"
              for name in FEATURES},
    source="dataset:churn",
    timestamp_field="event_timestamp",
    owner="mainsail-quickstart",
    description="Account, usage and contract features of each customer, as of the event timestamp",
)
SERVICE = FeatureService(name="churn-features", features=["customer_churn"],
                         description="The features the churn models are trained on and served with")
TRAINING_SET = "churn-training"
LABEL = "churned"


def build_training_set(dataset: str, context: Any) -> dict[str, Any]:
    """A ``python`` task: apply the definitions, then join each labelled customer (key, event time,
    label from ``dataset``) with the feature values as of that time; the result is stored as a version
    of ``churn-training`` (its source names the feature service)."""
    client = context.client
    applied = client.apply_features([ENTITY, VIEW, SERVICE], message=f"quickstart, from {dataset}")
    for ch in applied.changes:
        print(f"[features] {ch.action} {ch.kind} {ch.name} (v{ch.version})", flush=True)
    labels = client.load_dataset(dataset, columns=["customer_id", "event_timestamp", LABEL])
    version = client.get_historical_features(labels, service=SERVICE.name, output_dataset=TRAINING_SET,
                                             as_="version")
    print(f"[features] point-in-time join of {len(labels):,} labelled rows -> {version.ref}", flush=True)
    return {"dataset_version": version.ref, "rows": version.row_count, "view": VIEW.name, "service": SERVICE.name,
            "entity": ENTITY.name, "features": len(FEATURES)}
