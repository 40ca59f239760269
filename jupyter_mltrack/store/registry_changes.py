"""Registry changes applied in SQL: one function per change type, chosen by a table.

``SqlRegistryStore.change_registry`` locks a registered model, hands the service's
plan a snapshot, and applies each change the plan returns through :func:`apply_change`
in the same transaction. Every function here writes one audit record per real change
(a change to what is already there is a no-op without a record).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, delete, select, update

from ..entities import LifecycleStage, RegistryPolicy, RequestStatus
from ..errors import InvalidState, ModelVersionNotFound, NotFound
from . import schema as t
from .changes import (
    AliasChange,
    DecisionChange,
    LifecycleChange,
    PolicyChange,
    RegistryChange,
    RequestChange,
    StageChange,
)

# -- rows that changes read ------------------------------------------------------------


def version_row(conn: Connection, model_id: int, name: str, version: int) -> Any:
    """The row of one version of a model; raises ModelVersionNotFound."""
    row = conn.execute(select(t.model_versions).where(
        t.model_versions.c.model_id == model_id, t.model_versions.c.version == int(version)
    )).first()
    if row is None:
        raise version_missing(name, version)
    return row


def version_missing(name: str, version: int) -> ModelVersionNotFound:
    return ModelVersionNotFound(
        f"Registered model {name!r} has no version {version}; list its versions with "
        f"search_model_versions(\"name = '{name}'\")."
    )


def read_policy(conn: Connection, model: Any) -> RegistryPolicy | None:
    """The policy of a registered model's row, or None."""
    row = conn.execute(select(t.registry_policies)
                       .where(t.registry_policies.c.model_id == model.id)).first()
    if row is None:
        return None
    return RegistryPolicy(
        name=model.name,
        require_approval_for=tuple(json.loads(row.require_approval_for)),
        gates=dict(json.loads(row.gates)),
        gated_stages=tuple(json.loads(row.gated_stages)),
        allow_self_approval=bool(row.allow_self_approval),
        updated_by=row.updated_by,
        updated_time=int(row.updated_time),
    )


def audit(conn: Connection, model_id: int, version: int | None, kind: str, action: str,
          from_value: str | None, to_value: str | None, user: str, now: int,
          comment: str | None = None, request_id: int | None = None,
          alias: str | None = None) -> None:
    """Write one audit record."""
    conn.execute(t.registry_audit.insert().values(
        model_id=model_id, version=version, kind=kind, action=action, alias=alias,
        from_value=from_value, to_value=to_value, user_id=user or "", timestamp=now,
        comment=comment, request_id=request_id,
    ))


