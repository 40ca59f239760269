"""Registry operations as data: a plan names its kind and carries JSON arguments.

A service builds a :class:`Plan` and hands it to ``RegistryStore.change_registry``.
The SQL store calls it on a snapshot taken under the model's lock. The remote store
cannot send a function, so it sends ``kind``, ``name`` and ``args``; the team server
rebuilds the same plan with :func:`make_plan` as the authenticated user and runs it
under its own lock. The rules (policies, gates, approvals) therefore run where the
data is, on the server's copy of the code, and a client never sends raw changes past
them. What a plan learns while it runs (a request opened, the version a rollback put
back) is kept in ``out``, which the server sends back with the results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import InvalidParameter
from .validation import model_name

if TYPE_CHECKING:
    from ..entities import ModelVersion, TransitionRequest
    from ..store.changes import RegistrySnapshot
    from ..tracking.client import Client

#: Every plan kind by name (filled as the service modules define them).
PLANS: dict[str, type[Plan]] = {}


class Plan:
    """One registry operation on the registered model ``name``, done by ``user``.

    Subclasses set ``kind`` (the wire name) and ``level`` (the permission the operation
    needs on the model: EDIT or MANAGE), take their arguments as keyword parameters
    (validated in ``__init__``, on the client and again on the server), store them in
    ``args`` and compute the changes in :meth:`changes`.
    """

    kind: ClassVar[str] = ""
    level: ClassVar[str] = "EDIT"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            assert cls.kind not in PLANS, cls.kind
            PLANS[cls.kind] = cls

    def __init__(self, name: str, *, user: str, client: Client | None = None,
                 **args: Any) -> None:
        self.name = model_name(name)
        self.user = user
        self.client = client
        #: the plan's arguments as sent over the wire (JSON values only)
        self.args: dict[str, Any] = args
        #: what the last run of the plan learned, for the service that made it
        self.out: dict[str, Any] = {}

    def __call__(self, snapshot: RegistrySnapshot) -> list[Any]:
        self.out.clear()  # a store may run a plan again after a conflict
        return list(self.changes(snapshot))

    def changes(self, snapshot: RegistrySnapshot) -> list[Any]:
        """The changes to apply to ``snapshot``; raise to refuse the operation."""
        raise NotImplementedError

    def permission(self) -> str:
        """The permission this operation needs on the model."""
        return self.level

    def wire(self) -> dict[str, Any]:
        """The plan as the remote store sends it."""
        return {"name": self.name, "plan": self.kind, "args": dict(self.args)}


def make_plan(kind: Any, name: Any, args: Any, *, user: str,
              client: Client | None = None) -> Plan:
    """Rebuild a plan from its wire form; bad kinds and arguments are InvalidParameter."""
    cls = PLANS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise InvalidParameter(
            f"Unknown registry operation {kind!r}; known: {', '.join(sorted(PLANS))}.")
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise InvalidParameter("'args' is a JSON object of the operation's arguments.")
    if "user" in args or "client" in args:
        raise InvalidParameter("The user of a registry operation is the one signed in; "
                               "'args' may not name one.")
    try:
        return cls(name, user=user, client=client, **args)
    except TypeError as exc:
        raise InvalidParameter(f"Bad arguments for {kind}: {exc}.") from None


def move_or_request(plan: Plan) -> ModelVersion | TransitionRequest:
    """Run a plan that moves ``args["version"]`` (to a stage or an alias) or, where the
    policy asks for approval, opens a request; return the version or the request."""
    from ..tracking import fluent

    store = fluent.client(plan.client).registry_store
    number = plan.args["version"]
    # an unknown version is refused here, with how to list the versions
    store.get_model_version(plan.name, number)
    results = store.change_registry(plan.name, plan, plan.user)
    if plan.out.get("opened"):
        return store.get_transition_request(results[0])
    return store.get_model_version(plan.name, number)
