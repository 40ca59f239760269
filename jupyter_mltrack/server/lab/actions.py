"""Registry actions of the dashboard: the question asked before, the deed after.

The same rules and confirmations as the notebook's ``registry_panel()``: Promote to
Staging / Production (a request when the model's policy asks for approval), Archive,
Rollback Production, Set alias, Approve / Reject a pending request. Every deed calls the
registry functions of the Python API, so policies and gates apply unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ... import registry as reg
from ...entities import Stage, TransitionRequest
from ...errors import InvalidParameter
from ...tracking import quote_literal

if TYPE_CHECKING:
    from ...tracking.client import Client

ACTIONS = ("staging", "production", "archive", "rollback", "alias", "approve", "reject")
_STAGES = {"staging": Stage.STAGING, "production": Stage.PRODUCTION,
           "archive": Stage.ARCHIVED}


@dataclass(frozen=True)
class Plan:
    """What an action will do (``question``, shown for confirmation) and how (``run``)."""

    question: str
    run: Callable[[], str]


def plan(client: Client, name: str, action: str, body: dict[str, Any]) -> Plan:
    """The plan of ``action`` on model ``name``; ``body`` holds version, comment,
    archive_existing, alias and request_id as the dashboard sends them."""
    if action not in ACTIONS:
        raise InvalidParameter(f"Unknown registry action {action!r}; use one of "
                               f"{', '.join(ACTIONS)}.")
    comment = str(body.get("comment") or "").strip() or None
    if action in ("approve", "reject"):
        return _decide(client, name, action, body.get("request_id"), comment)
    if action == "rollback":
        versions = _versions(client, name)
        current = [v.version for v in versions if v.current_stage == "Production"]
        question = (f"Roll back Production of {name!r}"
                    + (f": version {current[-1]} goes to Archived and the version before it "
                       "returns?" if current else " to the version that held it before?"))

        def roll() -> str:
            v = reg.rollback(name, "Production", comment, client=client)
            return f"Rolled back: version {v.version} is in Production again."

        return Plan(question, roll)
    number = body.get("version")
    if number in (None, ""):
        raise InvalidParameter("Choose a version first.")
    number = int(number)
    if action == "alias":
        alias = str(body.get("alias") or "").strip()
        if not alias:
            raise InvalidParameter("Type an alias first, e.g. champion.")

        def set_alias() -> str:
            out = reg.set_alias(name, alias, number, comment, client=client)
            return _outcome(out, f"models:/{name}@{alias} is now version {number}.")

        return Plan(f"Point alias {alias!r} at version {number}?", set_alias)
    stage = _STAGES[action]
    archive = bool(body.get("archive_existing", True)) and stage is not Stage.ARCHIVED
    policy = reg.get_registry_policy(name, client=client)
    others = [v.version for v in _versions(client, name)
              if v.current_stage == stage.value and v.version != number]
    needs = policy is not None and policy.needs_approval(stage.value)
    verb = "Request approval to move" if needs else "Move"
    question = f"{verb} version {number} of {name!r} to {stage.value}?"
    if archive and others:
        question += f" Version {', '.join(map(str, others))} will be archived."

    def move() -> str:
        out = reg.transition_stage(name, number, stage.value, archive_existing=archive,
                                   comment=comment, client=client)
        return _outcome(out, f"Version {number} is now in {stage.value}.")

    return Plan(question, move)


def _decide(client: Client, name: str, action: str, request_id: Any,
            comment: str | None) -> Plan:
    if request_id in (None, ""):
        raise InvalidParameter("No pending request to decide on.")
    pending = {q.request_id: q for q in reg.transition_requests(name, client=client)}
    request = pending.get(int(request_id))
    if request is None:
        raise InvalidParameter(f"Request #{request_id} of {name!r} is not pending any more; "
                               "refresh to see the current requests.")
    question = (f"{'Approve' if action == 'approve' else 'Reject'} request "
                f"#{request.request_id}: version {request.version} to "
                f"{request.target_label}, asked by {request.requested_by}?")

    def decide() -> str:
        q = getattr(reg, action)(request.request_id, comment, client=client)
        return f"Request #{q.request_id} {q.status.lower()} by {q.decided_by}."

    return Plan(question, decide)


def _versions(client: Client, name: str) -> list[Any]:
    return list(reg.search_model_versions(f"name = {quote_literal(name)}", max_results=200,
                                          client=client))


def _outcome(result: Any, done: str) -> str:
    if isinstance(result, TransitionRequest):
        return (f"Request #{result.request_id} opened: version {result.version} to "
                f"{result.target_label} waits for another user's approval.")
    return done
