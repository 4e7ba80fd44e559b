"""The audit trail: one hash-chained row per write in the write's transaction, over every back end;
verify names altered, removed and moved rows; concurrent writers on PostgreSQL never fork the chain."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from _services import behind

from mainsail import Client
from mainsail.core.errors import Forbidden, NotFound
from mainsail.core.principal import Principal
from mainsail.core.runtime import Runtime


def _db_url(backend: str, tmp_path: Path) -> str:
    return behind(backend, tmp_path)[0]


@pytest.fixture
def client(backend: str, tmp_path: Path) -> Iterator[Client]:
    c = Client(backend, artifact_root=str(tmp_path / "art"))
    yield c
    c.close()


def test_every_write_is_recorded_and_chained(client: Client, backend: str, tmp_path: Path) -> None:
    exp = client.create_experiment("audited")
    run = client.create_run(exp.id, "r1")
    with pytest.raises(NotFound):
        client.create_run("no-such-experiment")  # a failed write leaves no row
    client.get_run(run.id)  # reads are not recorded
    entries = list(client.iter_audit())
    assert [e.op for e in entries] == ["tracking.create_experiment", "tracking.create_run"]
    assert [e.seq for e in entries] == [1, 2]
    assert entries[1].object == f"id={run.id}" and entries[1].prev_hash == entries[0].hash
    assert all(len(e.request_sha256) == 64 and len(e.result_sha256) == 64 for e in entries)
    assert entries[0].actor  # who: the embedded user, or the server's request actor
    v = client.verify_audit()
    assert v.ok and v.rows == 2 and v.head_seq == 2 and v.head_hash == entries[1].hash
    assert [e.op for e in client.list_audit(op="tracking", limit=1).items] == ["tracking.create_experiment"]
    out = tmp_path / "audit.jsonl"
    assert client.export_audit(out) == 2
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[-1] == {"head_seq": 2, "head_hash": entries[1].hash, "verified": True}


def test_metric_batches_are_one_entry(client: Client) -> None:
    run = client.create_run(client.create_experiment("m").id)
    client.log_batch(run.id, [("loss", float(i), i, 1.0) for i in range(500)], params={"lr": 0.1})
    assert [e.op for e in client.iter_audit()] == ["tracking.create_experiment", "tracking.create_run",
                                                   "tracking.log_batch"]


def _tamper(url: str, *statements: tuple[str, dict]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for sql, params in statements:
            conn.execute(sa.text(sql), params)
    engine.dispose()


def test_verify_pinpoints_tampering(client: Client, backend: str, tmp_path: Path) -> None:
    url = _db_url(backend, tmp_path)
    for i in range(6):
        client.create_experiment(f"e{i}")
    assert client.verify_audit().ok
    # altered: an actor rewritten
    _tamper(url, ("update audit_log set actor = 'mallory' where seq = 2", {}))
    v = client.verify_audit()
    assert not v.ok and [(p.seq, p.kind) for p in v.problems] == [(2, "altered")]
    _tamper(url, ("update audit_log set actor = (select actor from audit_log where seq = 1) where seq = 2", {}))
    assert client.verify_audit().ok
    # reordered: rows 5 and 6 swap places
    swap = [("update audit_log set seq = 100 where seq = 5", {}), ("update audit_log set seq = 5 where seq = 6", {}),
            ("update audit_log set seq = 6 where seq = 100", {})]
    _tamper(url, *swap)
    kinds = {(p.seq, p.kind) for p in client.verify_audit().problems}
    assert {(5, "reordered"), (6, "reordered")} <= kinds, kinds
    _tamper(url, *swap)
    assert client.verify_audit().ok
    # removed: row 4 deleted
    _tamper(url, ("delete from audit_log where seq = 4", {}))
    v = client.verify_audit()
    assert [(p.seq, p.kind) for p in v.problems] == [(4, "missing")], v.problems
    # the tail removed: the head still names row 6
    _tamper(url, ("delete from audit_log where seq >= 5", {}))
    v = client.verify_audit()
    assert [(p.seq, p.kind) for p in v.problems] == [(4, "missing")]
    assert "rows 4..6" in v.problems[0].detail and "head" in v.problems[0].detail


def test_audit_reads_are_admin_only(sqlite_settings) -> None:
    from mainsail.audit import service

    rt = Runtime(sqlite_settings)
    try:
        with rt.transaction() as ctx:
            ctx.principal = Principal("eve", roles={"default": "editor"})
            for fn in (service.list_audit, service.verify_audit, service.list_secrets):
                with pytest.raises(Forbidden, match="admin"):
                    fn(ctx)
    finally:
        rt.dispose()


def test_record_uses_the_principal_name(sqlite_settings) -> None:
    from mainsail.audit import service
    from mainsail.tracking import service as tracking
    from mainsail.tracking.ops import ops

    rt = Runtime(sqlite_settings)
    try:
        with rt.transaction(actor="os-user") as ctx:
            ctx.principal = Principal("alice", roles={"*": "admin"})
            body = ops.create_experiment.bind({"body": {"name": "x"}})
            exp = tracking.create_experiment(ctx, **body)
            service.record(ctx, ops.create_experiment, body, exp)
        with rt.transaction(write=False) as ctx:
            assert [e.actor for e in service.list_audit(ctx).items] == ["alice"]
    finally:
        rt.dispose()


def test_concurrent_writers_do_not_fork_the_chain(pg_url: str, tmp_path: Path) -> None:
    clients = [Client(pg_url, artifact_root=str(tmp_path / "art")) for _ in range(4)]
    errors: list[BaseException] = []

    def work(i: int, c: Client) -> None:
        try:
            for j in range(15):
                c.create_experiment(f"c{i}-{j}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    v = clients[0].verify_audit()
    assert v.ok and v.rows == 60 and v.head_seq == 60, v.problems
    for c in clients:
        c.close()


def test_writes_outside_the_request_transaction_are_recorded(client: Client) -> None:
    import pandas as pd

    v = client.ingest_dataset(pd.DataFrame({"a": [1, 2, 3]}), "nums")
    client.profile_dataset("nums", v.id)
    ops = [e.op for e in client.iter_audit()]
    assert ops.count("datasets.upload_version") == 1, ops
    entry = next(e for e in client.iter_audit() if e.op == "datasets.upload_version")
    assert "name=nums" in entry.object and client.verify_audit().ok


_WRITER = """
import pathlib, sys, time
from mainsail import Client
c = Client(sys.argv[1], artifact_root=sys.argv[2], project=sys.argv[3])
c.create_experiment(f"{sys.argv[3]}-0")  # warm: connected, head cached
go = pathlib.Path(sys.argv[4])
(go.parent / sys.argv[3]).touch()
while not go.exists():
    time.sleep(0.005)
for j in range(1, 40):
    c.create_experiment(f"{sys.argv[3]}-{j}")
c.close()
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_processes_append_one_exact_chain(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Two writer processes on one database (each caching the head it wrote last, on SQLite) append to
    one chain: every row is there once, in order, each linked to the one before."""
    import subprocess
    import sys
    import time

    url = request.getfixturevalue("pg_url") if kind == "postgres" else f"sqlite:///{tmp_path / 'two.db'}"
    Client(url, artifact_root=str(tmp_path / "art")).close()  # migrate once, before the race
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, url, str(tmp_path / "art"), project, str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for project in ("default", "team-b")]
    deadline = time.monotonic() + 240
    while not all((tmp_path / p).exists() for p in ("default", "team-b")) and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.01)
    go.touch()  # both start writing at once
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1].decode()[-2000:] for o in outs]
    c = Client(url, artifact_root=str(tmp_path / "art"))
    v = c.verify_audit(all_projects=True)
    assert v.ok and v.rows == 80 and v.head_seq == 80, v.problems
    entries = list(c.iter_audit(all_projects=True))
    assert [e.seq for e in entries] == list(range(1, 81))
    assert sorted(e.project for e in entries) == ["default"] * 40 + ["team-b"] * 40
    c.close()
