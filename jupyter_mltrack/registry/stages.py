"""Stage transitions and rollback, with policies and gates applied."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..entities import ModelVersion, Stage, TransitionRequest
from ..errors import AlreadyExists, InvalidParameter
from ..store.changes import RegistrySnapshot, RequestChange
from ..tracking import fluent
from ..tracking.context import current_user
from .plans import Plan, move_or_request
from .policies import check_gates, source_metrics
from .rules import live_version, rollback_changes, stage_changes
from .validation import comment_text, version_number

if TYPE_CHECKING:
    from ..tracking.client import Client


class TransitionStage(Plan):
    """Move a version to a stage, or open a request when the policy asks for approval."""

    kind = "transition_stage"

    def __init__(self, name: str, *, user: str, client: Client | None = None,
                 version: Any = None, stage: Any = None, archive_existing: Any = False,
                 comment: Any = None) -> None:
        super().__init__(name, user=user, client=client, version=version_number(version),
                         stage=Stage.parse(stage).value,
                         archive_existing=_flag(archive_existing, "archive_existing"),
                         comment=comment_text(comment))
        self._metrics: _Metrics | None = None

    def changes(self, snapshot: RegistrySnapshot) -> list[Any]:
        number, target = self.args["version"], self.args["stage"]
        archive, note = self.args["archive_existing"], self.args["comment"]
        current = live_version(snapshot, number)
        if self._metrics is None or self._metrics.version.run_id != current.run_id:
            self._metrics = _Metrics(current, self.client)
        policy = snapshot.policy
        if current.current_stage == target and not archive:
            return []
        if policy is not None and policy.needs_approval(target) \
                and current.current_stage != target:
            check_gates(policy, target, current, self._metrics.get)
            refuse_duplicate(snapshot, number, "stage", target)
            self.out["opened"] = True
            return [RequestChange(number, "stage", target, archive, note)]
        check_gates(policy, target, current, self._metrics.get)
        return stage_changes(snapshot, number, Stage(target), archive, note)


class Rollback(Plan):
    """Put back the version that held a stage before the current one."""

    kind = "rollback"

    def __init__(self, name: str, *, user: str, client: Client | None = None,
                 stage: Any = "Production", comment: Any = None) -> None:
        super().__init__(name, user=user, client=client, stage=Stage.parse(stage).value,
                         comment=comment_text(comment))

    def changes(self, snapshot: RegistrySnapshot) -> list[Any]:
        number, _, changes = rollback_changes(snapshot, Stage(self.args["stage"]),
                                              self.args["comment"])
        self.out["restored"] = number
        return changes


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
    plan = TransitionStage(name, user=current_user(), client=client, version=version,
                           stage=stage, archive_existing=bool(archive_existing),
                           comment=comment)
    return move_or_request(plan)


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
    plan = Rollback(name, user=current_user(), client=client, stage=stage, comment=comment)
    store = fluent.client(client).registry_store
    store.change_registry(plan.name, plan, plan.user)
    return store.get_model_version(plan.name, int(plan.out["restored"]))


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParameter(f"{what!r} is true or false, not {value!r}.")
    return value


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
