"""The DAG: references in params (``${tasks.T.key}``, ``${params.p}``, ``${run.id}``), validation of a
definition (cycles, unknown or unavailable operators, bad params, dangling dependencies — every error
names the task and the field), and rendering params once upstream outputs are known."""

from __future__ import annotations

import graphlib
import hashlib
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from mainsail.core.errors import InvalidInput, describe_errors, pydantic_errors
from mainsail.pipelines import operators
from mainsail.pipelines.schemas import PipelineSpec, TaskSpec

REF = re.compile(r"\$\{\s*(tasks|params|run|event)\.([A-Za-z0-9_.\-]+?)\s*\}")


@dataclass(frozen=True)
class Dag:
    order: list[str]  # a topological order
    upstream: dict[str, list[str]]  # task -> tasks it waits for (explicit and from references)
    downstream: dict[str, list[str]]

    def ancestors(self) -> dict[str, list[str]]:
        """task -> every task finished before it starts (whose outputs its params may refer to)."""
        out: dict[str, list[str]] = {}
        for name in self.order:
            seen = dict.fromkeys(a for u in self.upstream[name] for a in (*out[u], u))
            out[name] = list(seen)
        return out


def spec_digest(spec: PipelineSpec) -> str:
    """SHA-256 of the canonical JSON of a definition: same digest, same version."""
    data = spec.model_dump(mode="json")
    for t in data["tasks"]:  # a task without resources hashes as before they existed
        if t.get("resources") is None:
            t.pop("resources", None)
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def iter_refs(value: Any, loc: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """Every ``(loc, kind, path)`` reference inside a params value."""
    if isinstance(value, str):
        for m in REF.finditer(value):
            yield loc, m.group(1), m.group(2)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from iter_refs(v, (*loc, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from iter_refs(v, (*loc, i))


def split_task_ref(path: str, names: set[str] | dict[str, Any]) -> tuple[str, list[str]] | None:
    """``train.metrics.auc`` → ``("train", ["metrics", "auc"])`` using the longest task name that fits."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        head = ".".join(parts[:cut])
        if head in names:
            return head, parts[cut:]
    return None


def _under_ref(params: Any, loc: list[Any]) -> bool:
    """True when ``loc`` (from a pydantic error) is at or under a value that is a reference."""
    value = params
    for part in loc:
        if isinstance(value, str):
            break
        if isinstance(value, dict) and part in value or isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        else:
            return False
    return isinstance(value, str) and REF.search(value) is not None


def check_params(op: operators.Operator, params: dict[str, Any], loc: list[Any]) -> list[dict[str, Any]]:
    """Errors of ``params`` against the operator's model, ignoring fields still holding references."""
    try:
        op.params.model_validate(params)
        return []
    except ValidationError as exc:
        errs = pydantic_errors(exc)
    return [{**e, "loc": [*loc, *e["loc"]]} for e in errs if not _under_ref(params, e["loc"])]


def task_params(spec: PipelineSpec, task: TaskSpec, run_params: dict[str, Any]) -> dict[str, Any]:
    """A task's params with those its run gives it by task name (``{"TASK": {…}}``) on top."""
    given = run_params.get(task.name) if task.name not in spec.params else None
    return {**task.params, **given} if isinstance(given, dict) else task.params


def check_run(spec: PipelineSpec, run_params: dict[str, Any], loc: list[Any]) -> None:
    """Every task has its operator's params once the run's are added: an error names task and param."""
    errors: list[dict[str, Any]] = []
    missing: dict[str, list[str]] = {}
    before = validate(spec, (), defer=True).ancestors()
    for t in spec.tasks:
        given = run_params.get(t.name) if t.name not in spec.params else None
        for rloc, kind, path in iter_refs(given if isinstance(given, dict) else {}):
            hit = split_task_ref(path, before) if kind == "tasks" else None
            if kind == "tasks" and (hit is None or hit[0] not in before[t.name]):
                errors.append({"loc": [*loc, t.name, *rloc], "type": "dangling_reference",
                               "msg": f"'${{tasks.{path}}}' names no task that runs before {t.name!r} "
                                      f"(before it: {', '.join(before[t.name]) or 'none'})"})
        op = operators.get(t.operator)
        if op is None or op.unavailable():
            continue
        for e in check_params(op, task_params(spec, t, run_params), [*loc, t.name]):
            if e.get("type") == "missing" and len(e["loc"]) > len(loc) + 1:
                field = str(e["loc"][len(loc) + 1])
                missing.setdefault(t.name, []).append(field)
                e = {**e, "msg": f"task {t.name!r} ({t.operator}) needs param {field!r}"}
            errors.append(e)
    if missing:
        first, fields = next(iter(missing.items()))
        lacks = "; ".join(f"task {task!r} needs {', '.join(repr(f) for f in fs)}" for task, fs in missing.items())
        raise InvalidInput(f"pipeline {spec.name!r}: the run does not give every task its params: {lacks}. Give "
                           f"them per task with the run, e.g. params: {{{first!r}: {{{fields[0]!r}: …}}}}",
                           code="missing_task_param", errors=errors)
    if errors:
        raise InvalidInput(f"pipeline {spec.name!r}: invalid task params from the run: {describe_errors(errors)}",
                           code="invalid_run_params", errors=errors)


def validate(spec: PipelineSpec, prefix: tuple[Any, ...] = ("body",), *,
             defer: bool | Collection[str] = ()) -> Dag:
    """Check a definition; raise :class:`InvalidInput` listing every problem with its ``loc``. The
    required operator params of the tasks in ``defer`` (all with ``True``) may be missing: each run
    gives them (see :func:`check_run`)."""
    errors: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for i, t in enumerate(spec.tasks):
        if t.name in index:
            errors.append({"loc": [*prefix, "tasks", i, "name"], "type": "duplicate",
                           "msg": f"task name {t.name!r} is already used by task {index[t.name]}"})
        else:
            index[t.name] = i
    known = operators.all_operators()
    upstream: dict[str, list[str]] = {}
    for i, t in enumerate(spec.tasks):
        loc = [*prefix, "tasks", i]
        op = known.get(t.operator)
        if op is None:
            errors.append({"loc": [*loc, "operator"], "type": "unknown_operator",
                           "msg": f"unknown operator {t.operator!r}; known: {', '.join(known)}"})
        elif reason := op.unavailable():
            errors.append({"loc": [*loc, "operator"], "type": "operator_unavailable", "msg": reason})
        else:
            deferred = defer is True or (not isinstance(defer, bool) and t.name in defer)
            errors.extend(e for e in check_params(op, t.params, [*loc, "params"])
                          if not (deferred and e.get("type") == "missing"))
        deps: list[str] = []
        for j, d in enumerate(t.depends_on):
            if d not in index:
                errors.append({"loc": [*loc, "depends_on", j], "type": "dangling_dependency",
                               "msg": f"task {t.name!r} depends on {d!r}, which is not a task of this pipeline"})
            elif d not in deps:
                deps.append(d)
        for rloc, kind, path in iter_refs(t.params):
            where = [*loc, "params", *rloc]
            if kind == "tasks":
                hit = split_task_ref(path, index)
                if hit is None:
                    errors.append({"loc": where, "type": "dangling_reference",
                                   "msg": f"'${{tasks.{path}}}' names no task of this pipeline"})
                elif hit[0] not in deps:
                    deps.append(hit[0])
            elif kind == "params" and path.split(".")[0] not in spec.params:
                errors.append({"loc": where, "type": "undeclared_param",
                               "msg": f"run parameter {path.split('.')[0]!r} is not declared in the pipeline's params"})
            elif kind == "run" and path != "id":
                errors.append({"loc": where, "type": "bad_reference", "msg": "only ${run.id} is defined"})
        upstream[t.name] = deps
    if not errors:
        try:
            order = list(graphlib.TopologicalSorter(upstream).static_order())
        except graphlib.CycleError as exc:
            cycle = list(exc.args[1])
            first = min(cycle, key=lambda n: index[n])
            errors.append({"loc": [*prefix, "tasks", index[first], "depends_on"], "type": "cycle",
                           "msg": "dependency cycle: " + " -> ".join(cycle)})
    if errors:
        raise InvalidInput(f"invalid pipeline {spec.name!r}: {describe_errors(errors)}", code="invalid_pipeline",
                           errors=errors)
    downstream: dict[str, list[str]] = {t.name: [] for t in spec.tasks}
    for name, deps in upstream.items():
        for d in deps:
            downstream[d].append(name)
    return Dag(order, upstream, downstream)


class RenderError(ValueError):
    pass


def _lookup(value: Any, keys: list[str], what: str) -> Any:
    for k in keys:
        if isinstance(value, dict) and k in value:
            value = value[k]
        elif isinstance(value, list) and k.lstrip("-").isdigit() and -len(value) <= int(k) < len(value):
            value = value[int(k)]
        else:
            raise RenderError(f"{what}: no key {k!r} in {str(value)[:200]}")
    return value


def render(value: Any, outputs: dict[str, Any], params: dict[str, Any], run_id: str,
           event: dict[str, Any] | None = None) -> Any:
    """``value`` with every reference replaced: a string that is one reference becomes the referenced
    value itself (any JSON type); references inside longer strings are formatted in."""
    if isinstance(value, dict):
        return {k: render(v, outputs, params, run_id, event) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, outputs, params, run_id, event) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value

    def resolve(kind: str, path: str) -> Any:
        what = f"${{{kind}.{path}}}"
        if kind == "tasks":
            hit = split_task_ref(path, outputs)
            if hit is None:
                raise RenderError(f"{what}: no output of that task")
            return _lookup(outputs[hit[0]], hit[1], what)
        if kind == "params":
            return _lookup(params, path.split("."), what)
        if kind == "event":
            return _lookup(event or {}, path.split("."), what)
        return run_id

    whole = REF.fullmatch(value.strip())
    if whole:
        return resolve(whole.group(1), whole.group(2))
    return REF.sub(lambda m: str(resolve(m.group(1), m.group(2))), value)
