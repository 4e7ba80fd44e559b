"""MLflow's experiments, runs, metrics and inputs over ``tracking.service``."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select

from mainsail.core.errors import NotFound
from mainsail.core.runtime import Ctx
from mainsail.mlflow_compat import names
from mainsail.mlflow_compat.dispatch import MlflowError, Req, bad_value, invalid, page_token, route
from mainsail.mlflow_compat.filters import field_of, matches, parse_filter
from mainsail.mlflow_compat.shapes import (
    HIDDEN,
    INPUTS_TAG,
    NOTE_TAG,
    RUN_NAME_TAG,
    experiment_json,
    from_kv,
    from_ms,
    metric_value,
    run_info,
    run_json,
)
from mainsail.tracking import service as tracking
from mainsail.tracking.models import MetricRow
from mainsail.tracking.schemas import (
    Experiment,
    ExperimentCreate,
    LogBatch,
    MetricBatch,
    RunCreate,
    RunStatus,
    RunUpdate,
)

DEFAULT_EXPERIMENT = "Default"
PARENT_TAG = "mlflow.parentRunId"


# ---------------------------------------------------------------- experiments

def experiment_id(ctx: Ctx, given: Any) -> str:
    """MLflow's default experiment ``0`` is Mainsail's ``Default`` experiment."""
    if given in (None, "", "0", 0):
        return tracking.ensure_experiment(ctx, DEFAULT_EXPERIMENT).id
    return str(given)


def _experiment_getter(ctx: Ctx) -> Any:
    return names.getter(lambda n: tracking.get_experiment_by_name(ctx, n))


def find_experiment(ctx: Ctx, name: str) -> Experiment | None:
    """The experiment MLflow knows as ``name`` (see ``names``)."""
    return names.find(name, _experiment_getter(ctx), lambda: tracking.all_experiments(ctx, None))


def _user_tags(tags: dict[str, str]) -> dict[str, str]:
    if names.NAME_TAG in tags:
        raise invalid(f"tag key {names.NAME_TAG!r} is reserved (it holds the MLflow name)")
    return tags


@route("POST", "/mlflow/experiments/create")
def create_experiment(ctx: Ctx, req: Req) -> dict[str, Any]:
    name = req.text("name")
    location = req.args.get("artifact_location")
    if location is not None and not isinstance(location, str):
        raise bad_value("artifact_location", location)
    tags = _user_tags(from_kv(req.get("tags"), "tags"))
    if find_experiment(ctx, name) is not None:
        raise MlflowError("RESOURCE_ALREADY_EXISTS", f"Experiment '{name}' already exists.")
    note = tags.pop(NOTE_TAG, None)
    mainsail_name = names.free(name, _experiment_getter(ctx))
    exp = tracking.create_experiment(ctx, ExperimentCreate(
        name=mainsail_name, tags=names.tags_for(name, mainsail_name, tags), description=note))
    return {"experiment_id": exp.id}


@route("GET", "/mlflow/experiments/get")
def get_experiment(ctx: Ctx, req: Req) -> dict[str, Any]:
    exp_id = experiment_id(ctx, req.need("experiment_id"))
    return {"experiment": experiment_json(tracking.get_experiment(ctx, exp_id))}


@route("GET", "/mlflow/experiments/get-by-name")
def get_experiment_by_name(ctx: Ctx, req: Req) -> dict[str, Any]:
    name = req.text("experiment_name")
    exp = find_experiment(ctx, name)
    if exp is None:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name '{name}'")
    return {"experiment": experiment_json(exp)}


_EXPERIMENT_ORDER = {"name": "name", "creation_time": "created_at", "last_update_time": "updated_at",
                     "experiment_id": "id"}


@route("POST", "/mlflow/experiments/search", audit=False, role="viewer")
def search_experiments(ctx: Ctx, req: Req) -> dict[str, Any]:
    if ctx.principal.can("editor"):  # MLflow's store always holds its default experiment; a viewer only reads
        tracking.ensure_experiment(ctx, DEFAULT_EXPERIMENT)
    view = str(req.get("view_type", "ACTIVE_ONLY")).upper()
    if view not in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
        raise bad_value("view_type", req.get("view_type"), "Expected ACTIVE_ONLY, DELETED_ONLY or ALL.")
    lifecycle = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted"}.get(view)
    exps = tracking.all_experiments(ctx, lifecycle)
    clauses = parse_filter(req.get("filter"), {"name"})
    exps = [e for e in exps if all(matches(op, v, field_of(e, f), absent_differs=False) for f, op, v in clauses)]
    orders = req.list("order_by") or ["creation_time DESC"]
    exps.sort(key=lambda e: e.id, reverse=True)  # MLflow's final tie-break: newest id first
    for item in reversed(orders):
        field, _, direction = str(item).strip().partition(" ")
        key = _EXPERIMENT_ORDER.get(field.removeprefix("attributes.").removeprefix("attribute."))
        if key is None or direction.strip().upper() not in ("", "ASC", "DESC"):
            raise invalid(f"Invalid order_by clause '{item}'. Experiments can be ordered by "
                          f"{', '.join(_EXPERIMENT_ORDER)}, ASC or DESC.")
        exps.sort(key=lambda e, k=key: names.mlflow_name(e) if k == "name" else getattr(e, k),
                  reverse=direction.strip().upper() == "DESC")
    start = req.offset()
    size = req.page_size(1000)
    page = exps[start:start + size]
    out: dict[str, Any] = {"experiments": [experiment_json(e) for e in page]}
    if start + size < len(exps):
        out["next_page_token"] = page_token(start + size)
    return out


@route("POST", "/mlflow/experiments/update")
def update_experiment(ctx: Ctx, req: Req) -> dict[str, Any]:
    new_name = req.text("new_name", required=False)
    if new_name:
        exp = tracking.get_experiment(ctx, experiment_id(ctx, req.need("experiment_id")))
        other = find_experiment(ctx, new_name)
        if other is not None and other.id != exp.id:
            raise MlflowError("RESOURCE_ALREADY_EXISTS", f"Experiment '{new_name}' already exists.")
        mainsail_name = names.free(new_name, _experiment_getter(ctx), own=exp.id)
        tracking.rename_experiment(ctx, exp.id, mainsail_name)
        tracking.set_experiment_tag(ctx, exp.id, names.NAME_TAG, new_name if new_name != mainsail_name else None)
    return {}


@route("POST", "/mlflow/experiments/delete")
def delete_experiment(ctx: Ctx, req: Req) -> dict[str, Any]:
    tracking.set_experiment_lifecycle(ctx, experiment_id(ctx, req.need("experiment_id")), "deleted")
    return {}


@route("POST", "/mlflow/experiments/restore")
def restore_experiment(ctx: Ctx, req: Req) -> dict[str, Any]:
    tracking.set_experiment_lifecycle(ctx, experiment_id(ctx, req.need("experiment_id")), "active")
    return {}


@route("POST", "/mlflow/experiments/set-experiment-tag")
def set_experiment_tag(ctx: Ctx, req: Req) -> dict[str, Any]:
    key = req.text("key")
    _user_tags({key: ""})
    tracking.set_experiment_tag(ctx, experiment_id(ctx, req.need("experiment_id")), key,
                                str(req.get("value", "")))
    return {}


@route("POST", "/mlflow/experiments/delete-experiment-tag")
def delete_experiment_tag(ctx: Ctx, req: Req) -> dict[str, Any]:
    key = req.text("key")
    _user_tags({key: ""})
    tracking.set_experiment_tag(ctx, experiment_id(ctx, req.need("experiment_id")), key, None)
    return {}


# ---------------------------------------------------------------- runs

def _run_id(req: Req) -> str:
    key = "run_id" if req.get("run_id") is not None else "run_uuid"
    if req.get(key) is None:
        raise invalid("Missing value for required parameter 'run_id'.")
    return req.text(key) or ""


@route("POST", "/mlflow/runs/create")
def create_run(ctx: Ctx, req: Req) -> dict[str, Any]:
    tags = from_kv(req.get("tags"), "tags")
    name = req.get("run_name") or tags.get(RUN_NAME_TAG)
    if ctx.actor is None:  # MLflow's client sends the user; MLflow's server records "unknown" without one
        ctx.actor = str(req.get("user_id") or tags.get("mlflow.user") or "unknown")
    parent = tags.get(PARENT_TAG)
    if parent:  # MLflow keeps any parent tag; Mainsail links the run to its parent when that run exists
        try:
            tracking.get_run(ctx, parent)
        except NotFound:
            parent = None
    body = RunCreate(experiment_id=experiment_id(ctx, req.get("experiment_id")), name=name or None,
                     tags=tags, start_time=from_ms(req.get("start_time")), parent_run_id=parent or None)
    return {"run": run_json(tracking.create_run(ctx, body))}


@route("GET", "/mlflow/runs/get")
def get_run(ctx: Ctx, req: Req) -> dict[str, Any]:
    return {"run": run_json(tracking.get_run(ctx, _run_id(req)))}


_STATUS = {"RUNNING": None, "SCHEDULED": None, "FINISHED": RunStatus.finished, "FAILED": RunStatus.failed,
           "KILLED": RunStatus.killed}


@route("POST", "/mlflow/runs/update")
def update_run(ctx: Ctx, req: Req) -> dict[str, Any]:
    status = str(req.get("status", "RUNNING")).upper()
    if status not in _STATUS:
        raise invalid(f"Invalid run status {status!r}; expected one of {', '.join(_STATUS)}")
    run = tracking.update_run(ctx, _run_id(req), RunUpdate(status=_STATUS[status], end_time=from_ms(
        req.get("end_time")), name=req.get("run_name") or None))
    return {"run_info": run_info(run)}


@route("POST", "/mlflow/runs/delete")
def delete_run(ctx: Ctx, req: Req) -> dict[str, Any]:
    tracking.delete_run(ctx, _run_id(req))
    return {}


@route("POST", "/mlflow/runs/restore")
def restore_run(ctx: Ctx, req: Req) -> dict[str, Any]:
    tracking.restore_run(ctx, _run_id(req))
    return {}


_I64 = (-2**63, 2**63 - 1)


def _integer(value: Any) -> int | None:
    """An int64 as protobuf JSON sends it (a number or a string of digits), or None."""
    if isinstance(value, bool):
        return None
    if (isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value.strip())
            or isinstance(value, float) and value.is_integer()):
        value = int(value)
    return value if isinstance(value, int) and _I64[0] <= value <= _I64[1] else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)  # "NaN", "Infinity", "-Infinity" as protobuf JSON writes them
        except ValueError:
            return None
    return None


def _metric_batch(items: Any, what: str = "metrics") -> MetricBatch | None:
    """MLflow metrics (key, value, timestamp required; step defaults to 0) as a batch, checked the way
    MLflow's server checks them."""
    if items in (None, []):
        return None
    if not isinstance(items, list):
        raise bad_value(what, items)
    keys, values, steps, stamps = [], [], [], []
    for m in items:
        if type(m) is dict:  # the usual shape, checked without conversions (any other goes the long way)
            key, value, stamp, step = m.get("key"), m.get("value"), m.get("timestamp"), m.get("step", 0)
            if type(key) is str and key and type(value) is float and type(stamp) is int and type(step) is int \
                    and _I64[0] <= stamp <= _I64[1] and _I64[0] <= step <= _I64[1]:
                keys.append(key)
                values.append(value)
                steps.append(step)
                stamps.append(stamp / 1000)
                continue
        if not isinstance(m, dict) or not isinstance(m.get("key"), str) or not m.get("key") \
                or m.get("timestamp") in (None, "") or m.get("value") is None:
            raise bad_value(what, items)
        value, stamp = _number(m["value"]), _integer(m["timestamp"])
        step = 0 if m.get("step") in (None, "") else _integer(m.get("step"))
        if value is None or stamp is None or step is None:
            raise bad_value(what, items)
        keys.append(m["key"])
        values.append(value)
        steps.append(step)
        stamps.append(stamp / 1000)
    return MetricBatch(key=keys, value=values, step=steps, timestamp=stamps)


