"""The Ray executor: the same queue semantics as the local pool (outputs by reference, failures with
their traceback in the log, retries, timeouts ended with ``ray.cancel(force=True)``, cancel, logs
readable while a task runs), ``mainsail worker --executor ray`` joining a cluster by address, and
tuning trials as Ray tasks. One local cluster (2 CPUs, no dashboard) per test session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _pipelines_support import step

from mainsail import Client

ray = pytest.importorskip("ray", reason="the Ray executor needs ray (pip install 'mainsail[ray]')",
                          exc_type=ImportError)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """A local Ray cluster for the whole session; its GCS address."""
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture
def rclient(ray_cluster: str, tmp_path: Path) -> Iterator[Client]:
    c = Client(f"sqlite:///{tmp_path / 'ray.db'}", artifact_root=str(tmp_path / "art"))
    yield c
    c.close()


def py(task_name: str, fn: str, depends_on: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    extra = {k: kw.pop(k) for k in ("retries", "retry_backoff", "timeout", "cache", "resources") if k in kw}
    return {"name": task_name, "operator": "python", "params": {"callable": step(fn), "kwargs": kw},
            "depends_on": depends_on or [], **extra}


def test_dag_outputs_failures_and_logs_on_ray(rclient: Client, ray_cluster: str) -> None:
    rclient.apply_pipeline({"name": "rdag", "tasks": [
        py("a", "where"),
        py("b", "add", a=1, b=2),
        {"name": "c", "operator": "noop", "params": {"value": {"sum": "${tasks.b}", "ex": "${tasks.a.executor}"}}},
        py("bad", "boom", message="kaboom on ray"),
        {"name": "after-bad", "operator": "noop", "depends_on": ["bad"]},
    ]})
    run = rclient.run_pipeline("rdag", executor="ray", timeout=60)
    assert run.status == "failed" and "'bad'" in run.error and "kaboom on ray" in run.error
    states = {t.name: t.status for t in run.tasks}
    assert states == {"a": "succeeded", "b": "succeeded", "c": "succeeded", "bad": "failed", "after-bad": "skipped"}
    a = run.task("a").output
    assert a["executor"] == "ray" and a["ray_address"] == ray_cluster and a["pid"] != os.getpid()
    assert run.task("c").output == {"sum": 3, "ex": "ray"}
    log = rclient.pipeline_task_log(run.id, "bad")
    assert "about to fail" in log and "Traceback" in log and "ValueError: kaboom on ray" in log


def test_task_resources_are_asked_of_ray(rclient: Client) -> None:
    rclient.apply_pipeline({"name": "rres", "tasks": [
        py("two", "assigned", resources={"cpus": 2, "memory_gb": 1}),
        py("more", "assigned", resources={"cpus": 16, "gpus": 1}),  # more than the cluster has: capped, still runs
        py("plain", "assigned"),
    ]})
    run = rclient.run_pipeline("rres", executor="ray", timeout=60)
    assert run.status == "succeeded", run.error
    assert run.task("two").output.get("CPU") == 2 and run.task("plain").output.get("CPU") == 1
    assert run.task("more").output.get("CPU") == 2 and "GPU" not in run.task("more").output
    usage = {u.task: u for u in rclient.list_usage("task", pipeline="rres")}
    assert usage["more"].cpu_request == 16 and usage["more"].gpu_request == 1  # billed as declared


def test_retries_timeouts_and_cancel_on_ray(rclient: Client, tmp_path: Path) -> None:
    tries = str(tmp_path / "tries")
    rclient.apply_pipeline({"name": "rflaky", "tasks": [
        py("f", "flaky", path=tries, fail_times=2, retries=2, retry_backoff=0.1),
        py("slow", "sleep", seconds=60, timeout=1.0),
    ]})
    t0 = time.monotonic()
    run = rclient.run_pipeline("rflaky", executor="ray", timeout=60)
    f, slow = run.task("f"), run.task("slow")
    assert (f.status, f.attempt, f.failures, f.output) == ("succeeded", 3, 2, 3)
    assert slow.status == "failed" and "timed out after 1s" in slow.error
    assert time.monotonic() - t0 < 30

    rclient.apply_pipeline({"name": "rlong", "tasks": [py("s", "sleep", seconds=60),
                                                       {"name": "next", "operator": "noop", "depends_on": ["s"]}]})
    started = rclient.run_pipeline("rlong", wait=False)
    waiter = threading.Thread(target=rclient.wait_pipeline_run, args=(started.id,),
                              kwargs={"timeout": 60, "executor": "ray"})
    waiter.start()
    deadline = time.monotonic() + 30
    while rclient.get_pipeline_run(started.id).task("s").status != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    t0 = time.monotonic()
    rclient.cancel_pipeline_run(started.id[:8])  # a unique prefix is enough
    waiter.join(60)
    done = rclient.wait_pipeline_run(started.id, execute=False, timeout=30)
    assert done.status == "cancelled" and time.monotonic() - t0 < 25
    assert [(t.name, t.status) for t in done.tasks] == [("s", "cancelled"), ("next", "cancelled")]


def test_live_log_and_worker_cli_joining_the_cluster(rclient: Client, ray_cluster: str, tmp_path: Path) -> None:
    flag = tmp_path / "printed"
    rclient.apply_pipeline({"name": "rchat", "tasks": [py("talk", "chatty", path=str(flag), seconds=3)]})
    run = rclient.run_pipeline("rchat", wait=False)
    env = {**os.environ, "MAINSAIL_URI": rclient.uri, "MAINSAIL_ARTIFACT_ROOT": str(tmp_path / "art")}
    worker = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "worker", "--run", run.id[:10],
                               "--executor", "ray", "--ray-address", ray_cluster], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        live = rclient.pipeline_task_log(run.id, "talk")
        assert "first line from a running task" in live and "last line" not in live
        out, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, out
    assert f"Ray cluster {ray_cluster}" in out
    assert not [ln for ln in out.splitlines() if "INFO" in ln and "-- " in ln], out  # no Ray INFO lines
    done = rclient.get_pipeline_run(run.id)
    assert done.status == "succeeded" and done.task("talk").output == "done"
    assert "last line" in rclient.pipeline_task_log(run.id, "talk")


def test_tuning_trials_run_as_ray_tasks(rclient: Client) -> None:
    rclient.apply_pipeline({"name": "rtune", "tasks": [{
        "name": "tune", "operator": "hyperparameter_tuning", "params": {
            "data": "sklearn:breast_cancer", "target": "target", "experiment": "rtune",
            "estimator": "sklearn.tree.DecisionTreeClassifier", "objective": "accuracy",
            "search_space": {"max_depth": {"type": "int", "low": 1, "high": 6}},
            "max_jobs": 4, "max_parallel_jobs": 2}}]})
    run = rclient.run_pipeline("rtune", executor="ray", timeout=120)
    assert run.status == "succeeded", run.error
    out = run.task("tune").output
    assert out["trials"] == 4 and 1 <= out["best_params"]["max_depth"] <= 6
    children = rclient.search_runs(filter=f"tags.`mainsail.parent_run_id` = '{out['run_id']}'").items
    assert len(children) == 4 and out["best_run_id"] in {r.id for r in children}
    assert "4 trials on ray" in rclient.pipeline_task_log(run.id, "tune")
    assert json.dumps(out)  # outputs stay small JSON references
