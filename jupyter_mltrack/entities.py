"""Plain data objects shared by every layer.

These are what the store returns and what the API hands to users. They hold no
database handles and can be pickled, compared and printed.
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any


class RunStatus(str, enum.Enum):
    """Life of a run: RUNNING until it ends as FINISHED, FAILED or KILLED."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @classmethod
    def parse(cls, value: str | RunStatus) -> RunStatus:
        from .errors import InvalidParameter

        try:
            return cls(value.upper() if isinstance(value, str) else value)
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise InvalidParameter(f"Unknown run status {value!r}; use one of {names}.") from None

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


class LifecycleStage(str, enum.Enum):
    """Soft deletion state of experiments and runs."""

    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(str, enum.Enum):
    """Which lifecycle stages a search returns."""

    ACTIVE_ONLY = "active_only"
    DELETED_ONLY = "deleted_only"
    ALL = "all"

    @classmethod
    def parse(cls, value: str | ViewType) -> ViewType:
        from .errors import InvalidParameter

        try:
            return cls(value.lower() if isinstance(value, str) else value)
        except ValueError:
            raise InvalidParameter(
                f"Unknown view type {value!r}; use 'active_only', 'deleted_only' or 'all'."
            ) from None


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = LifecycleStage.ACTIVE.value
    creation_time: int | None = None
    last_update_time: int | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)  # not frozen: building a million of them must stay cheap
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0

    def __eq__(self, other: object) -> bool:
        # NaN == NaN here: a stored NaN must compare equal to the logged one.
        if not isinstance(other, Metric):
            return NotImplemented
        same_value = self.value == other.value or (
            math.isnan(self.value) and math.isnan(other.value)
        )
        return (
            same_value
            and self.key == other.key
            and self.timestamp == other.timestamp
            and self.step == other.step
        )

    def __hash__(self) -> int:
        return hash((self.key, self.timestamp, self.step))


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    user_id: str
    artifact_uri: str
    parent_run_id: str | None = None

    # MLflow spelling, for users who reach for it.
    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass(frozen=True, slots=True)
class RunData:
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset as a run's input: what it is (name, content digest), where it came from
    (source type and source, a JSON text), its schema and profile (JSON texts)."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True, slots=True)
class InputTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """A dataset used by a run, with tags such as ``mlflow.data.context``."""

    dataset: Dataset
    tags: tuple[InputTag, ...] = ()

    @property
    def context(self) -> str | None:
        """The ``mlflow.data.context`` tag ("training", "eval"...), or None."""
        return next((t.value for t in self.tags if t.key == DATASET_CONTEXT_TAG), None)


#: Run tag prefix: ``mltrack.modelDigest.<artifact path>`` holds what log_model wrote there.
RUN_DIGEST_PREFIX = "mltrack.modelDigest."
_PLAIN_KEY = re.compile(r"^[\w\-. /:]+\Z")
_MAX_TAG_KEY = 250


def digest_tag(artifact_path: str) -> str:
    """The run tag holding the digest of the model log_model wrote at ``artifact_path``."""
    key = RUN_DIGEST_PREFIX + artifact_path
    if len(key) <= _MAX_TAG_KEY and _PLAIN_KEY.match(artifact_path):
        return key
    # a path a tag key cannot spell: name it by its hash instead
    return RUN_DIGEST_PREFIX + "sha256-" + hashlib.sha256(artifact_path.encode()).hexdigest()


#: The input tag naming what a run used a dataset for (MLflow's key).
DATASET_CONTEXT_TAG = "mlflow.data.context"


@dataclass(frozen=True, slots=True)
class RunInputs:
    dataset_inputs: tuple[DatasetInput, ...] = ()


@dataclass(frozen=True, slots=True)
class Run:
    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)

    @property
    def run_id(self) -> str:
        return self.info.run_id

    # MLflow's Run keeps its parts as ``_info`` and ``_data``, and its examples read them.
    @property
    def _info(self) -> RunInfo:
        return self.info

    @property
    def _data(self) -> RunData:
        return self.data

    def to_dict(self) -> dict[str, Any]:
        return {
            "info": {
                "run_id": self.info.run_id,
                "experiment_id": self.info.experiment_id,
                "run_name": self.info.run_name,
                "status": self.info.status,
                "start_time": self.info.start_time,
                "end_time": self.info.end_time,
                "lifecycle_stage": self.info.lifecycle_stage,
                "user_id": self.info.user_id,
                "artifact_uri": self.info.artifact_uri,
                "parent_run_id": self.info.parent_run_id,
            },
            "data": {
                "params": dict(self.data.params),
                "metrics": dict(self.data.metrics),
                "tags": dict(self.data.tags),
            },
        }


