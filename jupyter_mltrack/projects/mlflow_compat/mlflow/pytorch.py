"""``mlflow.pytorch``: model logging through jupyter_mltrack."""

from ._flavor import load_model, log_model

__all__ = ["load_model", "log_model"]
