"""Dependency faults: the metadata database restarts mid-traffic. The server answers 503 problem+json
while it is down (never a 500), recovers by itself, and loses nothing it acknowledged.

The test runs its own PostgreSQL cluster (initdb on a free port), so restarting it touches nobody else."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _services import ServerProcess, free_port, require_service
from _suite import record
from _traffic import Traffic

from mainsail import Client


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, Path, int]]:
    """A PostgreSQL cluster of this test's own: (its bin folder, data folder, port). Its folder is outside
    pytest's (which only root may enter) since the server runs as the postgres user."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        require_service("PostgreSQL server binaries", "no /usr/lib/postgresql/*/bin/initdb")
    bindir = str(Path(bins[-1]).parent)
    root = Path(tempfile.mkdtemp(prefix="mainsail-reliability-pg-"))
    data, port = root / "data", free_port()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    subprocess.run(_as_postgres(f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-N"),
                   check=True, capture_output=True)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = [f"{bindir}/pg_ctl", "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w"]
    subprocess.run(_as_postgres(*ctl, "start"), check=True, capture_output=True)
    try:
        yield bindir, data, port
    finally:
        subprocess.run(_as_postgres(*ctl, "-m", "immediate", "stop"), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_database_restart_mid_traffic(private_postgres: tuple[str, Path, int], tmp_path: Path) -> None:
    bindir, data, port = private_postgres
    srv = ServerProcess(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", str(tmp_path / "art"),
                        tmp_path).start()
    acked: list[int] = []
    traffic = None
    try:
        client = Client(srv.url)
        run = client.create_run(client.create_experiment("faults").id)
        url = f"{srv.url}/api/v1/tracking-runs/{run.id}/log-batch"

        def send(http: httpx.Client, w: int, i: int):
            step = w * 1_000_000 + i
            r = http.post(url, json={"metrics": {"key": ["m"], "value": [1.0], "step": [step],
                                                 "timestamp": [time.time()]}})
            return r, lambda: acked.append(step)

        traffic = Traffic(send).start()
        time.sleep(2)
        before = len(acked)
        down = time.monotonic()
        _pg_ctl(bindir, data, port, "stop")
        time.sleep(3)  # traffic against a database that is gone
        during = dict(traffic.statuses)
        _pg_ctl(bindir, data, port, "start")
        up = len(acked)
        traffic.wait_acked(up + 20, 30)
        recovered = time.monotonic() - down - 3
        traffic.stop()
        stored = set(client.get_metric_history(run.id, "m").step)
        lost = sum(1 for s in acked if s not in stored)
        statuses, bodies, failures = traffic.statuses, traffic.bodies, traffic.failures()
        ok = before > 0 and len(acked) > up + 20 and lost == 0 and not failures and statuses[503] > 0
        record("PostgreSQL restart mid-traffic (4 clients)", "postgres", ok, acknowledged=len(acked),
               answered_503=statuses[503], other_errors=sum(failures.values()), lost=lost,
               recovered_s=round(recovered, 1))
        assert statuses[503] > 0, f"no 503 while the database was down: {during}"
        assert not failures, f"answers other than 503 while the database was down: {failures} {bodies}"
        assert all("application/problem+json" in b for b in bodies if b.startswith("503")), bodies
        assert len(acked) > up + 20, "writes did not resume after the database came back"
        assert lost == 0, f"{lost} acknowledged writes lost"
    finally:
        if traffic is not None:
            traffic.stop()
        srv.stop()


def _pg_ctl(bindir: str, data: Path, port: int, action: str) -> None:
    opts = f"-p {port} -k {data.parent} -c listen_addresses=127.0.0.1 -c fsync=off"
    extra = ["-m", "fast"] if action == "stop" else ["-o", opts, "-l", str(data.parent / "log")]
    subprocess.run(_as_postgres(f"{bindir}/pg_ctl", "-D", str(data), *extra, "-w", action), check=True,
                   capture_output=True)


def test_worker_rides_out_a_database_restart(private_postgres: tuple[str, Path, int], tmp_path: Path) -> None:
    """A worker whose database goes away mid-run keeps its running task, says not-ready on /ready (alive on
    /health), and finishes the run once the database is back, with no task run twice."""
    import re
    import sys

    bindir, data, port = private_postgres
    uri = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    steps = str(Path(__file__).with_name("_steps.py").resolve())
    marks = tmp_path / "marks"
    client = Client(uri, artifact_root=str(tmp_path / "art"))
    client.apply_pipeline({"name": "chain", "tasks": [
        {"name": f"t{i}", "operator": "python", "depends_on": [f"t{i - 1}"] if i else [],
         "params": {"callable": f"{steps}:mark", "kwargs": {"path": str(marks), "name": f"t{i}", "sleep": 2.0}}}
        for i in range(3)]})
    run = client.run_pipeline("chain", wait=False)
    env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_ARTIFACT_ROOT": str(tmp_path / "art"), "COLUMNS": "200",
           "MAINSAIL_TASK_LEASE": "30"}
    proc = subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "worker", "--processes", "1",
                             "--health-port", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    seen: Counter[str] = Counter()
    try:
        assert proc.stdout is not None
        base = None
        deadline = time.monotonic() + 60
        while base is None and time.monotonic() < deadline:
            if m := re.search(r"health endpoint (http://\S+)/health", proc.stdout.readline()):
                base = m.group(1)
        assert base, "the worker never printed its health endpoint"
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # drain its output
        deadline = time.monotonic() + 60
        while not (marks.exists() and "t0" in marks.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        down = time.monotonic()
        _pg_ctl(bindir, data, port, "stop")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the worker notices within its next turns
            ready = httpx.get(f"{base}/ready", timeout=5)
            seen[f"ready {ready.status_code}"] += 1
            seen[f"health {httpx.get(f'{base}/health', timeout=5).status_code}"] += 1
            if ready.status_code == 503 and time.monotonic() - down > 3:
                break
            time.sleep(0.2)
        problem = ready.headers.get("content-type")
        _pg_ctl(bindir, data, port, "start")
        done = client.wait_pipeline_run(run.id, timeout=120, poll=0.2, execute=False)
        recovered = time.monotonic() - down
        after = httpx.get(f"{base}/ready", timeout=5).status_code
        runs = [ln.split()[0] for ln in marks.read_text().splitlines()]
        ok = (done.status == "succeeded" and runs == ["t0", "t1", "t2"] and seen["ready 503"] > 0
              and seen["health 503"] == 0 and after == 200)
        record("worker through a PostgreSQL restart", "postgres", ok, status=done.status,
               executions=len(runs), ready_503=seen["ready 503"], health_503=seen["health 503"],
               run_finished_s=round(recovered, 1))
        assert seen["ready 503"] > 0 and problem == "application/problem+json", seen
        assert seen["health 503"] == 0, "the worker looked dead while only its database was down"
        assert done.status == "succeeded", done
        assert runs == ["t0", "t1", "t2"], f"tasks ran {runs}"
        assert after == 200
    finally:
        proc.terminate()
        proc.wait(30)
