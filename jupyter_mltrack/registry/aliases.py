"""Aliases: named pointers such as ``champion`` to one version (``models:/name@champion``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..entities import ModelVersion, TransitionRequest
from ..errors import InvalidParameter, NotFound
from ..store.changes import AliasChange, RegistrySnapshot, RequestChange
from ..tracking import fluent
from ..tracking.context import current_user
from .plans import Plan, move_or_request
from .policies import check_gates, source_metrics
from .rules import live_version
from .validation import MAX_NAME, comment_text, model_name, version_number

if TYPE_CHECKING:
    from ..tracking.client import Client

_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_RESERVED = {"latest", "none", "staging", "production", "archived"}


def alias_name(alias: Any) -> str:
    """A valid alias, or a clear error."""
    if not isinstance(alias, str) or not _ALIAS.match(alias) or len(alias) > MAX_NAME:
        raise InvalidParameter(
            f"{alias!r} is not a valid alias; start with a letter and use letters, digits, "
            "'_' and '-', e.g. 'champion'."
        )
    if alias.lower() in _RESERVED:
        raise InvalidParameter(
            f"{alias!r} is reserved (models:/name/{alias} means a stage or the latest "
            "version); pick another alias such as 'champion'."
        )
    return alias


class SetAlias(Plan):
    """Point an alias at a version, or open a request when the policy asks for approval."""

    kind = "set_alias"

    def __init__(self, name: str, *, user: str, client: Client | None = None,
                 alias: Any = None, version: Any = None, comment: Any = None) -> None:
        super().__init__(name, user=user, client=client, alias=alias_name(alias),
                         version=version_number(version), comment=comment_text(comment))

    def changes(self, snapshot: RegistrySnapshot) -> list[Any]:
        from .stages import refuse_duplicate

        alias, number, note = self.args["alias"], self.args["version"], self.args["comment"]
        current = live_version(snapshot, number)
        policy = snapshot.policy
        if snapshot.model.aliases.get(alias) == number:
            return []
        target = "@" + alias
        check_gates(policy, target, current, lambda: source_metrics(current, self.client))
        if policy is not None and policy.needs_approval(target):
            refuse_duplicate(snapshot, number, "alias", alias)
            self.out["opened"] = True
            return [RequestChange(number, "alias", alias, False, note)]
        return [AliasChange(alias, number, note)]


class DeleteAlias(Plan):
    """Remove an alias."""

    kind = "delete_alias"

    def __init__(self, name: str, *, user: str, client: Client | None = None,
                 alias: Any = None, comment: Any = None) -> None:
        super().__init__(name, user=user, client=client, alias=alias_name(alias),
                         comment=comment_text(comment))

    def changes(self, snapshot: RegistrySnapshot) -> list[Any]:
        alias = self.args["alias"]
        if alias not in snapshot.model.aliases:
            known = ", ".join(sorted(snapshot.model.aliases)) or "none"
            raise NotFound(f"Registered model {self.name!r} has no alias {alias!r} "
                           f"(its aliases: {known}).")
        return [AliasChange(alias, None, self.args["comment"])]


def set_alias(name: str, alias: str, version: int | str, comment: str | None = None, *,
              client: Client | None = None) -> ModelVersion | TransitionRequest:
    """Point ``alias`` at a version (moving it from the one it pointed at).

    When the policy lists ``"@<alias>"`` in ``require_approval_for`` a pending
    request is opened and returned instead; gates guarding ``"@<alias>"`` apply.
    """
    plan = SetAlias(name, user=current_user(), client=client, alias=alias, version=version,
                    comment=comment)
    return move_or_request(plan)


def delete_alias(name: str, alias: str, comment: str | None = None, *,
                 client: Client | None = None) -> None:
    """Remove an alias; recorded in the history. ``models:/name@alias`` stops resolving."""
    plan = DeleteAlias(name, user=current_user(), client=client, alias=alias, comment=comment)
    fluent.client(client).registry_store.change_registry(plan.name, plan, plan.user)


def get_model_version_by_alias(name: str, alias: str, *,
                               client: Client | None = None) -> ModelVersion:
    """The version an alias points at."""
    name = model_name(name)
    store = fluent.client(client).registry_store
    model = store.get_registered_model(name)
    if alias not in model.aliases:
        known = ", ".join(sorted(model.aliases)) or "none"
        raise NotFound(f"Registered model {name!r} has no alias {alias!r} (its aliases: "
                       f"{known}); set one with set_alias({name!r}, {alias!r}, <version>).")
    return store.get_model_version(name, model.aliases[alias])
