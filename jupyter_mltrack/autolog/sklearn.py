"""Autologging for scikit-learn: ``fit``, ``fit_transform`` and ``fit_predict``.

Logged per training: the estimator's params (deep for pipelines and meta-estimators),
the tags ``estimator_name`` and ``estimator_class``, the training metrics MLflow names
(``training_score``, ``training_accuracy_score``... for classifiers,
``training_mean_squared_error``... for regressors) and the fitted model under ``model``
with a signature inferred from the first training rows. A parameter search (GridSearchCV,
RandomizedSearchCV...) also logs ``best_<param>`` params, the ``best_cv_score`` metric,
the ``best_estimator`` model, ``cv_results.csv``, and a child run for each of its
``max_tuning_runs`` best candidates.

As in MLflow, preprocessing, imputation and feature extraction/selection estimators are
not patched on their own (inside a Pipeline they are part of its run). Unlike MLflow,
enabling does not import every scikit-learn module: the estimators of a module are
patched when it is imported (or at once, when it was imported already).
"""

from __future__ import annotations

import inspect
import math
import types
from collections.abc import Callable
from typing import Any

from . import hooks, patching
from .training import ENABLED, Options, Training, call, example_rows

FLAVOR = "sklearn"
PREFIX = "sklearn."
METHODS = ("fit", "fit_transform", "fit_predict")
_EXCLUDED_MODULES = ("sklearn.preprocessing", "sklearn.impute", "sklearn.feature_extraction",
                     "sklearn.feature_selection")
_EXCLUDED_CLASSES = ("sklearn.compose._column_transformer.ColumnTransformer",)


def autolog(log_input_examples: bool = False, log_model_signatures: bool = True,
            log_models: bool = True, log_datasets: bool = True, disable: bool = False,
            exclusive: bool = False, disable_for_unsupported_versions: bool = False,
            silent: bool = False, max_tuning_runs: int | None = 5,
            log_post_training_metrics: bool = True, serialization_format: str | None = None,
            registered_model_name: str | None = None, pos_label: Any = None,
            extra_tags: dict[str, Any] | None = None) -> None:
    """Log params, training metrics and the model of every scikit-learn ``fit``.

    ``max_tuning_runs`` caps the child runs of a parameter search (None: one per
    candidate). ``disable=True`` puts scikit-learn's own methods back. ``log_datasets``,
    ``disable_for_unsupported_versions`` and ``log_post_training_metrics`` are accepted
    for MLflow compatibility and change nothing here.
    """
    from ..errors import InvalidParameter

    hooks.forget_modules(PREFIX)
    patching.unpatch(FLAVOR)
    ENABLED.pop(FLAVOR, None)
    if disable:
        return
    if max_tuning_runs is not None and max_tuning_runs < 0:
        raise InvalidParameter(f"max_tuning_runs is a count of child runs (0 or more) or None, "
                               f"not {max_tuning_runs}.")
    ENABLED[FLAVOR] = Options(
        log_models=log_models, log_input_examples=log_input_examples,
        log_model_signatures=log_model_signatures, exclusive=exclusive, silent=silent,
        registered_model_name=registered_model_name, extra_tags=dict(extra_tags or {}),
        extra={"max_tuning_runs": max_tuning_runs, "pos_label": pos_label,
               "serialization_format": serialization_format})
    # Meta-estimators now; every other estimator as its module is (or was) imported, so
    # that enabling autologging does not import all of scikit-learn.
    import sklearn.model_selection
    import sklearn.pipeline  # noqa: F401

    hooks.every_module(PREFIX, patch_module)


def patch_module(module: types.ModuleType) -> None:
    """Patch the fitting methods of the estimators a scikit-learn module defines."""
    from sklearn.base import BaseEstimator

    name = module.__name__
    if name.startswith(_EXCLUDED_MODULES) or any(
            part in ("tests", "_testing", "_mocking") for part in name.split(".")):
        return
    for cls in list(vars(module).values()):
        if inspect.isclass(cls) and cls.__module__ == name and issubclass(cls, BaseEstimator) \
                and f"{name}.{cls.__name__}" not in _EXCLUDED_CLASSES:
            for method in METHODS:
                patching.patch(FLAVOR, cls, method, _patched)


