"""jupyter_mltrack: ML experiment tracking, models and a model registry, native to Jupyter.

The names MLflow users know, on a project-local SQLite store by default::

    import jupyter_mltrack as mltrack

    mltrack.set_experiment("mnist")
    with mltrack.start_run():
        mltrack.log_param("lr", 0.01)
        for step in range(100):
            mltrack.log_metric("loss", 1 / (step + 1), step=step)
    mltrack.search_runs(filter_string="metrics.loss < 0.1")

Heavy libraries (SQLAlchemy, pandas, Altair, the ML frameworks) load on first use.
"""

import typing

from ._version import __version__
from .errors import (
    AlreadyExists,
    ArtifactError,
    ArtifactUnavailable,
    ExecutionFailed,
    ExperimentNotFound,
    ForeignStore,
    InvalidArtifactPath,
    InvalidFilter,
    InvalidModel,
    InvalidParameter,
    InvalidProject,
    InvalidState,
    InvalidURI,
    MissingDependency,
    MLTrackError,
    ModelVersionNotFound,
    NotFound,
    ParamConflict,
    RegisteredModelNotFound,
    RunNotFound,
    SchemaError,
    SignatureError,
    StageTransitionDenied,
    StoreError,
    UnknownKeyWarning,
    UntrustedModel,
    WriteFailed,
)
from .exceptions import MlflowException

# Everything else loads on first use (PEP 562): the package itself costs about as much
# as its errors, and a command or a kernel pays only for the modules it touches. The
# imports below are what type checkers and editors read; ``_ON_FIRST_USE`` is what
# runs, and a test keeps the two the same.
if typing.TYPE_CHECKING:
    from .autolog import autolog
    from .client import MlflowClient
    from .entities import (
        Dataset,
        DatasetInput,
        Experiment,
        FileInfo,
        InputTag,
        Metric,
        ModelVersion,
        Param,
        RegisteredModel,
        RegistryPolicy,
        Run,
        RunData,
        RunInfo,
        RunStatus,
        RunTag,
        Stage,
        StageTransition,
        TransitionRequest,
        ViewType,
    )
    from .interop import import_mlflow
    from .models import (
        ModelInfo,
        ModelSignature,
        PyFuncModel,
        PythonModel,
        PythonModelContext,
        infer_signature,
        load_model,
        load_native,
        log_model,
        save_model,
    )
    from .projects import reproduce, run, run_notebook
    from .registry import (
        approve,
        create_registered_model,
        delete_alias,
        delete_model_version,
        get_latest_versions,
        get_model_version,
        get_model_version_by_alias,
        get_registered_model,
        get_registry_policy,
        register_best,
        register_model,
        reject,
        request_transition,
        restore_model_version,
        rollback,
        search_model_versions,
        search_registered_models,
        set_alias,
        set_model_version_tag,
        set_registered_model_tag,
        set_registry_policy,
        transition_requests,
        transition_stage,
        update_model_version,
        update_registered_model,
        version_at,
    )
    from .registry.history import history
    from .serving.handle import serve
    from .tracking.client import Client
    from .tracking.fluent import (
        ActiveRun,
        active_run,
        create_experiment,
        delete_experiment,
        delete_run,
        delete_tag,
        end_run,
        flush,
        get_artifact_uri,
        get_experiment,
        get_experiment_by_name,
        get_experiment_id,
        get_metric_history,
        get_parent_run,
        get_registry_uri,
        get_run,
        get_tracking_uri,
        last_active_run,
        load_table,
        log_artifact,
        log_artifacts,
        log_batch,
        log_dict,
        log_figure,
        log_image,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_table,
        log_text,
        restore_run,
        search_experiments,
        search_runs,
        set_experiment,
        set_experiment_tag,
        set_experiment_tags,
        set_registry_uri,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )
    from .widgets import compare, show_run
    from .widgets.registry_panel import registry_panel

