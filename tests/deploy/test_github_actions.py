"""deploy/github-actions/ml-pipeline.yml: valid against the GitHub-workflow schema (check-jsonschema's vendored
copy), every `mainsail` command in it parses with the real CLI, and its jobs' scripts RUN, twice (a first
release, then a canary), against a real server with real staging and production replicas."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from _deploycheck import DEPLOY, REPO, check_jsonschema, parse_mainsail
from _services import ServerProcess, free_port, stop_process, wait_ready

WORKFLOW = DEPLOY / "github-actions" / "ml-pipeline.yml"
SKIPPED = {"Install", "Tests"}  # pip install and the project's own suite: this test runs inside both


def workflow() -> dict[str, Any]:
    wf = yaml.safe_load(WORKFLOW.read_text())
    wf["on"] = wf.pop(True, wf.get("on"))  # YAML 1.1 reads the key `on` as true
    return wf


def test_workflow_matches_the_github_workflow_schema() -> None:
    proc = check_jsonschema("vendor.github-workflows", WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflow_stages_run_in_the_seeds_order_with_guards() -> None:
    jobs = workflow()["jobs"]
    assert list(jobs) == ["test", "train", "deploy-staging", "deploy-production"]
    assert jobs["train"]["needs"] == "test" and jobs["deploy-staging"]["needs"] == "train"
    assert "deploy-staging" in jobs["deploy-production"]["needs"]
    assert jobs["deploy-staging"]["environment"] == "staging"
    assert jobs["deploy-production"]["environment"] == "production"  # protection rules: approvals
    canary = next(s["run"] for s in jobs["deploy-production"]["steps"] if s.get("name", "").startswith("Canary"))
    for guard in ("--max-error-rate", "--max-p95-ms", "--min-requests", "--follow"):
        assert guard in canary
    train = json.loads((DEPLOY / "github-actions" / "churn-train.json").read_text())
    assert [t["operator"] for t in train["tasks"]] == ["model_training", "model_evaluation", "quality_gate",
                                                       "model_registration"]


def _commands(script: str, values: dict[str, str]) -> list[list[str]]:
    """Every ``mainsail …`` command line of a shell script, variables replaced by ``values``."""
    script = re.sub(r"<<'PY'.*?\n\s*PY\n", "\n", script, flags=re.S).replace("\\\n", " ")
    script = re.sub(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", lambda m: values.get(m.group(1), "x"), script)
    out: list[list[str]] = []
    for line in script.splitlines():
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        tokens, current = list(lex), None
        for tok in tokens:
            if current is None and tok == "mainsail":
                current = []
            elif current is not None and set(tok) <= set("|&;<>()"):
                out.append(current)
                current = None
            elif current is not None:
                current.append(tok)
        if current is not None:
            out.append(current)
    return out


def test_every_mainsail_command_parses_with_the_real_cli() -> None:
    wf = workflow()
    values = {k: str(v) for k, v in wf["env"].items()} | {"VERSION": "3", "GITHUB_SHA": "abc"}
    seen = []
    for job in wf["jobs"].values():
        for step in job["steps"]:
            if "run" in step:
                script = re.sub(r"\$\{\{[^}]*\}\}", "x", step["run"])
                for args in _commands(script, values):
                    seen.append(" ".join(parse_mainsail(args)))
    assert {"data ingest", "pipelines apply", "pipelines run", "runs show", "models stage", "deployments show",
            "deployments create", "predict", "deployments rollout", "models alias", "models history"} <= set(seen)


# -- running the workflow --------------------------------------------------------------------------------------
def _expr(expr: str, ctx: dict[str, Any]) -> str:
    value: Any = ctx
    for part in expr.strip().split("."):
        value = value[part]
    return str(value)


def _sub(text: str, ctx: dict[str, Any]) -> str:
    return re.sub(r"\$\{\{\s*([^}]*?)\s*\}\}", lambda m: _expr(m.group(1), ctx), text)


class Runner:
    """Runs the workflow's jobs as a runner would: workflow, job and step env, `${{ }}` expressions,
    `bash -e -o pipefail`, step outputs through $GITHUB_OUTPUT, job outputs into `needs`."""

    def __init__(self, workdir: Path, ctx: dict[str, Any], env: dict[str, str], hooks: dict[str, Any]):
        self.wf, self.workdir, self.ctx, self.env, self.hooks = workflow(), workdir, ctx, env, hooks

    def run(self, sha: str) -> dict[str, dict[str, str]]:
        needs: dict[str, Any] = {}
        for name, job in self.wf["jobs"].items():
            if name == "test":
                continue
            steps: dict[str, Any] = {}
            ctx = {**self.ctx, "needs": needs, "steps": steps, "github": {"sha": sha}}
            env = {**os.environ, **self.env, "GITHUB_SHA": sha}
            env.update({k: _sub(str(v), ctx) for k, v in self.wf["env"].items() if k not in self.env})
            env.update({k: _sub(str(v), ctx) for k, v in (job.get("env") or {}).items()})
            for step in job["steps"]:
                if "uses" in step or step.get("name") in SKIPPED:
                    continue
                hook = self.hooks.get(step["name"].split(" ")[0])
                if hook:
                    hook(env)
                output = self.workdir / f"output-{name}-{len(steps)}"
                output.write_text("")
                try:
                    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                                           _sub(step["run"], ctx)], cwd=self.workdir, capture_output=True, text=True,
                                          env={**env, **{k: _sub(str(v), ctx) for k, v in (step.get("env") or {}).items()},
                                               "GITHUB_OUTPUT": str(output)}, timeout=180)
                except subprocess.TimeoutExpired as exc:
                    raise AssertionError(f"{name} / {step['name']}: no end after 180 s:\n{exc.stdout!r:.3000}\n"
                                         f"{exc.stderr!r:.3000}") from None
                assert proc.returncode == 0, f"{name} / {step['name']}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
                if "id" in step:
                    steps[step["id"]] = {"outputs": dict(line.split("=", 1) for line in output.read_text().splitlines())}
            needs[name] = {"outputs": {k: _sub(v, ctx) for k, v in (job.get("outputs") or {}).items()}}
        return needs


def _replica(name: str, port: int, server_url: str, home: Path) -> subprocess.Popen[bytes]:
    log = home / f"replica-{name}.log"
    env = {**os.environ, "MAINSAIL_URI": server_url, "MAINSAIL_HOME": str(home / name), "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "serve", name, "--port", str(port),
                             "--poll-interval", "0.5"], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    wait_ready(proc, f"http://127.0.0.1:{port}", log, f"replica {name}", timeout=90)
    return proc


@pytest.mark.slow
def test_workflow_jobs_run_against_a_real_server_and_replicas(tmp_path: Path) -> None:
    import httpx

    from mainsail.quickstart.churn import make_churn

    work = tmp_path / "repo"
    shutil.copytree(DEPLOY / "github-actions", work / "deploy" / "github-actions")
    (work / "data").mkdir()
    make_churn(1500, seed=7).to_csv(work / "data" / "churn.csv", index=False)
    server = ServerProcess(f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "artifacts"), tmp_path,
                           "--background").start(timeout=60)
    staging_port, prod_port = free_port(), free_port()
    replicas: dict[str, subprocess.Popen[bytes]] = {}
    stop = threading.Event()
    sent = {"ok": 0, "failed": 0}
    records = json.loads((work / "deploy" / "github-actions" / "smoke.json").read_text())

    def traffic() -> None:
        with httpx.Client(timeout=10) as h:
            while not stop.is_set():
                r = h.post(f"http://127.0.0.1:{prod_port}/predict", json={"records": records})
                sent["ok" if r.status_code == 200 else "failed"] += 1
                time.sleep(0.02)

    def smoke(env: dict[str, str]) -> None:  # the staging replica runs where the workflow expects it
        if "churn-staging" not in replicas:
            replicas["churn-staging"] = _replica("churn-staging", staging_port, server.url, tmp_path)

    def canary(env: dict[str, str]) -> None:  # production traffic while the canary steps
        if "churn-api" in replicas:
            threading.Thread(target=traffic, daemon=True).start()

    bin_dir = tmp_path / "bin"  # what `pip install .` puts on a runner's PATH: this checkout's mainsail
    bin_dir.mkdir()
    (bin_dir / "mainsail").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mainsail.cli.main "$@"\n')
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "mainsail").chmod(0o755)
    runner = Runner(work, {"secrets": {"MAINSAIL_URI": server.url, "MAINSAIL_TOKEN": ""},
                           "vars": {"STAGING_SERVE_URL": f"http://127.0.0.1:{staging_port}"}},
                    {"PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(REPO / "src"), "COLUMNS": "200",
                     "CANARY_STEPS": "50,100", "CANARY_STEP_SECONDS": "1", "CANARY_MIN_REQUESTS": "5",
                     "CANARY_MAX_ERROR_RATE": "0.05", "CANARY_MAX_P95_MS": "30000"},
                    {"Smoke": smoke, "Canary": canary})
    try:
        first = runner.run(sha="1" * 40)  # the first release: v1 straight to production
        assert first["train"]["outputs"]["version"] == "1"
        from mainsail import Client

        c = Client(server.url)
        assert c.get_model_version_by_alias("churn", "champion").version == 1
        replicas["churn-api"] = _replica("churn-api", prod_port, server.url, tmp_path)

        second = runner.run(sha="2" * 40)  # the next push: v2 through staging, then canaried into production
        assert second["train"]["outputs"]["version"] == "2"
        stop.set()
        champion = c.get_model_version_by_alias("churn", "champion")
        assert (champion.version, champion.stage) == (2, "production")
        assert c.get_model_version("churn", 1).stage == "deprecated"
        assert sent["ok"] > 0 and sent["failed"] == 0
        run = c.get_run(c.get_model_version("churn", 2).run_id)
        assert run.name == "ci-" + "2" * 40 and run.metrics["roc_auc"] >= 0.75
    finally:
        stop.set()
        for proc in replicas.values():
            stop_process(proc)
        server.stop()