def new_id(result: Any) -> int:
    """The primary key of the row an INSERT made."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


# -- one function per change type ----------------------------------------------------------


def _active_row(conn: Connection, model: Any, version: int) -> Any:
    row = version_row(conn, model.id, model.name, version)
    if row.lifecycle_stage != LifecycleStage.ACTIVE.value:
        raise InvalidState(f"Version {version} of {model.name!r} is deleted; restore it first.")
    return row


def apply_stage(conn: Connection, model: Any, change: StageChange, user: str, now: int) -> None:
    row = _active_row(conn, model, change.version)
    if row.current_stage == change.stage:
        return
    conn.execute(update(t.model_versions).where(t.model_versions.c.id == row.id)
                 .values(current_stage=change.stage, last_updated_time=now))
    audit(conn, model.id, change.version, "stage", change.action, row.current_stage,
          change.stage, user, now, change.comment, request_id=change.request_id)


def apply_alias(conn: Connection, model: Any, change: AliasChange, user: str, now: int) -> None:
    ma = t.model_aliases
    current = conn.execute(
        select(ma.c.version_id, t.model_versions.c.version)
        .join(t.model_versions, t.model_versions.c.id == ma.c.version_id)
        .where(ma.c.model_id == model.id, ma.c.alias == change.alias)
    ).first()
    old = None if current is None else int(current.version)
    if change.version is None:
        if current is None:
            raise NotFound(f"Registered model {model.name!r} has no alias {change.alias!r}.")
        conn.execute(delete(ma).where(ma.c.model_id == model.id, ma.c.alias == change.alias))
        audit(conn, model.id, old, "alias", "delete", str(old), None, user, now,
              change.comment, request_id=change.request_id, alias=change.alias)
        return
    row = _active_row(conn, model, change.version)
    if old == change.version:
        return
    if current is None:
        conn.execute(ma.insert().values(model_id=model.id, alias=change.alias,
                                        version_id=row.id))
    else:
        conn.execute(update(ma).where(ma.c.model_id == model.id, ma.c.alias == change.alias)
                     .values(version_id=row.id))
    audit(conn, model.id, change.version, "alias", "set", None if old is None else str(old),
          str(change.version), user, now, change.comment, request_id=change.request_id,
          alias=change.alias)


def apply_lifecycle(conn: Connection, model: Any, change: LifecycleChange, user: str,
                    now: int) -> None:
    row = version_row(conn, model.id, model.name, change.version)
    target = LifecycleStage.DELETED if change.deleted else LifecycleStage.ACTIVE
    if row.lifecycle_stage == target.value:
        return
    conn.execute(update(t.model_versions).where(t.model_versions.c.id == row.id)
                 .values(lifecycle_stage=target.value, last_updated_time=now,
                         deleted_time=now if change.deleted else None))
    audit(conn, model.id, change.version, "lifecycle", "delete" if change.deleted else "restore",
          row.lifecycle_stage, target.value, user, now, change.comment)


def apply_request(conn: Connection, model: Any, change: RequestChange, user: str,
                  now: int) -> int:
    request_id = new_id(conn.execute(
        t.transition_requests.insert().values(
            model_id=model.id, version=change.version, kind=change.kind,
            target=change.target, archive_existing=change.archive_existing,
            status=RequestStatus.PENDING.value, requested_by=user,
            requested_time=now, comment=change.comment,
        )
    ))
    label = change.target if change.kind == "stage" else "@" + change.target
    audit(conn, model.id, change.version, "request", "requested", None, label, user, now,
          change.comment, request_id=request_id,
          alias=change.target if change.kind == "alias" else None)
    return request_id


def apply_decision(conn: Connection, model: Any, change: DecisionChange, user: str,
                   now: int) -> None:
    tr = t.transition_requests
    row = conn.execute(select(tr).where(tr.c.id == change.request_id,
                                        tr.c.model_id == model.id)).first()
    if row is None:
        raise NotFound(f"No transition request {change.request_id} for {model.name!r}.")
    done = conn.execute(
        update(tr).where(tr.c.id == row.id, tr.c.status == RequestStatus.PENDING.value)
        .values(status=change.status, decided_by=user, decided_time=now,
                decision_comment=change.comment)
    ).rowcount
    if not done:
        raise InvalidState(f"Request {row.id} is {row.status.lower()} already.")
    label = row.target if row.kind == "stage" else "@" + row.target
    audit(conn, model.id, row.version, "request", change.status.lower(), None, label, user,
          now, change.comment, request_id=int(row.id),
          alias=row.target if row.kind == "alias" else None)


def apply_policy(conn: Connection, model: Any, change: PolicyChange, user: str,
                 now: int) -> None:
    old = read_policy(conn, model)
    conn.execute(delete(t.registry_policies).where(t.registry_policies.c.model_id == model.id))
    new = change.policy
    if new is not None:
        conn.execute(t.registry_policies.insert().values(
            model_id=model.id,
            require_approval_for=json.dumps(list(new.require_approval_for)),
            gates=json.dumps(new.gates, sort_keys=True),
            gated_stages=json.dumps(list(new.gated_stages)),
            allow_self_approval=new.allow_self_approval,
            updated_by=user, updated_time=now,
        ))
    audit(conn, model.id, None, "policy", "set" if new else "delete", _policy_text(old),
          _policy_text(new), user, now)


def _policy_text(policy: RegistryPolicy | None) -> str | None:
    if policy is None:
        return None
    return json.dumps({
        "require_approval_for": list(policy.require_approval_for),
        "gates": policy.gates,
        "gated_stages": list(policy.gated_stages),
        "allow_self_approval": policy.allow_self_approval,
    }, sort_keys=True)


#: The function that applies each type of change.
APPLY: dict[type, Callable[[Connection, Any, Any, str, int], Any]] = {
    StageChange: apply_stage,
    AliasChange: apply_alias,
    LifecycleChange: apply_lifecycle,
    RequestChange: apply_request,
    DecisionChange: apply_decision,
    PolicyChange: apply_policy,
}


def apply_change(conn: Connection, model: Any, change: RegistryChange, user: str,
                 now: int) -> Any:
    """Apply one change to the locked model's rows; the result of a RequestChange is the
    new request's id, of the others None."""
    fn = APPLY.get(type(change))
    if fn is None:
        raise TypeError(f"Unknown registry change {change!r}")
    return fn(conn, model, change, user, now)
