"""ML operators: model_training, hyperparameter_tuning (optuna; each trial a child run),
model_evaluation, quality_gate and model_registration. Training is tracked as runs through the Client;
outputs are references (run ids, ``runs:/…`` model URIs, model version ids) and metric values."""

from __future__ import annotations

import contextlib
import importlib
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from mainsail.pipelines.context import TaskContext
from mainsail.pipelines.operators import OpParams, operator

METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc", "log_loss", "r2", "rmse", "mae")
Metric = Literal["accuracy", "f1", "precision", "recall", "roc_auc", "log_loss", "r2", "rmse", "mae"]


class DataParams(OpParams):
    data: str = Field(description="'NAME@VERSION' or 'dataset:NAME[@VERSION]' (a dataset version), a .csv or "
                      ".parquet path, or 'sklearn:breast_cancer' / 'sklearn:iris' / 'sklearn:diabetes'.")
    target: str = Field(min_length=1)
    features: list[str] | None = None
    test_size: float = Field(0.2, gt=0, lt=1)
    random_state: int = 0


class TrainingParams(DataParams):
    estimator: str = Field(description="A class path ('sklearn.ensemble.RandomForestClassifier', "
                           "'xgboost.XGBClassifier', 'lightgbm.LGBMClassifier') or a callable 'module:fn' / "
                           "'/path/file.py:fn' returning an estimator.", examples=["sklearn.linear_model.LogisticRegression"])
    estimator_params: dict[str, Any] = Field(default_factory=dict)
    metrics: list[Metric] = Field(default_factory=lambda: ["accuracy"], min_length=1)
    experiment: str = Field("pipelines", min_length=1, max_length=256)
    run_name: str | None = None


def load_frame(tc: TaskContext, ref: str) -> Any:
    """A pandas DataFrame for a data reference (see :class:`DataParams`)."""
    import pandas as pd

    if ref.startswith("sklearn:"):
        from sklearn import datasets

        loader = getattr(datasets, f"load_{ref.removeprefix('sklearn:')}", None)
        if loader is None:
            raise ValueError(f"no scikit-learn toy dataset {ref!r}")
        return loader(as_frame=True).frame
    path = Path(ref)
    if ref.endswith(".csv"):
        return pd.read_csv(path)
    if ref.endswith(".parquet"):
        return pd.read_parquet(path)
    if not hasattr(tc.client, "load_dataset"):
        raise RuntimeError("dataset references need the data domain (Client.load_dataset)")
    return tc.client.load_dataset(ref.removeprefix("dataset:"))


def split(tc: TaskContext, p: DataParams) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    frame = load_frame(tc, p.data)
    if p.target not in frame.columns:
        raise ValueError(f"target column {p.target!r} is not in the data (columns: {', '.join(map(str, frame.columns))})")
    X = frame[p.features] if p.features else frame.drop(columns=[p.target])
    return train_test_split(X, frame[p.target], test_size=p.test_size, random_state=p.random_state)


def make_estimator(spec: str, params: dict[str, Any]) -> Any:
    if ":" in spec:
        from mainsail.pipelines.operators.basic import resolve_callable

        return resolve_callable(spec)(**params)
    module, _, name = spec.rpartition(".")
    if not module:
        raise ValueError(f"estimator {spec!r}: give a class path such as sklearn.ensemble.RandomForestClassifier")
    return getattr(importlib.import_module(module), name)(**params)


def score(model: Any, X: Any, y: Any, metrics: list[str]) -> dict[str, float]:
    """Metric values of ``model`` on ``(X, y)``; probability metrics use ``predict_proba`` when present."""
    import numpy as np
    from sklearn import metrics as m

    pred = np.asarray(model.predict(X))
    out: dict[str, float] = {}
    proba = None
    if any(k in ("roc_auc", "log_loss") for k in metrics) and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X))
    multi = len(np.unique(y)) > 2
    avg = "macro" if multi else "binary"
    for k in metrics:
        if k == "accuracy":
            out[k] = m.accuracy_score(y, pred)
        elif k in ("f1", "precision", "recall"):
            out[k] = getattr(m, f"{k}_score")(y, pred, average=avg)
        elif k == "roc_auc":
            s = proba if proba is not None else pred
            out[k] = m.roc_auc_score(y, s, multi_class="ovr") if multi else m.roc_auc_score(
                y, s[:, 1] if getattr(s, "ndim", 1) == 2 else s)
        elif k == "log_loss":
            out[k] = m.log_loss(y, proba if proba is not None else pred)
        elif k == "r2":
            out[k] = m.r2_score(y, pred)
        elif k == "rmse":
            out[k] = float(np.sqrt(m.mean_squared_error(y, pred)))
        elif k == "mae":
            out[k] = m.mean_absolute_error(y, pred)
    return {k: float(v) for k, v in out.items()}


