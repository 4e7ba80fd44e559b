"""Quickstart stage: register the best run's model through a quality gate, promote it and point
``champion`` at it (a ``python`` task of the pipeline); later register the runner-up to canary it."""

from __future__ import annotations

from typing import Any

GATE = {"auc": ">= 0.70", "accuracy": ">= 0.65"}
MODEL_NAME = "churn"


def register_champion(run_id: str, datasets: list[str], feature_views: list[str], context: Any) -> dict[str, Any]:
    """Register the package logged in ``run_id`` as a new version of ``churn`` (only if it passes
    :data:`GATE`), its lineage naming the source data and feature views besides the training set the run
    is tagged with; move it to production (deprecating the previous one) and point ``champion`` at it."""
    c = context.client
    v = c.register_model_version(MODEL_NAME, source=f"runs:/{run_id}/model", gate=GATE, tags=context.tags,
                                 lineage={"dataset_versions": datasets, "feature_views": feature_views},
                                 description="Churn classifier trained by mainsail quickstart")
    c.set_model_stage(MODEL_NAME, v.version, "production", archive_existing=True, gate=GATE,
                      reason="quickstart: best AUC on the test split")
    c.set_model_alias(MODEL_NAME, "champion", v.version, reason=f"pipeline run {context.run_id}")
    print(f"[register] {MODEL_NAME} v{v.version}: production, alias champion", flush=True)
    return {"name": MODEL_NAME, "version": v.version, "uri": f"models:/{MODEL_NAME}/{v.version}",
            "stage": "production", "alias": "champion"}


def register_challenger(client: Any, run_id: str, datasets: list[str], feature_views: list[str]) -> Any:
    """Register another candidate (the runner-up) as a staging version of ``churn``, to canary it."""
    return client.register_model_version(MODEL_NAME, source=f"runs:/{run_id}/model", gate=GATE, stage="staging",
                                         lineage={"dataset_versions": datasets, "feature_views": feature_views},
                                         description="Runner-up of mainsail quickstart, canaried against champion")
