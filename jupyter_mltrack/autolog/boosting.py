"""What XGBoost and LightGBM autologging share: the scikit-learn style estimators
(``XGBClassifier``, ``LGBMRegressor``...) and the per-iteration evaluation history."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..entities import Metric
from . import patching
from .training import Options, Training, call, example_rows

#: ``train()`` arguments that are data or code, not params.
NOT_PARAMS = {"params", "dtrain", "train_set", "evals", "valid_sets", "valid_names", "obj",
              "feval", "evals_result", "xgb_model", "init_model", "callbacks", "custom_metric",
              "learning_rates", "keep_training_booster", "feature_name",
              "categorical_feature"}


def options(log_input_examples: bool, log_model_signatures: bool, log_models: bool,
            exclusive: bool, silent: bool, registered_model_name: str | None,
            extra_tags: dict[str, Any] | None, **extra: Any) -> Options:
    return Options(log_models=log_models, log_input_examples=log_input_examples,
                   log_model_signatures=log_model_signatures, exclusive=exclusive,
                   silent=silent, registered_model_name=registered_model_name,
                   extra_tags=dict(extra_tags or {}), extra=extra)


def train_params(original: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> dict[str, Any]:
    """The booster params and the other arguments of a ``train()`` call, as params."""
    bound = inspect.signature(original).bind_partial(*args, **kwargs).arguments
    params = dict(bound.get("params") or {})
    params.update({k: v for k, v in bound.items() if k not in NOT_PARAMS and k != "kwargs"})
    return params


def with_callback(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                  callback: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments of ``original`` with ``callback`` added to its ``callbacks``."""
    bound = inspect.signature(original).bind_partial(*args, **kwargs)
    callbacks = list(bound.arguments.get("callbacks") or [])
    bound.arguments["callbacks"] = [*callbacks, callback]
    return bound.args, bound.kwargs


def patch_train(flavor: str, module: Any, make_callback: Callable[[Training], Any],
                after: Callable[..., None]) -> None:
    """Patch ``module.train`` (native training of XGBoost or LightGBM): log its params,
    add ``make_callback(training)`` for per-iteration metrics, then ``after``."""

    def patched(original: Callable[..., Any]) -> Callable[..., Any]:
        def before(training: Training, args: tuple[Any, ...], kwargs: dict[str, Any]
                   ) -> tuple[tuple[Any, ...], dict[str, Any], Any]:
            training.log_params(train_params(original, args, kwargs))
            args, kwargs = with_callback(original, args, kwargs, make_callback(training))
            return args, kwargs, None

        def train(*args: Any, **kwargs: Any) -> Any:
            return call(flavor, original, args, kwargs, before=before, after=after)

        return train

    patching.patch(flavor, module, "train", patched)


def log_history(training: Training, history: Mapping[str, Mapping[str, Any]]) -> None:
    """An evaluation history ``{data: {metric: [values]}}`` as ``data-metric`` metrics,
    one step per iteration."""
    now = time.time_ns() // 1_000_000
    points = [Metric(f"{data}-{metric}", float(value), now, step)
              for data, metrics in history.items() for metric, values in metrics.items()
              for step, value in enumerate(values)]
    if points:
        training.client.log_batch(training.run_id, metrics=points)


def log_importance(training: Training, importance: Mapping[str, Any], kind: str) -> None:
    if importance:
        training.client.log_text(training.run_id,
                                 json.dumps({str(k): float(v) for k, v in importance.items()},
                                            indent=2),
                                 f"feature_importance_{kind}.json")


def patch_estimators(flavor: str, base: type,
                     history: Callable[[Any], Mapping[str, Mapping[str, Any]]]) -> None:
    """Patch ``fit`` of ``base`` and of its subclasses that define their own."""
    seen: set[type] = set()
    stack = [base]
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        stack.extend(cls.__subclasses__())
        if "fit" in vars(cls) or cls is base:
            patching.patch(flavor, cls, "fit", _estimator_fit(flavor, history))


def _estimator_fit(flavor: str, history: Callable[[Any], Mapping[str, Mapping[str, Any]]]
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
            return call(flavor, original, (self, *args), kwargs, before=_before,
                        after=lambda training, a, k, result, state: _after(
                            training, original, a, k, history))

        return fit

    return make


def _before(training: Training, args: tuple[Any, ...], kwargs: dict[str, Any]
            ) -> tuple[tuple[Any, ...], dict[str, Any], Any]:
    estimator = args[0]
    training.log_params(estimator.get_params())
    cls = type(estimator)
    training.set_tags({"estimator_name": cls.__name__,
                       "estimator_class": f"{cls.__module__}.{cls.__name__}"})
    return args, kwargs, None


def _after(training: Training, original: Callable[..., Any], args: tuple[Any, ...],
           kwargs: dict[str, Any], history: Callable[[Any], Mapping[str, Mapping[str, Any]]]
           ) -> None:
    estimator = args[0]
    bound = inspect.signature(original).bind_partial(*args, **kwargs).arguments
    example = example_rows(bound.get("X"))
    training.safely("log the evaluation history",
                    lambda: log_history(training, history(estimator)))
    best = getattr(estimator, "best_iteration", None) if _has_best(estimator) else None
    if best is not None:
        training.safely("log the best iteration",
                        lambda: training.log_metrics({"best_iteration": best}))
    training.safely("log the feature importance", lambda: log_importance(
        training, _importances(estimator), "weight"))
    training.safely("log the model", lambda: training.log_model(
        estimator, example, estimator.predict))


def _has_best(estimator: Any) -> bool:
    try:
        return getattr(estimator, "best_iteration", None) is not None
    except Exception:  # noqa: BLE001 - XGBoost raises when there was no early stopping
        return False


def _importances(estimator: Any) -> dict[str, float]:
    values = getattr(estimator, "feature_importances_", None)
    if values is None:
        return {}
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = [f"f{i}" for i in range(len(values))]
    return {str(n): float(v) for n, v in zip(names, values, strict=False)}
