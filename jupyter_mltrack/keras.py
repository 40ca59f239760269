"""MLflow's ``mlflow.keras``: Keras 3 models, saved in the ``.keras`` format. Keras loads
on first use."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from .autolog.keras import autolog
from .models import ModelMeta
from .pyfunc import (
    RegisteredModelInfo,
    load_flavor_model,
    log_flavor_model,
    save_flavor_model,
)

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]

FLAVOR_NAME = "keras"


def log_model(model: Any, artifact_path: str | None = None,
              save_exported_model: bool = False, conda_env: Any = None,
              signature: Any = None, input_example: Any = None,
              registered_model_name: str | None = None,
              await_registration_for: int | None = None,
              pip_requirements: Iterable[str] | str | None = None,
              extra_pip_requirements: Iterable[str] | str | None = None,
              save_model_kwargs: Mapping[str, Any] | None = None,
              metadata: Mapping[str, Any] | None = None, *, name: str | None = None,
              **mlflow_args: Any) -> RegisteredModelInfo:
    """Log a Keras model into the active run under ``name`` and, with
    ``registered_model_name``, register it as that model's next version."""
    return log_flavor_model(
        FLAVOR_NAME, model, artifact_path, name=name,
        registered_model_name=registered_model_name, signature=signature,
        input_example=input_example, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, metadata=metadata,
        conda_env=conda_env,
        mlflow_args={**mlflow_args, "save_model_kwargs": save_model_kwargs,
                     "save_exported_model": save_exported_model or None})


def save_model(model: Any, path: str | os.PathLike[str], save_exported_model: bool = False,
               conda_env: Any = None, mlflow_model: Any = None, signature: Any = None,
               input_example: Any = None, pip_requirements: Iterable[str] | str | None = None,
               extra_pip_requirements: Iterable[str] | str | None = None,
               save_model_kwargs: Mapping[str, Any] | None = None,
               metadata: Mapping[str, Any] | None = None) -> ModelMeta:
    """Save a Keras model as a model folder at ``path``."""
    return save_flavor_model(
        FLAVOR_NAME, model, path, signature=signature, input_example=input_example,
        pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
        metadata=metadata, conda_env=conda_env,
        mlflow_args={"mlflow_model": mlflow_model, "save_model_kwargs": save_model_kwargs,
                     "save_exported_model": save_exported_model or None})


def load_model(model_uri: str | os.PathLike[str],
               dst_path: str | os.PathLike[str] | None = None,
               custom_objects: Mapping[str, Any] | None = None,
               load_model_kwargs: Mapping[str, Any] | None = None, *,
               trust: bool = False) -> Any:
    """The Keras model of a model folder or URI."""
    if custom_objects or load_model_kwargs:
        from .errors import InvalidParameter

        raise InvalidParameter(
            "custom_objects/load_model_kwargs are not supported here: a model with custom "
            "layers loads when their classes are importable (log it with code_paths=[...])."
        )
    return load_flavor_model(FLAVOR_NAME, model_uri, dst_path, trust)
