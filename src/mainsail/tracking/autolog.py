"""``mainsail.autolog()``: every ``fit`` of a scikit-learn, XGBoost or LightGBM estimator logs its
params, training metrics and the model (with its signature and an input example) into the active run,
or into a new run that ends with the fit.

It works the way MLflow users know: it patches the ``fit`` methods of the libraries' estimator classes;
a fit inside another autologged fit (a Pipeline's steps, a search's candidates) is not logged again;
and logging never breaks training: a logging error is a warning, while an error of ``fit`` itself is
raised as it was (and a run autolog started ends as failed)."""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
LIBRARIES = ("sklearn", "xgboost", "lightgbm")
PARAM_MAX = 8000


@dataclass
class _Config:
    enabled: dict[str, bool]
    log_models: bool = True
    log_input_examples: bool = True
    log_training_metrics: bool = True


_config = _Config(enabled=dict.fromkeys(LIBRARIES, False))
_originals: dict[type, tuple[str, Callable[..., Any]]] = {}  # class -> (library, its own fit)
_local = threading.local()
_lock = threading.Lock()


def autolog(*, sklearn: bool = True, xgboost: bool = True, lightgbm: bool = True, log_models: bool = True,
            log_input_examples: bool = True, log_training_metrics: bool = True, disable: bool = False) -> None:
    """Turn autologging on (or, per library with ``sklearn=False`` etc. or all with ``disable=True``, off).

    A library that is not installed is skipped. Calling again changes the settings."""
    wanted = {"sklearn": sklearn, "xgboost": xgboost, "lightgbm": lightgbm}
    with _lock:
        _config.log_models, _config.log_input_examples = log_models, log_input_examples
        _config.log_training_metrics = log_training_metrics
        for lib in LIBRARIES:
            on = wanted[lib] and not disable
            if on and importlib.util.find_spec(lib) is None:
                on = False
            if on and not _config.enabled[lib]:
                _patch(lib)
            elif not on and _config.enabled[lib]:
                _unpatch(lib)
            _config.enabled[lib] = on


def _estimators(lib: str) -> list[type]:
    if lib == "sklearn":
        from sklearn.utils import all_estimators

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [cls for _, cls in all_estimators()]
    if lib == "xgboost":
        import xgboost as xgb

        names = ("XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor")
        return [getattr(xgb, n) for n in names if hasattr(xgb, n)]
    import lightgbm as lgb

    return [lgb.LGBMClassifier, lgb.LGBMRegressor, lgb.LGBMRanker]


def _patch(lib: str) -> None:
    for cls in _estimators(lib):
        for owner in cls.__mro__:  # patch the class that defines the fit this estimator runs
            if "fit" in owner.__dict__:
                if owner not in _originals:
                    original = owner.__dict__["fit"]
                    _originals[owner] = (lib, original)
                    owner.fit = _wrap(lib, original)  # type: ignore[attr-defined]
                break


def _unpatch(lib: str) -> None:
    for owner, (owner_lib, original) in list(_originals.items()):
        if owner_lib == lib:
            owner.fit = original  # type: ignore[attr-defined]
            del _originals[owner]


def _wrap(lib: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_local, "active", False) or not _config.enabled.get(lib):
            return original(self, *args, **kwargs)
        _local.active = True
        try:
            return _logged_fit(lib, original, self, args, kwargs)
        finally:
            _local.active = False

    return fit


def _safely(what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - logging must never break training
        warnings.warn(f"mainsail.autolog could not {what}: {exc}", stacklevel=3)
        return None


def _logged_fit(lib: str, original: Callable[..., Any], est: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
    from mainsail.client import fluent

    run = fluent.active_run()
    started = run is None
    if started:
        run = _safely("start a run", lambda: fluent.start_run(tags={"mainsail.autolog": lib}))
        if run is None:
            return original(est, *args, **kwargs)
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    _safely("log params", lambda: run.log_params(_params(est)))
    try:
        result = original(est, *args, **kwargs)
    except BaseException:
        if started:
            _safely("end the run", lambda: run.end("failed"))
        raise
    if _config.log_training_metrics and y is not None:
        metrics = _safely("compute training metrics", lambda: _training_metrics(est, X, y, kwargs.get("sample_weight")))
        if metrics:
            _safely("log training metrics", lambda: run.log_metrics(metrics))
    if _config.log_models and hasattr(est, "predict"):
        example = _head(X) if _config.log_input_examples else None
        _safely("log the model", lambda: _log_model(fluent, run, est, example))
    if started:
        _safely("end the run", lambda: run.end())
    return result


def _log_model(fluent: Any, run: Any, est: Any, example: Any) -> None:
    stack = fluent._stack()
    if not stack or stack[-1] is not run:  # log_model writes to the active run: make it ours
        raise RuntimeError("the active run changed during fit")
    fluent.log_model(est, "model", input_example=example)


def _params(est: Any) -> dict[str, str]:
    out = {}
    for key, value in est.get_params(deep=False).items():
        text = value if isinstance(value, str) else repr(value) if not isinstance(value, int | float | bool | None) \
            else str(value)
        out[key] = text[:PARAM_MAX]
    return out


def _head(X: Any, n: int = 5) -> Any:
    if X is None:
        return None
    if hasattr(X, "iloc"):
        return X.iloc[:n]
    try:
        return X[:n]
    except (TypeError, KeyError, IndexError):
        return None


def _training_metrics(est: Any, X: Any, y: Any, sample_weight: Any = None) -> dict[str, float]:
    """MLflow's names: ``training_accuracy_score`` … for classifiers, ``training_r2_score`` … for
    regressors, ``training_score`` for anything else with ``score``."""
    from sklearn import metrics as m
    from sklearn.base import is_classifier, is_regressor

    sw = {"sample_weight": sample_weight}
    if is_classifier(est):
        pred = est.predict(X)
        avg = "binary" if len(getattr(est, "classes_", [])) == 2 else "weighted"
        out = {"training_accuracy_score": m.accuracy_score(y, pred, **sw),
               "training_precision_score": m.precision_score(y, pred, average=avg, zero_division=0, **sw),
               "training_recall_score": m.recall_score(y, pred, average=avg, zero_division=0, **sw),
               "training_f1_score": m.f1_score(y, pred, average=avg, zero_division=0, **sw)}
        if hasattr(est, "predict_proba"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                proba = est.predict_proba(X)
                out["training_log_loss"] = m.log_loss(y, proba, labels=est.classes_, **sw)
                if proba.shape[1] == 2:
                    out["training_roc_auc"] = m.roc_auc_score(y, proba[:, 1], **sw)
        return {k: float(v) for k, v in out.items()}
    if is_regressor(est):
        pred = est.predict(X)
        mse = m.mean_squared_error(y, pred, **sw)
        return {"training_mean_squared_error": float(mse), "training_root_mean_squared_error": float(mse ** 0.5),
                "training_mean_absolute_error": float(m.mean_absolute_error(y, pred, **sw)),
                "training_r2_score": float(m.r2_score(y, pred, **sw))}
    if hasattr(est, "score"):
        return {"training_score": float(est.score(X, y))}
    return {}
