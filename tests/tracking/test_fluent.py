"""The module-level SDK over each back end: buffering, flush at run end, failure status."""

from __future__ import annotations

import pytest

import mainsail
from mainsail.core.errors import Conflict, InvalidInput


@pytest.fixture
def sdk(backend: str):
    mainsail.set_tracking_uri(backend)
    yield mainsail.get_client()
    mainsail.set_tracking_uri(None)


def test_start_run_logs_everything_and_flushes_at_end(sdk) -> None:
    mainsail.set_experiment("fluent")
    with mainsail.start_run("r", tags={"team": "risk"}) as run:
        mainsail.log_params({"lr": 0.01, "layers": 3})
        for i in range(3000):
            mainsail.log_metric("loss", 1.0 / (i + 1))  # step auto-increments per key
        mainsail.log_metrics({"acc": 0.9, "auc": 0.8}, step=7)
        mainsail.set_tag("stage", "dev")
    got = sdk.get_run(run.id)
    assert got.status == "finished"
    assert got.params == {"layers": "3", "lr": "0.01"}
    assert {k: v for k, v in got.tags.items() if not k.startswith("mainsail.")} == {"stage": "dev", "team": "risk"}
    assert got.tags["mainsail.source"]  # where the code ran from (and mainsail.git_commit inside a repo)
    assert got.metrics == {"acc": 0.9, "auc": 0.8, "loss": 1.0 / 3000}
    hist = sdk.get_metric_history(run.id, "loss")
    assert hist.step == list(range(3000))
    assert sdk.get_experiment_by_name("fluent").id == got.experiment_id


def test_exception_in_block_marks_run_failed(sdk) -> None:
    with pytest.raises(RuntimeError), mainsail.start_run() as run:
        mainsail.log_metric("x", 1)
        raise RuntimeError("boom")
    got = sdk.get_run(run.id)
    assert got.status == "failed" and got.metrics == {"x": 1.0}


def test_nested_runs_and_guard_against_two_active(sdk) -> None:
    with mainsail.start_run("parent") as parent:
        with pytest.raises(Conflict):
            mainsail.start_run("second")
        with mainsail.start_run("child", nested=True) as child:
            assert mainsail.active_run() is child
        assert mainsail.active_run() is parent
    assert sdk.get_run(child.id).parent_run_id == parent.id
    assert mainsail.active_run() is None


def test_bad_metric_fails_at_the_call_site(sdk) -> None:
    with mainsail.start_run() as run:
        with pytest.raises(InvalidInput, match="'acc'"):
            mainsail.log_metric("acc", "0.9")
        with pytest.raises(InvalidInput):
            mainsail.log_metric("bad key!", 1.0)
        with pytest.raises(InvalidInput):
            mainsail.log_metric("flag", True)
    assert sdk.get_run(run.id).metrics == {}
    with pytest.raises(Conflict):
        run.log_metric("late", 1.0)


def test_background_error_surfaces_at_next_call(sdk) -> None:
    run = mainsail.start_run()
    sdk.end_run(run.id)  # ended elsewhere: buffered points can no longer land
    run.log_metric("m", 1.0)
    with pytest.raises(Conflict):
        run.flush()
    assert run.end().status == "finished"  # ending as finished again is idempotent
    assert mainsail.active_run() is None
