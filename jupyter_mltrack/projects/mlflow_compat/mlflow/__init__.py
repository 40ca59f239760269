"""``import mlflow`` in a project run by ``mltrack run``: jupyter_mltrack underneath.

Not MLflow: a compatibility layer that maps MLflow's fluent tracking API onto
jupyter_mltrack (see ``jupyter_mltrack.projects.mlflow_compat``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jupyter_mltrack import (
    ActiveRun,
    active_run,
    create_experiment,
    end_run,
    get_artifact_uri,
    get_experiment,
    get_experiment_by_name,
    get_run,
    get_tracking_uri,
    last_active_run,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_text,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)
from jupyter_mltrack import __version__ as _mltrack_version
from jupyter_mltrack.errors import MLTrackError as MlflowException

from . import models, projects, sklearn, tracking  # noqa: F401
from .tracking import MlflowClient

__version__ = f"0.0.0+mltrack.{_mltrack_version}"
run = projects.run


def autolog(*args: Any, **kwargs: Any) -> None:
    """``mlflow.autolog()``: jupyter_mltrack's autologging of every installed framework."""
    from jupyter_mltrack.autolog import autolog as enable

    enable(*args, **_known_arguments(enable, kwargs, "mlflow.autolog"))


def _known_arguments(function: Callable[..., Any], kwargs: dict[str, Any], name: str
                     ) -> dict[str, Any]:
    """``kwargs`` less those ``function`` does not take (MLflow has more), with a warning."""
    import inspect
    import warnings

    accepted = inspect.signature(function).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        warnings.warn(f"{name}: {', '.join(unknown)} not supported by mltrack's MLflow "
                      "compatibility layer; ignored.", stacklevel=3)
    return {k: v for k, v in kwargs.items() if k in accepted}


def register_model(model_uri: str, name: str, **kwargs: Any) -> Any:
    from jupyter_mltrack.registry import register_model as register

    return register(model_uri, name, tags=kwargs.get("tags"))


#: Flavor modules that ``mlflow.<name>`` imports on first use, as MLflow's lazy modules do.
_FLAVORS = ("keras", "lightgbm", "pytorch", "pyfunc", "xgboost")


def __getattr__(name: str) -> Any:
    if name in _FLAVORS:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(
        f"mlflow.{name} is not part of mltrack's MLflow compatibility layer (it covers "
        "tracking, model logging and projects); install MLflow in the project's "
        "environment, or use jupyter_mltrack directly."
    )


__all__ = [
    "ActiveRun", "MlflowClient", "MlflowException", "active_run", "autolog",
    "create_experiment", "end_run", "get_artifact_uri", "get_experiment",
    "get_experiment_by_name", "get_run", "get_tracking_uri", "last_active_run",
    "log_artifact", "log_artifacts", "log_dict", "log_figure", "log_metric", "log_metrics",
    "log_param", "log_params", "log_text", "register_model", "run", "search_runs", "set_experiment",
    "set_tag", "set_tags", "set_tracking_uri", "start_run",
]
