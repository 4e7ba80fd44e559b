"""The tracking contract: the same behaviour from the embedded (sqlite), postgres and http back ends."""

from __future__ import annotations

import base64
import math
from pathlib import Path

import pytest

from mainsail import Client
from mainsail.core.errors import Conflict, IntegrityError, InvalidInput, NotFound
from mainsail.tracking.schemas import MetricBatch, RunStatus


@pytest.fixture
def client(backend: str):
    c = Client(backend)
    yield c
    c.close()


def test_experiments_create_get_list_and_duplicates(client: Client) -> None:
    exp = client.create_experiment("churn", description="predict churn", tags={"team": "risk"})
    assert client.get_experiment(exp.id).name == "churn"
    assert client.get_experiment_by_name("churn").tags == {"team": "risk"}
    assert client.ensure_experiment("churn").id == exp.id
    other = client.ensure_experiment("fraud")
    assert other.id != exp.id
    assert [e.name for e in client.iter_experiments()] == ["churn", "fraud"]
    with pytest.raises(Conflict) as ei:
        client.create_experiment("churn")
    assert ei.value.code == "experiment_exists"
    with pytest.raises(NotFound, match="experiment 'nope' not found"):
        client.get_experiment("nope")
    with pytest.raises(InvalidInput) as ei:
        client.create_experiment("   ")
    assert ei.value.errors[0]["loc"] == ["body", "name"]


def test_run_lifecycle_params_tags_and_latest_metrics(client: Client) -> None:
    exp = client.create_experiment("e")
    run = client.create_run(exp.id, "first", params={"lr": 0.1, "model": "rf"}, tags={"team": "risk"})
    assert run.status == RunStatus.running and run.end_time is None
    client.log_batch(run.id, [("auc", 0.7, 0, 1.0), ("auc", 0.9, 2, 3.0), ("auc", 0.8, 1, 2.0)],
                     params={"depth": 5}, tags={"team": "fraud", "stage": "dev"})
    got = client.get_run(run.id)
    assert got.params == {"depth": "5", "lr": "0.1", "model": "rf"}
    assert got.tags == {"stage": "dev", "team": "fraud"}  # tags may be overwritten
    assert got.metrics == {"auc": 0.9}  # latest = highest step, not last logged
    ended = client.end_run(run.id, "finished")
    assert ended.status == "finished" and ended.end_time is not None and ended.duration >= 0


def test_metric_history_is_ordered_and_complete(client: Client) -> None:
    run = client.create_run(client.create_experiment("e").id)
    pts = [("loss", 1.0 / (i + 1), i, 1000.0 + i) for i in range(500)]
    client.log_batch(run.id, list(reversed(pts)))
    client.log_metric(run.id, "loss", float("nan"), step=500)
    hist = client.get_metric_history(run.id, "loss")
    assert hist.step == list(range(501))
    assert hist.value[:500] == [p[1] for p in pts]
    assert hist.value[500] is None or math.isnan(hist.value[500])
    assert hist.to_pandas().shape == (501, 3)
    with pytest.raises(NotFound):
        client.get_metric_history(run.id, "never-logged")


def test_sample_metric_keeps_extremes_and_counts_every_point(client: Client) -> None:
    run = client.create_run(client.create_experiment("e").id)
    pts = [("loss", float(i % 97) - (1000.0 if i == 4321 else 0.0), i, 1000.0 + i) for i in range(10_000)]
    client.log_batch(run.id, pts + [("loss", float("nan"), 10_000, 20_000.0)])
    s = client.sample_metric(run.id, "loss", points=200)
    assert s.total == 10_001 and len(s.step) <= 202
    assert min(s.value) == -1000.0 + 4321 % 97 and max(s.value) == 96.0  # the dip survives the reduction
    assert s.step == sorted(s.step) and s.step[0] == 0.0
    client.end_run(run.id)
    assert client.sample_metric(run.id, "loss", points=200) == s  # a finished run's samples are kept
    few = client.sample_metric(run.id, "loss", points=10_000)
    assert len(few.step) == 10_000  # fewer points than asked: all of them (NaN dropped)
    with pytest.raises(NotFound):
        client.sample_metric(run.id, "never-logged")
    with pytest.raises(InvalidInput) as ei:
        client.sample_metric(run.id, "loss", points=1)
    assert "points" in str(ei.value)


