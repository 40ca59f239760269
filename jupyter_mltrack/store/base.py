"""The narrow interface every tracking store implements.

Services (``tracking/``, ``registry/``) talk to a store only through these
protocols, so a new backend (the team server's REST store, say) implements
this file and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Union, runtime_checkable

from ..entities import (
    Experiment,
    Metric,
    ModelVersion,
    PagedList,
    RegisteredModel,
    RegistryPolicy,
    Run,
    RunInfo,
    StageTransition,
    TransitionRequest,
    ViewType,
)

if TYPE_CHECKING:
    import pandas as pd

#: One buffered metric point: (run_id, key, value, step, timestamp_ms).
MetricRow = tuple[str, str, float, int, int]

#: The run tag holding the seconds between the heartbeats of the process writing the run.
HEARTBEAT_INTERVAL_TAG = "mltrack.heartbeat_interval"
#: A run is taken as dead only once it missed this many of its own heartbeats.
STALE_BEATS = 3


@runtime_checkable
class TrackingStore(Protocol):
    """Experiments, runs and their params, tags and metrics."""

    uri: str
    artifact_root: str

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        """Create an experiment and return its id."""

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with that id; raises ExperimentNotFound."""

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with that name, or None."""

    def search_experiments(self, view_type: ViewType = ViewType.ACTIVE_ONLY) -> list[Experiment]:
        """All experiments in that lifecycle view, oldest first."""

    def set_experiment_lifecycle(self, experiment_id: str, deleted: bool) -> None:
        """Soft-delete or restore an experiment (and the view of its runs)."""

    def create_run(
        self,
        experiment_id: str,
        run_name: str | None,
        start_time: int,
        user_id: str,
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> RunInfo:
        """Create a RUNNING run."""

    def update_run(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> None:
        """Change a run's status, end time or name."""

    def set_run_lifecycle(self, run_id: str, deleted: bool) -> None:
        """Soft-delete or restore a run."""

    def get_run(self, run_id: str) -> Run:
        """A run with its params, latest metrics and tags; raises RunNotFound."""

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Store params (immutable), tags (overwritten) and metrics in one transaction."""

    def write_metrics(self, rows: Sequence[MetricRow]) -> None:
        """Append metric points for any runs in one transaction (the writer's hot path)."""

    def get_metric_history(self, run_id: str, key: str, min_step: int | None = None
                           ) -> pd.DataFrame:
        """Columns step, value, timestamp ordered by step then timestamp.

        ``min_step``: only the points at or after that step (incremental reads).
        """

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """Runs matching a filter, as Run objects."""

    def search_runs_frame(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 100_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> tuple[pd.DataFrame, str | None]:
        """Runs matching a filter as one wide DataFrame, and the next page token."""

    def heartbeat(self, run_ids: Iterable[str], now: int) -> None:
        """Record that the runs' processes are alive."""

    def mark_stale_runs(self, cutoff: int) -> list[str]:
        """Mark RUNNING runs KILLED whose last heartbeat is older than ``cutoff`` and than
        ``STALE_BEATS`` of the run's own heartbeat intervals (``HEARTBEAT_INTERVAL_TAG``)."""

    def deleted_runs(self, older_than: int | None = None) -> list[RunInfo]:
        """Soft-deleted runs (deleted before ``older_than`` when given), for garbage collection."""

    def purge_runs(self, run_ids: Sequence[str]) -> None:
        """Permanently remove runs and all their data."""


# -- model registry ----------------------------------------------------------------------
#
# Registry writes are read-modify-write under one lock per registered model: the
# service hands ``change_registry`` a *plan*, a function from a snapshot of the
# model (taken under the lock) to a list of changes. The store applies the
# changes in the same transaction and writes one audit record per real change.
# So the rules live once, in ``registry/``, and two clients promoting at the same
# moment are serialised instead of interleaved.


@dataclass(frozen=True, slots=True)
class StageChange:
    """Move ``version`` to ``stage`` (a no-op, without audit record, if it is there)."""

    version: int
    stage: str
    action: str = "transition"
    comment: str | None = None
    request_id: int | None = None


@dataclass(frozen=True, slots=True)
class AliasChange:
    """Point ``alias`` at ``version``, or remove it when ``version`` is None."""

    alias: str
    version: int | None
    comment: str | None = None
    request_id: int | None = None


@dataclass(frozen=True, slots=True)
class LifecycleChange:
    """Soft-delete (``deleted=True``) or restore a version."""

    version: int
    deleted: bool
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class RequestChange:
    """Open a PENDING transition request; its result is the new request id."""

    version: int
    kind: str
    target: str
    archive_existing: bool = False
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionChange:
    """Close a PENDING request as APPROVED, REJECTED or CANCELLED."""

    request_id: int
    status: str
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """Set the model's policy, or remove it when ``policy`` is None."""

    policy: RegistryPolicy | None


RegistryChange = Union[
    StageChange, AliasChange, LifecycleChange, RequestChange, DecisionChange, PolicyChange
]


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    """A registered model as it is while its lock is held."""

    model: RegisteredModel
    versions: dict[int, ModelVersion]
    policy: RegistryPolicy | None
    requests: dict[int, TransitionRequest]
    #: audit records of kind "stage", oldest first
    stage_records: list[StageTransition] = field(default_factory=list)


RegistryPlan = Callable[[RegistrySnapshot], Sequence[RegistryChange]]


@runtime_checkable
class RegistryStore(Protocol):
    """Registered models, their versions, and their audited stage and alias changes."""

    def create_registered_model(self, name: str, user: str, tags: dict[str, str] | None = None,
                                description: str | None = None) -> RegisteredModel:
        """Create an empty registered model; raises AlreadyExists."""

    def get_registered_model(self, name: str) -> RegisteredModel:
        """The model with its tags, aliases and latest version per stage."""

    def search_registered_models(self, filter_string: str | None = None,
                                 max_results: int = 1000,
                                 order_by: Sequence[str] | None = None,
                                 page_token: str | None = None) -> PagedList:
        """Registered models matching a filter (name, tags.x), by name."""

    def update_registered_model(self, name: str, description: str | None = None,
                                set_tags: dict[str, str] | None = None,
                                delete_tags: Sequence[str] = ()) -> None:
        """Change the description (when given) and tags of a registered model."""

    def create_model_version(self, name: str, source: str, run_id: str | None, user: str,
                             tags: dict[str, str] | None = None,
                             description: str | None = None) -> ModelVersion:
        """Add the next numbered version, creating the registered model if needed."""

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """One version, deleted ones included; raises ModelVersionNotFound."""

    def search_model_versions(self, filter_string: str | None = None,
                              max_results: int = 1000,
                              order_by: Sequence[str] | None = None,
                              page_token: str | None = None,
                              include_deleted: bool = False) -> PagedList:
        """Versions matching a filter (name, version, run_id, stage, tags.x, metrics.x...)."""

    def update_model_version(self, name: str, version: int, description: str | None = None,
                             set_tags: dict[str, str] | None = None,
                             delete_tags: Sequence[str] = ()) -> None:
        """Change the description (when given) and tags of a version."""

    def change_registry(self, name: str, plan: RegistryPlan, user: str) -> list[Any]:
        """Apply ``plan(snapshot)`` atomically under the model's lock; one result per change."""

    def registry_history(self, name: str) -> list[StageTransition]:
        """Every audit record of a registered model, oldest first."""

    def transition_requests(self, name: str | None = None,
                            status: str | None = None) -> list[TransitionRequest]:
        """Requests, newest first, optionally of one model and one status."""

    def get_transition_request(self, request_id: int) -> TransitionRequest:
        """One request; raises NotFound."""

    def get_registry_policy(self, name: str) -> RegistryPolicy | None:
        """The model's policy, or None."""
