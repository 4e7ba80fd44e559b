"""Audit rows carry their project: a project's admins list, export and verify only their project's rows
(the chain stays one for every project, so tampering anywhere is still found); admins of every project
see all. Over every back end, over HTTP with auth on, and across the migration that added the column."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from _services import behind

from mainsail import Client
from mainsail.core.errors import Forbidden


@pytest.fixture
def pair(backend: str, tmp_path: Path) -> Iterator[tuple[Client, Client]]:
    root = str(tmp_path / "art")
    a, b = Client(backend, artifact_root=root), Client(backend, artifact_root=root, project="team-b")
    yield a, b
    a.close()
    b.close()


def _tamper(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for sql in statements:
            conn.execute(sa.text(sql))
    engine.dispose()


def test_rows_carry_their_project_and_each_project_sees_its_own(pair: tuple[Client, Client], tmp_path: Path) -> None:
    a, b = pair
    a.create_experiment("x")
    b.create_experiment("x")  # the same name, another project
    a.create_experiment("y")
    mine = list(a.iter_audit())
    assert [(e.seq, e.project, e.op) for e in mine] == [(1, "default", "tracking.create_experiment"),
                                                        (3, "default", "tracking.create_experiment")]
    assert [(e.seq, e.project) for e in b.iter_audit()] == [(2, "team-b")]
    assert [e.seq for e in a.iter_audit(all_projects=True)] == [1, 2, 3]  # the embedded user: admin of all
    assert mine[1].prev_hash == next(iter(b.iter_audit())).hash  # one chain across projects
    va, vb = a.verify_audit(), b.verify_audit()
    assert (va.ok, va.project, va.rows, va.head_seq) == (True, "default", 2, 3)
    assert (vb.ok, vb.project, vb.rows, vb.head_seq) == (True, "team-b", 1, 3)
    vall = a.verify_audit(all_projects=True)
    assert (vall.ok, vall.project, vall.rows) == (True, None, 3)
    out = tmp_path / "b.jsonl"
    assert b.export_audit(out) == 1
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[0]["project"] == "team-b" and lines[-1] == {"head_seq": 3, "head_hash": vall.head_hash,
                                                             "verified": True}


def test_tampering_in_project_b_is_found(pair: tuple[Client, Client], backend: str, tmp_path: Path) -> None:
    a, b = pair
    url = behind(backend, tmp_path)[0]
    for i in range(3):
        a.create_experiment(f"a{i}")  # rows 1, 3, 5
        b.create_experiment(f"b{i}")  # rows 2, 4, 6
    assert a.verify_audit().ok and b.verify_audit().ok
    original = next(e.object for e in b.iter_audit() if e.seq == 4)
    _tamper(url, "update audit_log set object = 'id=forged' where seq = 4")
    vb = b.verify_audit()
    assert not vb.ok and [(p.seq, p.kind) for p in vb.problems] == [(4, "altered")]
    va = a.verify_audit()  # default's admins: the chain is broken, the details are not theirs
    assert not va.ok and va.problems == [] and va.problems_elsewhere == 1
    assert [(p.seq, p.kind) for p in a.verify_audit(all_projects=True).problems] == [(4, "altered")]
    _tamper(url, f"update audit_log set object = '{original}' where seq = 4")
    assert a.verify_audit().ok and b.verify_audit().ok


def test_moving_a_row_between_projects_is_altered(pair: tuple[Client, Client], backend: str, tmp_path: Path) -> None:
    a, b = pair
    url = behind(backend, tmp_path)[0]
    a.create_experiment("a0")
    b.create_experiment("b0")
    a.create_experiment("a1")
    _tamper(url, "update audit_log set project = 'default' where seq = 2")  # team-b's row hidden in default
    va = a.verify_audit()
    assert [(p.seq, p.kind) for p in va.problems] == [(2, "altered")] and not b.verify_audit().ok
    _tamper(url, "update audit_log set project = 'team-b' where seq = 2", "update audit_log set project = 'team-b' "
                 "where seq = 1")  # and a default row moved out of default
    assert [(p.seq, p.kind) for p in b.verify_audit().problems] == [(1, "altered")]
    _tamper(url, "delete from audit_log where seq = 2")  # a removed row: its project is gone, everyone is told
    assert ("missing" in {p.kind for p in a.verify_audit().problems}
            and "missing" in {p.kind for p in b.verify_audit().problems})


def test_a_default_row_keeps_the_hash_it_was_written_with(sqlite_settings) -> None:
    """Rows written before the column existed hashed six items; a default row still does, so old chains
    verify unchanged; another project's row hashes the project too."""
    from mainsail.audit.service import GENESIS, chain_hash, digest, link

    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    old = link(digest([at.isoformat(), "alice", "tracking.create_run", "id=1", "r", "s"]), GENESIS)
    assert chain_hash(at, "alice", "tracking.create_run", "id=1", "r", "s", GENESIS) == old
    assert chain_hash(at, "alice", "tracking.create_run", "id=1", "r", "s", GENESIS, "team-b") != old


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_rows_from_before_the_column_land_in_default_and_verify(kind: str, tmp_path: Path,
                                                                request: pytest.FixtureRequest) -> None:
    from alembic import command

    from mainsail.audit.service import GENESIS, digest, link
    from mainsail.core.db import make_engine
    from mainsail.core.migrate import _config, migration_connection, script_graph, upgrade, upgrade_to

    url = request.getfixturevalue("pg_url") if kind == "postgres" else f"sqlite:///{tmp_path / 'old.db'}"
    graph = script_graph()
    before = {r: p for r, p in graph.items() if r != "0013_audit_projects_auditfast"}
    engine = make_engine(url)
    try:
        upgrade_to(engine, set(before) - {p for ps in before.values() for p in ps})
        at = dt.datetime(2026, 1, 1, 12, 0, 0)
        prev, rows = GENESIS, []
        for seq in (1, 2):  # rows as the release before this column wrote them
            content = digest([at.replace(tzinfo=dt.UTC).isoformat(), "alice", "tracking.create_run", f"id={seq}",
                              "r" * 64, "s" * 64])
            h = link(content, prev)
            rows.append({"seq": seq, "at": at, "actor": "alice", "op": "tracking.create_run", "object": f"id={seq}",
                         "request_sha256": "r" * 64, "result_sha256": "s" * 64, "prev_hash": prev, "hash": h})
            prev = h
        with engine.begin() as conn:
            for row in rows:
                conn.execute(sa.text(f"INSERT INTO audit_log ({', '.join(row)}) VALUES "
                                     f"({', '.join(':' + c for c in row)})"), row)
            conn.execute(sa.text("UPDATE audit_head SET seq = 2, hash = :h WHERE id = 1"), {"h": prev})
        upgrade(engine, recheck=True)
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT seq, project FROM audit_log ORDER BY seq")).all() == [
                (1, "default"), (2, "default")]
        c = Client(url, artifact_root=str(tmp_path / "art"), project="team-b")
        c.create_experiment("new")  # a new row of another project chains on
        v = c.verify_audit(all_projects=True)
        assert v.ok and v.rows == 3 and v.head_seq == 3, v.problems
        c.close()
        # downgrading would break team-b's row (its hash covers the project): refused
        with migration_connection(engine) as conn, pytest.raises(RuntimeError, match="other than 'default'"):
            command.downgrade(_config(conn), "0013_audit_projects_auditfast@0008_audit_s2chain")
    finally:
        engine.dispose()


