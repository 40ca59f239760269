"""The registry's rules as pure functions: a snapshot of a model in, changes out.

The store applies what these return under the model's lock (see
``store.changes.RegistrySnapshot``), so every rule here sees a consistent state
and two clients acting at once are serialised.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..entities import ModelVersion, RegistryPolicy, Stage, StageTransition
from ..errors import InvalidState, ModelVersionNotFound, StageTransitionDenied
from ..store.changes import RegistryChange, RegistrySnapshot, StageChange


def live_version(snapshot: RegistrySnapshot, number: int) -> ModelVersion:
    """The version, refusing unknown and deleted ones."""
    found = snapshot.versions.get(number)
    if found is None:
        raise ModelVersionNotFound(
            f"Registered model {snapshot.model.name!r} has no version {number}; its versions "
            f"are {_listing(snapshot)}."
        )
    if found.deleted:
        raise InvalidState(
            f"Version {number} of {snapshot.model.name!r} is deleted; restore it with "
            f"restore_model_version({snapshot.model.name!r}, {number}) first."
        )
    return found


def _listing(snapshot: RegistrySnapshot) -> str:
    numbers = [str(n) for n, v in sorted(snapshot.versions.items()) if not v.deleted]
    return ", ".join(numbers) if numbers else "none yet"


def holders(snapshot: RegistrySnapshot, stage: str) -> list[ModelVersion]:
    """Active versions now in ``stage``, by version number."""
    return [v for _, v in sorted(snapshot.versions.items())
            if v.current_stage == stage and not v.deleted]


def stage_changes(snapshot: RegistrySnapshot, number: int, stage: Stage,
                  archive_existing: bool, comment: str | None,
                  request_id: int | None = None) -> list[RegistryChange]:
    """Move a version to ``stage``; with ``archive_existing`` the other holders go to
    Archived, each with its own audit record."""
    version = live_version(snapshot, number)
    changes: list[RegistryChange] = []
    if version.current_stage != stage.value:
        changes.append(StageChange(number, stage.value, "transition", comment, request_id))
    if archive_existing and stage in (Stage.STAGING, Stage.PRODUCTION):
        for other in holders(snapshot, stage.value):
            if other.version != number:
                changes.append(StageChange(
                    other.version, Stage.ARCHIVED.value, "archive",
                    f"archived as version {number} entered {stage.value}", request_id,
                ))
    return changes


def holder_stack(records: Sequence[StageTransition], stage: str) -> list[int]:
    """The versions that entered ``stage``, in order, with rolled-back ones taken off.

    Replays the audit records: entering the stage pushes the version; a
    rollback takes the rolled-back version off and leaves the restored one on top.
    """
    stack: list[int] = []
    for record in records:
        if record.kind != "stage" or record.version is None:
            continue
        v = record.version
        if record.action == "rollback":
            if record.from_value == stage and v in stack:
                del stack[len(stack) - 1 - stack[::-1].index(v)]
            elif record.to_value == stage:
                if v in stack:
                    while stack[-1] != v:
                        stack.pop()
                else:
                    stack.append(v)
        elif record.to_value == stage and (not stack or stack[-1] != v):
            stack.append(v)
    return stack


def rollback_changes(snapshot: RegistrySnapshot, stage: Stage,
                     comment: str | None) -> tuple[int, int | None, list[RegistryChange]]:
    """Restore the version that held ``stage`` before the latest one.

    Returns (restored version, rolled-back version or None, changes). The
    rolled-back version goes to Archived; deleted versions are skipped.
    """
    stack = holder_stack(snapshot.stage_records, stage.value)
    if not stack:
        raise InvalidState(
            f"No version of {snapshot.model.name!r} has ever been in {stage.value}; there is "
            "nothing to roll back."
        )
    top = stack[-1]
    target = None
    for candidate in reversed(stack[:-1]):
        version = snapshot.versions.get(candidate)
        if candidate != top and version is not None and not version.deleted:
            target = candidate
            break
    if target is None:
        raise InvalidState(
            f"Version {top} of {snapshot.model.name!r} is the first to have held "
            f"{stage.value}; there is no earlier version to roll back to."
        )
    note = comment or f"rollback of {stage.value} from version {top} to version {target}"
    changes: list[RegistryChange] = []
    current = snapshot.versions.get(top)
    rolled_back = None
    if current is not None and current.current_stage == stage.value and not current.deleted:
        changes.append(StageChange(top, Stage.ARCHIVED.value, "rollback", note))
        rolled_back = top
    changes.append(StageChange(target, stage.value, "rollback", note))
    return target, rolled_back, changes


def holders_at(records: Sequence[StageTransition], stage: str, when_ms: int) -> list[int]:
    """Versions in ``stage`` at time ``when_ms``, the most recent entrant last."""
    where: dict[int, str] = {}
    entered: dict[int, int] = {}
    for record in records:
        if record.kind != "stage" or record.version is None or record.timestamp > when_ms:
            continue
        where[record.version] = record.to_value or Stage.NONE.value
        entered[record.version] = record.record_id
    found = [v for v, s in where.items() if s == stage]
    return sorted(found, key=lambda v: entered[v])


def check_approver(policy: RegistryPolicy | None, requested_by: str, user: str,
                   request_id: int) -> None:
    if requested_by == user and not (policy and policy.allow_self_approval):
        raise StageTransitionDenied(
            f"Request {request_id} was made by {user}; another user must approve it "
            "(or set allow_self_approval=True in the model's registry policy)."
        )
