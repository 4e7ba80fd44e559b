"""Deterministic pieces: the rollout rules, sticky routing, micro-batching, request codecs."""

from __future__ import annotations

import asyncio
import datetime as dt

import numpy as np
import pytest

from mainsail.core.errors import InvalidInput
from mainsail.serving.batcher import MicroBatcher
from mainsail.serving.codec import InputSpec, columns_to_input, oip_to_input, parse_predict, records_to_input
from mainsail.serving.replica import Loaded, Routing
from mainsail.serving.rollout import decide
from mainsail.serving.schemas import LATENCY_BUCKETS_MS, Guards

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _stats(n: int, errors: int = 0, ms: float = 2.0, **metrics: float) -> dict:
    b = [0] * len(LATENCY_BUCKETS_MS)
    b[next(i for i, x in enumerate(LATENCY_BUCKETS_MS) if ms <= x)] = n
    return {"requests": n, "errors": errors, "latency_buckets": b, "metrics": metrics}


def _decide(stats: dict, *, index: int = 0, elapsed: float = 60, **guards: object) -> str:
    return decide(steps=[10, 50, 100], step_index=index, step_started_at=T0, step_seconds=30,
                  guards=Guards(min_requests=20, max_p95_ms=25, **guards), stats=stats,  # type: ignore[arg-type]
                  now=T0 + dt.timedelta(seconds=elapsed)).action


def test_rollout_rules() -> None:
    assert _decide(_stats(10)) == "hold"  # too few requests
    assert _decide(_stats(50), elapsed=10) == "hold"  # too soon
    assert _decide(_stats(50)) == "advance"
    assert _decide(_stats(50), index=2) == "promote"
    assert _decide(_stats(50, errors=3)) == "rollback"  # 6% > 5%
    assert _decide(_stats(3, errors=2)) == "rollback"  # 2 errors already exceed 5% of min_requests
    assert _decide(_stats(3, errors=1)) == "hold"
    assert _decide(_stats(50, ms=100)) == "rollback"
    assert _decide(_stats(5, ms=100)) == "hold"  # latency needs min_requests
    assert _decide(_stats(5, drift=0.5), metrics={"drift": "<= 0.2"}) == "rollback"
    assert _decide(_stats(50, drift=0.1), metrics={"drift": "<= 0.2"}) == "advance"


def _loaded(name: str) -> Loaded:
    return Loaded(name, "m", 1, None, InputSpec())


def test_sticky_weighted_routing() -> None:
    a, b = _loaded("a"), _loaded("b")
    r = Routing(((90.0, a), (100.0, b)), 100.0, (), {"a": a, "b": b}, {"a": 90, "b": 10})
    picks = [r.pick(f"user-{i}").variant for i in range(5000)]
    assert 0.87 < picks.count("a") / 5000 < 0.93
    assert all(r.pick(f"user-{i}").variant == picks[i] for i in range(200))  # sticky
    r2 = Routing(((50.0, a), (100.0, b)), 100.0, (), {"a": a, "b": b}, {"a": 50, "b": 50})
    moved = sum(r2.pick(f"user-{i}").variant != picks[i] for i in range(5000))
    assert moved / 5000 < 0.45  # only the users in the shifted share move


def test_micro_batcher_batches_concurrent_requests_and_isolates_failures() -> None:
    calls: list[int] = []

    def predict(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        if (x < 0).any():
            raise ValueError("negative")
        return x[:, 0] * 2

    async def run() -> list:
        b = MicroBatcher(predict, max_batch=64)
        return await asyncio.gather(*(b.submit(np.array([[float(i)]])) for i in range(10)),
                                    b.submit(np.array([[-1.0]])), return_exceptions=True)

    out = asyncio.run(run())
    assert calls[0] == 11  # one predict for every concurrent request
    assert [float(o[0]) for o in out[:10]] == [2.0 * i for i in range(10)]
    assert isinstance(out[10], ValueError)  # only the bad request fails


def test_codecs_name_the_field() -> None:
    spec = InputSpec(columns=("a", "b"), types=("float64", "int64"), numeric=True, fast=True)
    assert records_to_input([{"a": 1.5, "b": 2}], spec).tolist() == [[1.5, 2.0]]
    assert np.isnan(records_to_input([{"a": None, "b": 2}], spec)[0, 0])
    assert columns_to_input({"a": [1.0, 2.0], "b": [3, 4]}, spec).tolist() == [[1, 3], [2, 4]]
    for call, loc in [(lambda: records_to_input([{"a": 1.0}], spec), ["body", "records", 0, "b"]),
                      (lambda: records_to_input([{"a": 1.0, "b": None}], spec), ["body", "records", 0, "b"]),
                      (lambda: records_to_input([{"a": "x", "b": 1}], spec), ["body", "records", 0, "a"]),
                      (lambda: columns_to_input({"a": [1.0], "b": [1, 2]}, spec), ["body", "columns", "b"]),
                      (lambda: parse_predict("nope"), ["body"]),
                      (lambda: oip_to_input({"inputs": [{"name": "a", "shape": [1], "datatype": "FP99", "data": [1]}]},
                                            spec), ["body", "inputs", 0, "datatype"]),
                      (lambda: oip_to_input({"inputs": [{"name": "a", "shape": [2], "datatype": "FP64", "data": [1]}]},
                                            spec), ["body", "inputs", 0, "data"]),
                      (lambda: oip_to_input({"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}]},
                                            spec), ["body", "inputs"])]:
        with pytest.raises(InvalidInput) as ei:
            call()
        assert ei.value.errors[0]["loc"] == loc


def test_entity_payloads_parse_and_errors_are_classified() -> None:
    from mainsail.core.errors import MainsailError, NotFound
    from mainsail.serving.replica import ReplicaState, error_kind

    assert parse_predict({"entity_id": "C1"}) == ("entity_id", "C1", "C1", None)  # an entity keeps its variant
    assert parse_predict({"entities": [{"customer_id": "C1"}], "key": "k"})[:3] == (
        "entities", [{"customer_id": "C1"}], "k")
    with pytest.raises(InvalidInput) as ei:
        parse_predict({"entity_id": "C1", "records": []})
    assert ei.value.errors[0]["loc"] == ["body", "entity_id"]

    assert error_kind(InvalidInput("x")) == ("invalid_input", "client")
    assert error_kind(NotFound("x", code="entity_not_found")) == ("entity_not_found", "client")
    assert error_kind(MainsailError("x", code="prediction_failed")) == ("prediction_failed", "model")
    assert error_kind(RuntimeError("x")) == ("internal_error", "server")
    state = ReplicaState(None, "d", log_inferences=False)
    a = _loaded("a")
    state.record_error(a, InvalidInput("bad field"), 0.001)
    state.record_error(None, InvalidInput("bad json"), 0.001)
    state.record_error(a, MainsailError("boom", code="prediction_failed"), 0.001)
    state.record_error(a, MainsailError("store down", code="feature_source_unavailable"), 0.001)
    state.record(a, 1, 0.001)
    stats = state._stats()["a"]
    assert (stats["requests"], stats["errors"], stats["client_errors"]) == (3, 2, 1)  # 4xx not held against "a"
    text = state.metrics.text().decode()
    assert 'code="invalid_model_input"' not in text
    errors = "mainsail_prediction_errors_total"
    assert f'{errors}{{code="invalid_input",deployment="d",kind="client",project="default",variant=""}} 1.0' in text
    assert f'{errors}{{code="prediction_failed",deployment="d",kind="model",project="default",variant="a"}} 1.0' \
        in text