def _log_model(client: Any, run_id: str, model: Any, example: Any) -> str:
    from mainsail.registry.packaging import save_model

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        save_model(model, folder, input_example=example)
        client.log_artifacts(run_id, folder, "model")
    return f"runs:/{run_id}/model"


def _dataset_tag(p: DataParams) -> dict[str, str]:
    ref = p.data.removeprefix("dataset:")
    return {"mainsail.dataset_version": ref} if "@" in ref and ":" not in ref else {}


@operator("model_training", TrainingParams)
def model_training(tc: TaskContext, p: TrainingParams) -> dict[str, Any]:
    """Fit an estimator on a train split, score it on the held-out split, track it as a run with its model."""
    X_tr, X_te, y_tr, y_te = split(tc, p)
    model = make_estimator(p.estimator, p.estimator_params).fit(X_tr, y_tr)
    scores = score(model, X_te, y_te, p.metrics)
    c = tc.client
    exp = c.ensure_experiment(p.experiment)
    params = {"estimator": p.estimator, **p.estimator_params, "data": p.data, "test_size": p.test_size}
    run = c.create_run(exp.id, p.run_name or tc.task, tags={**tc.tags, **_dataset_tag(p)}, params=params)
    try:
        c.log_metrics(run.id, scores)
        uri = _log_model(c, run.id, model, X_tr.head(5))
    except BaseException:
        c.end_run(run.id, "failed")
        raise
    c.end_run(run.id)
    print(f"[model_training] run {run.id}: {scores}", flush=True)
    return {"run_id": run.id, "model_uri": uri, "metrics": scores}


class SearchDim(OpParams):
    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None


class TuningParams(DataParams):
    estimator: str
    estimator_params: dict[str, Any] = Field(default_factory=dict, description="Fixed params of every trial.")
    search_space: dict[str, SearchDim] = Field(min_length=1)
    objective: Metric = "accuracy"
    direction: Literal["maximize", "minimize"] = "maximize"
    max_jobs: int = Field(20, ge=1, le=10_000)
    max_parallel_jobs: int = Field(1, ge=1, le=256)
    executor: Literal["auto", "processes", "ray"] = Field(
        "auto", description="Where parallel trials run: 'processes' (a local process pool in the task's process), "
        "'ray' (Ray tasks on the executor's cluster, MAINSAIL_RAY_ADDRESS or a local one), or 'auto' (Ray when "
        "the task itself runs on the Ray executor, else processes).")
    experiment: str = Field("pipelines", min_length=1, max_length=256)


