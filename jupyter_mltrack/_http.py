"""JSON over HTTP to a team server: one kept-alive connection per thread, credentials
from the environment, retries with backoff, and the server's errors mapped back to ours.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from . import errors
from .errors import (
    AlreadyExists,
    InvalidParameter,
    InvalidState,
    MLTrackError,
    NotFound,
    StoreError,
)


class ServerUnreachable(StoreError):
    """The team server did not answer (refused, timed out, or a 5xx after retries)."""


class ServerRefused(MLTrackError):
    """The team server refused the credentials (401) or the permission (403)."""


#: MLflow error codes to our errors.
_ERRORS: dict[str, type[MLTrackError]] = {
    "RESOURCE_DOES_NOT_EXIST": NotFound, "RESOURCE_ALREADY_EXISTS": AlreadyExists,
    "INVALID_STATE": InvalidState, "INVALID_PARAMETER_VALUE": InvalidParameter,
    "BAD_REQUEST": InvalidParameter, "UNAUTHENTICATED": ServerRefused,
    "PERMISSION_DENIED": ServerRefused,
}


def credentials() -> dict[str, str]:
    """The Authorization header from MLTRACK_/MLFLOW_TRACKING_TOKEN or _USERNAME/_PASSWORD."""
    for prefix in ("MLTRACK_TRACKING_", "MLFLOW_TRACKING_"):
        token = os.environ.get(prefix + "TOKEN")
        if token:
            return {"Authorization": f"Bearer {token}"}
        user = os.environ.get(prefix + "USERNAME")
        if user:
            raw = f"{user}:{os.environ.get(prefix + 'PASSWORD', '')}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    return {}


class HttpSession:
    """Requests to one server; ``call`` returns the decoded JSON answer."""

    def __init__(self, base_url: str, timeout: float = 30.0, retries: int = 3):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidParameter(f"{base_url!r} is not an http(s)://host[:port] URL.")
        self.base_url = base_url.rstrip("/")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self._local = threading.local()

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = (http.client.HTTPSConnection if self.scheme == "https"
                   else http.client.HTTPConnection)
            conn = cls(self.host, self.port, timeout=timeout)
            self._local.conn = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def raw(self, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, *, timeout: float | None = None,
            retries: int | None = None) -> tuple[int, bytes]:
        """(status, body) of one request, retried with backoff on network errors and 5xx."""
        attempts = (self.retries if retries is None else retries) + 1
        sent = {"Accept": "application/json", **credentials(), **(headers or {})}
        delay = 0.2
        last: BaseException | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            try:
                conn = self._connection(self.timeout if timeout is None else timeout)
                conn.request(method, self.prefix + path, body=body, headers=sent)
                answer = conn.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                last = exc
                continue
            if answer.status >= 500 and answer.status not in (501,):
                last = ServerUnreachable(f"{self.base_url} answered {answer.status}: "
                                         f"{data[:300].decode(errors='replace')}")
                continue
            return answer.status, data
        raise ServerUnreachable(
            f"The team server {self.base_url} did not answer {method} {path} after "
            f"{attempts} attempt(s): {last}. Check that it runs (mltrack server) and that "
            "MLTRACK_TRACKING_URI names it.") from last

    def call(self, method: str, path: str, payload: dict[str, Any] | None = None, *,
             timeout: float | None = None, retries: int | None = None) -> dict[str, Any]:
        """Send ``payload`` (JSON body, or the query string for GET) and decode the answer."""
        if method == "GET":
            query = urlencode([(k, x) for k, v in (payload or {}).items() if v is not None
                               for x in (v if isinstance(v, list) else [v])])
            status, data = self.raw(method, path + (f"?{query}" if query else ""),
                                    timeout=timeout, retries=retries)
        else:
            status, data = self.raw(method, path, json.dumps(payload or {}).encode(),
                                    {"Content-Type": "application/json"},
                                    timeout=timeout, retries=retries)
        try:
            decoded = json.loads(data) if data else {}
        except ValueError:
            decoded = {"message": data[:300].decode(errors="replace")}
        if status >= 400:
            raise error_for(status, decoded, f"{method} {path}")
        return decoded if isinstance(decoded, dict) else {}


def error_for(status: int, body: dict[str, Any], what: str) -> MLTrackError:
    """Our error for a server's ``{"error_code", "message"}`` answer."""
    code = str(body.get("error_code", ""))
    message = str(body.get("message") or f"{what} failed with HTTP {status}")
    cls = _ERRORS.get(code)
    named = getattr(errors, str(body.get("mltrack_error", "")), None)
    if isinstance(named, type) and cls is not None and issubclass(named, cls):
        cls = named  # the server's own error, e.g. StageTransitionDenied
    if cls is None:
        cls = NotFound if status == 404 else InvalidParameter if status < 500 else StoreError
    if cls is ServerRefused:
        message += (" Set MLTRACK_TRACKING_TOKEN, or MLTRACK_TRACKING_USERNAME and "
                    "MLTRACK_TRACKING_PASSWORD, to credentials the server accepts.")
    return cls(message)
