"""Approval: requests for stage or alias changes, and their approval or rejection.

A request records who asked, when and why; its decision records who decided,
when and why. Approving applies the change (gates are checked again) in the
same transaction that closes the request, so a request is applied exactly once
even when two people approve it at the same moment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..entities import RequestStatus, Stage, TransitionRequest
from ..errors import InvalidParameter, InvalidState, NotFound, StageTransitionDenied
from ..store.changes import AliasChange, DecisionChange, RegistrySnapshot, RequestChange
from ..tracking import fluent
from ..tracking.context import current_user
from .aliases import alias_name
from .plans import Plan
from .policies import check_gates, source_metrics
from .rules import check_approver, live_version, stage_changes
from .stages import refuse_duplicate
from .validation import comment_text, model_name, version_number

if TYPE_CHECKING:
    import pandas as pd

    from ..tracking.client import Client


class RequestTransition(Plan):
    """Open a pending request for a version to enter a stage or take an alias."""

    kind = "request_transition"

    def __init__(self, name: str, *, user: str, client: Client | None = None,
                 version: Any = None, stage: Any = None, archive_existing: Any = False,
                 comment: Any = None) -> None:
        kind, target = _target(stage)
        if not isinstance(archive_existing, bool):
            raise InvalidParameter(f"'archive_existing' is true or false, not "
                                   f"{archive_existing!r}.")
        super().__init__(name, user=user, client=client, version=version_number(version),
                         stage=target if kind == "stage" else "@" + target,
                         archive_existing=archive_existing, comment=comment_text(comment))

    def changes(self, snapshot: RegistrySnapshot) -> list[Any]:
        number = self.args["version"]
        kind, target = _target(self.args["stage"])
        label = target if kind == "stage" else "@" + target
        current = live_version(snapshot, number)
        check_gates(snapshot.policy, label, current,
                    lambda: source_metrics(current, self.client))
        refuse_duplicate(snapshot, number, kind, target)
        return [RequestChange(number, kind, target, self.args["archive_existing"],
                              self.args["comment"])]


class Decide(Plan):
    """Approve, reject or cancel a pending request of the model."""

    kind = "decide"

    def __init__(self, name: str, *, user: str, client: Client | None = None,
                 request_id: Any = None, status: Any = None, comment: Any = None) -> None:
        try:
            decision = RequestStatus(status)
        except ValueError:
            decision = None
        if decision is None or decision is RequestStatus.PENDING:
            raise InvalidParameter(f"A decision is APPROVED, REJECTED or CANCELLED, not "
                                   f"{status!r}.")
        super().__init__(name, user=user, client=client,
                         request_id=_request_number(request_id), status=decision.value,
                         comment=comment_text(comment))

    def permission(self) -> str:
        """Withdrawing one's own request needs EDIT; deciding on others' needs MANAGE."""
        return "EDIT" if self.args["status"] == RequestStatus.CANCELLED.value else "MANAGE"

    def changes(self, snapshot: RegistrySnapshot) -> list[Any]:
        number, note = self.args["request_id"], self.args["comment"]
        status = RequestStatus(self.args["status"])
        user = self.user
        current = snapshot.requests.get(number)
        if current is None:
            raise NotFound(f"Registered model {self.name!r} has no request {number}.")
        if not current.is_pending:
            raise InvalidState(
                f"Request {number} was {current.status.lower()} already by "
                f"{current.decided_by}; nothing to do."
            )
        if status is RequestStatus.CANCELLED and current.requested_by != user:
            raise StageTransitionDenied(
                f"Only {current.requested_by}, who made request {number}, can cancel it; "
                "reject it instead."
            )
        changes: list[Any] = [DecisionChange(number, status.value, note)]
        if status is not RequestStatus.APPROVED:
            return changes
        check_approver(snapshot.policy, current.requested_by, user, number)
        version = live_version(snapshot, current.version)
        check_gates(snapshot.policy, current.target_label, version,
                    lambda: source_metrics(version, self.client))
        why = current.comment or f"request {number} approved"
        if current.kind == "stage":
            changes += stage_changes(snapshot, current.version, Stage.parse(current.target),
                                     current.archive_existing, why, request_id=number)
        else:
            changes.append(AliasChange(current.target, current.version, why, number))
        return changes


def request_transition(name: str, version: int | str, stage: str,
                       archive_existing: bool = False, comment: str | None = None, *,
                       client: Client | None = None) -> TransitionRequest:
    """Ask for a version to enter ``stage`` (or ``"@alias"``), whatever the policy says."""
    plan = RequestTransition(name, user=current_user(), client=client, version=version,
                             stage=stage, archive_existing=bool(archive_existing),
                             comment=comment)
    store = fluent.client(client).registry_store
    # an unknown version is refused here, with how to list the versions
    store.get_model_version(plan.name, plan.args["version"])
    request_id = store.change_registry(plan.name, plan, plan.user)[0]
    return store.get_transition_request(request_id)


def _target(stage: str) -> tuple[str, str]:
    if isinstance(stage, str) and stage.startswith("@"):
        return "alias", alias_name(stage[1:])
    parsed = Stage.parse(stage)
    return "stage", parsed.value


def _decide(request_id: int | str, status: RequestStatus, comment: str | None,
            client: Client | None) -> TransitionRequest:
    number = _request_number(request_id)
    store = fluent.client(client).registry_store
    request = store.get_transition_request(number)
    plan = Decide(request.name, user=current_user(), client=client, request_id=number,
                  status=status.value, comment=comment)
    store.change_registry(plan.name, plan, plan.user)
    return store.get_transition_request(number)


def approve(request_id: int | str, comment: str | None = None, *,
            client: Client | None = None) -> TransitionRequest:
    """Approve a pending request: the change is applied now, if the gates still pass.

    The requester may not approve their own request unless the policy says
    ``allow_self_approval=True``.
    """
    return _decide(request_id, RequestStatus.APPROVED, comment, client)


def reject(request_id: int | str, comment: str | None = None, *,
           client: Client | None = None) -> TransitionRequest:
    """Reject a pending request; nothing moves."""
    return _decide(request_id, RequestStatus.REJECTED, comment, client)


def cancel_request(request_id: int | str, comment: str | None = None, *,
                   client: Client | None = None) -> TransitionRequest:
    """Withdraw your own pending request."""
    return _decide(request_id, RequestStatus.CANCELLED, comment, client)


def get_transition_request(request_id: int | str, *,
                           client: Client | None = None) -> TransitionRequest:
    return fluent.client(client).registry_store.get_transition_request(
        _request_number(request_id))


def transition_requests(name: str | None = None, status: str | None = "PENDING", *,
                        client: Client | None = None) -> list[TransitionRequest]:
    """Requests, newest first: pending ones by default, ``status=None`` for all."""
    if status is not None:
        try:
            status = RequestStatus(str(status).upper()).value
        except ValueError:
            raise InvalidParameter(
                f"Unknown request status {status!r}; use PENDING, APPROVED, REJECTED, "
                "CANCELLED or None for all."
            ) from None
    return fluent.client(client).registry_store.transition_requests(
        None if name is None else model_name(name), status)


def requests_frame(name: str | None = None, status: str | None = None, *,
                   client: Client | None = None) -> pd.DataFrame:
    """Requests as a DataFrame (one row per request, newest first)."""
    import pandas as pd

    rows = [{
        "request_id": r.request_id, "name": r.name, "version": r.version,
        "target": r.target_label, "status": r.status, "requested_by": r.requested_by,
        "requested_time": pd.to_datetime(r.requested_time, unit="ms", utc=True),
        "comment": r.comment, "decided_by": r.decided_by,
        "decided_time": (pd.to_datetime(r.decided_time, unit="ms", utc=True)
                         if r.decided_time is not None else pd.NaT),
        "decision_comment": r.decision_comment,
    } for r in transition_requests(name, status, client=client)]
    return pd.DataFrame(rows, columns=[
        "request_id", "name", "version", "target", "status", "requested_by",
        "requested_time", "comment", "decided_by", "decided_time", "decision_comment"])


def _request_number(request_id: Any) -> int:
    text = str(request_id).lstrip("#")
    if isinstance(request_id, bool) or not text.isdigit():
        raise InvalidParameter(f"{request_id!r} is not a request id; ids are numbers such as 3.")
    return int(text)