def test_samples_of_a_running_run_follow_every_new_point(client: Client) -> None:
    """A running run's chart is read again after each write (SQLite keeps the series and reads only the new
    points): what it draws always equals a reduction of the full history, also after a point logged with
    an earlier step than the last, a NaN and a second metric."""
    import numpy as np

    from mainsail.tracking.downsample import minmax

    def expected(key: str) -> tuple[list[float], list[float]]:
        h = client.get_metric_history(run.id, key)
        y = np.array([np.nan if v is None else v for v in h.value], dtype=np.float64)
        x, y = minmax(np.array(h.step, dtype=np.float64), y, 50)
        return x.tolist(), y.tolist()

    run = client.create_run(client.create_experiment("e").id)
    client.log_batch(run.id, [("loss", float(i % 13), i, 1000.0 + i) for i in range(3_000)])
    for batch in ([("loss", -5.0, 3_000 + i, 5000.0 + i) for i in range(500)],  # appended in order
                  [("loss", 99.0, 1_234, 9000.0)],                               # an earlier step, a new peak
                  [("loss", float("nan"), 4_000, 9001.0), ("acc", 0.5, 1, 9002.0)]):
        before = client.sample_metric(run.id, "loss", points=100)
        client.log_batch(run.id, batch)
        s = client.sample_metric(run.id, "loss", points=100)
        assert s.total == before.total + sum(1 for b in batch if b[0] == "loss")
        assert (s.step, s.value) == expected("loss")
    assert max(s.value) == 99.0 and min(s.value) == -5.0
    assert client.sample_metric(run.id, "acc", points=100).total == 1


def test_param_cannot_change_but_same_value_is_idempotent(client: Client) -> None:
    run = client.create_run(client.create_experiment("e").id, params={"lr": "0.1"})
    client.log_param(run.id, "lr", "0.1")
    with pytest.raises(Conflict) as ei:
        client.log_param(run.id, "lr", "0.2")
    assert ei.value.code == "param_conflict" and "lr" in ei.value.detail
    assert client.get_run(run.id).params == {"lr": "0.1"}


def test_finished_run_refuses_writes_and_cannot_reopen(client: Client) -> None:
    run = client.create_run(client.create_experiment("e").id)
    client.log_metric(run.id, "m", 1.0)
    client.end_run(run.id)
    for write in (lambda: client.log_metric(run.id, "m", 2.0), lambda: client.log_param(run.id, "p", 1),
                  lambda: client.set_tag(run.id, "t", "x")):
        with pytest.raises(Conflict) as ei:
            write()
        assert ei.value.code == "run_not_running"
    with pytest.raises(Conflict):
        client.end_run(run.id, "failed")
    assert client.get_run(run.id).metrics == {"m": 1.0}


def test_bad_metric_input_names_the_field_and_writes_nothing(client: Client) -> None:
    run = client.create_run(client.create_experiment("e").id)
    with pytest.raises(InvalidInput, match="'acc'"):
        client.log_metric(run.id, "acc", "high")
    with pytest.raises(InvalidInput) as ei:  # a raw batch, as an HTTP caller would send it
        client.log_batch(run.id, MetricBatch.model_construct(key=["a", "b"], value=[1.0, "x"], step=[0, 0],
                                                             timestamp=[0.0, 0.0]), params={"p": 1})
    assert ei.value.errors[0]["loc"] == ["body", "metrics", "value", 1]  # the same on every back end
    with pytest.raises(InvalidInput):
        client.log_batch(run.id, [("bad key!", 1.0, 0, 0.0)])
    got = client.get_run(run.id)
    assert got.metrics == {} and got.params == {}
    with pytest.raises(NotFound, match="run 'missing' not found"):
        client.log_metric("missing", "acc", 1.0)


