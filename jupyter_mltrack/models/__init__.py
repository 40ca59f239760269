"""One model format for every framework: save once, load anywhere, ``predict`` the same way.

::

    info = mltrack.log_model(pipeline, input_example=X_test[:5])
    model = mltrack.load_model(info.model_uri)      # or models:/churn/Production
    model.predict(X_new)                             # DataFrame, array, records, dict

Flavors (sklearn, xgboost, lightgbm, pytorch, keras, python_function) are plugins of the
``jupyter_mltrack.flavors`` entry-point group; see :mod:`jupyter_mltrack.models.flavors`.
Importing this package loads no ML framework, and not the code that saves models (the
artifact stores, requirement pinning) until a saving name is used: a scoring server only
loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .flavors import Flavor, register_flavor
from .format import ModelMeta
from .load import (
    _load_pyfunc,  # noqa: F401 - MLflow's loader entry point (loader_module)
    load_model,
    load_native,
    model_files_digest,
    read_model_meta,
    register_model_uri_resolver,
)
from .pyfunc import PyFuncModel, PythonModel, PythonModelContext
from .signature import ColSpec, ModelSignature, ParamSpec, Schema, TensorSpec, infer_signature

if TYPE_CHECKING:
    from .save import LOGGED_MODELS_TAG, ModelInfo, log_model, save_model

_SAVING = ("LOGGED_MODELS_TAG", "ModelInfo", "log_model", "save_model")


def __getattr__(name: str) -> object:
    if name not in _SAVING:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import save

    value = getattr(save, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SAVING))


__all__ = [
    "LOGGED_MODELS_TAG",
    "ColSpec",
    "Flavor",
    "ModelInfo",
    "ModelMeta",
    "ModelSignature",
    "ParamSpec",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "Schema",
    "TensorSpec",
    "infer_signature",
    "load_model",
    "load_native",
    "log_model",
    "model_files_digest",
    "read_model_meta",
    "register_flavor",
    "register_model_uri_resolver",
    "save_model",
]
