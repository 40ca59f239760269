"""Autologging for XGBoost: ``xgboost.train`` and the scikit-learn style estimators.

``xgboost.train`` logs the booster params and ``train()``'s own arguments, every
evaluation metric per iteration as ``<data>-<metric>`` (``train-rmse``, ``eval-rmse``),
``best_iteration`` and ``stopped_iteration`` with early stopping, feature importance as
``feature_importance_<type>.json`` and the booster under ``model``. ``XGBClassifier`` and
friends log their params, the evaluation history of ``eval_set``, and the model with a
signature inferred from the first training rows.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from . import boosting, patching
from .training import ENABLED, Training

FLAVOR = "xgboost"


def autolog(importance_types: list[str] | None = None, log_input_examples: bool = False,
            log_model_signatures: bool = True, log_models: bool = True,
            log_datasets: bool = True, disable: bool = False, exclusive: bool = False,
            disable_for_unsupported_versions: bool = False, silent: bool = False,
            registered_model_name: str | None = None, model_format: str = "json",
            extra_tags: dict[str, Any] | None = None) -> None:
    """Log params, per-iteration metrics, feature importance and the model of XGBoost
    training. ``disable=True`` puts XGBoost's functions back; ``log_datasets`` and
    ``disable_for_unsupported_versions`` are accepted for MLflow compatibility."""
    import xgboost

    patching.unpatch(FLAVOR)
    ENABLED.pop(FLAVOR, None)
    if disable:
        return
    ENABLED[FLAVOR] = boosting.options(
        log_input_examples, log_model_signatures, log_models, exclusive, silent,
        registered_model_name, extra_tags, importance_types=importance_types or ["weight"],
        model_format=model_format)
    for module in (xgboost, xgboost.training):
        boosting.patch_train(FLAVOR, module, _callback, _after)
    boosting.patch_estimators(FLAVOR, xgboost.XGBModel, lambda model: model.evals_result())


def _callback(training: Training) -> Any:
    import xgboost

    class LogEvaluations(xgboost.callback.TrainingCallback):
        """Logs each iteration's evaluation results as they come."""

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            for data, metrics in evals_log.items():
                for metric, values in metrics.items():
                    value = values[-1]
                    value = value[0] if isinstance(value, tuple) else value  # (mean, std) in cv
                    training.safely("log a metric", partial(
                        training.log_metric_point, f"{data}-{metric}", value, epoch))
            return False

    return LogEvaluations()


def _after(training: Training, args: tuple[Any, ...], kwargs: dict[str, Any], booster: Any,
           state: Any) -> None:
    rounds = booster.num_boosted_rounds()
    try:
        best = booster.best_iteration
    except AttributeError:
        best = None
    if best is not None and "best_iteration" in booster.attributes():
        training.log_metrics({"stopped_iteration": rounds - 1, "best_iteration": best})
    for kind in training.options.extra.get("importance_types", ["weight"]):
        training.safely("log the feature importance", partial(_importance, training, booster,
                                                               kind))
    fmt = training.options.extra.get("model_format", "json")
    training.safely("log the model", lambda: training.log_model(
        booster, None, None, model_format=fmt))


def _importance(training: Training, booster: Any, kind: str) -> None:
    boosting.log_importance(training, booster.get_score(importance_type=kind), kind)
