"""Data operators: data_ingestion and data_validation (the data domain's Client methods),
batch_inference (the serving domain's), feature_materialization (the feature store's). An operator
whose domain has not landed stays registered and says which capability it is missing."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mainsail.core.sandbox import no_inline_password
from mainsail.core.text import count
from mainsail.pipelines.context import TaskContext
from mainsail.pipelines.operators import OpParams, operator


class IngestionParams(OpParams):
    source: str = Field(min_length=1, description="A CSV/Parquet/JSON-lines path or URL, or a SQLAlchemy URL "
                        "with query.")
    name: str = Field(min_length=1, max_length=200, description="The dataset to add a version to.")
    query: str | None = None
    format: str | None = None
    schema_: dict[str, str] | None = Field(None, alias="schema")
    description: str | None = None

    _no_password = field_validator("source")(classmethod(lambda cls, v: no_inline_password(v)))


@operator("data_ingestion", IngestionParams, requires="ingest_dataset", capability="the data domain")
def data_ingestion(tc: TaskContext, p: IngestionParams) -> dict[str, Any]:
    """Ingest a source as a new (or deduplicated) dataset version; output its 'name@version' reference."""
    v = tc.client.ingest_dataset(p.source, p.name, query=p.query, format=p.format, schema=p.schema_,
                                 description=p.description)
    print(f"[data_ingestion] {v.ref}: {count(v.row_count, 'row')}{' (already stored)' if v.deduplicated else ''}", flush=True)
    return {"dataset_version": v.ref, "dataset": v.dataset, "version": v.id, "rows": v.row_count}


class ValidationParams(OpParams):
    dataset: str = Field(min_length=1, description="'name@version', usually '${tasks.ingest.dataset_version}'.")
    suite: dict[str, Any] | str = Field(description="A suite as a mapping, YAML text or a YAML file path.")


@operator("data_validation", ValidationParams, requires="validate_dataset", capability="the data domain")
def data_validation(tc: TaskContext, p: ValidationParams) -> dict[str, Any]:
    """Run a validation suite on a dataset version; fail the task when a check fails."""
    r = tc.client.validate_dataset(p.dataset, p.suite)
    failed = [c for c in r.checks if not c.passed]
    for c in r.checks:
        print(f"[data_validation] {'ok  ' if c.passed else 'FAIL'} {c.name} {c.message}", flush=True)
    if not r.passed:
        raise ValueError(f"{p.dataset} failed {len(failed)} of {len(r.checks)} checks of suite {r.suite!r}")
    return {"dataset_version": p.dataset, "validation_id": r.id, "passed": True, "checks": len(r.checks)}


class BatchParams(OpParams):
    model: str = Field(min_length=1, description="'models:/NAME/VERSION|@ALIAS|/STAGE' or a deployment name "
                       "(its primary model).", examples=["models:/churn@champion"])
    source: str = Field(min_length=1, description="A Parquet file or folder, or 'dataset:NAME[@VERSION]', e.g. "
                        "'dataset:${tasks.ingest.dataset_version}'.")
    output: str | None = Field(None, description="A Parquet path to write the scored rows to.")
    output_dataset: str | None = Field(None, max_length=200, description="Store the scored rows as a version of "
                                       "this dataset (the output is then passed on by reference).")
    column: str = Field("prediction", min_length=1)
    proba: bool = Field(False, description="Also write the positive-class probability.")
    chunk_rows: int = Field(50_000, ge=1)
    workers: int = Field(0, ge=0, le=256, description="Scoring processes inside the task (0: the task's own "
                         "process; with executor 'ray': half the chunks in flight, 0 meaning the cluster's CPUs).")
    executor: Literal["local", "ray"] = Field("local", description="Score chunks in local processes or as Ray "
                                              "tasks (one per chunk).")
    ray_address: str | None = Field(None, description="The Ray cluster (default MAINSAIL_RAY_ADDRESS, else the "
                                    "task's connection or a local one).")

    @model_validator(mode="after")
    def _somewhere(self) -> BatchParams:
        if not self.output and not self.output_dataset:
            raise ValueError("give output (a Parquet path) or output_dataset (a dataset name), or both")
        return self


@operator("batch_inference", BatchParams, requires="batch_predict", capability="batch scoring in the serving domain")
def batch_inference(tc: TaskContext, p: BatchParams) -> dict[str, Any]:
    """Score a dataset version or Parquet path with a registered model (or a deployment's) in chunks;
    output the predictions by reference (a dataset version and/or a path)."""
    r = tc.client.batch_predict(p.model, p.source, p.output, output_dataset=p.output_dataset, column=p.column,
                                proba=p.proba, chunk_rows=p.chunk_rows,
                                workers=(p.workers or None) if p.executor == "ray" else p.workers,
                                executor=p.executor, ray_address=p.ray_address)
    out = dataclasses.asdict(r) if dataclasses.is_dataclass(r) else r.model_dump(mode="json")
    print(f"[batch_inference] {count(out['rows'], 'row')} scored by {out['model']} v{out['version']} -> {out['output']}",
          flush=True)
    return out


class MaterializeParams(OpParams):
    feature_view: str | list[str] | None = Field(None, description="A feature view or several (default: every "
                                                 "online view).")
    feature_set: str | None = Field(None, description="A feature set (feature service): materialize the views "
                                    "its features come from.")
    start: str | None = Field(None, description="ISO time; default: incremental from each view's watermark.")
    end: str | None = Field(None, description="ISO time; default: now.")


@operator("feature_materialization", MaterializeParams, requires="materialize_features", capability="the feature store")
def feature_materialization(tc: TaskContext, p: MaterializeParams) -> dict[str, Any]:
    """Materialize a feature view (or the views of a feature set) into the online store."""
    views = p.feature_view
    if p.feature_set:
        refs = tc.client.get_feature_definition("services", p.feature_set).spec["features"]
        named = [views] if isinstance(views, str) else list(views or [])
        views = list(dict.fromkeys([*named, *(ref.partition(":")[0] for ref in refs)]))
    r = tc.client.materialize_features(views, start=p.start, end=p.end)
    return r.model_dump(mode="json") if hasattr(r, "model_dump") else dict(r)
