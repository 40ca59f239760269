"""Registry policies: which stages need approval, and the metric gates a version must pass.

::

    set_registry_policy("churn", require_approval_for=["Production"],
                        gates={"metrics.accuracy": ">= 0.9"})

A gate compares a metric of the version's source run with a number, using
``>=``, ``>``, ``<=``, ``<``, ``==`` or ``!=``. Gates guard ``gated_stages``
(by default the stages that need approval, or Production when none do); a
version that fails one is refused with the reason, whether the change is
direct, requested or approved.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..entities import ModelVersion, RegistryPolicy, Stage
from ..errors import InvalidParameter, StageTransitionDenied
from ..store.changes import PolicyChange, RegistrySnapshot
from ..tracking import fluent
from ..tracking.context import current_user
from .plans import Plan
from .validation import model_name

if TYPE_CHECKING:
    from ..tracking.client import Client

_GATE = re.compile(r"^\s*(>=|<=|==|!=|>|<|=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_OPS = {
    ">=": lambda x, y: x >= y,
    ">": lambda x, y: x > y,
    "<=": lambda x, y: x <= y,
    "<": lambda x, y: x < y,
    "==": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
}


def parse_gate(field: str, condition: str) -> tuple[str, str, float]:
    """``("metrics.acc", ">= 0.9")`` -> ``("acc", ">=", 0.9)``, or a clear error."""
    example = 'e.g. gates={"metrics.accuracy": ">= 0.9"}'
    if not isinstance(field, str) or not field.startswith(("metrics.", "metric.")):
        raise InvalidParameter(
            f"Gate {field!r}: gates compare metrics of the source run; name them "
            f"metrics.<key>, {example}."
        )
    key = field.split(".", 1)[1]
    if not key:
        raise InvalidParameter(f"Gate {field!r} names no metric; {example}.")
    match = _GATE.match(condition) if isinstance(condition, str) else None
    if match is None:
        raise InvalidParameter(
            f"Gate {field}: {condition!r} is not a condition; write an operator (>=, >, <=, "
            f"<, ==, !=) and a number, {example}."
        )
    op = "==" if match.group(1) == "=" else match.group(1)
    return key, op, float(match.group(2))


def _target(value: str) -> str:
    """A stage name, or an alias written "@champion"."""
    if isinstance(value, str) and value.startswith("@"):
        from .aliases import alias_name

        return "@" + alias_name(value[1:])
    stage = Stage.parse(value)
    if stage in (Stage.NONE,):
        raise InvalidParameter("Approval for the None stage makes no sense; list Staging, "
                               "Production, Archived or an alias such as '@champion'.")
    return stage.value


def _targets(values: Iterable[str] | str | None, what: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        try:
            target = _target(value)
        except InvalidParameter as exc:
            raise InvalidParameter(f"{what}: {exc}") from None
        if target not in out:
            out.append(target)
    return tuple(out)


class SetPolicy(Plan):
    """Set (``policy`` given) or remove the model's policy."""

    kind = "set_policy"
    level = "MANAGE"

    def __init__(self, name: str, *, user: str, client: Client | None = None,
                 require_approval_for: Any = None, gates: Any = None,
                 gated_stages: Any = None, allow_self_approval: Any = False) -> None:
        clean_gates: dict[str, str] = {}
        if gates is not None and not isinstance(gates, Mapping):
            raise InvalidParameter('"gates" maps metrics.<key> to a condition such as '
                                   '">= 0.9".')
        for field, condition in (gates or {}).items():
            key, op, number = parse_gate(field, condition)
            clean_gates[f"metrics.{key}"] = f"{op} {number:g}"
        super().__init__(
            name, user=user, client=client,
            require_approval_for=list(_targets(require_approval_for,
                                               "require_approval_for")),
            gates=clean_gates, gated_stages=list(_targets(gated_stages, "gated_stages")),
            allow_self_approval=bool(allow_self_approval))

    def changes(self, snapshot: RegistrySnapshot) -> list[Any]:
        return [PolicyChange(RegistryPolicy(
            name=self.name, require_approval_for=tuple(self.args["require_approval_for"]),
            gates=dict(self.args["gates"]), gated_stages=tuple(self.args["gated_stages"]),
            allow_self_approval=self.args["allow_self_approval"]))]


class DeletePolicy(Plan):
    """Remove the model's policy (nothing to do when it has none)."""

    kind = "delete_policy"
    level = "MANAGE"

    def changes(self, snapshot: RegistrySnapshot) -> list[Any]:
        return [PolicyChange(None)] if snapshot.policy is not None else []


def set_registry_policy(name: str, require_approval_for: Iterable[str] | str | None = None,
                        gates: Mapping[str, str] | None = None,
                        gated_stages: Iterable[str] | str | None = None,
                        allow_self_approval: bool = False, *,
                        client: Client | None = None) -> RegistryPolicy:
    """Set the rules of a registered model (replacing earlier ones); recorded in its history.

    ``require_approval_for`` lists stages (and aliases as ``"@champion"``) whose changes
    become requests; ``gates`` maps ``metrics.<key>`` to a condition such as ``">= 0.9"``.
    """
    plan = SetPolicy(name, user=current_user(), client=client,
                     require_approval_for=require_approval_for,
                     gates=dict(gates) if gates is not None else None,
                     gated_stages=gated_stages, allow_self_approval=allow_self_approval)
    store = fluent.client(client).registry_store
    store.change_registry(plan.name, plan, plan.user)
    policy = get_registry_policy(plan.name, client=client)
    assert policy is not None
    return policy


def get_registry_policy(name: str, *, client: Client | None = None) -> RegistryPolicy | None:
    """The rules of a registered model, or None when it has none."""
    return fluent.client(client).registry_store.get_registry_policy(model_name(name))


def delete_registry_policy(name: str, *, client: Client | None = None) -> None:
    """Remove the rules of a registered model; recorded in its history."""
    plan = DeletePolicy(name, user=current_user(), client=client)
    fluent.client(client).registry_store.change_registry(plan.name, plan, plan.user)


def source_metrics(version: ModelVersion, client: Client | None) -> dict[str, float] | None:
    """Latest metrics of the version's source run (None when it has no run)."""
    if not version.run_id:
        return None
    from ..errors import RunNotFound

    try:
        # the store directly: this may run while the model's lock is held
        run = fluent.client(client).store.get_run(version.run_id)
    except RunNotFound:
        return None
    return dict(run.data.metrics)


def check_gates(policy: RegistryPolicy | None, target: str, version: ModelVersion,
                read_metrics: Callable[[], dict[str, float] | None]) -> None:
    """Refuse with the reason when ``version`` fails a gate guarding ``target``.

    ``read_metrics`` gives the source run's metrics; it is called only when a
    gate applies.
    """
    if policy is None or not policy.gates or not policy.is_gated(target):
        return
    metrics = read_metrics()
    failures = []
    for field, condition in sorted(policy.gates.items()):
        key, op, number = parse_gate(field, condition)
        if metrics is None:
            failures.append(
                f"{field} {op} {number:g} cannot be checked: version {version.version} has "
                "no source run"
            )
            continue
        value = metrics.get(key)
        if value is None:
            failures.append(f"{field} {op} {number:g} fails: run {version.run_id} has no "
                            f"metric {key!r}")
        elif math.isnan(value) or not _OPS[op](value, number):
            failures.append(f"{field} {op} {number:g} fails: it is {value:g}")
    if failures:
        raise StageTransitionDenied(
            f"Version {version.version} of {version.name!r} may not enter {target}: "
            + "; ".join(failures) + "."
        )
