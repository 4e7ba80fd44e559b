"""The holes found by probing the server (issue 13), each closed: code execution through pipeline tasks,
DuckDB reading any file, notify posting anywhere, and artifact keys that climb out of the download folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _services import behind

from mainsail import Client
from mainsail.core.errors import Forbidden, InvalidInput
from mainsail.core.principal import Principal
from mainsail.core.runtime import Ctx, Runtime
from mainsail.pipelines import service
from mainsail.pipelines.schemas import PipelineSpec, RunCreate, ScheduleCreate

EDITOR = Principal("eve", roles={"default": "editor"})
CODER = Principal("cody", roles={"default": "editor"}, permissions=frozenset({"pipelines:code"}))


@pytest.fixture(params=["sqlite", "postgres"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    from mainsail.core.settings import Settings

    uri = request.getfixturevalue("pg_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 'm.db'}"
    rt = Runtime(Settings.from_env().with_uri(uri, str(tmp_path / "art")))
    yield rt
    rt.dispose()


def call(rt: Runtime, principal: Principal | None, fn: Any, *args: Any) -> Any:
    with rt.transaction(actor=principal.name if principal else "local") as ctx:
        if principal is not None:
            ctx.principal = principal
        return fn(ctx, *args)


def spec(*tasks: dict[str, Any], name: str = "p") -> PipelineSpec:
    return PipelineSpec.model_validate({"name": name, "tasks": list(tasks)})


SYSTEM = {"name": "pwn", "operator": "python", "params": {"callable": "os:system", "kwargs": {"command": "id"}}}


def test_python_task_needs_the_code_permission(runtime: Runtime) -> None:
    with pytest.raises(Forbidden, match="pipelines:code") as e:
        call(runtime, EDITOR, service.apply_pipeline, spec(SYSTEM))
    assert e.value.code == "code_not_allowed"
    with pytest.raises(Forbidden, match="MAINSAIL_CODE_ALLOW"):  # granted code, yet os:system is not allowed
        call(runtime, CODER, service.apply_pipeline, spec(SYSTEM))
    assert call(runtime, None, service.apply_pipeline, spec(SYSTEM)).version == 1  # the admin may


def test_allow_listed_callable_for_a_code_grant(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    task = {"name": "t", "operator": "python", "params": {"callable": "json:dumps", "kwargs": {"obj": 1}}}
    monkeypatch.setenv("MAINSAIL_CODE_ALLOW", "json")
    assert call(runtime, CODER, service.apply_pipeline, spec(task)).version == 1
    with pytest.raises(Forbidden):
        call(runtime, EDITOR, service.apply_pipeline, spec(task, name="q"))
    with pytest.raises(Forbidden, match="MAINSAIL_CODE_ALLOW"):  # a file on the server is never allow-listed
        call(runtime, CODER, service.apply_pipeline, spec({**task, "params": {"callable": "/tmp/x.py:f"}}, name="r"))


def test_running_or_scheduling_code_needs_the_permission(runtime: Runtime) -> None:
    noop = {"name": "t", "operator": "noop", "params": {"value": 1}}
    train = {"name": "train", "operator": "model_training", "depends_on": ["t"], "params": {
        "data": "sklearn:iris", "target": "target", "estimator": "sklearn.linear_model.LogisticRegression"}}
    call(runtime, None, service.apply_pipeline, spec(noop, train))
    call(runtime, EDITOR, service.create_run, RunCreate(pipeline_id="p"))  # no code: an editor may run it
    for override in ({"estimator": "subprocess.run", "estimator_params": {"args": ["id"]}},
                     {"estimator": "sklearn.datasets._base.makedirs"},
                     {"data": "/etc/passwd.csv"}, {"data": "${tasks.t.output}"}):  # noop's output is free text
        with pytest.raises(Forbidden, match="pipelines:code"):
            call(runtime, EDITOR, service.create_run, RunCreate(pipeline_id="p", params={"train": override}))
        with pytest.raises(Forbidden, match="pipelines:code"):
            call(runtime, EDITOR, service.create_schedule, "p", ScheduleCreate(cron="0 * * * *",
                                                                               params={"train": override}))
    call(runtime, None, service.apply_pipeline, spec(SYSTEM, name="adm"))
    with pytest.raises(Forbidden):  # an admin's python pipeline is still code when an editor runs it
        call(runtime, EDITOR, service.create_run, RunCreate(pipeline_id="adm"))


@pytest.mark.parametrize("task", [
    {"operator": "sql_query", "params": {"query": "select 1", "url": "postgresql://internal/db"}},
    {"operator": "data_ingestion", "params": {"source": "/etc/passwd", "name": "x", "format": "csv"}},
    {"operator": "batch_inference", "params": {"model": "models:/m@a", "source": "/srv/x.parquet", "output": "/tmp/o"}},
])
def test_server_side_reads_are_code(runtime: Runtime, task: dict[str, Any]) -> None:
    with pytest.raises(Forbidden, match="pipelines:code"):
        call(runtime, EDITOR, service.apply_pipeline, spec({"name": "t", **task}))


def test_notify_posts_only_to_allowed_urls(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    task = {"name": "n", "operator": "notify", "params": {"message": "hi", "channel": "webhook",
                                                          "url": "http://169.254.169.254/latest/meta-data?k=s3cr3t"}}
    with pytest.raises(Forbidden, match="MAINSAIL_OUTBOUND_ALLOW") as e:
        call(runtime, EDITOR, service.apply_pipeline, spec(task))
    assert "s3cr3t" not in e.value.detail  # the query (a token, often) is never echoed
    monkeypatch.setenv("MAINSAIL_OUTBOUND_ALLOW", "https://hooks.example.com/team/")
    with pytest.raises(Forbidden):
        call(runtime, EDITOR, service.apply_pipeline, spec(task))
    for url in ("https://hooks.example.com/team/abc", "https://hooks.example.com/team/"):
        ok = {**task, "params": {**task["params"], "url": url}}
        call(runtime, EDITOR, service.apply_pipeline, spec(ok, name="ok"))
    for url in ("https://hooks.example.com/teamX", "https://hooks.example.com.evil.io/team/",
                "https://user@hooks.example.com/team/x", "https://hooks.example.com/other"):
        bad = {**task, "params": {**task["params"], "url": url}}
        with pytest.raises(Forbidden):
            call(runtime, EDITOR, service.apply_pipeline, spec(bad, name="bad"))


def test_feature_view_sql_source_is_code(runtime: Runtime) -> None:
    from mainsail.features import service as features
    from mainsail.features.schemas import FeatureSetSpec

    body = FeatureSetSpec.model_validate({
        "entities": [{"name": "user", "join_key": "user_id"}],
        "views": [{"name": "v", "entities": ["user"], "features": {"x": "int64"},
                   "source": "SELECT * FROM read_csv_auto('/etc/passwd')"}]})
    with pytest.raises(Forbidden, match="pipelines:code"):
        call(runtime, EDITOR, features.apply, body)


# ---------------------------------------------------------------- DuckDB reads only the project's data

@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Client]:
    c = Client(f"sqlite:///{tmp_path / 'e.db'}", artifact_root=str(tmp_path / "art"))
    yield c
    c.close()


def test_sql_query_cannot_read_files(embedded: Client, tmp_path: Path) -> None:
    import pandas as pd

    from mainsail.pipelines.context import TaskContext
    from mainsail.pipelines.operators.basic import SqlQueryParams, sql_query

    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    v = embedded.ingest_dataset(pd.DataFrame({"a": [1, 2, 3]}), "nums")
    tc = TaskContext(run_id="r", task="q", pipeline="p", attempt=1, uri=embedded.uri, artifact_root=str(tmp_path / "art"))
    tc._client = embedded
    out = sql_query(tc, SqlQueryParams(query="select sum(a) from nums", datasets={"nums": v.ref}))
    assert out["rows"] == [[6]]
    for query in (f"select * from read_csv_auto('{secret}')", f"copy (select 1) to '{tmp_path / 'o.csv'}'",
                  f"attach '{tmp_path / 'x.duckdb'}'", "set enable_external_access = true", "install httpfs"):
        with pytest.raises(Exception, match="(?i)permission|disabled|cannot|locked") as e:
            sql_query(tc, SqlQueryParams(query=query, datasets={"nums": v.ref}))
        assert "hunter2" not in str(e.value)
    assert not (tmp_path / "o.csv").exists()


def test_where_filter_cannot_read_files(embedded: Client, tmp_path: Path) -> None:
    import pandas as pd

    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    embedded.ingest_dataset(pd.DataFrame({"a": [1, 2, 3]}), "nums")
    assert len(embedded.load_dataset("nums", where="a > 1")) == 2
    with pytest.raises(InvalidInput, match="(?i)permission|disabled"):
        embedded.load_dataset("nums", where=f"(select count(*) from read_csv_auto('{secret}')) > 0")


# ---------------------------------------------------------------- keys planted in the database

BAD_KEYS = ["../../../../victim/x.sh", "%2e%2e/%2e%2e/victim/y.sh", "/tmp/victim-abs.sh", "a/../../z.sh"]


def _db_url(backend: str, tmp_path: Path) -> str:
    return behind(backend, tmp_path)[0]


def test_planted_model_file_key_is_refused_on_read(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    home = tmp_path / "clienthome"
    monkeypatch.setenv("MAINSAIL_HOME", str(home))
    f = tmp_path / "model.bin"
    f.write_bytes(b"weights")
    client = Client(backend, artifact_root=str(tmp_path / "art"))
    try:
        v = client.register_model("m", artifacts=[f], framework="custom")
        engine = sa.create_engine(_db_url(backend, tmp_path))
        ref = {"digest": v.files["model.bin"].digest, "size": v.files["model.bin"].size}
        for key in BAD_KEYS:
            with engine.begin() as conn:
                conn.execute(sa.text("update model_versions set files = :f where id = :i"),
                             {"f": json.dumps({key: ref}), "i": v.id})
            with pytest.raises(InvalidInput) as e:
                client.download_model("models:/m/1")
            assert e.value.code == "unsafe_path"
        engine.dispose()
    finally:
        client.close()
    written = {p.relative_to(tmp_path) for p in tmp_path.rglob("*sh")}
    assert not written, f"files written outside the cache: {written}"
    assert not Path("/tmp/victim-abs.sh").exists()


def test_planted_run_artifact_key_is_refused_on_read(backend: str, tmp_path: Path) -> None:
    client = Client(backend, artifact_root=str(tmp_path / "art"))
    try:
        run = client.create_run(client.create_experiment("e").id)
        src = tmp_path / "ok.txt"
        src.write_text("x")
        client.log_artifact(run.id, src)
        engine = sa.create_engine(_db_url(backend, tmp_path))
        with engine.begin() as conn:
            conn.execute(sa.text("update run_artifacts set path = :p where run_id = :r"),
                         {"p": "../../../victim/x.sh", "r": run.id})
        engine.dispose()
        dest = tmp_path / "dl" / "a" / "b"
        with pytest.raises(InvalidInput) as e:
            client.download_artifacts(run.id, dest)
        assert e.value.code == "unsafe_path"
        assert not list(tmp_path.rglob("x.sh"))
    finally:
        client.close()


def test_contained_refuses_every_form(tmp_path: Path) -> None:
    from mainsail.core.sandbox import contained

    assert contained(tmp_path, "a/b.txt") == (tmp_path / "a" / "b.txt").resolve()
    for key in [*BAD_KEYS, "..", "", "a\x00b", "C:\\x", "%252e%252e/x", "..\\..\\x"]:
        with pytest.raises(InvalidInput):
            contained(tmp_path, key)
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(InvalidInput):
        contained(tmp_path, "link/etc/passwd")


def test_ctx_principal_default_is_the_local_admin(runtime: Runtime) -> None:
    with runtime.transaction() as ctx:
        assert isinstance(ctx, Ctx) and ctx.principal.can("admin")
