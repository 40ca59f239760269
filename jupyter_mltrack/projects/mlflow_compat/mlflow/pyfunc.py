"""``mlflow.pyfunc.load_model``: jupyter_mltrack's ``load_model``."""

from typing import Any


def load_model(model_uri: str, **_ignored: Any) -> Any:
    from jupyter_mltrack.models import load_model as load

    return load(model_uri, trust=True)
