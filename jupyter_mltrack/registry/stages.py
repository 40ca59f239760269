"""Stage transitions and rollback, with policies and gates applied."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..entities import ModelVersion, Stage, TransitionRequest
from ..errors import AlreadyExists
from ..store.changes import RegistrySnapshot, RequestChange
from ..tracking import fluent
from ..tracking.context import current_user
from .policies import check_gates, source_metrics
from .rules import live_version, rollback_changes, stage_changes
from .validation import comment_text, model_name, version_number

if TYPE_CHECKING:
    from ..tracking.client import Client


def transition_stage(name: str, version: int | str, stage: str,
                     archive_existing: bool = False, comment: str | None = None, *,
                     client: Client | None = None) -> ModelVersion | TransitionRequest:
    """Move a version to None, Staging, Production or Archived.

    With ``archive_existing`` the versions now in that stage go to Archived.
    When the model's policy requires approval for the stage, nothing moves yet:
    a pending :class:`TransitionRequest` is opened and returned. A version
    failing a gate of the policy is refused with the reason
    (``StageTransitionDenied``). Every change is recorded in ``history(name)``.
    """
    name, number = model_name(name), version_number(version)
    target = Stage.parse(stage)
    note = comment_text(comment)
    store = fluent.client(client).registry_store
    metrics = _Metrics(store.get_model_version(name, number), client)
    opened: list[bool] = []

    def plan(snapshot: RegistrySnapshot) -> list[Any]:
        opened.clear()
        current = live_version(snapshot, number)
        policy = snapshot.policy
        if current.current_stage == target.value and not archive_existing:
            return []
        if policy is not None and policy.needs_approval(target.value) \
                and current.current_stage != target.value:
            check_gates(policy, target.value, current, metrics.get)
            refuse_duplicate(snapshot, number, "stage", target.value)
            opened.append(True)
            return [RequestChange(number, "stage", target.value, archive_existing, note)]
        check_gates(policy, target.value, current, metrics.get)
        return stage_changes(snapshot, number, target, archive_existing, note)

    results = store.change_registry(name, plan, current_user())
    if opened:
        return store.get_transition_request(results[0])
    return store.get_model_version(name, number)


def promote(name: str, version: int | str, stage: str = "Production",
            comment: str | None = None, *,
            client: Client | None = None) -> ModelVersion | TransitionRequest:
    """``transition_stage`` with ``archive_existing=True``: the version becomes the one
    holder of the stage."""
    return transition_stage(name, version, stage, archive_existing=True, comment=comment,
                            client=client)


def rollback(name: str, stage: str = "Production", comment: str | None = None, *,
             client: Client | None = None) -> ModelVersion:
    """Put back the version that held ``stage`` before the current one.

    The current holder goes to Archived. Repeated rollbacks walk further back
    (3 -> 2 -> 1), skipping deleted versions. A rollback restores a version that
    held the stage already, so it needs no approval and gates are not checked
    again (an emergency must not wait for a reviewer); it is recorded with the
    action "rollback". Returns the restored version.
    """
    name = model_name(name)
    target = Stage.parse(stage)
    note = comment_text(comment)
    restored: list[int] = []

    def plan(snapshot: RegistrySnapshot) -> list[Any]:
        number, _, changes = rollback_changes(snapshot, target, note)
        restored[:] = [number]
        return changes

    store = fluent.client(client).registry_store
    store.change_registry(name, plan, current_user())
    return store.get_model_version(name, restored[0])


def refuse_duplicate(snapshot: RegistrySnapshot, number: int, kind: str, target: str) -> None:
    for request in snapshot.requests.values():
        if request.is_pending and request.version == number and request.kind == kind \
                and request.target == target:
            raise AlreadyExists(
                f"Request {request.request_id} to move version {number} of "
                f"{snapshot.model.name!r} to {request.target_label} is pending already "
                f"(by {request.requested_by}); approve or reject it."
            )


class _Metrics:
    """The source run's metrics, read once and only when a gate needs them."""

    def __init__(self, version: ModelVersion, client: Client | None):
        self.version = version
        self.client = client
        self._value: dict[str, float] | None = None
        self._read = False

    def get(self) -> dict[str, float] | None:
        if not self._read:
            self._value = source_metrics(self.version, self.client)
            self._read = True
        return self._value
