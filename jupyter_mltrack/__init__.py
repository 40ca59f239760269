"""jupyter_mltrack: ML experiment tracking, models and a model registry, native to Jupyter.

The names MLflow users know, on a project-local SQLite store by default::

    import jupyter_mltrack as mltrack

    mltrack.set_experiment("mnist")
    with mltrack.start_run():
        mltrack.log_param("lr", 0.01)
        for step in range(100):
            mltrack.log_metric("loss", 1 / (step + 1), step=step)
    mltrack.search_runs(filter_string="metrics.loss < 0.1")

Heavy libraries (SQLAlchemy, pandas, the ML frameworks) load on first use.
"""

from ._version import __version__
from .entities import (
    Experiment,
    FileInfo,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from .errors import (
    ExperimentNotFound,
    InvalidFilter,
    InvalidParameter,
    MLTrackError,
    NotFound,
    ParamConflict,
    RunNotFound,
)

# Registers the provider that tags every run with its notebook cell, notebook path,
# kernel and imported package versions (stdlib only; IPython is not imported).
from .notebook import provenance as _provenance  # noqa: F401
from .tracking.client import Client
from .tracking.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_experiment,
    delete_run,
    end_run,
    flush,
    get_artifact_uri,
    get_experiment,
    get_experiment_by_name,
    get_experiment_id,
    get_metric_history,
    get_run,
    get_tracking_uri,
    last_active_run,
    log_artifact,
    log_artifacts,
    log_batch,
    log_dict,
    log_figure,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_text,
    restore_run,
    search_experiments,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)

# Names served from modules that load on first use (models, widgets, registry...).
# Each face or service adds its public names here and to __all__.
_LAZY: dict[str, str] = {
    "ExecutionFailed": "jupyter_mltrack.errors",
    "InvalidModel": "jupyter_mltrack.errors",
    "InvalidProject": "jupyter_mltrack.errors",
    "ModelInfo": "jupyter_mltrack.models",
    "ModelSignature": "jupyter_mltrack.models",
    "ModelVersion": "jupyter_mltrack.entities",
    "ModelVersionNotFound": "jupyter_mltrack.errors",
    "PyFuncModel": "jupyter_mltrack.models",
    "PythonModel": "jupyter_mltrack.models",
    "PythonModelContext": "jupyter_mltrack.models",
    "RegisteredModel": "jupyter_mltrack.entities",
    "RegisteredModelNotFound": "jupyter_mltrack.errors",
    "RegistryPolicy": "jupyter_mltrack.entities",
    "SignatureError": "jupyter_mltrack.errors",
    "Stage": "jupyter_mltrack.entities",
    "StageTransition": "jupyter_mltrack.entities",
    "StageTransitionDenied": "jupyter_mltrack.errors",
    "TransitionRequest": "jupyter_mltrack.entities",
    "UntrustedModel": "jupyter_mltrack.errors",
    "approve": "jupyter_mltrack.registry",
    "compare": "jupyter_mltrack.widgets",
    "create_registered_model": "jupyter_mltrack.registry",
    "delete_alias": "jupyter_mltrack.registry",
    "delete_model_version": "jupyter_mltrack.registry",
    "get_latest_versions": "jupyter_mltrack.registry",
    "get_model_version": "jupyter_mltrack.registry",
    "get_model_version_by_alias": "jupyter_mltrack.registry",
    "get_registered_model": "jupyter_mltrack.registry",
    "get_registry_policy": "jupyter_mltrack.registry",
    "history": "jupyter_mltrack.registry",
    "infer_signature": "jupyter_mltrack.models",
    "load_model": "jupyter_mltrack.models",
    "load_native": "jupyter_mltrack.models",
    "log_model": "jupyter_mltrack.models",
    "register_best": "jupyter_mltrack.registry",
    "register_model": "jupyter_mltrack.registry",
    "registry_panel": "jupyter_mltrack.widgets.registry_panel",
    "reject": "jupyter_mltrack.registry",
    "request_transition": "jupyter_mltrack.registry",
    "restore_model_version": "jupyter_mltrack.registry",
    "reproduce": "jupyter_mltrack.projects",
    "rollback": "jupyter_mltrack.registry",
    "run": "jupyter_mltrack.projects",
    "run_notebook": "jupyter_mltrack.projects",
    "save_model": "jupyter_mltrack.models",
    "search_model_versions": "jupyter_mltrack.registry",
    "search_registered_models": "jupyter_mltrack.registry",
    "set_alias": "jupyter_mltrack.registry",
    "set_model_version_tag": "jupyter_mltrack.registry",
    "set_registered_model_tag": "jupyter_mltrack.registry",
    "set_registry_policy": "jupyter_mltrack.registry",
    "show_run": "jupyter_mltrack.widgets",
    "transition_requests": "jupyter_mltrack.registry",
    "transition_stage": "jupyter_mltrack.registry",
    "update_model_version": "jupyter_mltrack.registry",
    "update_registered_model": "jupyter_mltrack.registry",
    "version_at": "jupyter_mltrack.registry",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_mltrack' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext jupyter_mltrack``: registers ``%%track`` and ``%mltrack``."""
    from .notebook import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    from .notebook import unload_ipython_extension as unload

    unload(ipython)


__all__ = [
    "ActiveRun",
    "Client",
    "ExecutionFailed",
    "Experiment",
    "ExperimentNotFound",
    "FileInfo",
    "InvalidFilter",
    "InvalidModel",
    "InvalidParameter",
    "InvalidProject",
    "MLTrackError",
    "Metric",
    "ModelInfo",
    "ModelSignature",
    "ModelVersion",
    "ModelVersionNotFound",
    "NotFound",
    "Param",
    "ParamConflict",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "RegisteredModel",
    "RegisteredModelNotFound",
    "RegistryPolicy",
    "Run",
    "RunData",
    "RunInfo",
    "RunNotFound",
    "RunStatus",
    "RunTag",
    "SignatureError",
    "Stage",
    "StageTransition",
    "StageTransitionDenied",
    "TransitionRequest",
    "UntrustedModel",
    "ViewType",
    "__version__",
    "active_run",
    "approve",
    "compare",
    "create_experiment",
    "create_registered_model",
    "delete_alias",
    "delete_experiment",
    "delete_model_version",
    "delete_run",
    "end_run",
    "flush",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_experiment_id",
    "get_latest_versions",
    "get_metric_history",
    "get_model_version",
    "get_model_version_by_alias",
    "get_registered_model",
    "get_registry_policy",
    "get_run",
    "get_tracking_uri",
    "history",
    "infer_signature",
    "last_active_run",
    "load_model",
    "load_native",
    "log_artifact",
    "log_artifacts",
    "log_batch",
    "log_dict",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "register_best",
    "register_model",
    "registry_panel",
    "reject",
    "reproduce",
    "request_transition",
    "restore_model_version",
    "restore_run",
    "rollback",
    "run",
    "run_notebook",
    "save_model",
    "search_experiments",
    "search_model_versions",
    "search_registered_models",
    "search_runs",
    "set_alias",
    "set_experiment",
    "set_model_version_tag",
    "set_registered_model_tag",
    "set_registry_policy",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "show_run",
    "start_run",
    "transition_requests",
    "transition_stage",
    "update_model_version",
    "update_registered_model",
    "version_at",
]
