"""The narrow interface every tracking store implements.

Services (``tracking/``, ``registry/``) talk to a store only through these
protocols, so a new backend (the team server's REST store, say) implements
this file and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..entities import Experiment, Metric, PagedList, Run, RunInfo, ViewType

if TYPE_CHECKING:
    import pandas as pd

#: One buffered metric point: (run_id, key, value, step, timestamp_ms).
MetricRow = tuple[str, str, float, int, int]


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
    ) -> RunInfo:
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

    def get_metric_history(self, run_id: str, key: str) -> pd.DataFrame:
        """Columns step, value, timestamp ordered by step then timestamp."""

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
        """Mark RUNNING runs whose last heartbeat is older than ``cutoff`` KILLED."""

    def deleted_runs(self, older_than: int | None = None) -> list[RunInfo]:
        """Soft-deleted runs (deleted before ``older_than`` when given), for garbage collection."""

    def purge_runs(self, run_ids: Sequence[str]) -> None:
        """Permanently remove runs and all their data."""
