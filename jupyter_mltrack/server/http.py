"""Requests, replies and errors of the team server, in MLflow's wire format.

A route's handler receives a :class:`Call` (its JSON body merged with the query
string, the path parameters and the authenticated :class:`Principal`) and returns a
dict (sent as JSON) or a :class:`Reply`. Errors are JSON ``{"error_code", "message"}``
with MLflow's error codes, which MLflow clients read to decide what happened.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import (
    AlreadyExists,
    InvalidParameter,
    InvalidState,
    MLTrackError,
    NotFound,
    http_status_for,
)

if TYPE_CHECKING:
    from .state import ServerState


class HttpError(MLTrackError):
    """A refusal with its own HTTP status and MLflow error code."""

    def __init__(self, status: int, code: str, message: str,
                 headers: list[tuple[bytes, bytes]] | None = None):
        self.http_status = status
        self.error_code = code
        self.headers = headers or []
        super().__init__(message)


class Unauthenticated(HttpError):
    """No valid credentials on a route that needs them (401)."""

    def __init__(self, message: str):
        super().__init__(401, "UNAUTHENTICATED", message,
                         [(b"www-authenticate", b'Basic realm="mltrack"')])


class PermissionDenied(HttpError):
    """Valid credentials without the permission the route needs (403)."""

    def __init__(self, message: str):
        super().__init__(403, "PERMISSION_DENIED", message)


def error_code_for(exc: BaseException) -> str:
    """MLflow's error code for one of our errors."""
    if isinstance(exc, HttpError):
        return exc.error_code
    if isinstance(exc, NotFound):
        return "RESOURCE_DOES_NOT_EXIST"
    if isinstance(exc, AlreadyExists):
        return "RESOURCE_ALREADY_EXISTS"
    if isinstance(exc, InvalidState):
        return "INVALID_STATE"
    if isinstance(exc, InvalidParameter):
        return "INVALID_PARAMETER_VALUE"
    status = http_status_for(exc)
    if status == 403:
        return "PERMISSION_DENIED"
    return "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an authenticated user, or the local user of an open server."""

    username: str
    is_admin: bool = False
    authenticated: bool = True


@dataclass(slots=True)
class Reply:
    """A non-JSON answer (artifact bytes, text)."""

    body: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    #: a local file to stream instead of ``body``
    file: str | None = None


@dataclass(slots=True)
class Call:
    """One request as a handler sees it."""

    method: str
    path: str
    params: dict[str, Any]
    path_params: dict[str, str]
    principal: Principal
    state: ServerState
    headers: dict[str, str]
    #: the request body spooled to a temporary file (artifact uploads)
    upload: str | None = None

    @property
    def user(self) -> str:
        return self.principal.username

    def get(self, name: str, default: Any = None) -> Any:
        value = self.params.get(name, default)
        return default if value is None else value

    def text(self, name: str, required: bool = True, default: str | None = None) -> Any:
        """A string argument (query strings repeat keys: the first counts)."""
        value = self.params.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None or value == "":
            if required:
                raise InvalidParameter(f"Missing value for required parameter '{name}'.")
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidParameter(f"Parameter '{name}' must be a string, not {value!r}.")
        return str(value)

    def integer(self, name: str, default: int | None = None, *, low: int = 0,
                high: int = 2 ** 63 - 1) -> Any:
        value = self.params.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None or value == "":
            return default
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidParameter(f"Parameter '{name}' must be an integer, not {value!r}."
                                   ) from None
        if not low <= number <= high:
            raise InvalidParameter(f"Parameter '{name}' must be between {low} and {high}.")
        return number

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.params.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise InvalidParameter(f"Parameter '{name}' must be true or false, not {value!r}.")

    def strings(self, name: str) -> list[str]:
        """A list of strings (a JSON array, or a repeated query key)."""
        value = self.params.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            value = [value]
        out = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (str, int)):
                raise InvalidParameter(f"Parameter '{name}' must be a list of strings.")
            out.append(str(item))
        return out

    def pairs(self, name: str) -> dict[str, str]:
        """``[{"key": k, "value": v}, ...]`` as a dict (MLflow's tags and params)."""
        value = self.params.get(name) or []
        if not isinstance(value, list):
            raise InvalidParameter(f"Parameter '{name}' must be a list of "
                                   '{"key": ..., "value": ...} objects.')
        out = {}
        for item in value:
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                raise InvalidParameter(f"Each item of '{name}' needs a string 'key'.")
            raw = item.get("value", "")
            out[item["key"]] = "" if raw is None else raw if isinstance(raw, str) else \
                json.dumps(raw)
        return out


Handler = Callable[[Call], Any]


def _finite(value: Any) -> Any:
    """Floats as JSON allows, NaN and infinities spelled as protobuf's JSON does."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps(payload: Any) -> bytes:
    """JSON bytes, with non-finite floats as strings."""
    try:
        return json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()
    except ValueError:
        return json.dumps(_finite(payload), separators=(",", ":")).encode()


def error_body(code: str, message: str, kind: str | None = None) -> bytes:
    """MLflow's error body; ``kind`` (our error's class name) lets our client raise the
    same error as a local store would."""
    return dumps({"error_code": code, "message": message,
                  **({"mltrack_error": kind} if kind else {})})
