"""MLflow's tracking API for project code, backed by jupyter_mltrack.

``mltrack run`` puts the folder of this package on ``PYTHONPATH`` of a project whose
environment has no MLflow (``MLTRACK_MLFLOW_COMPAT=auto``, the default; ``always`` or
``never`` decide for every run), so that projects written for MLflow (``import mlflow``,
``mlflow.log_metric``, ``mlflow.sklearn.log_model``, ``mlflow.projects.run``) run
unchanged and log into the run ``mltrack run`` created. It covers the fluent tracking
API, model logging for the built-in flavors, ``MlflowClient`` and project runs; other
MLflow features raise an error naming what is missing.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

MODE_ENV = "MLTRACK_MLFLOW_COMPAT"

#: The folder to put on PYTHONPATH: it holds the ``mlflow`` package.
FOLDER = str(Path(__file__).resolve().parent)


def wanted(python_has_mlflow: bool) -> bool:
    """Whether a child process gets the compatibility package."""
    mode = os.environ.get(MODE_ENV, "auto").strip().lower()
    if mode in ("always", "1", "true"):
        return True
    if mode in ("never", "0", "false"):
        return False
    return not python_has_mlflow


def local_has_mlflow() -> bool:
    """Whether this interpreter can import the real MLflow."""
    spec = importlib.util.find_spec("mlflow")
    return spec is not None and not str(spec.origin or "").startswith(FOLDER)
