"""Runs over sqlite, postgres and http: outputs by reference, parallel branches, failures with logs,
retries, timeouts, caching, cancel."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from _pipelines_support import step
from steps import executions

from mainsail import Client
from mainsail.core.errors import Conflict, InvalidInput, NotFound


def py(task_name: str, fn: str, depends_on: list[str] | None = None, **kw) -> dict:
    extra = {k: kw.pop(k) for k in ("retries", "retry_backoff", "timeout", "cache") if k in kw}
    return {"name": task_name, "operator": "python", "params": {"callable": step(fn), "kwargs": kw},
            "depends_on": depends_on or [], **extra}


def test_outputs_flow_and_branches_run_in_parallel(pclient: Client, tmp_path) -> None:
    marks = str(tmp_path / "marks")
    pclient.apply_pipeline({"name": "par", "params": {"who": "world"}, "tasks": [
        py("a", "mark", path=marks, name="a", sleep=1.5),
        py("b", "mark", path=marks, name="b", sleep=1.5),
        {"name": "c", "operator": "noop", "params": {"value": {"both": "${tasks.a.name}+${tasks.b.name}",
                                                               "who": "${params.who}", "run": "${run.id}"}}},
        py("d", "with_context", depends_on=["c"]),
    ]})
    run = pclient.run_pipeline("par", {"who": "you"}, timeout=60)
    assert run.status == "succeeded", run.error
    assert run.task("c").output == {"both": "a+b", "who": "you", "run": run.id}
    assert run.task("c").depends_on == ["a", "b"]
    assert run.task("d").output == {"run_id": run.id, "task": "d", "inputs": ["c"]}
    starts = {ln.split()[0]: float(ln.split()[2]) for ln in Path(marks).read_text().splitlines()}
    assert abs(starts["a"] - starts["b"]) < 1.4, "independent tasks should overlap"
    assert run.task("a").output["pid"] != run.task("b").output["pid"]
    assert run.counts == {"succeeded": 4} and run.started_at and run.finished_at
    assert [r.id for r in pclient.list_pipeline_runs(pipeline="par", status="succeeded").items] == [run.id]


def test_failure_names_the_task_skips_downstream_and_keeps_the_traceback(pclient: Client, tmp_path) -> None:
    pclient.apply_pipeline({"name": "bad", "tasks": [
        py("a", "boom", message="kaboom"),
        {"name": "b", "operator": "noop", "depends_on": ["a"]},
        {"name": "c", "operator": "noop", "params": {"value": 1}},
    ]})
    run = pclient.run_pipeline("bad", timeout=60)
    assert run.status == "failed" and "'a'" in run.error and "kaboom" in run.error
    assert [(t.name, t.status) for t in run.tasks] == [("a", "failed"), ("b", "skipped"), ("c", "succeeded")]
    log = pclient.pipeline_task_log(run.id, "a")
    assert "about to fail" in log and "Traceback" in log and "ValueError: kaboom" in log
    with pytest.raises(NotFound) as ei:
        pclient.pipeline_task_log(run.id, "b")
    assert ei.value.code == "task_log_not_found"


def test_retries_with_backoff_then_timeouts(pclient: Client, tmp_path) -> None:
    tries = str(tmp_path / "tries")
    pclient.apply_pipeline({"name": "flaky", "tasks": [
        py("f", "flaky", path=tries, fail_times=2, retries=2, retry_backoff=0.2),
        py("slow", "sleep", seconds=60, timeout=1.0),
    ]})
    t0 = time.monotonic()
    run = pclient.run_pipeline("flaky", timeout=60)
    f, slow = run.task("f"), run.task("slow")
    assert (f.status, f.attempt, f.failures, f.output) == ("succeeded", 3, 2, 3)
    assert slow.status == "failed" and "timed out after 1s" in slow.error
    assert run.status == "failed" and time.monotonic() - t0 < 30


def test_deterministic_tasks_are_cached_by_input_hash(pclient: Client, tmp_path) -> None:
    marks = str(tmp_path / "marks")
    pclient.apply_pipeline({"name": "cached", "params": {"n": 1}, "tasks": [
        py("m", "mark", path=marks, name="${params.n}", cache=True),
        {"name": "after", "operator": "noop", "params": {"value": "${tasks.m.name}"}},
    ]})
    first = pclient.run_pipeline("cached", timeout=60)
    second = pclient.run_pipeline("cached", timeout=60)
    third = pclient.run_pipeline("cached", {"n": 2}, timeout=60)
    assert [r.status for r in (first, second, third)] == ["succeeded"] * 3
    assert not first.task("m").cached and second.task("m").cached and not third.task("m").cached
    assert second.task("m").output == first.task("m").output
    assert executions(marks) == ["1", "2"]


def test_cancel_kills_running_tasks(pclient: Client, tmp_path) -> None:
    pclient.apply_pipeline({"name": "long", "tasks": [py("s", "sleep", seconds=60),
                                                      {"name": "next", "operator": "noop", "depends_on": ["s"]}]})
    run = pclient.run_pipeline("long", wait=False)
    waiter = threading.Thread(target=pclient.wait_pipeline_run, args=(run.id,), kwargs={"timeout": 60})
    waiter.start()
    deadline = time.monotonic() + 30
    while pclient.get_pipeline_run(run.id).task("s").status != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    t0 = time.monotonic()
    pclient.cancel_pipeline_run(run.id)
    waiter.join(60)
    done = pclient.wait_pipeline_run(run.id, timeout=30, execute=False)
    assert done.status == "cancelled" and time.monotonic() - t0 < 25
    assert [(t.name, t.status) for t in done.tasks] == [("s", "cancelled"), ("next", "cancelled")]
    with pytest.raises(Conflict):
        pclient.cancel_pipeline_run(run.id)


def test_run_input_errors(pclient: Client) -> None:
    pclient.apply_pipeline({"name": "p", "params": {"a": 1}, "tasks": [{"name": "t", "operator": "noop"}]})
    with pytest.raises(InvalidInput) as ei:
        pclient.run_pipeline("p", {"zz": 1}, wait=False)
    assert ei.value.errors[0]["loc"] == ["body", "params", "zz"]
    with pytest.raises(NotFound):
        pclient.run_pipeline("missing", wait=False)
    with pytest.raises(NotFound):
        pclient.get_pipeline_run("0" * 32)
    with pytest.raises(NotFound):
        pclient.run_pipeline("p", version=7, wait=False)


def test_logs_while_running_and_run_id_prefixes(pclient: Client, tmp_path) -> None:
    flag = tmp_path / "printed"
    pclient.apply_pipeline({"name": "chat", "tasks": [py("talk", "chatty", path=str(flag), seconds=3)]})
    run = pclient.run_pipeline("chat", wait=False)
    waiter = threading.Thread(target=pclient.wait_pipeline_run, args=(run.id[:6],), kwargs={"timeout": 60})
    waiter.start()
    deadline = time.monotonic() + 30
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    live = pclient.pipeline_task_log(run.id[:6], "talk")  # the attempt's output so far, before it ends
    assert "first line from a running task" in live and "last line" not in live
    waiter.join(60)
    done = pclient.wait_pipeline_run(run.id, execute=False, timeout=30)
    assert done.status == "succeeded" and pclient.get_pipeline_run(run.id[:5]).id == run.id
    assert "last line" in pclient.pipeline_task_log(run.id, "talk")
    with pytest.raises(NotFound):
        pclient.get_pipeline_run("zzzz")
