"""``mlflow.tracking``: ``MlflowClient`` is jupyter_mltrack's ``Client``."""

from jupyter_mltrack import Client as MlflowClient
from jupyter_mltrack import get_tracking_uri, set_tracking_uri

__all__ = ["MlflowClient", "get_tracking_uri", "set_tracking_uri"]
