"""Registry changes: what a service's plan asks the store to do under a model's lock.

Registry writes are read-modify-write under one lock per registered model: the
service hands ``RegistryStore.change_registry`` a *plan*, a function from a snapshot
of the model (taken under the lock) to a list of changes. The store applies the
changes in the same transaction and writes one audit record per real change. So the
rules live once, in ``registry/``, and two clients promoting at the same moment are
serialised instead of interleaved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Union

from ..entities import (
    ModelVersion,
    RegisteredModel,
    RegistryPolicy,
    StageTransition,
    TransitionRequest,
)


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
