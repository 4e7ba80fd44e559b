"""MLflow's JSON shapes of Mainsail's experiments and runs (protobuf JSON: epoch milliseconds,
``[{key, value}]`` lists, upper-case statuses, ``"NaN"`` for a missing value)."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from mainsail.mlflow_compat.dispatch import bad_value, invalid
from mainsail.mlflow_compat.names import mlflow_name, visible_tags
from mainsail.tracking.schemas import Experiment, Run

HIDDEN = "mainsail.mlflow."  # bookkeeping tags, not shown as run tags
MODEL_TAG = HIDDEN + "model."
INPUTS_TAG = HIDDEN + "inputs"
RUN_NAME_TAG = "mlflow.runName"
NOTE_TAG = "mlflow.note.content"


def ms(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def from_ms(value: Any) -> dt.datetime | None:
    if value in (None, ""):
        return None
    try:
        return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise invalid(f"timestamp {value!r} is not epoch milliseconds") from None


def kv(items: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": v} for k, v in items.items()]


def from_kv(items: Any, what: str) -> dict[str, str]:
    """MLflow's ``[{"key": k, "value": v}]`` as a dict (``value`` may be absent for an empty string)."""
    if items in (None, ""):
        return {}
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("key"), str) for i in items):
        raise bad_value(what, items, "Expected a list of {key, value} objects.")
    return {str(i["key"]): "" if i.get("value") is None else str(i["value"]) for i in items}


def experiment_json(e: Experiment) -> dict[str, Any]:
    tags = visible_tags(e.tags)
    if e.description:
        tags.setdefault(NOTE_TAG, e.description)
    return {"experiment_id": e.id, "name": mlflow_name(e), "artifact_location": f"mlflow-artifacts:/{e.id}",
            "lifecycle_stage": e.lifecycle, "creation_time": ms(e.created_at),
            "last_update_time": ms(e.updated_at), "tags": kv(tags)}


def artifact_uri(experiment_id: str, run_id: str) -> str:
    return f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"


def run_info(run: Run, lifecycle: str = "active") -> dict[str, Any]:
    info = {"run_id": run.id, "run_uuid": run.id, "run_name": run.name, "experiment_id": run.experiment_id,
            "user_id": run.created_by or "", "status": run.status.value.upper(),
            "start_time": ms(run.start_time), "artifact_uri": artifact_uri(run.experiment_id, run.id),
            "lifecycle_stage": lifecycle}
    if run.end_time is not None:
        info["end_time"] = ms(run.end_time)
    return info


def metric_value(v: float | None) -> float | str:
    if v is None or math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def run_json(run: Run) -> dict[str, Any]:
    tags = {k: v for k, v in run.tags.items() if not k.startswith(HIDDEN)}
    tags[RUN_NAME_TAG] = run.name
    stamp = ms(run.start_time)
    metrics = [{"key": k, "value": metric_value(v), "timestamp": stamp, "step": 0} for k, v in run.metrics.items()]
    inputs = json.loads(run.tags.get(INPUTS_TAG, "[]"))
    outputs = [{"model_id": m["model_id"], "step": 0} for m in models_of(run)]
    return {"info": run_info(run), "data": {"metrics": metrics, "params": kv(run.params), "tags": kv(tags)},
            "inputs": {"dataset_inputs": inputs}, "outputs": {"model_outputs": outputs}}


def models_of(run: Run) -> list[dict[str, Any]]:
    out = []
    for key, value in run.tags.items():
        if key.startswith(MODEL_TAG):
            rec = json.loads(value)
            rec["model_id"] = f"m-{run.id}-{key[len(MODEL_TAG):]}"
            out.append(rec)
    return out