def test_out_of_range_input_is_invalid_input_naming_the_field(client: Client) -> None:
    """Values past what the database stores are 422s on every back end, never a driver error."""
    run = client.create_run(client.create_experiment("e").id)
    with pytest.raises(InvalidInput) as ei:
        client.log_batch(run.id, [("m", 1.0, 0, 0.0), ("m", 2.0, 2**63, 0.0)])
    assert ei.value.errors[0]["loc"] == ["body", "metrics", "step", 1]
    assert client.get_run(run.id).metrics == {}  # nothing of the batch was written
    with pytest.raises(InvalidInput) as ei:
        client.search_runs(cursor=base64.urlsafe_b64encode(b'{"o":%d}' % 2**63).decode())
    assert ei.value.errors[0]["loc"] == ["query", "cursor"]
    with pytest.raises(InvalidInput) as ei:
        client.search_runs(filter="start_time > '0001-01-01T00:00:00+01:00'")  # year 0 in UTC
    assert ei.value.code == "invalid_filter"
    for blank in (" ", "x" * 257):
        with pytest.raises(InvalidInput) as ei:
            client.ensure_experiment(blank)
        assert ei.value.errors[0]["loc"] == ["path", "name"]
    client.log_metric(run.id, "m", 1e30)
    assert [r.id for r in client.search_runs(filter="metrics.m > 1" + "0" * 20).items] == [run.id]  # past int64


def _make_runs(client: Client) -> tuple[str, dict[str, str]]:
    exp = client.create_experiment("search")
    ids = {}
    specs = [("a", "rf", "risk", 0.91), ("b", "rf", "fraud", 0.85), ("c", "lr", "risk", 0.95),
             ("d", "rf", "risk", 0.75), ("e", "gb", "risk", None)]
    for name, model, team, auc in specs:
        run = client.create_run(exp.id, name, params={"model": model}, tags={"team": team})
        if auc is not None:
            client.log_metric(run.id, "auc", auc)
        ids[name] = run.id
    return exp.id, ids


def test_search_filter_order_and_cursor_pagination(client: Client) -> None:
    exp_id, ids = _make_runs(client)
    names = {v: k for k, v in ids.items()}
    page = client.search_runs([exp_id], "metrics.auc > 0.8 and params.model = 'rf' and tags.team = 'risk'")
    assert [names[r.id] for r in page.items] == ["a"]
    page = client.search_runs([exp_id], "params.model = 'lr' or metrics.auc < 0.8", order_by=["name"])
    assert [names[r.id] for r in page.items] == ["c", "d"]
    by_auc = client.search_runs([exp_id], order_by=["metrics.auc DESC"])
    assert [names[r.id] for r in by_auc.items] == ["c", "a", "b", "d", "e"]  # missing metric last
    seen, cursor = [], None
    while True:
        page = client.search_runs([exp_id], order_by=["metrics.auc DESC"], cursor=cursor, limit=2)
        assert len(page.items) <= 2
        seen += [names[r.id] for r in page.items]
        if not (cursor := page.next_cursor):
            break
    assert seen == ["c", "a", "b", "d", "e"]
    assert client.search_runs([exp_id], "status = 'running'", limit=1000).items


