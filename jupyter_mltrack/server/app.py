"""The team server as a plain ASGI application.

Order of checks for every request: the Host header against the allow-list, the
browser Origin against the CORS allow-list, the route, the content type (JSON for
anything that changes state; no form or text/plain bodies), the body size, then
authentication and the route's authorization decision, and only then the handler,
which runs in a worker thread (store calls block). Errors are JSON
``{"error_code": ..., "message": ...}`` with MLflow's error codes.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from .. import asgi
from .._version import __version__
from ..errors import MLTrackError, http_status_for
from ..tracking.context import acting_as
from . import artifacts_api, mltrack_api, registry_api, registry_rpc, tracking_api
from .auth import authenticate, authorize
from .http import Call, HttpError, Reply, dumps, error_body, error_code_for
from .routes import ANY_USER, PUBLIC, Route, RouteTable
from .state import ServerConfig, ServerState

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("jupyter_mltrack.server")
access_log = logging.getLogger("jupyter_mltrack.server.access")

_JSON = "application/json"
_CHANGES = ("POST", "PUT", "PATCH", "DELETE")
#: Probes (kubelet sends the pod's IP as Host) skip the Host allow-list; they reveal nothing.
_PROBES = ("/health", "/ready")


def _health(call: Call) -> dict[str, Any]:
    return {"status": "ok", "version": __version__, "pid": os.getpid()}


def _ready(call: Call) -> dict[str, Any]:
    call.state.store.get_experiment_by_name("")  # one query: the database answers
    return {"status": "ready", "version": __version__, "pid": os.getpid()}


def _version(call: Call) -> Reply:
    return Reply(__version__.encode(), "text/plain")


def _openapi(call: Call) -> dict[str, Any]:
    from .openapi import document

    return document(ROUTES)


def _out_of_scope(call: Call) -> dict[str, Any]:
    raise HttpError(501, "NOT_IMPLEMENTED",
                    f"{call.path} is not served here: this server implements MLflow's "
                    "tracking, artifact and model registry APIs; traces, prompts, "
                    "scorers, gateway and other GenAI routes are out of its scope.")


def _catch_all() -> list[Route]:
    out = []
    for prefix in ("/api/2.0/mlflow/", "/api/3.0/mlflow/", "/ajax-api/2.0/mlflow/",
                   "/ajax-api/3.0/mlflow/"):
        for method in ("GET", "POST", "PATCH", "DELETE", "PUT"):
            out.append(Route(method, prefix + "{rest:path}", _out_of_scope, ANY_USER,
                             "Outside this server's scope (501)", tag="unsupported"))
    return out


ROUTES: list[Route] = [
    Route("GET", "/health", _health, PUBLIC, "Liveness: the process answers", tag="server"),
    Route("GET", "/ready", _ready, PUBLIC, "Readiness: the database answers", tag="server"),
    Route("GET", "/version", _version, PUBLIC, "Server version", tag="server"),
    Route("GET", "/openapi.json", _openapi, PUBLIC, "This document", tag="server"),
    *tracking_api.ROUTES,
    *artifacts_api.ROUTES,
    *registry_api.ROUTES,
    *mltrack_api.ROUTES,
    *registry_rpc.ROUTES,
    *_catch_all(),
]
TABLE = RouteTable(ROUTES)


class TeamServerApp:
    """ASGI app serving MLflow's REST API from jupyter_mltrack's stores."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.state = ServerState(config)
        self.table = TABLE
        hosts = config.hosts()
        self._any_host = "*" in hosts
        self._hosts = {h.lower() for h in hosts}
        self._origins = set(config.cors_origins)
        self._tmp = tempfile.mkdtemp(prefix="mltrack-server-")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"]}
        method, path = scope["method"], scope["path"]
        extra: list[tuple[bytes, bytes]] = []
        try:
            extra = self._check_host_and_origin(headers, method, path)
            if method == "OPTIONS":
                reply: Any = Reply(b"", "text/plain", status=204, headers=self._preflight(
                    headers))
            else:
                reply = await self._dispatch(scope, receive, headers, method, path)
        except MLTrackError as exc:
            reply = _error_reply(exc)
        except Exception:
            log.exception("Unexpected error on %s %s", method, path)
            reply = Reply(error_body("INTERNAL_ERROR", "The server failed on this request; "
                                     "its log has the details."), _JSON, status=500)
        if not isinstance(reply, Reply):
            reply = Reply(dumps(reply), _JSON)
        await self._send(send, reply, extra, method)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(json.dumps({"method": method, "path": path,
                                        "status": reply.status,
                                        "ms": round((time.perf_counter() - started) * 1000,
                                                    2)}))

    def _check_host_and_origin(self, headers: dict[str, str], method: str, path: str
                               ) -> list[tuple[bytes, bytes]]:
        if not self._any_host and path not in _PROBES:
            host = headers.get("host", "").lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if host not in self._hosts and name not in self._hosts:
                raise HttpError(400, "BAD_REQUEST",
                                f"Host {host!r} is not allowed; start the server with "
                                "--allowed-hosts naming it.")
        origin = headers.get("origin")
        if origin is None:
            return []
        if origin in self._origins or "*" in self._origins:
            return [(b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"vary", b"Origin")]
        if method not in ("GET", "HEAD"):
            raise HttpError(403, "PERMISSION_DENIED",
                            f"Cross-origin requests from {origin!r} are not allowed; add it "
                            "with --cors-allowed-origins.")
        return []

    def _preflight(self, headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
        if headers.get("origin") is None:
            raise HttpError(405, "METHOD_NOT_ALLOWED", "OPTIONS is for CORS preflights.")
        return [(b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE"),
                (b"access-control-allow-headers", b"Authorization, Content-Type"),
                (b"access-control-max-age", b"600")]

    async def _dispatch(self, scope: Scope, receive: Receive, headers: dict[str, str],
                        method: str, path: str) -> Any:
        route, path_params, allowed = self.table.match(method, path)
        if route is None:
            if allowed:
                raise HttpError(405, "METHOD_NOT_ALLOWED",
                                f"{path} answers {', '.join(allowed)}, not {method}.",
                                [(b"allow", ", ".join(allowed).encode())])
            raise HttpError(404, "ENDPOINT_NOT_FOUND", f"No route {path} on this server; "
                            "see /openapi.json for the routes.")
        query = _query(scope.get("query_string", b""))
        upload = None
        body: dict[str, Any] = {}
        if route.body == "binary":
            upload = await self._spool(receive, headers)
        elif method in _CHANGES:
            body = await self._json_body(receive, headers)
        call = Call(method, path, {**query, **body}, path_params, None,  # type: ignore[arg-type]
                    self.state, headers, upload)
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, context.run, self._run, call, route)
        finally:
            if upload is not None and os.path.exists(upload):
                os.unlink(upload)

    def _run(self, call: Call, route: Route) -> Any:
        call.principal = authenticate(self.state, call.headers) \
            if route.access.scope != "public" else authenticate_optional(self.state,
                                                                         call.headers)
        authorize(call, route)
        with acting_as(call.principal.username):
            return route.handler(call)

    async def _json_body(self, receive: Receive, headers: dict[str, str]) -> dict[str, Any]:
        kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        raw = await _read(receive, headers, self.config.max_body_bytes)
        if not raw.strip() and not kind:
            return {}
        if kind != _JSON and not (kind.startswith("application/") and kind.endswith("+json")):
            raise HttpError(415, "BAD_REQUEST",
                            f"Send changes as JSON (Content-Type: application/json), not "
                            f"{kind or 'a body without a content type'}.")
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise HttpError(400, "MALFORMED_REQUEST", "The request body is not valid JSON."
                            ) from None
        if not isinstance(data, dict):
            raise HttpError(400, "MALFORMED_REQUEST", "The request body must be a JSON object.")
        return data

    async def _spool(self, receive: Receive, headers: dict[str, str]) -> str:
        limit = self.config.max_upload_bytes
        _check_declared(headers, limit)
        fd, name = tempfile.mkstemp(dir=self._tmp, suffix=".upload")
        total = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                more = True
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise HttpError(400, "BAD_REQUEST", "The client went away mid-upload.")
                    chunk = message.get("body", b"")
                    total += len(chunk)
                    if total > limit:
                        raise _too_large(total, limit)
                    handle.write(chunk)
                    more = message.get("more_body", False)
        except BaseException:
            os.unlink(name)
            raise
        return name

    async def _send(self, send: Send, reply: Reply, extra: list[tuple[bytes, bytes]],
                    method: str) -> None:
        headers = [(b"content-type", reply.content_type.encode()), *reply.headers, *extra]
        if reply.file is not None:
            size = os.path.getsize(reply.file)
            await send({"type": "http.response.start", "status": reply.status,
                        "headers": [*headers, (b"content-length", str(size).encode())]})
            if method == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            with open(reply.file, "rb") as handle:
                while True:
                    chunk = handle.read(1 << 20)
                    more = len(chunk) == 1 << 20
                    await send({"type": "http.response.body", "body": chunk,
                                "more_body": more})
                    if not more:
                        return
        body = b"" if method == "HEAD" else reply.body
        await send({"type": "http.response.start", "status": reply.status,
                    "headers": [*headers, (b"content-length", str(len(reply.body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await asyncio.get_running_loop().run_in_executor(None, self.state.open)
                except Exception as exc:  # noqa: BLE001 - reported to the ASGI server
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                shutil.rmtree(self._tmp, ignore_errors=True)
                await send({"type": "lifespan.shutdown.complete"})
                return


def authenticate_optional(state: ServerState, headers: dict[str, str]) -> Any:
    from .auth import LOCAL
    from .http import Principal

    if not state.config.auth_enabled:
        return LOCAL
    return Principal("anonymous", authenticated=False)


def _query(raw: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if key in out:
            existing = out[key]
            out[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[key] = value
    return out


def _check_declared(headers: dict[str, str], limit: int) -> None:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)


def _too_large(size: int, limit: int) -> HttpError:
    return HttpError(413, "REQUEST_LIMIT_EXCEEDED",
                     f"The request body is {size:,} bytes or more; this server accepts at most "
                     f"{limit:,} (raise it with --max-body-size or --max-upload-size).")


async def _read(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    return await asgi.read_body(receive, limit, headers.get("content-length"),
                                lambda size: _too_large(size, limit))


def _error_reply(exc: MLTrackError) -> Reply:
    status = http_status_for(exc)
    headers = list(exc.headers) if isinstance(exc, HttpError) else []
    if status >= 500 and not isinstance(exc, HttpError):
        log.error("Store error: %s", exc)
    kind = None if isinstance(exc, HttpError) else type(exc).__name__
    return Reply(error_body(error_code_for(exc), str(exc), kind), _JSON, status=status,
                 headers=headers)


def app_from_environment() -> TeamServerApp:
    """The app described by ``MLTRACK_SERVER_CONFIG`` (one per uvicorn worker)."""
    return TeamServerApp(ServerConfig.from_env())
