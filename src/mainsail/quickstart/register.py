"""Quickstart stage: register the best run's model through a quality gate (a ``python`` task of the
pipeline). A model is never put in front of a better one: the best becomes production and ``champion``
only when it scores at least the current champion's :data:`METRIC`. With ``canary``, the best is left
in staging for the serving stage to canary against the champion (the runner-up becomes the champion
first when there is none, so there is something weaker to replace)."""

from __future__ import annotations

from typing import Any

GATE = {"auc": ">= 0.70", "accuracy": ">= 0.65"}
MODEL_NAME = "churn"
METRIC = "auc"  # on the held-out split; the quickstart ranks candidates and compares versions by it


def _champion(c: Any) -> Any | None:
    from mainsail.core.errors import NotFound

    try:
        return c.get_model_version_by_alias(MODEL_NAME, "champion")
    except NotFound:
        return None


def _score(version: Any) -> float:
    return float(version.metrics.get(METRIC, float("-inf")))


def _register(c: Any, run_id: str, lineage: dict[str, list[str]], tags: dict[str, str], description: str) -> Any:
    return c.register_model_version(MODEL_NAME, source=f"runs:/{run_id}/model", gate=GATE, tags=tags,
                                    lineage=lineage, description=description)


def _crown(c: Any, version: Any, reason: str) -> None:
    c.set_model_stage(MODEL_NAME, version.version, "production", archive_existing=True, gate=GATE, reason=reason)
    c.set_model_alias(MODEL_NAME, "champion", version.version, reason=reason)


def register_best(run_id: str, runner_up: dict[str, Any] | None, datasets: list[str], feature_views: list[str],
                  context: Any, canary: bool = False) -> dict[str, Any]:
    """Register the package logged in ``run_id`` as a new version of ``churn`` (only if it passes
    :data:`GATE`), its lineage naming the source data and feature views besides the training set the
    run is tagged with. Without ``canary``: production and ``champion`` if it scores at least the
    champion. With ``canary``: staging, as the candidate the serving stage canaries."""
    c = context.client
    lineage = {"dataset_versions": datasets, "feature_views": feature_views}
    why = f"pipeline run {context.run_id}"
    champion = _champion(c)
    if canary and champion is None and runner_up is not None:  # a weaker baseline to canary the best against
        champion = _register(c, runner_up["run_id"], lineage, context.tags,
                             "Runner-up of mainsail quickstart: the baseline the best is canaried against")
        _crown(c, champion, f"{why}: baseline ({runner_up['model']}, {METRIC} {_score(champion):.4f})")
        print(f"[register] {MODEL_NAME} v{champion.version} ({runner_up['model']}): production, alias champion "
              "(baseline)", flush=True)
    best = _register(c, run_id, lineage, context.tags, "Churn classifier trained by mainsail quickstart")
    out: dict[str, Any] = {"name": MODEL_NAME, "version": best.version, "uri": f"models:/{MODEL_NAME}/{best.version}",
                           METRIC: _score(best), "champion": None, "champion_" + METRIC: None, "candidate": False}
    if champion is not None:
        out.update({"champion": champion.version, "champion_" + METRIC: _score(champion)})
    if champion is not None and _score(best) < _score(champion):  # never in front of a better model
        print(f"[register] {MODEL_NAME} v{best.version}: {METRIC} {_score(best):.4f} below champion "
              f"v{champion.version}'s {_score(champion):.4f}; not promoted", flush=True)
        out["stage"] = "development"
    elif canary and champion is not None:
        c.set_model_stage(MODEL_NAME, best.version, "staging", gate=GATE,
                          reason=f"{why}: candidate to canary against champion v{champion.version}")
        print(f"[register] {MODEL_NAME} v{best.version}: staging, to canary against champion "
              f"v{champion.version}", flush=True)
        out.update(stage="staging", candidate=True)
    else:
        _crown(c, best, f"{why}: best {METRIC} on the test split ({_score(best):.4f})")
        print(f"[register] {MODEL_NAME} v{best.version}: production, alias champion", flush=True)
        out.update(stage="production", champion=best.version, **{"champion_" + METRIC: _score(best)})
    return out


def register_candidate(run_id: str, datasets: list[str], context: Any) -> dict[str, Any]:
    """A ``python`` task of the retrain: register the retrained model (through :data:`GATE`) in staging,
    the candidate the closed loop canaries against the champion; its lineage names the fresh data."""
    c = context.client
    version = _register(c, run_id, {"dataset_versions": datasets}, context.tags,
                        "Churn classifier retrained on fresh data by mainsail quickstart's closed loop")
    c.set_model_stage(MODEL_NAME, version.version, "staging", gate=GATE,
                      reason=f"pipeline run {context.run_id}: retrained candidate")
    print(f"[register] {MODEL_NAME} v{version.version} ({METRIC} {_score(version):.4f}): staging, the loop's "
          "candidate", flush=True)
    return {"name": MODEL_NAME, "version": version.version, "uri": f"models:/{MODEL_NAME}/{version.version}",
            METRIC: _score(version)}
