"""Autologging: params, metrics and models of ``fit`` calls, with no logging code.

::

    import jupyter_mltrack as mltrack

    mltrack.autolog()                       # every installed framework
    # or one: from jupyter_mltrack.autolog import sklearn; sklearn.autolog()
    RandomForestClassifier().fit(X, y)      # a run with params, metrics and the model

Frameworks: scikit-learn, XGBoost, LightGBM, Keras, and PyTorch Lightning when it is
installed. Each is patched when it is first imported (``autolog()`` imports none of
them). Inside ``%%track`` or ``with start_run()`` the values land in that run; otherwise
each training gets a run of its own. ``autolog(disable=True)`` puts the original
functions back. A failure while logging is warned about once and never breaks ``fit``.

This module is callable: ``jupyter_mltrack.autolog(...)`` is :func:`autolog`.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from typing import Any

from . import hooks

#: Flavor module here -> the modules whose import enables it.
FLAVORS: dict[str, tuple[str, ...]] = {
    "sklearn": ("sklearn",),
    "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",),
    "keras": ("keras",),
    "lightning": ("lightning", "pytorch_lightning"),
}


def autolog(log_input_examples: bool = False, log_model_signatures: bool = True,
            log_models: bool = True, log_datasets: bool = True, disable: bool = False,
            exclusive: bool = False, disable_for_unsupported_versions: bool = False,
            silent: bool = False, extra_tags: dict[str, Any] | None = None) -> None:
    """Autolog every supported framework: those imported now, the others when imported.

    ``log_models`` logs the fitted model under ``model`` with a signature inferred from
    the first training rows (``log_model_signatures``) and, with ``log_input_examples``,
    those rows as input example. ``exclusive=True`` logs nothing into runs the user
    started. ``silent=True`` hides autologging's warnings. ``disable=True`` undoes it.
    ``log_datasets`` and ``disable_for_unsupported_versions`` are accepted for MLflow
    compatibility and change nothing here.
    """
    settings = {"log_input_examples": log_input_examples,
                "log_model_signatures": log_model_signatures, "log_models": log_models,
                "disable": disable, "exclusive": exclusive, "silent": silent,
                "extra_tags": extra_tags}
    for flavor, modules in FLAVORS.items():
        for name in modules:
            hooks.forget(name)
        if disable:
            if f"{__name__}.{flavor}" in sys.modules:
                _flavor(flavor).autolog(disable=True)
            continue

        def enable(module: types.ModuleType, flavor: str = flavor) -> None:
            for other in FLAVORS[flavor]:
                hooks.forget(other)  # lightning and pytorch_lightning: patch once
            flavor_autolog = _flavor(flavor).autolog
            accepted = inspect.signature(flavor_autolog).parameters
            flavor_autolog(**{k: v for k, v in settings.items() if k in accepted})

        for name in modules:
            hooks.when_imported(name, enable)


def _flavor(name: str) -> Any:
    return importlib.import_module(f"{__name__}.{name}")


class _CallableModule(types.ModuleType):
    """``jupyter_mltrack.autolog`` is this package; calling it calls :func:`autolog`."""

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return autolog(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["FLAVORS", "autolog"]
