"""Quickstart stage: register the best run's model through a quality gate and promote it."""

from __future__ import annotations

from typing import Any

import mainsail

GATE = {"auc": ">= 0.70", "accuracy": ">= 0.65"}
MODEL_NAME = "churn"


def register_best(run_id: str) -> tuple[Any, Any]:
    """Register the model package logged in ``run_id`` as a new version of ``churn`` (only if it
    passes the gate), move it to production (deprecating the previous one), point ``champion`` at it,
    and load it back from ``models:/churn@champion``."""
    client = mainsail.get_client()
    version = client.register_model_version(MODEL_NAME, source=f"runs:/{run_id}/model", gate=GATE,
                                            description="Churn classifier trained by mainsail quickstart")
    client.set_model_stage(MODEL_NAME, version.version, "production", archive_existing=True, gate=GATE,
                           reason="quickstart: best AUC on the test split")
    client.set_model_alias(MODEL_NAME, "champion", version.version)
    return client.get_model_version(MODEL_NAME, version.version), mainsail.load_model(f"models:/{MODEL_NAME}@champion")
