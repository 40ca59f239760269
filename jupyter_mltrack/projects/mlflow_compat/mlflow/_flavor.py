"""``mlflow.<flavor>.log_model`` / ``load_model`` on jupyter_mltrack's model format."""

from __future__ import annotations

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
