"""``mainsail gc`` and retention on sqlite and postgres: every blob an object still references survives
(run artifacts, model versions whose run was deleted, dataset versions, shipped pipeline code, inference
logs, task logs); the artifacts of deleted runs and unreferenced blobs go, only after the grace period."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mainsail
from mainsail import Client
from mainsail.core.artifacts import ArtifactStore, hash_bytes
from mainsail.core.errors import InvalidInput
from mainsail.tracking.ops import ops as tracking_ops

FLOW = '''
from mainsail.pipelines import pipeline, task


@task
def shout(word: str) -> dict:
    print("shouting", word)
    return {"word": word.upper()}


@pipeline(name="gc-flow")
def flow(word: str = "hi"):
    shout(word)
'''


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Client, ArtifactStore]]:
    uri = f"sqlite:///{tmp_path / 'gc.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    art = str(tmp_path / "art")
    monkeypatch.setenv("MAINSAIL_URI", uri)
    monkeypatch.setenv("MAINSAIL_ARTIFACT_ROOT", art)
    monkeypatch.setenv("MAINSAIL_PIPELINE_PROCESSES", "1")
    mainsail.set_tracking_uri(None)
    c = Client(uri, artifact_root=art)
    yield c, ArtifactStore(art)
    mainsail.set_tracking_uri(None)
    c.close()


def _artifact(c: Client, run_id: str, folder: Path, name: str, text: str) -> str:
    p = folder / name
    p.write_text(text)
    return c.log_artifact(run_id, p)[0].digest


def _end(c: Client, run_id: str, days_ago: float = 0.0) -> None:
    end = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    c.call(tracking_ops.update_run, run_id=run_id, body={"status": "finished", "end_time": end})


def test_nothing_referenced_is_ever_deleted(env: tuple[Client, ArtifactStore], tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    c, store = env
    exp = c.ensure_experiment("gc")
    # a model logged and registered by a run that is then deleted: the version still references its files
    x, y = np.arange(20.0).reshape(10, 2), np.array([0, 1] * 5)
    with mainsail.start_run("trainer", experiment="gc") as run:
        version = mainsail.log_model(LogisticRegression().fit(x, y), "model", registered_model_name="gc-model")
    model_digests = {f.digest for f in c.get_model_version("gc-model", version.version).files.values()}
    c.delete_run(run.id)

    kept = c.create_run(exp.id, "kept")
    kept_digest = _artifact(c, kept.id, tmp_path, "kept.txt", "kept artifact")
    gone = c.create_run(exp.id, "gone")
    gone_digest = _artifact(c, gone.id, tmp_path, "gone.txt", "only a deleted run holds this")
    shared = c.create_run(exp.id, "shared")
    assert _artifact(c, shared.id, tmp_path, "same.txt", "kept artifact") == kept_digest
    for r in (gone, shared):
        c.delete_run(r.id)

    ds = c.ingest_dataset(pd.DataFrame({"a": [1, 2, 3]}), "gc-data")
    flow = tmp_path / "flow_gc.py"
    flow.write_text(textwrap.dedent(FLOW))
    applied = c.apply_pipeline(str(flow))
    code = applied.spec.tasks[0].params["code"]
    prun = c.run_pipeline("gc-flow", {"word": "hey"})
    assert prun.status == "succeeded"
    c.create_deployment("gc-dep", "models:/gc-model/1")
    now = dt.datetime.now(dt.UTC)
    log_digest = c.add_inference_log("gc-dep", b"inference log bytes", rows=1, first_at=now, last_at=now).digest
    orphan = store.put_bytes(b"nobody references me").digest

    referenced = {*model_digests, kept_digest, ds.digest, code, log_digest}
    before = {b.digest for b in store.iter_blobs()}
    assert referenced <= before and {gone_digest, orphan} <= before

    # within the grace period nothing goes; a dry run deletes nothing
    waiting = c.gc(dry_run=False, grace_hours=24)
    assert waiting.deleted == [] and waiting.kept_in_grace == 1  # the orphan; the run was deleted < 24 h ago
    dry = c.gc(dry_run=True, grace_hours=0)
    assert set(dry.deleted) == {gone_digest, orphan} and dry.of_deleted_runs == 1
    assert {b.digest for b in store.iter_blobs()} == before

    done = c.gc(dry_run=False, grace_hours=0)
    assert set(done.deleted) == {gone_digest, orphan} and done.deleted_bytes > 0
    after = {b.digest for b in store.iter_blobs()}
    assert after == before - {gone_digest, orphan}
    # every object still reads: the model loads and predicts, artifacts, data, code, logs, task logs
    assert list(c.load_model("models:/gc-model/1").predict(x[:2])) == list(LogisticRegression().fit(x, y).predict(x[:2]))
    assert (c.download_artifacts(kept.id, tmp_path / "dl") / "kept.txt").read_text() == "kept artifact"
    assert c.load_dataset("gc-data")["a"].tolist() == [1, 2, 3]
    assert c.get_pipeline_code(code) == flow.read_bytes()
    assert "shouting hey" in c.pipeline_task_log(prun.id, "shout")
    assert store.get_bytes(log_digest) == b"inference log bytes"
    assert c.gc(dry_run=False, grace_hours=0).deleted == []  # nothing more to take


def test_retention_rules_delete_old_runs_and_inference_logs(env: tuple[Client, ArtifactStore], tmp_path: Path) -> None:
    c, store = env
    assert c.get_retention().runs_days is None
    rules = c.set_retention(runs_days=7, inference_logs_days=1)
    assert (rules.runs_days, rules.inference_logs_days) == (7, 1)
    exp = c.ensure_experiment("ret")
    old, recent = c.create_run(exp.id, "old"), c.create_run(exp.id, "recent")
    old_digest = _artifact(c, old.id, tmp_path, "old.txt", "old run output")
    _end(c, old.id, days_ago=30)
    _end(c, recent.id, days_ago=1)
    running = c.create_run(exp.id, "still running")  # never ended: never deleted by age

    dry = c.gc(dry_run=True, grace_hours=0)
    assert dry.runs_deleted == [old.id] and c.get_run(old.id).status == "finished"
    done = c.gc(dry_run=False, grace_hours=24)
    assert done.runs_deleted == [old.id]
    assert {r.id for r in c.search_runs([exp.id]).items} == {recent.id, running.id}
    assert store.exists(old_digest)  # deleted just now: its artifacts wait for the grace period
    assert hash_bytes(b"old run output").digest == old_digest
    assert old_digest in c.gc(dry_run=False, grace_hours=0).deleted

    with pytest.raises(InvalidInput):
        c.set_retention(runs_days=-1)


def test_gc_and_retention_act_per_project(env: tuple[Client, ArtifactStore], tmp_path: Path) -> None:
    from mainsail.core.errors import Forbidden
    from mainsail.core.principal import Principal
    from mainsail.costs import retention
    from mainsail.costs.schemas import GcRequest

    a, store = env
    b = Client(a.uri, artifact_root=str(tmp_path / "art"), project="b")
    try:
        ea, eb = a.ensure_experiment("gc-a"), b.ensure_experiment("gc-b")

        def run(c: Client, exp: str, text: str) -> str:  # a deleted run's artifact
            r = c.create_run(exp, text)
            digest = _artifact(c, r.id, tmp_path, f"{r.id}.txt", text)
            c.delete_run(r.id)
            return digest

        a_only, b_only = run(a, ea.id, "a only"), run(b, eb.id, "b only")
        shared = run(a, ea.id, "shared")
        live = b.create_run(eb.id, "live")
        assert _artifact(b, live.id, tmp_path, "shared.txt", "shared") == shared  # b's live run names it too
        both = run(a, ea.id, "both deleted")
        assert run(b, eb.id, "both deleted") == both  # a's and b's deleted runs name it
        b_old = b.create_run(eb.id, "b old")
        b_old_digest = _artifact(b, b_old.id, tmp_path, "b-old.txt", "b old output")
        _end(b, b_old.id, days_ago=30)
        b.set_retention(runs_days=1)  # b's rule; a has none

        # a's admin: a's deleted run's artifact goes; b's blobs, the shared one and the doubly named one stay
        ra = a.gc(dry_run=False, grace_hours=0)
        assert set(ra.deleted) == {a_only} and ra.kept_other_projects == 2 and ra.runs_deleted == []
        assert b.get_run(b_old.id).status == "finished" and store.exists(b_old_digest)
        assert all(store.exists(d) for d in (b_only, shared, both))

        # b's admin: b's rule deletes b's old run; b's own blob goes; the one a's deleted run names too stays
        rb = b.gc(dry_run=False, grace_hours=0)
        assert rb.runs_deleted == [b_old.id] and b_only in rb.deleted and both not in rb.deleted
        assert store.exists(shared) and store.exists(both)

        # a project admin may not act on every project; an admin of every project may
        bob = Principal("bob", roles={"b": "admin"})
        with a._backend.runtime.transaction(principal=bob, project="b") as ctx, pytest.raises(Forbidden) as exc:
            retention.run_gc(ctx, GcRequest(dry_run=False, grace_hours=0, all_projects=True))
        assert "every project" in str(exc.value)
        assert store.exists(both)
        every = a.gc(dry_run=False, grace_hours=0, all_projects=True)
        assert both in every.deleted and every.all_projects and store.exists(shared)  # b's live run keeps it
        assert (b.download_artifacts(live.id, tmp_path / "dl") / "shared.txt").read_text() == "shared"
    finally:
        b.close()
