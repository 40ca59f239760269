"""What an MLflow store holds, as plain records, and the interface every reader of one
implements (an MLflow database here in ``mlflow_sql_source``; an ``mlruns/`` folder and
a tracking server's REST API in ``interop/``).

Readers never write to the store they read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True)
class MlflowExperiment:
    """One MLflow experiment."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int | None
    last_update_time: int | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MlflowRun:
    """One MLflow run with its params and tags (metric histories are read apart)."""

    run_id: str
    experiment_id: str
    run_name: str
    status: str
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    user_id: str
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MetricHistory:
    """Every point of one metric of one run, as int64 / float64 / int64 arrays."""

    key: str
    steps: np.ndarray
    values: np.ndarray
    timestamps: np.ndarray

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True, slots=True)
class MlflowModelVersion:
    """One version of a registered model (deleted versions are not listed)."""

    name: str
    version: int
    source: str
    run_id: str | None
    current_stage: str
    creation_time: int | None
    last_updated_time: int | None
    user_id: str
    description: str | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MlflowModel:
    """A registered model with its tags, aliases (alias -> version) and versions."""

    name: str
    creation_time: int | None
    last_updated_time: int | None
    description: str | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: list[MlflowModelVersion] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    """One artifact file of a run: its path under the run's artifact root, as the source
    names it (not yet checked), and its size when known."""

    path: str
    size: int | None = None


@runtime_checkable
class MlflowSource(Protocol):
    """A read-only view of an MLflow store."""

    def describe(self) -> str:
        """The source, for messages (no passwords)."""

    def experiments(self) -> list[MlflowExperiment]:
        """Every experiment, deleted ones included (their lifecycle_stage says so)."""

    def runs(self, experiment_id: str) -> Iterator[MlflowRun]:
        """Every run of one experiment, deleted ones included."""

    def metric_histories(self, run_id: str) -> list[MetricHistory]:
        """The full history of every metric of a run."""

    def registered_models(self) -> list[MlflowModel]:
        """Every registered model with its versions."""

    def close(self) -> None:
        """Release connections."""


@runtime_checkable
class ReadsHistoriesInBulk(Protocol):
    """A source that reads the metric histories of many runs faster together."""

    def metric_histories_of(self, run_ids: Sequence[str]) -> Iterator[list[MetricHistory]]:
        """The metric histories of each run of ``run_ids``, in that order."""


@runtime_checkable
class HasArtifacts(Protocol):
    """A source that serves artifact files itself (a tracking server); for the others
    the files are read from each run's ``artifact_uri``."""

    def artifact_files(self, run: MlflowRun) -> Iterator[ArtifactFile]:
        """Every file under the run's artifact root, recursively."""

    def read_artifact(self, run: MlflowRun, path: str) -> bytes:
        """The content of one file listed by :meth:`artifact_files`."""