def _patched(original: Callable[..., Any]) -> Callable[..., Any]:
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        return call(FLAVOR, original, (self, *args), kwargs, before=_before, after=_after)

    return fit


def _fit_arguments(original: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
                   ) -> tuple[Any, Any, Any]:
    """X, y and sample_weight as passed to a fit method (by position or by name)."""
    try:
        bound = inspect.signature(original).bind_partial(*args, **kwargs).arguments
    except TypeError:
        bound = {}
    names = list(bound)
    x = bound.get("X", bound.get(names[1]) if len(names) > 1 else None)
    y = bound.get("y", bound.get("Y"))
    weight = bound.get("sample_weight")
    if weight is None and isinstance(bound.get("kwargs"), dict):
        weight = bound["kwargs"].get("sample_weight")
    return x, y, weight


def _before(training: Training, args: tuple[Any, ...], kwargs: dict[str, Any]
            ) -> tuple[tuple[Any, ...], dict[str, Any], Any]:
    estimator = args[0]
    deep = not is_search(estimator)
    training.log_params(estimator.get_params(deep=deep))
    training.set_tags(estimator_tags(estimator))
    return args, kwargs, None


def _after(training: Training, args: tuple[Any, ...], kwargs: dict[str, Any],
           result: Any, state: Any) -> None:
    estimator = args[0]
    method = getattr(type(estimator), "fit", None)
    x, y, weight = _fit_arguments(patching.original_of(method) if method else None,
                                  args, kwargs)
    example = example_rows(x)
    training.safely("log training metrics", lambda: training.log_metrics(
        training_metrics(estimator, x, y, weight, training.options.extra.get("pos_label"))))
    model_options = {}
    if training.options.extra.get("serialization_format"):
        model_options["serialization_format"] = training.options.extra["serialization_format"]
    training.safely("log the model", lambda: training.log_model(
        estimator, example, _predictor(estimator), **model_options))
    if is_search(estimator):
        _log_search(training, estimator, example, model_options)


def estimator_tags(estimator: Any) -> dict[str, str]:
    cls = type(estimator)
    return {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__name__}"}


def is_search(estimator: Any) -> bool:
    try:
        from sklearn.model_selection._search import BaseSearchCV
    except ImportError:  # pragma: no cover - the private module moved
        return hasattr(estimator, "cv_results_") or hasattr(estimator, "param_grid")
    return isinstance(estimator, BaseSearchCV)


def _predictor(estimator: Any) -> Callable[[Any], Any] | None:
    for name in ("predict", "transform"):
        method = getattr(estimator, name, None)
        if method is not None:
            return _call(method)
    return None


