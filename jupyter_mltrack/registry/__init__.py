"""The model registry: versions, stages, aliases, approvals, audit history and rollback.

::

    import jupyter_mltrack as mltrack

    v = mltrack.register_model(f"runs:/{run_id}/model", "churn")     # version 1, 2, ...
    mltrack.transition_stage("churn", v.version, "Production", archive_existing=True)
    mltrack.set_alias("churn", "champion", v.version)
    mltrack.load_model("models:/churn@champion")
    mltrack.rollback("churn")                       # the previous Production version returns
    mltrack.history("churn")                        # every change: who, when, from, to, why

Every function takes an optional ``client=`` (a :class:`Client`) for another
store; without it the fluent API's tracking URI is used.
"""

from .aliases import delete_alias, get_model_version_by_alias, set_alias
from .approvals import (
    approve,
    cancel_request,
    get_transition_request,
    reject,
    request_transition,
    requests_frame,
    transition_requests,
)
from .history import history, history_records, version_at, versions_at
from .policies import delete_registry_policy, get_registry_policy, set_registry_policy
from .registered import (
    create_registered_model,
    delete_registered_model,
    delete_registered_model_tag,
    get_registered_model,
    rename_registered_model,
    search_registered_models,
    set_registered_model_tag,
    update_registered_model,
)
from .resolve import model_version_for, resolve_models_uri
from .stages import promote, rollback, transition_stage
from .versions import (
    delete_model_version,
    delete_model_version_tag,
    get_latest_versions,
    get_model_version,
    register_best,
    register_model,
    restore_model_version,
    search_model_versions,
    set_model_version_tag,
    update_model_version,
)

__all__ = [
    "approve",
    "cancel_request",
    "create_registered_model",
    "delete_alias",
    "delete_model_version",
    "delete_model_version_tag",
    "delete_registered_model",
    "delete_registered_model_tag",
    "delete_registry_policy",
    "get_latest_versions",
    "get_model_version",
    "get_model_version_by_alias",
    "get_registered_model",
    "get_registry_policy",
    "get_transition_request",
    "history",
    "history_records",
    "model_version_for",
    "promote",
    "register_best",
    "register_model",
    "reject",
    "rename_registered_model",
    "request_transition",
    "requests_frame",
    "resolve_models_uri",
    "restore_model_version",
    "rollback",
    "search_model_versions",
    "search_registered_models",
    "set_alias",
    "set_model_version_tag",
    "set_registered_model_tag",
    "set_registry_policy",
    "transition_requests",
    "transition_stage",
    "update_model_version",
    "update_registered_model",
    "version_at",
    "versions_at",
]