def _log(ctx: Ctx, run_id: str, metrics: Any = None, params: dict[str, str] | None = None,
         tags: dict[str, str] | None = None) -> dict[str, Any]:
    batch = _metric_batch(metrics)
    tracking.log_batch(ctx, run_id, LogBatch(metrics=batch, params=params or {}, tags=tags or {}))
    return {}


def _new_points(ctx: Ctx, run_id: str, metrics: list[Any]) -> list[Any]:
    """``metrics`` without the points the run already holds. MLflow 3 logs a run's latest metrics again,
    linked to a model (``model_id``), when the model is logged; MLflow's store keeps one copy of an identical
    point, and so does this (only those linked points are checked, by key and step through the metric index,
    so plain batches cost no lookup)."""
    linked = [m for m in metrics if isinstance(m, dict) and m.get("model_id")]
    if not linked:
        return metrics
    seen: set[tuple[Any, ...]] = set()
    try:
        keys = {str(m.get("key")) for m in linked}
        steps = {int(m.get("step") or 0) for m in linked}
    except (TypeError, ValueError):
        return metrics  # the batch's own check names what is wrong
    rows = ctx.session.execute(select(MetricRow.key, MetricRow.step, MetricRow.value, MetricRow.timestamp).where(
        MetricRow.run_id == run_id, MetricRow.key.in_(keys), MetricRow.step.in_(steps)))
    seen.update((k, s, v, round(t * 1000)) for k, s, v, t in rows)
    return [m for m in metrics if not (isinstance(m, dict) and m.get("model_id") and (
        m.get("key"), int(m.get("step") or 0), float(m["value"]) if m.get("value") is not None else None,
        int(m.get("timestamp") or 0)) in seen)]


