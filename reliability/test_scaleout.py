"""Scale-out, proven on one machine: PostgreSQL + S3 (a moto server) + Redis, with two servers, two
workers and two serve replicas as separate processes, each with its own home folder (no shared
filesystem), exactly as on separate machines. The quickstart runs through server A; server B serves the
same data; an event trigger fires once and a rollout advances once although both servers run the
scheduler, the trigger dispatcher and the rollout controller."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from _services import free_port, stop_process, wait_ready
from _suite import record

from mainsail import Client


class Proc:
    """One Mainsail process with a home folder of its own."""

    def __init__(self, name: str, root: Path, env: dict[str, str], *args: str, port: int | None = None):
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}" if port else ""
        self.home = root / f"home-{name}"
        self.home.mkdir()
        self.log = root / f"{name}.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", *args],
                                     env={**env, "MAINSAIL_HOME": str(self.home)}, stdout=self.log.open("ab"),
                                     stderr=subprocess.STDOUT)
        if port:
            wait_ready(self.proc, self.url, self.log, name, 90)

    def stop(self) -> None:
        stop_process(self.proc)


def _wait(pred: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not pred():
        assert time.monotonic() - start < timeout, f"timed out waiting for {what}"
        time.sleep(0.2)
    return time.monotonic() - start


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str, s3_artifact_root: str, moto_s3_server: str, ray_address: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINSAIL_")}
    env.update(MAINSAIL_URI=pg_url, MAINSAIL_ARTIFACT_ROOT=s3_artifact_root, MAINSAIL_S3_ENDPOINT_URL=moto_s3_server,
               MAINSAIL_ONLINE_STORE=f"redis://127.0.0.1:6379/13?prefix=scaleout-{uuid.uuid4().hex[:8]}",
               MAINSAIL_PIPELINE_PROCESSES="1", AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
               AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
               AWS_DEFAULT_REGION="us-east-1")
    procs: list[Proc] = []
    try:
        for name in ("server-a", "server-b"):  # pipeline tasks go to the workers' queue
            port = free_port()
            procs.append(Proc(name, tmp_path, {**env, "MAINSAIL_PIPELINE_EXECUTOR": "0"}, "server", "--host",
                              "127.0.0.1", "--port", str(port), port=port))
        for name in ("worker-1", "worker-2"):  # both run their tasks on the local Ray cluster
            procs.append(Proc(name, tmp_path, env, "worker", "--processes", "1", "--executor", "ray",
                              "--ray-address", ray_address))
        yield tmp_path, env, procs
    finally:
        for p in procs:
            p.stop()


def test_two_servers_two_workers_two_replicas_no_shared_disk(cluster) -> None:
    root, env, procs = cluster
    a, b = procs[0], procs[1]
    started = time.monotonic()
    # the quickstart, through server A, from a client with its own home
    qs_env = {**{k: v for k, v in env.items() if k not in ("MAINSAIL_URI", "MAINSAIL_ARTIFACT_ROOT")},
              "MAINSAIL_HOME": str(root / "home-quickstart")}
    qs = subprocess.run([sys.executable, "-m", "mainsail.cli.main", "--uri", a.url, "quickstart", "--rows", "1000",
                         "--skip-serving"], env=qs_env, capture_output=True, text=True, timeout=900)
    assert qs.returncode == 0, qs.stdout[-3000:] + qs.stderr[-3000:]
    quickstart_s = time.monotonic() - started
    ca, cb = Client(a.url), Client(b.url)
    runs_a = {r.id for r in ca.search_runs(None, limit=1000).items}
    runs_b = {r.id for r in cb.search_runs(None, limit=1000).items}
    assert runs_a and runs_a == runs_b, "server B must serve the runs written through server A"
    assert [v.version for v in cb.list_model_versions("churn").items] == \
        [v.version for v in ca.list_model_versions("churn").items]

    # an event trigger fires once although both servers dispatch events
    ca.apply_pipeline({"name": "on-data", "tasks": [{"name": "t", "operator": "python",
                                                      "params": {"callable": "statistics:mean", "kwargs": {"data": [1, 2, 3]}}}]})
    ca.schedule_pipeline("on-data", event="dataset.version_created")
    csv = root / "fresh.csv"
    csv.write_text("id,x\n1,2.0\n2,3.0\n")
    ca.ingest_dataset(str(csv), "fresh")
    fired_s = _wait(lambda: any(r.status == "succeeded" for r in ca.list_pipeline_runs("on-data").items), 120,
                    "the triggered run")
    time.sleep(5)  # time for a second (wrong) firing to show up
    triggered = len(ca.list_pipeline_runs("on-data").items)

    # pipeline tasks run on the Ray cluster, through the workers
    steps_file = str(Path(__file__).with_name("_steps.py").resolve())
    ca.apply_pipeline({"name": "where", "tasks": [
        {"name": f"w{i}", "operator": "python", "params": {"callable": f"{steps_file}:where"}} for i in range(4)]})
    where = ca.wait_pipeline_run(ca.run_pipeline("where", wait=False).id, timeout=180, poll=0.3)
    executors = {str((t.output or {}).get("executor")) for t in where.tasks}

    # two serve replicas, each with its own home (its own model cache), through server A
    assert hasattr(ca.load_model("models:/churn@champion"), "predict")  # from S3, into this client's home
    ca.create_deployment("scaled", "models:/churn@champion")
    replicas = []
    for name in ("serve-1", "serve-2"):
        port = free_port()
        replicas.append(Proc(name, root, {**env, "MAINSAIL_URI": a.url}, "serve", "scaled", "--port", str(port),
                             "--poll-interval", "0.3", port=port))
    procs.extend(replicas)
    row = ca.get_online_features([{"customer_id": "C000042"}], service="churn-features").to_dict()
    record_ = {k: v[0] for k, v in row.items() if k != "customer_id"}
    answers = []
    for rep in replicas:
        r = httpx.post(rep.url + "/predict", json={"records": [record_]}, timeout=30)
        assert r.status_code == 200, r.text
        answers.append(r.json())
    assert answers[0]["predictions"] == answers[1]["predictions"]

    # a rollout advances once per step although both servers run the rollout controller
    champion = ca.get_model_version_by_alias("churn", "champion")
    candidate = ca.register_model_version("churn", source=champion.source).version  # the same model, anew
    ca.start_rollout("scaled", f"models:/churn/{candidate}", steps=[50, 100], step_seconds=1, min_requests=3,
                     max_p95_ms=None)

    def traffic_until_done() -> bool:
        for rep in replicas:
            httpx.post(rep.url + "/predict", json={"records": [record_]}, timeout=30)
        d = ca.get_deployment("scaled")
        return d.rollout is not None and d.rollout.state != "running"

    rollout_s = _wait(traffic_until_done, 120, "the rollout to finish")
    history = ca.deployment_history("scaled")
    steps = sum(1 for h in history if h.kind == "rollout_step")
    finals = [h.kind for h in history if h.kind in ("promoted", "rolled_back")]
    ok = triggered == 1 and steps == 1 and finals == ["promoted"] and executors == {"ray"}
    record("2 servers, 2 workers (Ray), 2 replicas; PostgreSQL+S3+Redis, no shared disk", "postgres+s3+redis+ray", ok,
           quickstart_s=round(quickstart_s, 1), same_runs_on_b=len(runs_b), trigger_fired=triggered,
           trigger_s=round(fired_s, 1), rollout_steps=steps, rollout_end="/".join(finals),
           rollout_s=round(rollout_s, 1))
    assert executors == {"ray"}, f"pipeline tasks ran on {executors}, not only on the Ray cluster"
    assert triggered == 1, f"the event trigger fired {triggered} times"
    assert steps == 1 and finals == ["promoted"], [(h.kind, h.reason) for h in history]
