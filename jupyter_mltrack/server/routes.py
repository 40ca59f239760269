"""The declarative route table: one :class:`Route` per method and path.

Each route names its handler, its authorization decision (:class:`Access`) and its
parameters; the app dispatches from this table, ``/openapi.json`` is generated from it,
and the test that walks every route reads it, so a route cannot exist without an
authorization decision.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .http import Call, Handler

#: "public" (no credentials), "user" (any signed-in user; the handler filters what it
#: shows), "admin", "experiment" or "registered_model" (a permission on the one named
#: by ``locate``).
SCOPES = ("public", "user", "admin", "experiment", "registered_model")


@dataclass(frozen=True)
class Access:
    """Who may call a route."""

    scope: str
    level: str = "READ"
    #: the experiment id or model name the request is about (None: it creates one)
    locate: Callable[[Call], str | None] | None = None

    def __post_init__(self) -> None:
        assert self.scope in SCOPES, self.scope
        assert self.scope not in ("experiment", "registered_model") or self.locate, self


@dataclass(frozen=True)
class Param:
    """One documented parameter (for the OpenAPI document and the fuzz test)."""

    name: str
    type: str = "string"  # string, integer, number, boolean, array, object
    required: bool = False
    items: str = "string"
    description: str = ""


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    access: Access
    summary: str
    params: tuple[Param, ...] = ()
    #: "json" (a JSON object, or the query string for GET), or "binary" (artifact bytes)
    body: str = "json"
    tag: str = "mlflow"
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", self.path)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        object.__setattr__(self, "pattern", re.compile(regex + r"\Z"))

    @property
    def is_static(self) -> bool:
        return "{" not in self.path


PUBLIC = Access("public")
ANY_USER = Access("user")
ADMIN = Access("admin")


def experiment_param(name: str = "experiment_id") -> Callable[[Call], str | None]:
    def locate(call: Call) -> str | None:
        value = call.text(name)
        if value == "0":  # MLflow's default experiment
            return str(call.state.store.get_or_create_experiment("Default"))
        return value
    return locate


def on_experiment(level: str, name: str = "experiment_id") -> Access:
    return Access("experiment", level, experiment_param(name))


def on_run(level: str, name: str = "run_id") -> Access:
    """A permission on the experiment of the run named by the parameter."""
    def locate(call: Call) -> str | None:
        run_id = call.text(name, required=False) or call.text("run_uuid")
        return call.state.store.get_run(run_id).info.experiment_id
    return Access("experiment", level, locate)


def on_model(level: str, name: str = "name", *, may_create: bool = False) -> Access:
    """A permission on the registered model named by the parameter; with ``may_create``
    a missing model is creatable by any user (None)."""
    def locate(call: Call) -> str | None:
        model = call.text(name)
        if may_create:
            from ..errors import NotFound

            try:
                call.state.registry.get_registered_model(model)
            except NotFound:
                return None
        return model
    return Access("registered_model", level, locate)


class RouteTable:
    """Routes by method and path: static paths by lookup, the rest by pattern."""

    def __init__(self, routes: list[Route]):
        self.routes = routes
        self._static: dict[str, dict[str, Route]] = {}
        self._dynamic: list[Route] = []
        self._fallback: list[Route] = []
        for route in routes:
            if route.path.endswith("{rest:path}"):  # whole API prefixes: last resort
                self._fallback.append(route)
            elif route.is_static:
                methods = self._static.setdefault(route.path, {})
                assert route.method not in methods, route
                methods[route.method] = route
            else:
                self._dynamic.append(route)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """(the route, its path parameters, the methods the path answers)."""
        methods = self._static.get(path)
        if methods is not None:
            route = methods.get(method) or (methods.get("GET") if method == "HEAD" else None)
            return route, {}, sorted(methods)
        allowed: list[str] = []
        for route in self._dynamic:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, found.groupdict(), []
            allowed.append(route.method)
        if allowed:
            return None, {}, sorted(set(allowed))
        for route in self._fallback:
            found = route.pattern.match(path)
            if found is not None and route.method == method:
                return route, found.groupdict(), []
        return None, {}, []


def params(*specs: Any, docs: dict[str, str] | None = None) -> tuple[Param, ...]:
    """``params("name!", ("max_results", "integer"), ("batches", "array", "object"))``: a
    trailing ! marks required, a third item is the type of an array's items; ``docs``
    describes parameters by name."""
    out = []
    for spec in specs:
        name, kind, *items = (spec, "string") if isinstance(spec, str) else spec
        bare = name.rstrip("!")
        out.append(Param(bare, kind, name.endswith("!"), items[0] if items else "string",
                         (docs or {}).get(bare, "")))
    return tuple(out)