@route("POST", "/mlflow/runs/log-batch")
def log_batch(ctx: Ctx, req: Req) -> dict[str, Any]:
    run_id = _run_id(req)
    metrics = req.get("metrics")
    if metrics is not None and not isinstance(metrics, list):
        raise bad_value("metrics", metrics)
    return _log(ctx, run_id, _new_points(ctx, run_id, metrics or []), from_kv(req.get("params"), "params"),
                from_kv(req.get("tags"), "tags"))


@route("POST", "/mlflow/runs/log-metric")
def log_metric(ctx: Ctx, req: Req) -> dict[str, Any]:
    run_id, key = _run_id(req), req.text("key")
    value, step, stamp = req.args.get("value"), req.args.get("step"), req.args.get("timestamp")
    if value is None:
        raise invalid("Missing value for required parameter 'value'.")
    if _number(value) is None:
        raise bad_value("value", value)
    if stamp is None or stamp == "":
        raise invalid("Missing value for required parameter 'timestamp'.")
    if _integer(stamp) is None:
        raise bad_value("timestamp", stamp)
    if step not in (None, "") and _integer(step) is None:
        raise bad_value("step", step)
    return _log(ctx, run_id, [{"key": key, "value": value, "timestamp": stamp, "step": step}])


@route("POST", "/mlflow/runs/log-parameter")
def log_param(ctx: Ctx, req: Req) -> dict[str, Any]:
    run_id, key, value = _run_id(req), req.text("key"), req.args.get("value", "")
    if not isinstance(value, str):
        raise bad_value("value", value)
    return _log(ctx, run_id, params={key: value})