def test_malformed_filter_is_422_with_position(client: Client) -> None:
    _make_runs(client)
    with pytest.raises(InvalidInput) as ei:
        client.search_runs(filter="metrics.auc > ")
    assert ei.value.code == "invalid_filter"
    assert "column" in ei.value.detail
    with pytest.raises(InvalidInput):
        client.search_runs(filter="nonsense.x = 1")
    with pytest.raises(InvalidInput) as ei:
        client.search_runs(cursor="not-a-cursor")
    assert ei.value.errors[0]["loc"][-1] == "cursor"
    with pytest.raises(InvalidInput) as ei:
        client.search_runs(limit=0)
    assert ei.value.errors[0]["loc"] == ["query", "limit"]


def test_compare_runs_side_by_side(client: Client) -> None:
    exp_id, ids = _make_runs(client)
    cmp = client.compare_runs([ids["a"], ids["c"]])
    assert [r.id for r in cmp.runs] == [ids["a"], ids["c"]]
    assert cmp.params["model"] == {ids["a"]: "rf", ids["c"]: "lr"}
    assert cmp.metrics["auc"] == {ids["a"]: 0.91, ids["c"]: 0.95}
    assert cmp.differing_params == ["model"]
    with pytest.raises(NotFound):
        client.compare_runs([ids["a"], "missing"])


def test_artifacts_files_and_folders_round_trip(client: Client, tmp_path: Path) -> None:
    run = client.create_run(client.create_experiment("e").id)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(bytes(range(256)) * 1000)
    (tmp_path / "model" / "sub").mkdir()
    (tmp_path / "model" / "sub" / "conf.json").write_text('{"a": 1}')
    (tmp_path / "report.txt").write_text("hello")
    client.log_artifact(run.id, tmp_path / "model", "model")
    client.log_artifact(run.id, tmp_path / "report.txt")
    paths = [a.path for a in client.list_artifacts(run.id)]
    assert paths == ["model/sub/conf.json", "model/weights.bin", "report.txt"]
    assert [a.path for a in client.list_artifacts(run.id, prefix="model/sub")] == ["model/sub/conf.json"]
    assert client.read_artifact(run.id, "report.txt") == b"hello"
    out = client.download_artifacts(run.id, tmp_path / "out", prefix="model")
    assert (out / "model" / "weights.bin").read_bytes() == (tmp_path / "model" / "weights.bin").read_bytes()
    with pytest.raises(NotFound):
        client.read_artifact(run.id, "nope.txt")
    with pytest.raises(InvalidInput):
        client.log_artifact(run.id, tmp_path / "does-not-exist")


def test_tampered_artifact_is_refused(client: Client, tmp_path: Path, backend: str,
                                      request: pytest.FixtureRequest) -> None:
    run = client.create_run(client.create_experiment("e").id)
    (tmp_path / "m.pkl").write_bytes(b"original model bytes")
    [info] = client.log_artifact(run.id, tmp_path / "m.pkl")
    if request.node.callspec.params.get("backend") == "scaled":  # the server's store is S3
        from mainsail.core.artifacts import ArtifactStore

        store = ArtifactStore(request.getfixturevalue("s3_artifact_root"))
        store.fs.pipe_file(store.path(info.digest), b"tampered bytes!!!!!!")
        with pytest.raises(IntegrityError, match="m.pkl"):
            client.read_artifact(run.id, "m.pkl")
        return
    root = tmp_path / ("server-artifacts" if backend.startswith("http") else "artifacts")
    if not root.exists():
        from mainsail.core.settings import Settings

        root = Path(Settings.from_env().with_uri(backend).artifact_root)
    blob = root / "objects" / info.digest[:2] / info.digest[2:]
    assert blob.exists(), blob
    blob.write_bytes(b"tampered bytes!!!!!!")
    with pytest.raises(IntegrityError, match="m.pkl"):
        client.read_artifact(run.id, "m.pkl")


def test_search_finds_nothing_for_deleted_runs(client: Client) -> None:
    exp_id, ids = _make_runs(client)
    client.delete_run(ids["a"])
    assert ids["a"] not in {r.id for r in client.iter_runs([exp_id])}
    with pytest.raises(NotFound):
        client.get_run(ids["a"])
