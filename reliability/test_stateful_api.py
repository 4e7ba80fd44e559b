"""Schemathesis, stateful, over the whole OpenAPI of a live server (its CLI, which infers the links
between operations from the schema): sequences of calls that pass what one call returned to the next.
No server error, every response (status, content type, body) as the document says."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _services import ServerProcess
from _suite import TRIALS, record

from mainsail import Client

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def _number(pattern: str, text: str) -> int:
    m = re.search(pattern, text)
    return int(m.group(1)) if m else 0


def _seed(c: Client, tmp_path: Path) -> None:
    run = c.create_run(c.create_experiment("seeded").id)
    c.log_batch(run.id, [("loss", 0.5, 0, time.time())], params={"lr": 0.1}, tags={"team": "a"})
    model = tmp_path / "model.txt"
    model.write_text("weights")
    v = c.register_model("seeded-model", framework="custom", artifacts=[model], run_id=run.id)
    c.set_model_alias("seeded-model", "champion", v.version)
    csv = tmp_path / "data.csv"
    csv.write_text("id,x,y\n1,0.5,a\n2,1.5,b\n3,2.5,a\n")
    c.ingest_dataset(str(csv), "seeded-data")
    c.apply_pipeline({"name": "seeded-pipeline", "tasks": [{"name": "t", "operator": "python",
                                                            "params": {"callable": "statistics:mean", "kwargs": {"data": [1, 2, 3]}}}]})


def test_stateful_sequences_over_the_whole_api(tmp_path: Path) -> None:
    st = shutil.which("st") or str(Path(sys.executable).with_name("st"))
    srv = ServerProcess(f"sqlite:///{tmp_path / 's.db'}", str(tmp_path / "art"), tmp_path).start()
    _seed(Client(srv.url), tmp_path)  # list operations return objects, so the sequences reach deeper
    started = time.monotonic()
    try:
        proc = subprocess.run([st, "run", f"{srv.url}/openapi.json", "--phases=stateful", "-c", CHECKS,
                               "-n", str(5 * TRIALS), "--no-color"], capture_output=True, text=True, timeout=900)
    finally:
        srv.stop()
    out = proc.stdout + proc.stderr
    generated = _number(r"(\d+) generated", out)
    ok = proc.returncode == 0 and generated > 0
    record("Schemathesis stateful over the whole API", "sqlite", ok, scenarios=_number(r"Scenarios:\s+(\d+)", out),
           links_covered=_number(r"API Links:\s+(\d+) covered", out),
           links_inferred=_number(r"\((\d+) inferred\)", out), calls=generated,
           passed=_number(r"generated, (\d+) passed", out),
           seconds=round(time.monotonic() - started, 1))
    assert proc.returncode == 0, out[-6000:]
    assert generated > 0, out[-3000:]