@route("POST", "/mlflow/runs/set-tag")
def set_tag(ctx: Ctx, req: Req) -> dict[str, Any]:
    run_id, key, value = _run_id(req), req.text("key"), req.args.get("value", "")
    if not isinstance(value, str):
        raise bad_value("value", value)
    if key == RUN_NAME_TAG:
        tracking.update_run(ctx, run_id, RunUpdate(name=value))
    return _log(ctx, run_id, tags={key: value})


@route("POST", "/mlflow/runs/delete-tag")
def delete_tag(ctx: Ctx, req: Req) -> dict[str, Any]:
    run_id, key = _run_id(req), req.text("key")
    run = tracking.get_run(ctx, run_id)
    if key not in run.tags or key.startswith(HIDDEN):
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"No tag with name: {key} in run with id {run_id}")
    tracking.delete_tag(ctx, run_id, key)
    return {}


@route("POST", "/mlflow/runs/log-inputs")
def log_inputs(ctx: Ctx, req: Req) -> dict[str, Any]:
    run_id = _run_id(req)
    datasets = req.get("datasets")
    if datasets is None:
        raise invalid("Missing value for required parameter 'datasets'.")
    if not isinstance(datasets, list) or not all(isinstance(d, dict) for d in datasets):
        raise bad_value("datasets", datasets)
    if datasets:
        run = tracking.get_run(ctx, run_id)
        known = json.loads(run.tags.get(INPUTS_TAG, "[]"))
        seen = {(d["dataset"].get("name"), d["dataset"].get("digest")) for d in known}
        for d in datasets:
            ds = dict(d.get("dataset") or {})
            if (ds.get("name"), ds.get("digest")) in seen:
                continue
            for big in ("schema", "profile"):  # kept within a tag's size
                if len(str(ds.get(big, ""))) > 1000:
                    ds.pop(big)
            known.append({"tags": d.get("tags") or [], "dataset": ds})
        _log(ctx, run_id, tags={INPUTS_TAG: json.dumps(known)})
    return {}


