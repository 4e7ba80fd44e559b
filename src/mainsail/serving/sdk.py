"""Serving methods of the Client: deployments, traffic, rollouts, inference logs, predictions."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mainsail.client.backends import Backend
from mainsail.core.ops import LazyOpSet
from mainsail.core.pagination import Page

if TYPE_CHECKING:  # annotations only: importing the Client does not build these models
    from mainsail.serving.schemas import Deployment, HistoryEntry, InferenceLogFile

ops = LazyOpSet("mainsail.serving.ops")  # imported on first call: composing the Client stays cheap


def _variants(variants: Sequence[Mapping[str, Any]] | Mapping[str, float] | str) -> list[dict[str, Any]]:
    """``"models:/churn@champion"`` → one variant; ``{"models:/churn/1": 90, "models:/churn/2": 10}`` → named
    a, b, …; a list of dicts passes through."""
    if isinstance(variants, str):
        return [{"name": "primary", "model": variants, "weight": 100.0}]
    if isinstance(variants, Mapping):
        return [{"name": chr(ord("a") + i), "model": uri, "weight": w} for i, (uri, w) in enumerate(variants.items())]
    return [dict(v) for v in variants]


class ServingMethods:
    _backend: Backend

    def create_deployment(self, name: str, variants: Sequence[Mapping[str, Any]] | Mapping[str, float] | str, *,
                          description: str | None = None, feature_service: str | None = None,
                          sampling_percentage: float = 100.0) -> Deployment:
        """Deploy one model URI, ``{uri: weight}``, or variants ``[{"name", "model", "weight", "role",
        "feature_service"}]`` (role ``primary`` or ``shadow``). ``feature_service`` answers entity requests
        (``{"entity_id": …}``) from the online store for every variant that names none.
        ``sampling_percentage`` (0-100) is the share of requests whose inputs and predictions are logged."""
        body = {"name": name, "variants": _variants(variants), "description": description,
                "feature_service": feature_service, "sampling_percentage": sampling_percentage}
        return self._backend.call(ops.create_deployment, {"body": body})

    def get_deployment(self, name: str) -> Deployment:
        return self._backend.call(ops.get_deployment, {"name": name})

    def list_deployments(self, cursor: str | None = None, limit: int = 100) -> Page[Deployment]:
        return self._backend.call(ops.list_deployments, {"cursor": cursor, "limit": limit})

    def iter_deployments(self) -> Iterator[Deployment]:
        cursor = None
        while True:
            page = self.list_deployments(cursor=cursor, limit=1000)
            yield from page.items
            if not (cursor := page.next_cursor):
                return

    def delete_deployment(self, name: str) -> None:
        self._backend.call(ops.delete_deployment, {"name": name})

    def deployment_history(self, name: str) -> list[HistoryEntry]:
        return self._backend.call(ops.history, {"name": name})

    def set_traffic(self, name: str, weights: Mapping[str, float], reason: str | None = None) -> Deployment:
        """New weights by variant name, e.g. ``{"a": 50, "b": 50}``."""
        return self._backend.call(ops.set_traffic, {"name": name, "body": {"weights": dict(weights), "reason": reason}})

    def set_sampling(self, name: str, sampling_percentage: float) -> Deployment:
        """Log this share (0-100) of the deployment's requests from now on."""
        return self._backend.call(ops.set_sampling, {"name": name,
                                                     "body": {"sampling_percentage": sampling_percentage}})

    def start_rollout(self, name: str, candidate: str, *, steps: Sequence[float] = (10, 50, 100),
                      step_seconds: float = 30.0, max_error_rate: float = 0.05, max_p95_ms: float | None = None,
                      min_requests: int = 20, metrics: Mapping[str, str] | None = None,
                      quality: Sequence[Mapping[str, Any]] | None = None, reason: str | None = None) -> Deployment:
        """Canary ``candidate`` (``models:/churn/2``) through ``steps`` percent of traffic; a guard breach
        rolls back at once, passing the last step promotes (moving the primary's alias). ``quality``:
        ``[{"metric": "accuracy", "margin": 0.02, "source": "labels", "min_labels": 20}]``: the candidate's
        live metric may be at most ``margin`` worse than the champion's (see docs/labels.md)."""
        body = {"candidate": candidate, "steps": list(steps), "step_seconds": step_seconds, "reason": reason,
                "guards": {"max_error_rate": max_error_rate, "max_p95_ms": max_p95_ms, "min_requests": min_requests,
                           "metrics": dict(metrics or {}), "quality": [dict(q) for q in quality or []]}}
        return self._backend.call(ops.start_rollout, {"name": name, "body": body})

    def tick_rollout(self, name: str) -> Deployment:
        return self._backend.call(ops.tick_rollout, {"name": name})

    def rollback_deployment(self, name: str, reason: str | None = None) -> Deployment:
        """Roll back the running rollout, or restore the previous traffic split."""
        return self._backend.call(ops.rollback, {"name": name, "body": {"reason": reason}})

    def report_replica(self, name: str, replica_id: str, report: Mapping[str, Any]) -> Deployment:
        return self._backend.call(ops.report_replica, {"name": name, "replica_id": replica_id, "body": dict(report)})

    # ------------------------------------------------------------ inference logs
    def add_inference_log(self, name: str, data: bytes, *, rows: int, first_at: dt.datetime, last_at: dt.datetime,
                          replica: str | None = None) -> InferenceLogFile:
        return self._backend.call(ops.add_inference_log, {
            "name": name, "data": data, "digest": hashlib.sha256(data).hexdigest(), "rows": rows,
            "first_at": first_at, "last_at": last_at, "replica": replica})

    def list_inference_logs(self, name: str, since: dt.datetime | None = None) -> list[InferenceLogFile]:
        return self._backend.call(ops.list_inference_logs, {"name": name, "since": since})

    def load_inference_logs(self, name: str, since: dt.datetime | None = None) -> Any:
        """Every logged record of a deployment as one pandas DataFrame (request_id, row, time, variant,
        model, version, latency_ms, shadow, status, one column per input feature, prediction, proba_<class>,
        and inputs/outputs JSON for what is not tabular). Files written before typed columns keep one row
        per request with inputs and outputs as JSON text."""
        import io

        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        from mainsail.serving.inference_log import META, RAW

        tables = [pq.read_table(io.BytesIO(self._backend.call(ops.read_inference_log,
                                                              {"name": name, "digest": f.digest})))
                  for f in self.list_inference_logs(name, since)]
        table = (pa.concat_tables(tables, promote_options="permissive") if tables
                 else pa.schema(list(META) + list(RAW)).empty_table())
        df: pd.DataFrame = table.to_pandas()
        return df

    # ------------------------------------------------------------ batch inference
    def batch_predict(self, model: str, source: str, output: str | None = None, *, output_dataset: str | None = None,
                      chunk_rows: int = 50_000, workers: int | None = None, column: str = "prediction",
                      proba: bool = False, progress: Any = None, executor: str = "local",
                      ray_address: str | None = None) -> Any:
        """Score ``source`` (a Parquet file or folder, or ``dataset:NAME[@VERSION]``) with ``model``
        (``models:/…`` or a deployment name) in chunks on ``workers`` local processes (default: CPU count;
        0: in this process), or with ``executor="ray"`` each chunk as a Ray task on ``ray_address``
        (default ``MAINSAIL_RAY_ADDRESS``, else a local cluster). Write Parquet to ``output``, store it as a version of ``output_dataset``, or
        both; without ``output`` the result's ``output`` is the stored version as ``dataset:NAME@VERSION``.
        Returns a :class:`mainsail.serving.batch.BatchResult`."""
        import tempfile
        from pathlib import Path

        from mainsail.core.errors import InvalidInput
        from mainsail.serving.batch import batch_predict

        kw = {"chunk_rows": chunk_rows, "workers": workers, "column": column, "proba": proba,
              "output_dataset": output_dataset, "progress": progress, "executor": executor,
              "ray_address": ray_address}
        if output is not None:
            return batch_predict(self, model, source, output, **kw)
        if not output_dataset:
            raise InvalidInput("give output (a Parquet path) or output_dataset (a dataset to store the predictions "
                               "in)", errors=[{"loc": ["output"], "msg": "output or output_dataset is required"}])
        with tempfile.TemporaryDirectory(prefix="mainsail-batch-") as tmp:
            result = batch_predict(self, model, source, Path(tmp) / "predictions.parquet", **kw)
        result.output = f"dataset:{result.dataset_version}"
        return result