def _suggest(trial: Any, space: dict[str, SearchDim]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, d in space.items():
        if d.type == "categorical":
            out[name] = trial.suggest_categorical(name, d.choices or [])
        elif d.type == "int":
            out[name] = trial.suggest_int(name, int(d.low or 0), int(d.high or 0), log=d.log)
        else:
            out[name] = trial.suggest_float(name, float(d.low or 0), float(d.high or 0), log=d.log)
    return out


def _trial(where: tuple[str, str, dict[str, Any] | None], root: str, exp_id: str, parent: str, tags: dict[str, str],
           number: int, spec: str, params: dict[str, Any], data: tuple[Any, Any, Any, Any], objective: str) -> tuple[str, float]:
    """One trial, in the task process or a tuning process: fit, score, log a child run."""
    from mainsail.pipelines.context import task_client

    X_tr, X_te, y_tr, y_te = data
    value = score(make_estimator(spec, params).fit(X_tr, y_tr), X_te, y_te, [objective])[objective]
    uri, project, starter = where  # the task's store, project and principal
    with task_client(uri, root, project, starter) as c:
        run = c.create_run(exp_id, f"trial-{number}", params=params, parent_run_id=parent,
                           tags={**tags, "mainsail.parent_run_id": parent, "mainsail.trial": str(number)})
        c.log_metrics(run.id, {objective: value})
        c.end_run(run.id)
    return run.id, value


def _trials_on(tc: TaskContext, p: TuningParams) -> str:
    """``inline`` (one at a time in this process), ``processes`` or ``ray``."""
    if p.executor == "ray" or (p.executor == "auto" and tc.executor == "ray" and p.max_parallel_jobs > 1):
        return "ray"
    return "processes" if p.max_parallel_jobs > 1 else "inline"


@operator("hyperparameter_tuning", TuningParams)
def hyperparameter_tuning(tc: TaskContext, p: TuningParams) -> dict[str, Any]:
    """Search hyperparameters with optuna (max_jobs trials, max_parallel_jobs at once, each a child run);
    refit the best on the train split and log it to the parent run."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name, d in p.search_space.items():
        if (d.type == "categorical") != bool(d.choices) or (d.type != "categorical" and (d.low is None or d.high is None)):
            raise ValueError(f"search_space.{name}: give choices for categorical, low and high for int/float")
    data = split(tc, p)
    c = tc.client
    exp = c.ensure_experiment(p.experiment)
    parent = c.create_run(exp.id, tc.task, tags={**tc.tags, **_dataset_tag(p)},
                          params={"estimator": p.estimator, "objective": p.objective, "max_jobs": p.max_jobs})
    study = optuna.create_study(direction=p.direction, sampler=optuna.samplers.TPESampler(seed=p.random_state))
    runs: dict[int, str] = {}
    args = ((tc.uri, tc.project, tc.starter), tc.artifact_root, exp.id, parent.id, tc.tags)
    pool = None
    trials_on = _trials_on(tc, p)
    if trials_on == "processes":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(p.max_parallel_jobs, mp_context=mp.get_context("spawn"))
    ray = ray_started = remote = data_ref = None
    if trials_on == "ray":
        from mainsail.pipelines.ray_pool import connect

        ray, ray_started = connect(tc.ray_address)
        remote = ray.remote(_trial).options(num_cpus=1, max_retries=0)
        data_ref = ray.put(data)  # sent to the object store once, shared by every trial
    try:
        done = 0
        while done < p.max_jobs:
            trials = [study.ask() for _ in range(min(p.max_parallel_jobs, p.max_jobs - done))]
            params = [{**p.estimator_params, **_suggest(t, p.search_space)} for t in trials]
            if pool is not None:
                futs = [pool.submit(_trial, *args, t.number, p.estimator, ps, data, p.objective)
                        for t, ps in zip(trials, params, strict=True)]
                results = [f.result() for f in futs]
            elif remote is not None:
                results = ray.get([remote.remote(*args, t.number, p.estimator, ps, data_ref, p.objective)
                                   for t, ps in zip(trials, params, strict=True)])
            else:
                results = [_trial(*args, t.number, p.estimator, ps, data, p.objective) for t, ps in zip(trials, params, strict=True)]
            for t, (run_id, value) in zip(trials, results, strict=True):
                study.tell(t, value)
                runs[t.number] = run_id
            done += len(trials)
        best = study.best_trial
        best_params = {**p.estimator_params, **best.params}
        model = make_estimator(p.estimator, best_params).fit(data[0], data[2])
        c.log_params(parent.id, {f"best.{k}": v for k, v in best.params.items()})
        c.log_metrics(parent.id, {p.objective: float(best.value)})
        uri = _log_model(c, parent.id, model, data[0].head(5))
    except BaseException:
        c.end_run(parent.id, "failed")
        raise
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if ray_started:
            ray.shutdown()
    c.end_run(parent.id)
    print(f"[hyperparameter_tuning] {len(runs)} trials on {trials_on}; best {p.objective}={best.value:.6g} with {best.params}", flush=True)
    return {"run_id": parent.id, "best_run_id": runs[best.number], "best_params": best_params,
            "best_value": float(best.value), "model_uri": uri, "metrics": {p.objective: float(best.value)},
            "trials": len(runs)}


class EvaluationParams(DataParams):
    model: str = Field(description="'runs:/RUN/model' or 'models:/NAME/VERSION|@ALIAS|/STAGE'.")
    metrics: list[Metric] = Field(default_factory=lambda: ["accuracy"], min_length=1)
    split: Literal["test", "all"] = Field("test", description="The held-out split (same seed as training) or all rows.")
    run_id: str | None = Field(None, description="Track the evaluation as a child run of this (training) run.")
    experiment: str = Field("pipelines", min_length=1, max_length=256)


@operator("model_evaluation", EvaluationParams)
def model_evaluation(tc: TaskContext, p: EvaluationParams) -> dict[str, Any]:
    """Score a packaged model (loaded with its digests verified) on a dataset."""
    if p.split == "all":
        frame = load_frame(tc, p.data)
        X, y = (frame[p.features] if p.features else frame.drop(columns=[p.target])), frame[p.target]
    else:
        _, X, _, y = split(tc, p)
    model = tc.client.load_model(p.model)
    proba = None
    with contextlib.suppress(AttributeError):
        proba = model.predict_proba

    class _M:  # the loaded package, seen through the scorer's interface
        def predict(self, data: Any) -> Any:
            return model.predict(data)

    m = _M()
    if proba is not None:
        m.predict_proba = proba  # type: ignore[attr-defined]
    scores = score(m, X, y, p.metrics)
    c = tc.client
    exp_id = c.get_run(p.run_id).experiment_id if p.run_id else c.ensure_experiment(p.experiment).id
    run = c.create_run(exp_id, tc.task, parent_run_id=p.run_id, params={"model": p.model, "split": p.split},
                       tags={**tc.tags, **_dataset_tag(p), "mainsail.evaluates": p.model})
    c.log_metrics(run.id, scores)
    c.end_run(run.id)
    print(f"[model_evaluation] {p.model}: {scores}", flush=True)
    return {"model": p.model, "metrics": scores, "rows": len(y), "run_id": run.id}


class GateParams(OpParams):
    metrics: dict[str, float | None] = Field(description="Usually '${tasks.evaluate.metrics}'.")
    thresholds: dict[str, str] = Field(min_length=1, examples=[{"accuracy": ">= 0.85"}])


@operator("quality_gate", GateParams, deterministic=True)
def quality_gate(tc: TaskContext, p: GateParams) -> dict[str, Any]:
    """Pass when every threshold holds (the registry's gate rules); fail the task — and skip what follows — if not."""
    from mainsail.registry.gate import enforce_gate, evaluate_gate

    result = evaluate_gate(p.metrics, p.thresholds)
    print(f"[quality_gate] {'passed' if result.passed else 'failed'}: {p.thresholds} on {p.metrics}", flush=True)
    enforce_gate(p.metrics, p.thresholds, f"task {tc.task!r}")
    return {"passed": True, "metrics": p.metrics}


class RegistrationParams(OpParams):
    name: str = Field(min_length=1, max_length=256)
    source: str = Field(pattern=r"^runs:/", description="Usually '${tasks.train.model_uri}'.")
    stage: Literal["development", "staging", "production"] = "development"
    alias: str | None = None
    gate: dict[str, str] | None = None
    description: str | None = None

    @field_validator("stage", mode="before")
    @classmethod
    def _stage_name(cls, v: Any) -> Any:
        """Any case, and MLflow's names (``Production``, ``Staging``, ``None``)."""
        from mainsail.registry.schemas import Stage

        return (Stage.parse(v) or v) if isinstance(v, str) else v


@operator("model_registration", RegistrationParams)
def model_registration(tc: TaskContext, p: RegistrationParams) -> dict[str, Any]:
    """Register the model as a new version (behind an optional gate), optionally moving an alias to it."""
    c = tc.client
    v = c.register_model_version(p.name, source=p.source, gate=p.gate, stage=p.stage, description=p.description,
                                 tags=tc.tags)
    if p.alias:
        c.set_model_alias(p.name, p.alias, v.version, reason=f"pipeline run {tc.run_id}")
    print(f"[model_registration] {v.name} v{v.version} ({v.stage})", flush=True)
    return {"model_version_id": v.id, "name": v.name, "version": v.version, "uri": v.uri}