@dataclass(frozen=True, slots=True)
class FileInfo:
    """An artifact file or folder, relative to a run's artifact root."""

    path: str
    is_dir: bool
    file_size: int | None = None


@dataclass(frozen=True, slots=True)
class PagedList:
    """One page of results and the token for the next page (``None`` at the end)."""

    items: list[Any]
    next_page_token: str | None = None

    @property
    def token(self) -> str | None:
        """MLflow's name for :attr:`next_page_token`."""
        return self.next_page_token

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]


# -- model registry ----------------------------------------------------------------------


class Stage(str, enum.Enum):
    """Where a model version stands: None, Staging, Production or Archived."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    @classmethod
    def parse(cls, value: str | Stage | None) -> Stage:
        from .errors import InvalidParameter

        if isinstance(value, Stage):
            return value
        if value is None:
            return cls.NONE
        if isinstance(value, str):
            for stage in cls:
                if stage.value.lower() == value.strip().lower():
                    return stage
        raise InvalidParameter(
            f"Unknown stage {value!r}; use one of None, Staging, Production, Archived."
        )


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One numbered version of a registered model, linked to where the model files are."""

    name: str
    version: int
    source: str
    run_id: str | None
    current_stage: str = Stage.NONE.value
    creation_time: int | None = None
    last_updated_time: int | None = None
    user_id: str = ""
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    lifecycle_stage: str = LifecycleStage.ACTIVE.value

    @property
    def deleted(self) -> bool:
        return self.lifecycle_stage == LifecycleStage.DELETED.value

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named model and its registry state: description, tags and aliases."""

    name: str
    creation_time: int | None = None
    last_updated_time: int | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    #: alias -> version number
    aliases: dict[str, int] = field(default_factory=dict)
    #: the newest active version in each stage that has one
    latest_versions: tuple[ModelVersion, ...] = ()


@dataclass(frozen=True, slots=True)
class StageTransition:
    """One audit record of the registry: who changed what, when, from what, to what.

    ``kind`` is "stage", "alias", "lifecycle" (soft delete and restore of a
    version), "request" (an approval request and its decision) or "policy".
    ``action`` says how it came about: register, transition, archive, rollback,
    set, delete, restore, requested, approved, rejected, cancelled.
    """

    record_id: int
    name: str
    version: int | None
    kind: str
    action: str
    from_value: str | None
    to_value: str | None
    user_id: str
    timestamp: int
    comment: str | None = None
    request_id: int | None = None
    #: the alias of an "alias" record (from/to are then version numbers)
    alias: str | None = None


class RequestStatus(str, enum.Enum):
    """Life of a transition request."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class TransitionRequest:
    """A stage or alias change waiting for approval under a registry policy.

    ``kind`` is "stage" (``target`` is a stage name) or "alias" (``target`` is
    the alias to point at ``version``).
    """

    request_id: int
    name: str
    version: int
    kind: str
    target: str
    archive_existing: bool
    status: str
    requested_by: str
    requested_time: int
    comment: str | None = None
    decided_by: str | None = None
    decided_time: int | None = None
    decision_comment: str | None = None

    @property
    def is_pending(self) -> bool:
        return self.status == RequestStatus.PENDING.value

    @property
    def target_label(self) -> str:
        """"Production" for a stage, "@champion" for an alias."""
        return self.target if self.kind == "stage" else "@" + self.target


@dataclass(frozen=True, slots=True)
class RegistryPolicy:
    """Rules for a registered model.

    Transitions into a stage (or aliases, written ``"@champion"``) listed in
    ``require_approval_for`` become requests that another user approves.
    ``gates`` (``{"metrics.acc": ">= 0.9"}``) are checked against the source
    run of the version entering a gated stage: ``gated_stages``, by default the
    ones that need approval, or Production when none do.
    """

    name: str
    require_approval_for: tuple[str, ...] = ()
    gates: dict[str, str] = field(default_factory=dict)
    gated_stages: tuple[str, ...] = ()
    allow_self_approval: bool = False
    updated_by: str | None = None
    updated_time: int | None = None

    def needs_approval(self, target: str) -> bool:
        return target in self.require_approval_for

    def is_gated(self, target: str) -> bool:
        stages = self.gated_stages or self.require_approval_for or (Stage.PRODUCTION.value,)
        return target in stages
