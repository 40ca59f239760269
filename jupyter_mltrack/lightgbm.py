"""MLflow's ``mlflow.lightgbm``: LightGBM Boosters and the scikit-learn wrappers
(``LGBMClassifier``...). LightGBM loads on first use."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from .autolog.lightgbm import autolog
from .models import ModelMeta
from .pyfunc import (
    RegisteredModelInfo,
    load_flavor_model,
    log_flavor_model,
    save_flavor_model,
)

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]

FLAVOR_NAME = "lightgbm"


def log_model(lgb_model: Any, artifact_path: str | None = None, conda_env: Any = None,
              code_paths: Iterable[str | os.PathLike[str]] | None = None,
              registered_model_name: str | None = None, signature: Any = None,
              input_example: Any = None, await_registration_for: int | None = None,
              pip_requirements: Iterable[str] | str | None = None,
              extra_pip_requirements: Iterable[str] | str | None = None,
              metadata: Mapping[str, Any] | None = None, *, name: str | None = None,
              **mlflow_args: Any) -> RegisteredModelInfo:
    """Log a LightGBM model into the active run under ``name`` and, with
    ``registered_model_name``, register it as that model's next version."""
    return log_flavor_model(
        FLAVOR_NAME, lgb_model, artifact_path, name=name,
        registered_model_name=registered_model_name, signature=signature,
        input_example=input_example, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, code_paths=code_paths,
        metadata=metadata, conda_env=conda_env, mlflow_args=mlflow_args)


def save_model(lgb_model: Any, path: str | os.PathLike[str], conda_env: Any = None,
               code_paths: Iterable[str | os.PathLike[str]] | None = None,
               mlflow_model: Any = None, signature: Any = None, input_example: Any = None,
               pip_requirements: Iterable[str] | str | None = None,
               extra_pip_requirements: Iterable[str] | str | None = None,
               metadata: Mapping[str, Any] | None = None, **mlflow_args: Any) -> ModelMeta:
    """Save a LightGBM model as a model folder at ``path``."""
    return save_flavor_model(
        FLAVOR_NAME, lgb_model, path, signature=signature, input_example=input_example,
        pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths, metadata=metadata, conda_env=conda_env,
        mlflow_args={**mlflow_args, "mlflow_model": mlflow_model})


def load_model(model_uri: str | os.PathLike[str],
               dst_path: str | os.PathLike[str] | None = None, *, trust: bool = False) -> Any:
    """The LightGBM object of a model (the class it was saved as)."""
    return load_flavor_model(FLAVOR_NAME, model_uri, dst_path, trust)