@route("POST", "/mlflow/runs/outputs")
def log_outputs(ctx: Ctx, req: Req) -> dict[str, Any]:
    tracking.get_run(ctx, _run_id(req))  # a logged model is an output of its source run already
    return {}


@route("POST", "/mlflow/runs/log-model")
def log_model(ctx: Ctx, req: Req) -> dict[str, Any]:
    run_id = _run_id(req)
    run = tracking.get_run(ctx, run_id)
    history = json.loads(run.tags.get("mlflow.log-model.history", "[]"))
    history.append(json.loads(req.need("model_json")))
    return _log(ctx, run_id, tags={"mlflow.log-model.history": json.dumps(history)})


_STRING = re.compile(r"'(?:[^'\\]|\\.|'')*'")
_START = r"(?<![\w.`\"])"  # where an identifier starts (not inside a key such as params.my.tag)
_SPELLINGS = [
    (re.compile(_START + r"(metric|param|parameter|parameters|tag|attribute)\."),
     lambda m: {"metric": "metrics.", "tag": "tags.", "attribute": "attributes."}.get(m.group(1), "params.")),
    (re.compile(_START + r"((?:attributes|attr|run)\.)?user_id\b"), lambda m: f"{m.group(1) or ''}created_by"),
    (re.compile(_START + r"((?:attributes|attr|run)\.)?[Cc]reated\b"), lambda m: f"{m.group(1) or ''}start_time"),
    (re.compile(_START + r"((?:attributes|attr|run)\.)?[`\"][Rr]un [Nn]ame[`\"]"),
     lambda m: f"{m.group(1) or ''}run_name"),
]


