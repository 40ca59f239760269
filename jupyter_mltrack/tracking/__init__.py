"""The tracking service: the Client, the module-level API, the background writer and
run-context capture."""

from ..store.search import quote_literal
from .client import Client

__all__ = ["Client", "MlflowClient", "quote_literal"]


def __getattr__(name: str) -> object:
    # ``from mlflow.tracking import MlflowClient`` is how much MLflow code imports it. The
    # class adds the registry, a layer above this one, so it is only named here, on use.
    if name == "MlflowClient":
        import importlib

        return importlib.import_module("jupyter_mltrack.client").MlflowClient
    raise AttributeError(f"module 'jupyter_mltrack.tracking' has no attribute {name!r}")
