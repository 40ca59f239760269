"""Authentication and authorization: fail closed.

A server bound to a loopback address without ``--auth`` is open (every caller is the
local admin). Otherwise every route but the public ones needs credentials: HTTP basic
auth (``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``) or a bearer token
(``MLFLOW_TRACKING_TOKEN``). Admins may do anything; other users hold READ, EDIT or
MANAGE on experiments and registered models (granted, or the server's default
permission; the creator of one gets MANAGE).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

from .http import Call, Principal, Unauthenticated
from .http import PermissionDenied as Denied
from .routes import Route

LEVELS = ("READ", "EDIT", "MANAGE")
#: What each permission allows (MLflow's meanings): EDIT changes, MANAGE also deletes and
#: grants.
_RANK = {"NO_PERMISSIONS": 0, "NONE": 0, "READ": 1, "EDIT": 2, "MANAGE": 3}

LOCAL = Principal("local", is_admin=True, authenticated=False)


def authenticate(state: Any, headers: dict[str, str]) -> Principal:
    """The caller, from the Authorization header; raises Unauthenticated."""
    if not state.config.auth_enabled:
        return LOCAL
    header = headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("The basic auth header is not valid base64 of "
                                  "'user:password'.") from None
        username, sep, password = decoded.partition(":")
        user = state.server_store.authenticate(username, password) if sep else None
        if user is None:
            raise Unauthenticated("Wrong username or password.")
        return Principal(user.username, user.is_admin)
    if scheme == "bearer" and value:
        user = state.server_store.user_for_token(value)
        if user is None:
            raise Unauthenticated("Unknown or revoked token; create one with "
                                  "`mltrack server create-token`.")
        return Principal(user.username, user.is_admin)
    raise Unauthenticated(
        "This server needs credentials: set MLFLOW_TRACKING_USERNAME and "
        "MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN (basic or bearer auth).")


def level_of(call: Call, kind: str, resource: str) -> int:
    """The caller's permission rank on one experiment or registered model."""
    principal = call.principal
    if principal.is_admin:
        return _RANK["MANAGE"]
    granted = call.state.server_store.get_permission(kind, resource, principal.username)
    if granted is None:
        granted = call.state.config.default_permission
    return _RANK.get(str(granted).upper(), 0)


def require(call: Call, kind: str, resource: str, level: str) -> None:
    """Refuse (403) unless the caller holds ``level`` on the resource."""
    if level_of(call, kind, resource) < _RANK[level]:
        what = "experiment" if kind == "experiment" else "registered model"
        raise Denied(f"User {call.principal.username!r} lacks {level} permission on "
                     f"{what} {resource!r}; an admin or a MANAGE holder can grant it with "
                     "`mltrack server set-permission`.")


def readable(call: Call, kind: str, resources: Iterable[str]) -> list[str]:
    """The resources the caller may read."""
    items = list(resources)
    principal = call.principal
    if principal.is_admin:
        return items
    default = _RANK.get(call.state.config.default_permission.upper(), 0)
    grants = call.state.server_store.permissions_of(kind, principal.username)
    return [r for r in items if _RANK.get(grants.get(str(r), ""), default) >= 1]


def grant_creator(call: Call, kind: str, resource: str) -> None:
    """The creator of an experiment or registered model manages it."""
    if call.principal.authenticated and not call.principal.is_admin:
        call.state.server_store.set_permission(kind, resource, call.principal.username,
                                               "MANAGE")


def authorize(call: Call, route: Route) -> None:
    """The route's decision for this call: returns, or raises Unauthenticated/Denied."""
    access = route.access
    if access.scope == "public" or not call.state.config.auth_enabled:
        return
    if not call.principal.authenticated:
        raise Unauthenticated("This route needs credentials.")
    if access.scope == "user":
        return
    if access.scope == "admin":
        if not call.principal.is_admin:
            raise Denied(f"Only an admin may call {route.path}.")
        return
    assert access.locate is not None
    resource = access.locate(call)
    if resource is None:  # creating it: any signed-in user may
        return
    require(call, access.scope, str(resource), access.level)
