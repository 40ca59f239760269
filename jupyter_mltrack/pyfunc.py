"""MLflow's ``mlflow.pyfunc``: models written in Python, and loading any model for
``predict``.

::

    import jupyter_mltrack as mlflow

    class AddN(mlflow.pyfunc.PythonModel):
        def __init__(self, n):
            self.n = n

        def predict(self, context, model_input, params=None):
            return model_input + self.n

    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="add_n", python_model=AddN(2),
                                       registered_model_name="adder")
    mlflow.pyfunc.load_model("models:/adder/1").predict(frame)

The framework modules (:mod:`jupyter_mltrack.sklearn`, ``.xgboost``, ``.lightgbm``,
``.pytorch``, ``.keras``) are built on the two functions here that every flavor shares,
:func:`log_flavor_model` and :func:`save_flavor_model`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import InvalidModel, InvalidParameter
from .models import (
    ModelInfo,
    ModelMeta,
    PyFuncModel,
    PythonModel,
    PythonModelContext,
    load_native,
    read_model_meta,
)
from .models import load_model as _load_model
from .models import log_model as _log_model
from .models import save_model as _save_model
from .models.flavors import get_flavor
from .registry import register_model

__all__ = ["FLAVOR_NAME", "ModelInfo", "PyFuncModel", "PythonModel", "PythonModelContext",
           "load_model", "log_model", "save_model"]

FLAVOR_NAME = "python_function"

#: MLflow arguments that change nothing here: registration is synchronous, and a model
#: is logged into its run (MLflow 3's separate logged-model entity has no counterpart).
_NO_EFFECT = ("await_registration_for", "step", "model_type", "infer_code_paths")


@dataclass(frozen=True)
class RegisteredModelInfo(ModelInfo):
    """What the flavor modules' ``log_model`` returns: a ModelInfo, plus the version
    number when ``registered_model_name`` registered it."""

    registered_model_version: int | None = None


def log_flavor_model(flavor: str, model: Any, artifact_path: str | None = None, *,
                     name: str | None = None, registered_model_name: str | None = None,
                     signature: Any = None, input_example: Any = None,
                     pip_requirements: Iterable[str] | str | None = None,
                     extra_pip_requirements: Iterable[str] | str | None = None,
                     code_paths: Iterable[str | os.PathLike[str]] | None = None,
                     metadata: Mapping[str, Any] | None = None, conda_env: Any = None,
                     options: Mapping[str, Any] | None = None,
                     mlflow_args: Mapping[str, Any] | None = None) -> RegisteredModelInfo:
    """``log_model`` of a flavor module: save ``model`` with that flavor into the active
    run under ``name`` (MLflow's older ``artifact_path``), and register it as the next
    version of ``registered_model_name`` when given. ``mlflow_args`` may hold ``run_id``
    and ``client`` (for a run other than the active one, as ``log_model`` takes them)."""
    _check_flavor(flavor, model)
    target = _model_name(name, artifact_path)
    args = dict(mlflow_args or {})
    where = {"run_id": args.pop("run_id", None), "client": args.pop("client", None)}
    info = _log_model(model, target, **where, **_save_args(
        model, signature, input_example, pip_requirements, extra_pip_requirements,
        code_paths, metadata, conda_env, options, args))
    number = None
    if registered_model_name is not None:
        number = register_model(info.model_uri, registered_model_name,
                                client=where["client"]).version
    return RegisteredModelInfo(**{f.name: getattr(info, f.name) for f in fields(info)},
                               registered_model_version=number)


def save_flavor_model(flavor: str, model: Any, path: str | os.PathLike[str], *,
                      signature: Any = None, input_example: Any = None,
                      pip_requirements: Iterable[str] | str | None = None,
                      extra_pip_requirements: Iterable[str] | str | None = None,
                      code_paths: Iterable[str | os.PathLike[str]] | None = None,
                      metadata: Mapping[str, Any] | None = None, conda_env: Any = None,
                      options: Mapping[str, Any] | None = None,
                      mlflow_args: Mapping[str, Any] | None = None) -> ModelMeta:
    """``save_model`` of a flavor module: a model folder at ``path`` (new, or empty)."""
    _check_flavor(flavor, model)
    return _save_model(model, path, **_save_args(
        model, signature, input_example, pip_requirements, extra_pip_requirements,
        code_paths, metadata, conda_env, options, mlflow_args))


def load_flavor_model(flavor: str, model_uri: str | os.PathLike[str],
                      dst_path: str | os.PathLike[str] | None = None,
                      trust: bool = False) -> Any:
    """``load_model`` of a flavor module: the framework object itself."""
    meta = read_model_meta(model_uri)
    if flavor in meta.flavors:
        return load_native(model_uri, trust, flavor=flavor, dst_path=dst_path)
    # saved with the framework's own flavor (an XGBoost scikit-learn wrapper logged
    # through jupyter_mltrack.sklearn): fine when the object is one this flavor takes
    native = load_native(model_uri, trust, dst_path=dst_path)
    if not get_flavor(flavor).can_save(native):
        raise InvalidModel(
            f"{os.fspath(model_uri)} is not a {flavor} model (it has "
            f"{', '.join(meta.flavors)}); load it with jupyter_mltrack.pyfunc.load_model()."
        )
    return native


def _check_flavor(flavor: str, model: Any) -> None:
    if isinstance(model, (str, os.PathLike)):
        return  # save_model says what to pass instead
    if not get_flavor(flavor).can_save(model):
        kind = f"{type(model).__module__}.{type(model).__qualname__}"
        raise InvalidParameter(
            f"A {kind} is not a {flavor} model; log it with the module of its framework, "
            "or with jupyter_mltrack.log_model(), which detects the framework."
        )


def _model_name(name: str | None, artifact_path: str | None) -> str:
    if name is not None and artifact_path is not None and name != artifact_path:
        raise InvalidParameter(
            f"name={name!r} and artifact_path={artifact_path!r} both name the model; "
            "pass only name=."
        )
    return name or artifact_path or "model"


def _save_args(model: Any, signature: Any, input_example: Any,
               pip_requirements: Iterable[str] | str | None,
               extra_pip_requirements: Iterable[str] | str | None,
               code_paths: Iterable[str | os.PathLike[str]] | None,
               metadata: Mapping[str, Any] | None, conda_env: Any,
               options: Mapping[str, Any] | None,
               mlflow_args: Mapping[str, Any] | None) -> dict[str, Any]:
    """Our ``save_model`` keyword arguments for MLflow's."""
    unsupported = sorted(k for k, v in (mlflow_args or {}).items()
                         if v is not None and k not in _NO_EFFECT)
    if unsupported:
        raise InvalidParameter(
            f"{', '.join(unsupported)} {'is' if len(unsupported) == 1 else 'are'} not "
            "supported here; log run params and tags with log_params()/set_tags(), and pass "
            "files the model needs through code_paths= or (for a PythonModel) artifacts=."
        )
    if pip_requirements is not None and extra_pip_requirements is not None:
        raise InvalidParameter("Pass pip_requirements (the full list) or "
                               "extra_pip_requirements (added to the inferred ones), not both.")
    requirements = pip_requirements
    if extra_pip_requirements is not None:
        requirements = _inferred_requirements(model) + _lines(extra_pip_requirements)
    if conda_env is not None:
        warnings.warn(
            "conda_env is not used: the model's requirements.txt lists its pip packages "
            "(inferred, or pip_requirements= / extra_pip_requirements=).", stacklevel=4)
    return {
        # MLflow infers the signature from an input example when none is given
        "signature": "infer" if signature is None else signature,
        "input_example": input_example, "requirements": requirements,
        "code_paths": code_paths, "metadata": metadata,
        **{k: v for k, v in (options or {}).items() if v is not None},
    }


def _lines(requirements: Iterable[str] | str) -> list[str]:
    from .models.requirements import normalise

    return normalise(requirements)


def _inferred_requirements(model: Any) -> list[str]:
    """What the model's classes and functions need, pinned to the installed versions."""
    from .models.requirements import model_modules, pinned

    return pinned(sorted(model_modules(model)))[0]


# -- mlflow.pyfunc -----------------------------------------------------------------------


def log_model(artifact_path: str | None = None, loader_module: str | None = None,
              data_path: str | None = None,
              code_paths: Iterable[str | os.PathLike[str]] | None = None,
              infer_code_paths: bool = False, conda_env: Any = None,
              python_model: Any = None, artifacts: Mapping[str, str] | None = None,
              registered_model_name: str | None = None, signature: Any = None,
              input_example: Any = None, await_registration_for: int | None = None,
              pip_requirements: Iterable[str] | str | None = None,
              extra_pip_requirements: Iterable[str] | str | None = None,
              metadata: Mapping[str, Any] | None = None,
              model_config: Mapping[str, Any] | None = None, *, name: str | None = None,
              **mlflow_args: Any) -> RegisteredModelInfo:
    """Log a :class:`PythonModel` (or a plain function) into the active run under
    ``name``, with ``artifacts`` (name to local path) that ``load_context`` reads."""
    _refuse_loader_module(loader_module, data_path)
    return log_flavor_model(
        FLAVOR_NAME, _python_model(python_model), artifact_path, name=name,
        registered_model_name=registered_model_name, signature=signature,
        input_example=input_example, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, code_paths=code_paths,
        metadata=metadata, conda_env=conda_env,
        options={"artifacts": artifacts, "model_config": model_config},
        mlflow_args=mlflow_args)


def save_model(path: str | os.PathLike[str], loader_module: str | None = None,
               data_path: str | None = None,
               code_paths: Iterable[str | os.PathLike[str]] | None = None,
               infer_code_paths: bool = False, conda_env: Any = None,
               mlflow_model: Any = None, python_model: Any = None,
               artifacts: Mapping[str, str] | None = None, signature: Any = None,
               input_example: Any = None,
               pip_requirements: Iterable[str] | str | None = None,
               extra_pip_requirements: Iterable[str] | str | None = None,
               metadata: Mapping[str, Any] | None = None,
               model_config: Mapping[str, Any] | None = None, **mlflow_args: Any) -> ModelMeta:
    """Save a :class:`PythonModel` (or a plain function) as a model folder at ``path``."""
    _refuse_loader_module(loader_module, data_path)
    return save_flavor_model(
        FLAVOR_NAME, _python_model(python_model), path, signature=signature,
        input_example=input_example, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, code_paths=code_paths,
        metadata=metadata, conda_env=conda_env,
        options={"artifacts": artifacts, "model_config": model_config},
        mlflow_args={**mlflow_args, "mlflow_model": mlflow_model})


def load_model(model_uri: str | os.PathLike[str], suppress_warnings: bool = False,
               dst_path: str | os.PathLike[str] | None = None,
               model_config: Mapping[str, Any] | None = None, *,
               trust: bool = False) -> PyFuncModel:
    """Any model, for ``predict(data)``: ``runs:/<run_id>/model``, ``models:/name/3``,
    ``models:/name@alias`` or a folder (``trust=True`` for pickled files from outside
    the store)."""
    if model_config is not None:
        raise InvalidParameter(
            "model_config is given when the model is saved here "
            "(log_model(..., model_config={...})), not when it is loaded."
        )
    return _load_model(model_uri, trust, dst_path=dst_path)


def _python_model(python_model: Any) -> Any:
    if python_model is None:
        raise InvalidParameter("Pass python_model=: a PythonModel instance or a function.")
    if isinstance(python_model, (str, Path)):
        raise InvalidParameter(
            f"python_model={os.fspath(python_model)!r} is a path; models from code are not "
            "supported here. Pass a PythonModel instance or a function."
        )
    return python_model


def _refuse_loader_module(loader_module: str | None, data_path: str | None) -> None:
    if loader_module is not None or data_path is not None:
        raise InvalidParameter(
            "loader_module/data_path models are not supported here; wrap the model in a "
            "PythonModel (python_model=) whose load_context reads its artifacts=."
        )
