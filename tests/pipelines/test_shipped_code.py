"""A Python pipeline's code travels with its definition: applied from a module file that is then
deleted, it still runs on a worker with another home and working directory (as on another machine),
exactly as applied; and an apply that names code never uploaded is refused, naming the task."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mainsail import Client
from mainsail.core.errors import InvalidInput

FLOW = '''
from mainsail.pipelines import pipeline, task

GREETING = "{greeting}"


def helper(n):
    return n * 2


@task
def double(n: int) -> dict:
    return {{"value": helper(n), "greeting": GREETING}}


@task
def total(a: dict, b: dict) -> dict:
    return {{"sum": a["value"] + b["value"], "greeting": a["greeting"]}}


@pipeline(name="shipped")
def shipped(n: int = 3):
    total(double(n), double(10))
'''


def _write_flow(folder: Path, greeting: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "flow_shipped.py"
    path.write_text(textwrap.dedent(FLOW.format(greeting=greeting)))
    return path


def test_code_ships_with_the_definition_and_runs_on_a_remote_worker(tmp_path: Path, pg_url: str) -> None:
    art = str(tmp_path / "shared-artifacts")
    client = Client(pg_url, artifact_root=art)
    flow = _write_flow(tmp_path / "client-machine", "hello")
    applied = client.apply_pipeline(str(flow))
    params = {t.name: t.params for t in applied.spec.tasks}
    assert params["double"]["callable"] == "flow_shipped.py:double" and len(params["double"]["code"]) == 64
    assert str(tmp_path) not in str(applied.spec.model_dump())  # no client path in the definition
    assert client.get_pipeline_code(params["double"]["code"]) == flow.read_bytes()
    flow.unlink()  # the client's file is gone; the worker is "elsewhere"
    flow.parent.rmdir()

    run = client.run_pipeline("shipped", {"n": 4}, wait=False)
    elsewhere = tmp_path / "worker-machine"
    elsewhere.mkdir()
    env = {**os.environ, "MAINSAIL_URI": pg_url, "MAINSAIL_ARTIFACT_ROOT": art,
           "MAINSAIL_HOME": str(elsewhere / "home")}
    out = subprocess.run([sys.executable, "-m", "mainsail.cli.main", "worker", "--processes", "1", "--run", run.id],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=180)
    done = client.get_pipeline_run(run.id)
    assert done.status == "succeeded", (out.stdout + out.stderr, done.error,
                                        [client.pipeline_task_log(run.id, t.name) for t in done.tasks])
    assert done.task("total").output == {"sum": 28, "greeting": "hello"}
    assert any((elsewhere / "home" / "code").rglob("flow_shipped.py"))  # fetched by digest on the worker

    # a changed module is a new version; each version runs the code it was applied with
    flow = _write_flow(tmp_path / "client-machine", "bonjour")
    assert client.apply_pipeline(str(flow)).version == applied.version + 1
    flow.unlink()
    assert client.run_pipeline("shipped", {"n": 1}).task("total").output == {"sum": 22, "greeting": "bonjour"}
    old = client.run_pipeline("shipped", {"n": 1}, version=applied.version)
    assert old.task("total").output == {"sum": 22, "greeting": "hello"}
    client.close()


def test_apply_naming_code_never_uploaded_is_refused(tmp_path: Path) -> None:
    client = Client(f"sqlite:///{tmp_path / 'm.db'}", artifact_root=str(tmp_path / "art"))
    with pytest.raises(InvalidInput) as ei:
        client.apply_pipeline({"name": "x", "tasks": [{"name": "t", "operator": "python", "params": {
            "callable": "flow.py:main", "code": "a" * 64}}]})
    assert ei.value.errors[0]["loc"] == ["body", "tasks", 0, "params", "code"] and "'t'" in ei.value.errors[0]["msg"]
    client.close()
