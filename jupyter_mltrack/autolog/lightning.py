"""Autologging for PyTorch Lightning (``lightning`` or ``pytorch_lightning``): ``Trainer.fit``.

Logged per training: ``epochs`` (the trainer's ``max_epochs``), the optimizer's name and
settings (``optimizer_name``, ``lr``...), every metric the module logs with ``self.log``
(``trainer.callback_metrics``) once per epoch with the epoch as step, logged by a callback
as each epoch ends, and the trained module under ``model``: its state dict rebuilt from
its saved hyperparameters (``save_hyperparameters()``), else TorchScript.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

from . import patching
from .training import ENABLED, Options, Training, call

FLAVOR = "lightning"
PACKAGES = ("lightning.pytorch", "pytorch_lightning")
_MARK = "__mltrack_autolog__"


def autolog(log_every_n_epoch: int = 1, log_models: bool = True, log_datasets: bool = True,
            disable: bool = False, exclusive: bool = False,
            disable_for_unsupported_versions: bool = False, silent: bool = False,
            registered_model_name: str | None = None,
            extra_tags: dict[str, Any] | None = None) -> None:
    """Log params, per-epoch metrics and the module of every Lightning ``Trainer.fit``.

    ``log_every_n_epoch`` logs every n-th epoch's metrics. ``disable=True`` puts
    ``Trainer.fit`` back. MLflow calls this ``mlflow.pytorch.autolog``.
    """
    patching.unpatch(FLAVOR)
    ENABLED.pop(FLAVOR, None)
    if disable:
        return
    packages = [sys.modules[name] for name in PACKAGES if name in sys.modules]
    if not packages:
        packages = [_import_any()]
    ENABLED[FLAVOR] = Options(
        log_models=log_models, exclusive=exclusive, silent=silent,
        registered_model_name=registered_model_name, extra_tags=dict(extra_tags or {}),
        extra={"every": max(1, int(log_every_n_epoch))})
    for package in packages:
        patching.patch(FLAVOR, package.Trainer, "fit", partial(_patched, package))


def _import_any() -> Any:
    for name in PACKAGES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    from ..errors import MissingDependency

    raise MissingDependency("PyTorch Lightning is needed for this; install it with "
                            "pip install lightning.")


def _patched(package: Any, original: Callable[..., Any]) -> Callable[..., Any]:
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        return call(FLAVOR, original, (self, *args), kwargs,
                    before=partial(_before, package), after=_after)

    return fit


def _before(package: Any, training: Training, args: tuple[Any, ...], kwargs: dict[str, Any]
            ) -> tuple[tuple[Any, ...], dict[str, Any], Any]:
    trainer = args[0]
    training.log_params({"epochs": trainer.max_epochs})
    callback = _callback(package, training)
    # one left behind by a fit that raised logs into an ended run: replace it
    trainer.callbacks[:] = [c for c in trainer.callbacks if not getattr(c, _MARK, False)]
    trainer.callbacks.append(callback)
    return args, kwargs, callback


def _callback(package: Any, training: Training) -> Any:
    every = training.options.extra.get("every", 1)

    class LogMetrics(package.Callback):
        """Logs the optimizer when training starts and the metrics as each epoch ends."""

        __mltrack_autolog__ = True

        def __init__(self) -> None:
            self.logged: set[tuple[str, int]] = set()

        def on_train_start(self, trainer: Any, module: Any) -> None:
            if trainer.is_global_zero and trainer.optimizers:
                training.safely("log the optimizer", partial(_log_optimizer, training,
                                                             trainer.optimizers[0]))

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            self._log(trainer)

        def on_validation_epoch_end(self, trainer: Any, module: Any) -> None:
            if not trainer.sanity_checking:
                self._log(trainer)

        def _log(self, trainer: Any) -> None:
            epoch = trainer.current_epoch
            if not trainer.is_global_zero or epoch % every:
                return
            for key, value in dict(trainer.callback_metrics).items():
                if (key, epoch) in self.logged:
                    continue
                self.logged.add((key, epoch))
                training.safely("log a metric", partial(
                    training.log_metric_point, key, _number(value), epoch))

    return LogMetrics()


def _number(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _log_optimizer(training: Training, optimizer: Any) -> None:
    params = {"optimizer_name": type(optimizer).__name__}
    params.update({k: v for k, v in optimizer.defaults.items()
                   if isinstance(v, (int, float, str, bool, tuple)) or v is None})
    training.log_params(params)


def _after(training: Training, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any,
           callback: Any) -> None:
    trainer = args[0]
    if callback is not None and callback in trainer.callbacks:
        trainer.callbacks.remove(callback)
    module = args[1] if len(args) > 1 else kwargs.get("model")
    if module is None or not trainer.is_global_zero:
        return
    training.safely("log the model", partial(_log_module, training, module))


def _log_module(training: Training, module: Any) -> None:
    """The state dict rebuilt from the module's hyperparameters; else TorchScript."""
    hparams = dict(getattr(module, "hparams", {}) or {})
    try:
        training.log_model(module, None, None, init_kwargs=hparams)
    except Exception as first:  # noqa: BLE001 - a module that cannot be rebuilt: script it
        try:
            scripted = module.to_torchscript()
        except Exception:  # noqa: BLE001 - say why the first way failed
            raise first from None
        training.log_model(scripted, None, None)
