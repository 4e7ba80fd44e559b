"""Tracked training of a few scikit-learn models on the churn data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mainsail
from mainsail.quickstart.churn import FEATURES
from mainsail.registry.service import DATASET_TAG

CANDIDATES: dict[str, tuple[Any, dict[str, Any]]] = {
    "logreg": (lambda p: make_pipeline(StandardScaler(), LogisticRegression(C=p["C"], max_iter=500)), {"C": 1.0}),
    "random_forest": (lambda p: RandomForestClassifier(n_estimators=p["n_estimators"], max_depth=p["max_depth"],
                                                       random_state=0, n_jobs=1),
                      {"n_estimators": 150, "max_depth": 8}),
    "gradient_boosting": (lambda p: GradientBoostingClassifier(n_estimators=p["n_estimators"],
                                                               learning_rate=p["learning_rate"], max_depth=3,
                                                               random_state=0),
                          {"n_estimators": 120, "learning_rate": 0.1}),
}


@dataclass
class TrainResult:
    model_name: str
    run_id: str
    metrics: dict[str, float]
    model: Any


def evaluate(model: Any, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    proba = model.predict_proba(x)[:, 1]
    pred = (proba >= 0.5).astype(int)
    return {"accuracy": accuracy_score(y, pred), "auc": roc_auc_score(y, proba), "f1": f1_score(y, pred),
            "precision": precision_score(y, pred, zero_division=0), "recall": recall_score(y, pred),
            "log_loss": log_loss(y, proba)}


def train_one(name: str, df: Any, on_step: Any = None, dataset_version: str | None = None) -> TrainResult:
    """Train and evaluate one candidate inside a tracked run; ``dataset_version`` (``"churn@<id>"``) is
    tagged on the run as ``mainsail.dataset_version``, which a registered model's lineage reads."""
    build, params = CANDIDATES[name]
    x, y = df[FEATURES].to_numpy(float), df["churned"].to_numpy()
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=7, stratify=y)
    tags = {"model": name, "dataset": dataset_version.partition("@")[0] if dataset_version else "churn-generated"}
    if dataset_version:
        tags[DATASET_TAG] = dataset_version
    with mainsail.start_run(f"churn-{name}", tags=tags) as run:
        mainsail.log_params({"model": name, **params, "n_train": len(y_tr), "n_test": len(y_te)})
        model = build(params)
        model.fit(x_tr, y_tr)
        if hasattr(model, "staged_predict_proba"):  # a learning curve: one point per boosting stage
            for i, (p_tr, p_te) in enumerate(zip(model.staged_predict_proba(x_tr),
                                                 model.staged_predict_proba(x_te), strict=True)):
                mainsail.log_metric("train_log_loss", log_loss(y_tr, p_tr[:, 1]), step=i)
                mainsail.log_metric("val_log_loss", log_loss(y_te, p_te[:, 1]), step=i)
                if on_step:
                    on_step()
        metrics = evaluate(model, x_te, y_te)
        mainsail.log_metrics(metrics)
        mainsail.log_model(model, "model", input_example=df[FEATURES].head(5).astype(float))
    return TrainResult(name, run.id, metrics, model)
