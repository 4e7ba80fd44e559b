"""Quickstart stage: tracked training of a few scikit-learn candidates on the churn training set, each
a ``python`` task of the quickstart pipeline, and the choice of the best."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mainsail.quickstart.churn import FEATURES
from mainsail.registry.service import DATASET_TAG

TARGET = "churned"
# the held-out split; the pipeline's model_evaluation task uses the same (its defaults)
TEST_SIZE, SPLIT_SEED = 0.2, 0
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


def evaluate(model: Any, x: Any, y: np.ndarray) -> dict[str, float]:
    proba = model.predict_proba(x)[:, 1]
    pred = (proba >= 0.5).astype(int)
    return {"accuracy": float(accuracy_score(y, pred)), "auc": float(roc_auc_score(y, proba)),
            "f1": float(f1_score(y, pred)), "precision": float(precision_score(y, pred, zero_division=0)),
            "recall": float(recall_score(y, pred)), "log_loss": float(log_loss(y, proba))}


def train_candidate(name: str, data: str, experiment: str, context: Any) -> dict[str, Any]:
    """A ``python`` task: fit candidate ``name`` on dataset version ``data`` (the training set), tracked as
    a run tagged ``mainsail.dataset_version`` = ``data`` (which a registered model's lineage reads), with
    params, test-split metrics, a learning curve for boosting, and the model package."""
    from mainsail.registry.packaging import save_model

    c = context.client
    build, params = CANDIDATES[name]
    df = c.load_dataset(data)
    x, y = df[FEATURES].astype(float), df[TARGET].to_numpy()
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_SIZE, random_state=SPLIT_SEED)
    tags = {**context.tags, "model": name, "dataset": data.partition("@")[0], DATASET_TAG: data}
    run = c.create_run(c.ensure_experiment(experiment).id, f"churn-{name}", tags=tags,
                       params={"model": name, **params, "n_train": len(y_tr), "n_test": len(y_te)})
    try:
        started = time.perf_counter()
        model = build(params).fit(x_tr, y_tr)
        fit_seconds = time.perf_counter() - started
        if hasattr(model, "staged_predict_proba"):  # a learning curve: one point per boosting stage
            now = time.time()
            curve = [(key, log_loss(yy, p[:, 1]), i, now)
                     for key, xx, yy in (("train_log_loss", x_tr, y_tr), ("val_log_loss", x_te, y_te))
                     for i, p in enumerate(model.staged_predict_proba(xx))]
            c.log_batch(run.id, curve)
        metrics = {**evaluate(model, x_te, y_te), "fit_seconds": fit_seconds}
        c.log_metrics(run.id, metrics)
        with tempfile.TemporaryDirectory() as tmp:
            save_model(model, Path(tmp) / "model", input_example=x_tr.head(5))
            c.log_artifacts(run.id, Path(tmp) / "model", "model")
    except BaseException:
        c.end_run(run.id, "failed")
        raise
    c.end_run(run.id)
    print(f"[train] {name}: run {run.id}, auc {metrics['auc']:.4f}", flush=True)
    return {"model": name, "run_id": run.id, "model_uri": f"runs:/{run.id}/model", "metrics": metrics}


def select_best(candidates: list[dict[str, Any]], metric: str = "auc") -> dict[str, Any]:
    """A ``python`` task: the candidate with the highest ``metric``, plus the runner-up (the quickstart
    canaries it later)."""
    ranked = sorted(candidates, key=lambda r: -r["metrics"][metric])
    print("[select] " + ", ".join(f"{r['model']} {metric}={r['metrics'][metric]:.4f}" for r in ranked), flush=True)
    return {**ranked[0], "runner_up": ranked[1] if len(ranked) > 1 else None}
