"""Autologging for Keras 3 (any backend): ``Model.fit``.

Logged per training: ``fit()``'s arguments (``epochs``, ``batch_size``...), the
optimizer's configuration as ``optimizer_<key>`` params, every metric Keras reports per
epoch (``loss``, ``accuracy``, ``val_loss``...) with the epoch as step, logged as each
epoch ends by a callback, and the trained model under ``model`` with a signature
inferred from the first training rows.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

from . import patching
from .training import ENABLED, Options, Training, call, example_rows

FLAVOR = "keras"
#: fit() arguments that are data or code, not params.
_NOT_PARAMS = {"self", "x", "y", "callbacks", "validation_data", "sample_weight", "verbose",
               "class_weight"}


def autolog(log_every_epoch: bool = True, log_every_n_steps: int | None = None,
            log_models: bool = True, log_model_signatures: bool = True,
            log_input_examples: bool = False, log_datasets: bool = True,
            disable: bool = False, exclusive: bool = False,
            disable_for_unsupported_versions: bool = False, silent: bool = False,
            registered_model_name: str | None = None,
            extra_tags: dict[str, Any] | None = None) -> None:
    """Log params, per-epoch metrics and the model of every Keras ``fit``.

    ``log_every_n_steps`` logs the batch metrics every n training steps too (step = the
    optimizer's iteration). ``disable=True`` puts Keras's ``fit`` back.
    """
    import keras

    patching.unpatch(FLAVOR)
    ENABLED.pop(FLAVOR, None)
    if disable:
        return
    ENABLED[FLAVOR] = Options(
        log_models=log_models, log_input_examples=log_input_examples,
        log_model_signatures=log_model_signatures, exclusive=exclusive, silent=silent,
        registered_model_name=registered_model_name, extra_tags=dict(extra_tags or {}),
        extra={"log_every_epoch": log_every_epoch, "log_every_n_steps": log_every_n_steps})
    patching.patch(FLAVOR, keras.Model, "fit", _patched)


def _patched(original: Callable[..., Any]) -> Callable[..., Any]:
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        return call(FLAVOR, original, (self, *args), kwargs,
                    before=partial(_before, original), after=partial(_after, original))

    return fit


def _before(original: Callable[..., Any], training: Training, args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any], Any]:
    model = args[0]
    bound = inspect.signature(original).bind_partial(*args, **kwargs)
    arguments = dict(bound.arguments)
    params = {name: arguments.get(name, p.default)
              for name, p in inspect.signature(original).parameters.items()
              if name not in _NOT_PARAMS and p.kind is p.POSITIONAL_OR_KEYWORD}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        config = training.safely("read the optimizer's configuration",
                                 optimizer.get_config, {})
        params.update({f"optimizer_{k}": v for k, v in (config or {}).items()})
    training.log_params(params)
    callbacks = list(arguments.get("callbacks") or [])
    bound.arguments["callbacks"] = [*callbacks, _callback(training)]
    return bound.args, bound.kwargs, None


def _callback(training: Training) -> Any:
    import keras

    every_epoch = training.options.extra.get("log_every_epoch", True)
    every_n = training.options.extra.get("log_every_n_steps")

    class LogMetrics(keras.callbacks.Callback):
        """Logs Keras's metrics as each epoch (and every n-th batch) ends."""

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if every_epoch and logs:
                for key, value in logs.items():
                    training.safely("log a metric", partial(
                        training.log_metric_point, key, value, epoch))

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            if not every_n or not logs:
                return
            step = training.safely("read the step", partial(_iterations, self.model))
            if step is not None and step % every_n == 0:
                for key, value in logs.items():
                    training.safely("log a metric", partial(
                        training.log_metric_point, f"batch_{key}", value, step))

    return LogMetrics()


def _iterations(model: Any) -> int:
    return int(model.optimizer.iterations.numpy())


def _after(original: Callable[..., Any], training: Training, args: tuple[Any, ...],
           kwargs: dict[str, Any], history: Any, state: Any) -> None:
    model = args[0]
    bound = inspect.signature(original).bind_partial(*args, **kwargs).arguments
    x = bound.get("x")
    example = example_rows(x) if _is_array(x) else None
    training.safely("log the model", partial(training.log_model, model, example,
                                             partial(_predict, model)))


def _predict(model: Any, example: Any) -> Any:
    return model.predict(example, verbose=0)


def _is_array(data: Any) -> bool:
    """Arrays and DataFrames give an input example; datasets and generators do not."""
    return hasattr(data, "shape") and hasattr(data, "__getitem__")
