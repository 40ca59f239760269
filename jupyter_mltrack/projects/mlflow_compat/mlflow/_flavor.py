"""``mlflow.<flavor>.log_model`` / ``load_model`` on jupyter_mltrack's model format."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def log_model(model: Any, artifact_path: str | None = None, *, name: str | None = None,
              signature: Any = None, input_example: Any = None,
              registered_model_name: str | None = None, **_ignored: Any) -> Any:
    from jupyter_mltrack.models import log_model as log
    from jupyter_mltrack.registry import register_model

    info = log(model, name or artifact_path or "model",
                             signature="infer" if signature is None else signature,
                             input_example=input_example)
    if registered_model_name:
        register_model(info.model_uri, registered_model_name)
    return info


def load_model(model_uri: str, **_ignored: Any) -> Any:
    from jupyter_mltrack.models import load_native

    return load_native(model_uri, trust=True)


def autolog_of(flavor: str, mlflow_name: str) -> Callable[..., None]:
    """``mlflow.<mlflow_name>.autolog`` running jupyter_mltrack's autologging of ``flavor``;
    arguments jupyter_mltrack does not know are ignored with a warning."""

    def autolog(*args: Any, **kwargs: Any) -> None:
        import importlib

        from . import _known_arguments

        module = importlib.import_module(f"jupyter_mltrack.autolog.{flavor}")
        wanted = _known_arguments(module.autolog, kwargs, f"mlflow.{mlflow_name}.autolog")
        module.autolog(*args, **wanted)

    autolog.__doc__ = f"``mlflow.{mlflow_name}.autolog()``: jupyter_mltrack's autologging."
    return autolog

