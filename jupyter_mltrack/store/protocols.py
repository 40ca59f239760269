"""The narrow interfaces every store implements.

Services (``tracking/``, ``registry/``) talk to a store only through these
protocols, so a new backend (the team server's REST store, say) implements this
file and nothing else: :class:`TrackingStore` for experiments and runs,
:class:`RegistryStore` for the model registry, and :class:`HasRegistry` for a
tracking store that can hand out the registry that goes with it. Importing from
MLflow needs two optional capabilities: :class:`ImportsRuns` and :class:`ImportsVersions`;
the team server writes clients' metric batches through :class:`WritesMetricBatches`.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..entities import (
    DatasetInput,
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
from .changes import RegistryPlan

if TYPE_CHECKING:
    import pandas as pd

    from .mlflow_source import MetricHistory, MlflowRun
    from .sql_import import RunImport

#: One buffered metric point: (run_id, key, value, step, timestamp_ms).
MetricRow = tuple[str, str, float, int, int]

#: The run tag (``mltrack.sync.<client id>``) holding the last batch a client got applied.
SYNC_TAG = "mltrack.sync."


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """Points of one metric as columns of equal length: int64 steps, float64 values and
    int64 timestamps (``array("q")``, ``array("d")``, ``array("q")``)."""

    key: str
    steps: array[int]
    values: array[float]
    timestamps: array[int]


@dataclass(frozen=True, slots=True)
class MetricBatch:
    """Series of one run sent together; ``seq`` orders one client's batches."""

    run_id: str
    series: Sequence[MetricSeries]
    seq: int | None = None


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

    def get_or_create_experiment(self, name: str) -> str:
        """The id of the experiment with that name, created when missing; raises
        InvalidState when it is deleted."""

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set (or overwrite) one tag of an experiment."""

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove one tag of an active experiment; raises ExperimentNotFound, NotFound
        when it has no such tag, InvalidState when the experiment is deleted."""

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with that id; raises ExperimentNotFound."""

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with that name, or None."""

    def search_experiments(self, view_type: ViewType = ViewType.ACTIVE_ONLY,
                           max_results: int = 1000, filter_string: str | None = None,
                           order_by: Sequence[str] | None = None,
                           page_token: str | None = None) -> PagedList:
        """One page of the experiments in that lifecycle view matching a filter (name,
        experiment_id, creation_time, last_update_time, tags.<key>), newest first unless
        ``order_by`` says otherwise."""

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Give an experiment another name; raises AlreadyExists, ExperimentNotFound."""

    def set_experiment_lifecycle(self, experiment_id: str, deleted: bool) -> None:
        """Soft-delete or restore an experiment (and the view of its runs)."""

    def create_run(
        self,
        experiment_id: str,
        run_name: str,
        start_time: int,
        user_id: str,
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> RunInfo:
        """Create a RUNNING run (the caller names it; the Client picks a name when the
        user gave none)."""

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

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        """Record datasets a run used (with their tags); logging one again adds nothing."""

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove one tag of a run; raises NotFound when it has no such tag."""

    def record_model_digest(self, run_id: str, artifact_path: str, digest: str) -> None:
        """Pin the digest of the model files ``log_model`` just wrote at ``artifact_path``
        (the run tag that lets them load without ``trust=True``)."""

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

    def rename_registered_model(self, name: str, new_name: str) -> None:
        """Give a registered model another name; its versions, aliases and history follow.
        Raises AlreadyExists, RegisteredModelNotFound."""

    def delete_registered_model(self, name: str) -> None:
        """Delete a registered model with its versions, aliases, requests and history (not
        the runs or files its versions point at)."""

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


@runtime_checkable
class HasRegistry(Protocol):
    """A tracking store that knows the registry going with it (the SQL store shares its
    database; a remote store asks the same server)."""

    def registry_store(self) -> RegistryStore:
        """The registry store of this tracking store."""


@runtime_checkable
class ImportsRuns(Protocol):
    """A tracking store that takes runs made elsewhere, keeping their ids and times."""

    def import_runs(self, experiment_id: str,
                    runs: Sequence[tuple[MlflowRun, Sequence[MetricHistory]]]
                    ) -> list[RunImport]:
        """Create the runs, keeping their ids (or add to those imported before what they
        lack), in one transaction; one result per run, in order, saying what changed
        or why the run was refused."""


@runtime_checkable
class ImportsVersions(Protocol):
    """A registry store that takes model versions made elsewhere, keeping their numbers."""

    def import_model_version(self, name: str, version: int, *, source: str,
                             run_id: str | None, user: str, description: str | None,
                             tags: dict[str, str], creation_time: int | None,
                             last_updated_time: int | None) -> bool:
        """Create version ``version`` of ``name``; False when it exists already."""


@runtime_checkable
class WritesMetricBatches(Protocol):
    """A tracking store that writes metric series of many runs in one transaction."""

    def write_metric_batches(self, batches: Sequence[MetricBatch], client_id: str | None = None,
                             allow: Callable[[str], None] | None = None) -> list[bool]:
        """Store the batches in one transaction; with ``client_id``, a batch whose ``seq``
        is not above the last one its run took from that client is skipped, even when
        the same batch arrives twice at once. ``allow(experiment_id)`` is called for each
        run's experiment before anything is written, and refuses by raising. Raises
        RunNotFound, or InvalidState for a deleted run. Returns which batches were applied.
        """
