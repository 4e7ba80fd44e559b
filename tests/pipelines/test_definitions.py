"""Definitions: the seeds' JSON and the decorators give the same spec; validation names the task and
the field; a changed definition is a new version."""

from __future__ import annotations

import pytest
from _pipelines_support import step

from mainsail import Client
from mainsail.core.errors import InvalidInput, NotFound
from mainsail.pipelines import op, pipeline, task
from mainsail.pipelines.dag import validate
from mainsail.pipelines.schemas import PipelineSpec


def spec(*tasks: dict, params: dict | None = None) -> dict:
    return {"name": "p", "params": params or {}, "tasks": list(tasks)}


def errors_of(body: dict) -> list[dict]:
    with pytest.raises(InvalidInput) as ei:
        validate(PipelineSpec.model_validate(body), prefix=())
    return ei.value.errors


def locs(errors: list[dict]) -> list[list]:
    return [e["loc"] for e in errors]


def test_validation_names_task_and_field() -> None:
    errs = errors_of(spec(
        {"name": "a", "operator": "noop"},
        {"name": "b", "operator": "no_such_op"},
        {"name": "c", "operator": "sql_query", "params": {"max_rows": "many"}},
        {"name": "d", "operator": "notify", "params": {"message": "x", "colour": "red"}},
        {"name": "e", "operator": "noop", "depends_on": ["ghost"]},
        {"name": "f", "operator": "noop", "params": {"value": "${tasks.nobody.x}"}},
        {"name": "a", "operator": "noop"},
        {"name": "g", "operator": "noop", "params": {"value": "${params.undeclared}"}},
    ))
    by_loc = {tuple(e["loc"]): e for e in errs}
    assert "unknown operator 'no_such_op'" in by_loc[("tasks", 1, "operator")]["msg"]
    assert ("tasks", 2, "params", "query") in by_loc  # missing
    assert ("tasks", 2, "params", "max_rows") in by_loc  # mistyped
    assert ("tasks", 3, "params", "colour") in by_loc  # unknown param
    assert "ghost" in by_loc[("tasks", 4, "depends_on", 0)]["msg"]
    assert "nobody" in by_loc[("tasks", 5, "params", "value")]["msg"]
    assert "already used" in by_loc[("tasks", 6, "name")]["msg"]
    assert "undeclared" in by_loc[("tasks", 7, "params", "value")]["msg"]


def test_cycles_are_refused() -> None:
    errs = errors_of(spec({"name": "a", "operator": "noop", "depends_on": ["c"]},
                          {"name": "b", "operator": "noop", "depends_on": ["a"]},
                          {"name": "c", "operator": "noop", "params": {"value": "${tasks.b}"}}))
    assert errs[0]["type"] == "cycle" and errs[0]["loc"] == ["tasks", 0, "depends_on"]
    assert "a" in errs[0]["msg"] and "c" in errs[0]["msg"]


def test_references_defer_type_checks_and_imply_dependencies() -> None:
    d = validate(PipelineSpec.model_validate(spec(
        {"name": "count", "operator": "noop", "params": {"value": 5}},
        {"name": "q", "operator": "sql_query", "params": {"query": "select 1", "max_rows": "${tasks.count}"}},
        params={"n": 1})), prefix=())
    assert d.upstream["q"] == ["count"] and d.order == ["count", "q"]


@task(retries=2, timeout=30)
def extract(rows: int) -> dict:
    return {"rows": rows}


@task(cache=True)
def train(data: dict, lr: float = 0.1) -> dict:
    return {"lr": lr, "rows": data["rows"]}


@pipeline(name="churn-py", description="Decorated pipeline.")
def churn(rows: int = 100):
    data = extract(rows)
    model = train(data, lr=0.2)
    op("notify", message="trained ${tasks.train.lr}", after=[model])


def test_decorators_build_the_seed_spec() -> None:
    s = churn.spec()
    assert s.name == "churn-py" and s.params == {"rows": 100}
    assert [t.name for t in s.tasks] == ["extract", "train", "notify"]
    ex, tr, no = s.tasks
    assert ex.operator == "python" and ex.params["kwargs"] == {"rows": "${params.rows}"} and ex.retries == 2
    assert tr.params["kwargs"] == {"data": "${tasks.extract}", "lr": 0.2} and tr.depends_on == ["extract"]
    assert tr.cache is True and no.depends_on == ["train"]
    assert extract(3) == {"rows": 3}  # outside a pipeline, a task is a plain function
    validate(s)


def test_apply_versions_on_change_and_reads_back(pclient: Client) -> None:
    body = spec({"name": "a", "operator": "noop", "params": {"value": 1}})
    v1 = pclient.apply_pipeline(body)
    assert (v1.name, v1.version, v1.created) == ("p", 1, True)
    again = pclient.apply_pipeline(body)
    assert (again.version, again.created, again.id) == (1, False, v1.id)
    body["tasks"].append({"name": "b", "operator": "noop", "depends_on": ["a"]})
    v2 = pclient.apply_pipeline(body)
    assert (v2.version, v2.created) == (2, True)
    p = pclient.get_pipeline("p")
    assert p.latest_version == 2 and p.tasks == 2 and pclient.get_pipeline(p.id).name == "p"
    assert [v.version for v in pclient.list_pipeline_versions("p")] == [2, 1]
    assert [x.name for x in pclient.list_pipelines().items] == ["p"]
    with pytest.raises(NotFound):
        pclient.get_pipeline("nope")
    ops = {o.name: o for o in pclient.list_pipeline_operators()}
    assert {"noop", "python", "notify", "sql_query"} <= set(ops) and ops["noop"].available


def test_apply_errors_are_422_with_body_locations(pclient: Client) -> None:
    with pytest.raises(InvalidInput) as ei:
        pclient.apply_pipeline(spec({"name": "a", "operator": "sql_query", "params": {}},
                                    {"name": "b", "operator": "noop", "depends_on": ["a", "zz"]}))
    assert ei.value.code == "invalid_pipeline"
    assert ["body", "tasks", 0, "params", "query"] in locs(ei.value.errors)
    assert ["body", "tasks", 1, "depends_on", 1] in locs(ei.value.errors)
    with pytest.raises(InvalidInput) as ei:
        pclient.apply_pipeline({"name": "p", "tasks": [{"name": "bad name!", "operator": "noop"}]})
    assert ["body", "tasks", 0, "name"] in locs(ei.value.errors)
    with pytest.raises(NotFound):
        pclient.list_pipeline_versions("p")  # nothing was stored


def test_apply_python_file(tmp_path, pclient: Client) -> None:
    f = tmp_path / "flow.py"
    f.write_text("""
from mainsail.pipelines import pipeline, task

@task
def double(x: int) -> int:
    return 2 * x

@pipeline(name="from-file")
def flow(x: int = 2):
    double(double(x))
""")
    v = pclient.apply_pipeline(f)
    assert v.name == "from-file" and [t.name for t in v.spec.tasks] == ["double", "double_2"]
    assert v.spec.tasks[0].params["callable"] == "flow.py:double"  # the source ships with it, by digest
    assert pclient.get_pipeline_code(v.spec.tasks[0].params["code"]) == f.read_bytes()
    assert step("add").endswith("steps.py:add")
