"""MLflow's ``mlflow.sklearn``: scikit-learn estimators and pipelines.

``import jupyter_mltrack as mlflow`` then ``mlflow.sklearn.log_model(model, name="model",
registered_model_name="churn")``. Models are saved with skops (no pickle) unless
``serialization_format="cloudpickle"`` is asked for. scikit-learn loads on first use.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from .autolog.sklearn import autolog
from .models import ModelMeta
from .pyfunc import (
    RegisteredModelInfo,
    load_flavor_model,
    log_flavor_model,
    save_flavor_model,
)

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]

FLAVOR_NAME = "sklearn"


def log_model(sk_model: Any, artifact_path: str | None = None, conda_env: Any = None,
              code_paths: Iterable[str | os.PathLike[str]] | None = None,
              serialization_format: str | None = None,
              registered_model_name: str | None = None, signature: Any = None,
              input_example: Any = None, await_registration_for: int | None = None,
              pip_requirements: Iterable[str] | str | None = None,
              extra_pip_requirements: Iterable[str] | str | None = None,
              pyfunc_predict_fn: str = "predict",
              metadata: Mapping[str, Any] | None = None, *, name: str | None = None,
              **mlflow_args: Any) -> RegisteredModelInfo:
    """Log a scikit-learn model into the active run under ``name`` and, with
    ``registered_model_name``, register it as that model's next version."""
    return log_flavor_model(
        FLAVOR_NAME, sk_model, artifact_path, name=name,
        registered_model_name=registered_model_name, signature=signature,
        input_example=input_example, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, code_paths=code_paths,
        metadata=metadata, conda_env=conda_env,
        options={"serialization_format": serialization_format},
        mlflow_args={**mlflow_args, "pyfunc_predict_fn": _predict_fn(pyfunc_predict_fn)})


def save_model(sk_model: Any, path: str | os.PathLike[str], conda_env: Any = None,
               code_paths: Iterable[str | os.PathLike[str]] | None = None,
               mlflow_model: Any = None, serialization_format: str | None = None,
               signature: Any = None, input_example: Any = None,
               pip_requirements: Iterable[str] | str | None = None,
               extra_pip_requirements: Iterable[str] | str | None = None,
               pyfunc_predict_fn: str = "predict",
               metadata: Mapping[str, Any] | None = None, **mlflow_args: Any) -> ModelMeta:
    """Save a scikit-learn model as a model folder at ``path``."""
    return save_flavor_model(
        FLAVOR_NAME, sk_model, path, signature=signature, input_example=input_example,
        pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths, metadata=metadata, conda_env=conda_env,
        options={"serialization_format": serialization_format},
        mlflow_args={**mlflow_args, "mlflow_model": mlflow_model,
                     "pyfunc_predict_fn": _predict_fn(pyfunc_predict_fn)})


def load_model(model_uri: str | os.PathLike[str],
               dst_path: str | os.PathLike[str] | None = None, *, trust: bool = False) -> Any:
    """The scikit-learn object of a model: ``runs:/<run_id>/model``, ``models:/name/1``, a
    folder (``trust=True`` for pickled files from outside the store)."""
    return load_flavor_model(FLAVOR_NAME, model_uri, dst_path, trust)


def _predict_fn(name: str) -> str | None:
    return None if name == "predict" else name