# ---------------------------------------------------------------- over HTTP with auth on


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "auth"))
    from _auth_support import auth_world

    yield from auth_world(tmp_path_factory.mktemp("audit-auth"))


def test_project_admins_see_only_their_rows_over_http(world) -> None:  # type: ignore[no-untyped-def]
    with world.http("outsider", {"mainsail-project": "other"}) as http:  # admin of project 'other' only
        assert http.post("/api/v1/experiments", json={"name": "theirs"}).status_code == 201
        got = http.get("/api/v1/audit")
        assert got.status_code == 200, got.text
        items = got.json()["items"]
        assert [(e["project"], e["actor"], e["op"]) for e in items] == [
            ("other", "svc-outsider", "tracking.create_experiment")]
        v = http.get("/api/v1/audit/verify").json()
        assert v["ok"] and v["project"] == "other" and v["rows"] == 1
        for url in ("/api/v1/audit?all_projects=true", "/api/v1/audit/verify?all_projects=true"):
            r = http.get(url)
            assert r.status_code == 403 and r.json()["code"] == "role_required", r.text
        r = http.get("/api/v1/secrets")  # named secrets are global: not served in another project
        assert r.status_code == 422 and r.json()["code"] == "project_not_supported", r.text
    with world.http("outsider") as http:  # default's rows: not theirs
        assert http.get("/api/v1/audit").status_code == 403
    with world.http("viewer") as http:
        assert http.get("/api/v1/audit").status_code == 403
    with world.http("admin") as http:  # an admin of every project
        mine = http.get("/api/v1/audit").json()["items"]
        assert mine and {e["project"] for e in mine} == {"default"}
        every = http.get("/api/v1/audit", params={"all_projects": "true", "limit": 1000}).json()["items"]
        assert {e["project"] for e in every} == {"default", "other"}
        assert http.get("/api/v1/audit/verify", params={"all_projects": "true"}).json()["ok"]
    assert [e.project for e in world.local.iter_audit(all_projects=True)][-1] == "other"


def test_a_project_admin_cannot_widen_the_scope_embedded(sqlite_settings) -> None:
    from mainsail.audit import service
    from mainsail.core.principal import Principal
    from mainsail.core.runtime import Runtime

    rt = Runtime(sqlite_settings)
    try:
        with rt.transaction() as ctx:
            ctx.principal, ctx.project = Principal("bob", roles={"team-b": "admin"}), "team-b"
            assert service.list_audit(ctx).items == [] and service.verify_audit(ctx).project == "team-b"
            for fn in (service.list_audit, service.verify_audit):
                with pytest.raises(Forbidden, match="admin"):
                    fn(ctx, all_projects=True)
    finally:
        rt.dispose()


def test_writes_committed_after_their_computation_keep_their_project(tmp_path: Path) -> None:
    """An ingest computes under a read transaction and is recorded in a write transaction of the audit's
    own: its row still carries the project the call addressed."""
    import pandas as pd

    c = Client(f"sqlite:///{tmp_path / 'i.db'}", artifact_root=str(tmp_path / "art"), project="team-b")
    try:
        c.ingest_dataset(pd.DataFrame({"a": [1, 2, 3]}), "nums")
        rows = [(e.project, e.op) for e in c.iter_audit(all_projects=True)]
        assert ("team-b", "datasets.upload_version") in rows and {p for p, _ in rows} == {"team-b"}, rows
        assert c.verify_audit().ok
    finally:
        c.close()