#: The modules (relative to this package) that define each public name.
_MODULE_NAMES: dict[str, tuple[str, ...]] = {
    "client": ("MlflowClient",),
    "entities": (
        "Dataset", "DatasetInput", "Experiment", "FileInfo", "InputTag", "Metric",
        "ModelVersion", "Param", "RegisteredModel", "RegistryPolicy", "Run", "RunData",
        "RunInfo", "RunStatus", "RunTag", "Stage", "StageTransition", "TransitionRequest",
        "ViewType",
    ),
    "interop": ("import_mlflow",),
    "models": (
        "ModelInfo", "ModelSignature", "PyFuncModel", "PythonModel", "PythonModelContext",
        "infer_signature", "load_model", "load_native", "log_model", "save_model",
    ),
    "registry": (
        "approve", "create_registered_model", "delete_alias", "delete_model_version",
        "get_latest_versions", "get_model_version", "get_model_version_by_alias",
        "get_registered_model", "get_registry_policy", "register_best",
        "register_model", "reject", "request_transition", "restore_model_version",
        "rollback", "search_model_versions", "search_registered_models", "set_alias",
        "set_model_version_tag", "set_registered_model_tag", "set_registry_policy",
        "transition_requests", "transition_stage", "update_model_version",
        "update_registered_model", "version_at",
    ),
    # a module of the same name: importing the function from it keeps mypy sure
    "registry.history": ("history",),
    "tracking.client": ("Client",),
    "tracking.fluent": (
        "ActiveRun", "active_run", "create_experiment", "delete_experiment", "delete_run",
        "delete_tag", "end_run", "flush", "get_artifact_uri", "get_experiment",
        "get_experiment_by_name", "get_experiment_id", "get_metric_history",
        "get_parent_run", "get_registry_uri", "get_run", "get_tracking_uri",
        "last_active_run", "load_table", "log_artifact", "log_artifacts", "log_batch",
        "log_dict", "log_figure", "log_image", "log_input", "log_metric", "log_metrics",
        "log_param", "log_params", "log_table", "log_text", "restore_run",
        "search_experiments", "search_runs", "set_experiment", "set_experiment_tag",
        "set_experiment_tags", "set_registry_uri", "set_tag", "set_tags",
        "set_tracking_uri", "start_run",
    ),
    # the faces: widgets (Altair, anywidget), the scoring server, projects (nbclient...);
    # autolog is the module itself, called like a function (mltrack.autolog()) and
    # holding the flavors (jupyter_mltrack.autolog.sklearn)
    "autolog": ("autolog",),
    "projects": ("reproduce", "run", "run_notebook"),
    "serving.handle": ("serve",),
    "widgets": ("compare", "show_run"),
    "widgets.registry_panel": ("registry_panel",),
}

#: public name -> the module that defines it, imported on first access
_ON_FIRST_USE = {name: f"{__name__}.{module}"
                 for module, names in _MODULE_NAMES.items() for name in names}


#: MLflow's flavor modules (``mlflow.sklearn.log_model(...)``), imported on first use.
_FLAVOR_MODULES = ("keras", "lightgbm", "pyfunc", "pytorch", "sklearn", "xgboost")


def __getattr__(name: str) -> object:
    import importlib

    if name in _FLAVOR_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_mltrack' has no attribute {name!r}")
    value = importlib.import_module(module)
    if value.__name__ != f"{__name__}.{name}":
        value = getattr(value, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ON_FIRST_USE) | set(_FLAVOR_MODULES))


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext jupyter_mltrack``: registers ``%%track`` and ``%mltrack``."""
    from .notebook import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    from .notebook import unload_ipython_extension as unload

    unload(ipython)


__all__ = [
    "ActiveRun",
    "AlreadyExists",
    "ArtifactError",
    "ArtifactUnavailable",
    "Client",
    "Dataset",
    "DatasetInput",
    "ExecutionFailed",
    "Experiment",
    "ExperimentNotFound",
    "FileInfo",
    "ForeignStore",
    "InputTag",
    "InvalidArtifactPath",
    "InvalidFilter",
    "InvalidModel",
    "InvalidParameter",
    "InvalidProject",
    "InvalidState",
    "InvalidURI",
    "MLTrackError",
    "Metric",
    "MissingDependency",
    "MlflowClient",
    "MlflowException",
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
    "SchemaError",
    "SignatureError",
    "Stage",
    "StageTransition",
    "StageTransitionDenied",
    "StoreError",
    "TransitionRequest",
    "UnknownKeyWarning",
    "UntrustedModel",
    "ViewType",
    "WriteFailed",
    "__version__",
    "active_run",
    "approve",
    "autolog",
    "compare",
    "create_experiment",
    "create_registered_model",
    "delete_alias",
    "delete_experiment",
    "delete_model_version",
    "delete_run",
    "delete_tag",
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
    "get_parent_run",
    "get_registered_model",
    "get_registry_policy",
    "get_registry_uri",
    "get_run",
    "get_tracking_uri",
    "history",
    "import_mlflow",
    "infer_signature",
    "last_active_run",
    "load_model",
    "load_native",
    "load_table",
    "log_artifact",
    "log_artifacts",
    "log_batch",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_table",
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
    "serve",
    "set_alias",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_model_version_tag",
    "set_registered_model_tag",
    "set_registry_policy",
    "set_registry_uri",
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
