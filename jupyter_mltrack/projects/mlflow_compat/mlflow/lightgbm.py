"""``mlflow.lightgbm``: model logging and autologging through jupyter_mltrack."""

from ._flavor import autolog_of, load_model, log_model

autolog = autolog_of("lightgbm", "lightgbm")

__all__ = ["autolog", "load_model", "log_model"]