def _call(method: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda example: method(example)


# -- training metrics ----------------------------------------------------------------------


def training_metrics(estimator: Any, x: Any, y: Any, weight: Any, pos_label: Any
                     ) -> dict[str, float]:
    """MLflow's training metrics for a fitted estimator (``training_`` prefixed)."""
    from sklearn.base import is_classifier, is_regressor

    metrics: dict[str, float] = {}
    if x is None:
        return metrics
    score = getattr(estimator, "score", None)
    if score is not None:
        try:
            value = score(x, y, sample_weight=weight) if weight is not None else \
                (score(x, y) if y is not None else score(x))
            metrics["training_score"] = float(value)
        except Exception:  # noqa: BLE001,S110 - estimators without a usable score()
            pass
    if y is None:
        return metrics
    if is_classifier(estimator):
        metrics.update(_classifier_metrics(estimator, x, y, weight, pos_label))
    elif is_regressor(estimator):
        metrics.update(_regressor_metrics(estimator, x, y, weight))
    return {k: v for k, v in metrics.items() if not math.isnan(v)}


def _classifier_metrics(estimator: Any, x: Any, y: Any, weight: Any, pos_label: Any
                        ) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics as m

    predicted = estimator.predict(x)
    average = "binary" if pos_label is not None else "weighted"
    label = {"pos_label": pos_label} if pos_label is not None else {}
    out = {
        "training_accuracy_score": m.accuracy_score(y, predicted, sample_weight=weight),
        "training_precision_score": m.precision_score(y, predicted, average=average,
                                                      sample_weight=weight, zero_division=0,
                                                      **label),
        "training_recall_score": m.recall_score(y, predicted, average=average,
                                                sample_weight=weight, zero_division=0, **label),
        "training_f1_score": m.f1_score(y, predicted, average=average, sample_weight=weight,
                                        zero_division=0, **label),
    }
    proba = getattr(estimator, "predict_proba", None)
    if proba is not None:
        try:
            probabilities = proba(x)
            labels = getattr(estimator, "classes_", None)
            out["training_log_loss"] = m.log_loss(y, probabilities, sample_weight=weight,
                                                  labels=labels)
            if probabilities.shape[1] == 2:
                out["training_roc_auc"] = m.roc_auc_score(y, probabilities[:, 1],
                                                          sample_weight=weight)
            else:
                out["training_roc_auc"] = m.roc_auc_score(
                    y, probabilities, average="weighted", multi_class="ovo", labels=labels)
        except Exception:  # noqa: BLE001,S110 - probabilities some estimators cannot give
            pass
    return {k: float(np.asarray(v)) for k, v in out.items()}


def _regressor_metrics(estimator: Any, x: Any, y: Any, weight: Any) -> dict[str, float]:
    from sklearn import metrics as m

    predicted = estimator.predict(x)
    mse = float(m.mean_squared_error(y, predicted, sample_weight=weight))
    return {
        "training_mean_squared_error": mse,
        "training_root_mean_squared_error": math.sqrt(mse),
        "training_mean_absolute_error": float(m.mean_absolute_error(y, predicted,
                                                                    sample_weight=weight)),
        "training_r2_score": float(m.r2_score(y, predicted, sample_weight=weight)),
    }


# -- parameter searches --------------------------------------------------------------------


def _log_search(training: Training, search: Any, example: Any,
                model_options: dict[str, Any]) -> None:
    best_params = getattr(search, "best_params_", None)
    if best_params:
        training.safely("log the best params", lambda: training.log_params(
            {f"best_{k}": v for k, v in best_params.items()}))
    if hasattr(search, "best_score_"):
        training.safely("log the best score", lambda: training.log_metrics(
            {"best_cv_score": search.best_score_}))
    best = getattr(search, "best_estimator_", None)
    if best is not None:
        training.safely("log the best estimator", lambda: training.log_model(
            best, example, _predictor(best), name="best_estimator", **model_options))
    if hasattr(search, "cv_results_"):
        training.safely("log the search results", lambda: _log_candidates(training, search))


def _log_candidates(training: Training, search: Any) -> None:
    import pandas as pd

    results = pd.DataFrame(search.cv_results_)
    training.client.log_text(training.run_id, results.to_csv(index=False), "cv_results.csv")
    cap = training.options.extra.get("max_tuning_runs", 5)
    rank = "rank_test_score" if "rank_test_score" in results else next(
        (c for c in results.columns if c.startswith("rank_")), None)
    best = results if cap is None else (
        results.nsmallest(cap, rank, keep="first") if rank else results.head(cap))
    base = search.estimator.get_params(deep=True)
    tags = estimator_tags(search.estimator)
    for _, row in best.iterrows():
        params = dict(base)
        params.update(row.get("params", {}) or {})
        metrics = {k: v for k, v in row.items()
                   if not str(k).startswith(("param", "split"))}
        training.child_run(tags, params, metrics)
