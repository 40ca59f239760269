"""MLflow's ``mlflow.pytorch``: ``torch.nn.Module`` models. PyTorch loads on first use.

A module whose constructor takes arguments needs them to be rebuilt: pass
``init_args=`` / ``init_kwargs=``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .autolog.lightning import autolog
from .models import ModelMeta
from .pyfunc import (
    RegisteredModelInfo,
    load_flavor_model,
    log_flavor_model,
    save_flavor_model,
)

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]

FLAVOR_NAME = "pytorch"


def log_model(pytorch_model: Any, artifact_path: str | None = None, conda_env: Any = None,
              code_paths: Iterable[str | os.PathLike[str]] | None = None,
              pickle_module: Any = None, registered_model_name: str | None = None,
              signature: Any = None, input_example: Any = None,
              await_registration_for: int | None = None, extra_files: Any = None,
              pip_requirements: Iterable[str] | str | None = None,
              extra_pip_requirements: Iterable[str] | str | None = None,
              metadata: Mapping[str, Any] | None = None, *, name: str | None = None,
              init_args: Sequence[Any] | None = None,
              init_kwargs: Mapping[str, Any] | None = None,
              **mlflow_args: Any) -> RegisteredModelInfo:
    """Log a PyTorch module into the active run under ``name`` and, with
    ``registered_model_name``, register it as that model's next version."""
    return log_flavor_model(
        FLAVOR_NAME, pytorch_model, artifact_path, name=name,
        registered_model_name=registered_model_name, signature=signature,
        input_example=input_example, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, code_paths=code_paths,
        metadata=metadata, conda_env=conda_env,
        options={"init_args": init_args, "init_kwargs": init_kwargs},
        mlflow_args={**mlflow_args, "pickle_module": pickle_module,
                     "extra_files": extra_files, **_export(mlflow_args)})


def save_model(pytorch_model: Any, path: str | os.PathLike[str], conda_env: Any = None,
               mlflow_model: Any = None,
               code_paths: Iterable[str | os.PathLike[str]] | None = None,
               pickle_module: Any = None, signature: Any = None, input_example: Any = None,
               extra_files: Any = None, pip_requirements: Iterable[str] | str | None = None,
               extra_pip_requirements: Iterable[str] | str | None = None,
               metadata: Mapping[str, Any] | None = None, *,
               init_args: Sequence[Any] | None = None,
               init_kwargs: Mapping[str, Any] | None = None,
               **mlflow_args: Any) -> ModelMeta:
    """Save a PyTorch module as a model folder at ``path``."""
    return save_flavor_model(
        FLAVOR_NAME, pytorch_model, path, signature=signature, input_example=input_example,
        pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths, metadata=metadata, conda_env=conda_env,
        options={"init_args": init_args, "init_kwargs": init_kwargs},
        mlflow_args={**mlflow_args, "mlflow_model": mlflow_model,
                     "pickle_module": pickle_module, "extra_files": extra_files,
                     **_export(mlflow_args)})


def load_model(model_uri: str | os.PathLike[str],
               dst_path: str | os.PathLike[str] | None = None, *, trust: bool = False) -> Any:
    """The ``torch.nn.Module`` of a model."""
    return load_flavor_model(FLAVOR_NAME, model_uri, dst_path, trust)


def _export(mlflow_args: dict[str, Any]) -> dict[str, Any]:
    """``export_model=False`` is MLflow's default, and ours: it asks for nothing."""
    return {"export_model": None} if mlflow_args.get("export_model") is False else {}
