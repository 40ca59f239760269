"""Autologging for LightGBM: ``lightgbm.train`` and the scikit-learn style estimators.

``lightgbm.train`` logs the params and ``train()``'s own arguments, every evaluation
metric per iteration as ``<data>-<metric>`` (``training-l2``, ``valid_0-auc``),
``best_iteration`` and ``stopped_iteration`` with early stopping, feature importance as
``feature_importance_<split|gain>.json`` and the booster under ``model``. ``LGBMClassifier``
and friends log their params, the evaluation history of ``eval_set``, and the model with a
signature inferred from the first training rows.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from . import boosting, patching
from .training import ENABLED, Training

FLAVOR = "lightgbm"


def autolog(log_input_examples: bool = False, log_model_signatures: bool = True,
            log_models: bool = True, log_datasets: bool = True, disable: bool = False,
            exclusive: bool = False, disable_for_unsupported_versions: bool = False,
            silent: bool = False, registered_model_name: str | None = None,
            extra_tags: dict[str, Any] | None = None) -> None:
    """Log params, per-iteration metrics, feature importance and the model of LightGBM
    training. ``disable=True`` puts LightGBM's functions back; ``log_datasets`` and
    ``disable_for_unsupported_versions`` are accepted for MLflow compatibility."""
    import lightgbm

    patching.unpatch(FLAVOR)
    ENABLED.pop(FLAVOR, None)
    if disable:
        return
    ENABLED[FLAVOR] = boosting.options(
        log_input_examples, log_model_signatures, log_models, exclusive, silent,
        registered_model_name, extra_tags)
    for module in (lightgbm, lightgbm.engine):
        boosting.patch_train(FLAVOR, module, _callback, _after)
    boosting.patch_estimators(FLAVOR, lightgbm.LGBMModel,
                              lambda model: model.evals_result_ or {})


def _callback(training: Training) -> Callable[[Any], None]:
    def log_evaluations(env: Any) -> None:
        for entry in env.evaluation_result_list or ():
            data, metric, value = entry[0], entry[1], entry[2]
            training.safely("log a metric", partial(
                training.log_metric_point, f"{data}-{metric}", value, env.iteration))

    log_evaluations.order = 100  # type: ignore[attr-defined]  # after LightGBM's own
    return log_evaluations


def _after(training: Training, args: tuple[Any, ...], kwargs: dict[str, Any], booster: Any,
           state: Any) -> None:
    best = getattr(booster, "best_iteration", 0)
    if best and best > 0:
        training.log_metrics({"stopped_iteration": booster.current_iteration(),
                              "best_iteration": best})
    for kind in ("split", "gain"):
        training.safely("log the feature importance", partial(_importance, training, booster,
                                                               kind))
    training.safely("log the model", lambda: training.log_model(booster, None, None))


def _importance(training: Training, booster: Any, kind: str) -> None:
    values = booster.feature_importance(importance_type=kind)
    boosting.log_importance(training, dict(zip(booster.feature_name(), values, strict=False)),
                            kind)