def translate(text: str | None) -> str | None:
    """An MLflow run filter or order_by item in Mainsail's search language, a superset of MLflow's but for
    spellings: ``metric.``/``param.``/``tag.``/``attribute.`` prefixes, ``user_id`` (``created_by``),
    ``created`` (``start_time``) and ```Run Name``` (``run_name``). String literals are left as they are."""
    if not text:
        return text
    out, last = [], 0
    for m in _STRING.finditer(text):
        out.append(_respell(text[last:m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(_respell(text[last:]))
    return "".join(out)


def _respell(code: str) -> str:
    for pattern, repl in _SPELLINGS:
        code = pattern.sub(repl, code)
    if re.search(_START + r"(datasets?|attributes\.artifact_uri|artifact_uri)\b", code):
        raise invalid("Mainsail's run search does not answer datasets.* or artifact_uri comparisons")
    return code


@route("POST", "/mlflow/runs/search", write=False)
def search_runs(ctx: Ctx, req: Req) -> dict[str, Any]:
    ids = [experiment_id(ctx, e) for e in req.list("experiment_ids")]
    view = str(req.get("run_view_type", "ACTIVE_ONLY")).upper()
    if view == "DELETED_ONLY":
        return {"runs": []}
    page = tracking.search_runs(ctx, experiment_ids=ids or None, filter=translate(req.get("filter")),
                                order_by=[translate(str(o)) or "" for o in req.list("order_by")]
                                or ["start_time DESC"],  # MLflow's default; ties by run id, ascending
                                cursor=req.get("page_token"), limit=min(req.page_size(1000), 1000))
    out: dict[str, Any] = {"runs": [run_json(r) for r in page.items]}
    if page.next_cursor:
        out["next_page_token"] = page.next_cursor
    return out


@route("GET", "/mlflow/metrics/get-history")
def get_metric_history(ctx: Ctx, req: Req) -> dict[str, Any]:
    run_id, key = _run_id(req), req.need("metric_key")
    try:
        h = tracking.get_metric_history(ctx, run_id, str(key))
    except NotFound as exc:
        if exc.code == "run_not_found":
            raise
        return {"metrics": []}  # a metric the run never logged: MLflow answers no points
    return {"metrics": [{"key": key, "value": metric_value(v), "timestamp": int(t * 1000), "step": s}
                        for s, v, t in zip(h.step, h.value, h.timestamp, strict=True)]}


@route("GET", "/mlflow/metrics/get-history-bulk")
def get_metric_history_bulk(ctx: Ctx, req: Req) -> dict[str, Any]:
    """One metric's points for several runs (what MLflow's UI charts call), by run id, then step."""
    run_ids = sorted({str(r) for r in req.list("run_id")})
    if not run_ids:
        raise invalid("GetMetricHistoryBulk request must specify at least one run_id.")
    if len(run_ids) > 100:
        raise invalid(f"GetMetricHistoryBulk request cannot specify more than 100 run_ids. "
                      f"Received {len(run_ids)} run_ids.")
    key = req.get("metric_key")
    if not key:
        raise invalid("GetMetricHistoryBulk request must specify a metric_key.")
    most = req.page_size(25_000, 25_000)
    out: list[dict[str, Any]] = []
    for run_id in run_ids:
        try:
            h = tracking.get_metric_history(ctx, run_id, str(key))
        except NotFound:
            continue
        points = sorted(zip(h.step, h.timestamp, h.value, strict=True), key=lambda p: (p[0], p[1]))
        out += [{"key": key, "value": metric_value(v), "timestamp": round(t * 1000), "step": s, "run_id": run_id}
                for s, t, v in points]
    return {"metrics": out[:most]}


@route("POST", "/mlflow/experiments/search-datasets", write=False)
def search_datasets(ctx: Ctx, req: Req) -> dict[str, Any]:
    """The datasets the runs of some experiments logged as inputs: (experiment, name, digest, context)."""
    ids = req.list("experiment_ids")
    if not ids:
        raise invalid("SearchDatasets request must specify at least one experiment_id.")
    if len(ids) > 20:
        raise invalid(f"SearchDatasets request cannot specify more than 20 experiment_ids. Received {len(ids)} "
                      "experiment_ids.")
    seen: dict[tuple[str, str, str, str], None] = {}
    cursor = None
    while True:
        page = tracking.search_runs(ctx, experiment_ids=[experiment_id(ctx, e) for e in ids], cursor=cursor,
                                    limit=1000)
        for run in page.items:
            for d in json.loads(run.tags.get(INPUTS_TAG, "[]")):
                context = next((t.get("value", "") for t in d.get("tags") or []
                                if t.get("key") == "mlflow.data.context"), "")
                ds = d.get("dataset") or {}
                seen[(run.experiment_id, ds.get("name", ""), ds.get("digest", ""), context)] = None
        cursor = page.next_cursor
        if not cursor:
            break
    return {"dataset_summaries": [{"experiment_id": e, "name": n, "digest": d, "context": c}
                                  for e, n, d, c in seen]}
