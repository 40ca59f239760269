"""The scoring server as a plain ASGI application.

Routes: ``POST /invocations`` (MLflow's scoring protocol), ``GET /ping`` and
``/health`` (200 while a model is loaded), ``/version``, ``/metadata``. Every answer to
``/invocations`` carries ``X-Model-Version``: the registry version that computed it.
Errors are JSON ``{"error_code": ..., "message": ...}``; one line of JSON per request
goes to the ``jupyter_mltrack.serving.access`` logger. No part of a request reaches
the file system.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .. import asgi
from .._version import __version__
from ..errors import MLTrackError, http_status_for
from . import protocol
from .follow import LoadedModel, ServedModel

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Largest request body accepted, in bytes (``--max-body-size``).
DEFAULT_MAX_BODY = 32 * 1024 * 1024
#: Bodies larger than this are scored in a worker thread so that /ping keeps answering.
INLINE_BODY = 64 * 1024

ERROR_CODES = {400: "BAD_REQUEST", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
               405: "METHOD_NOT_ALLOWED", 409: "INVALID_STATE", 413: "REQUEST_TOO_LARGE",
               415: "UNSUPPORTED_MEDIA_TYPE", 500: "INTERNAL_ERROR"}

access_log = logging.getLogger("jupyter_mltrack.serving.access")

_JSON = [(b"content-type", b"application/json")]
_ROUTES = {"/invocations": ("POST",), "/ping": ("GET", "HEAD"), "/health": ("GET", "HEAD"),
           "/version": ("GET", "HEAD"), "/metadata": ("GET", "HEAD")}


class ScoringApp:
    """ASGI app scoring requests with a :class:`ServedModel`."""

    def __init__(self, served: ServedModel, *, max_body_bytes: int = DEFAULT_MAX_BODY):
        self.served = served
        self.max_body_bytes = int(max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        path, method = scope["path"], scope["method"]
        model = self.served.current
        status, headers, body, size_in = await self._route(scope, receive, path, method, model)
        if path == "/invocations":
            headers = [*headers, (b"x-model-version", model.version_label.encode())]
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
        if access_log.isEnabledFor(logging.INFO):
            client = scope.get("client")
            access_log.info(json.dumps({
                "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "method": method,
                "path": path, "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "bytes_in": size_in, "bytes_out": len(body),
                "model_version": model.version_label or None,
                "client": f"{client[0]}:{client[1]}" if client else None}))

    async def _route(self, scope: Scope, receive: Receive, path: str, method: str,
                     model: LoadedModel) -> tuple[int, list[tuple[bytes, bytes]], bytes, int]:
        allowed = _ROUTES.get(path)
        if allowed is None:
            return (*_error(404, f"No route {path}; the routes are "
                            + ", ".join(sorted(_ROUTES)) + "."), 0)
        if method not in allowed:
            status, headers, body = _error(405, f"{path} answers {' and '.join(allowed)}, "
                                           f"not {method}.")
            return status, [*headers, (b"allow", ", ".join(allowed).encode())], body, 0
        if path == "/invocations":
            return await self._invocations(scope, receive, model)
        if path == "/ping":
            return 200, [(b"content-type", b"text/plain")], b"\n", 0
        if path == "/version":
            return 200, [(b"content-type", b"text/plain")], __version__.encode(), 0
        if path == "/health":
            return 200, _JSON, protocol.dumps(self._health(model)), 0
        return 200, _JSON, protocol.dumps(self._metadata(model)), 0

    async def _invocations(self, scope: Scope, receive: Receive, model: LoadedModel
                           ) -> tuple[int, list[tuple[bytes, bytes]], bytes, int]:
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        try:
            protocol.check_media_type(content_type)
            body = await self._read_body(receive, headers.get(b"content-length"))
        except MLTrackError as exc:
            return (*_error(http_status_for(exc), str(exc)), 0)
        try:
            if len(body) > INLINE_BODY:
                loop = asyncio.get_running_loop()
                answer = await loop.run_in_executor(None, _score, model, body, content_type)
            else:
                answer = _score(model, body, content_type)
        except MLTrackError as exc:
            return (*_error(http_status_for(exc), str(exc)), len(body))
        except Exception as exc:  # noqa: BLE001 - a model that raises gets a 500, not a crash
            return (*_error(500, f"The model raised {type(exc).__name__}: {exc}"), len(body))
        return 200, _JSON, answer, len(body)

    async def _read_body(self, receive: Receive, declared: bytes | None) -> bytes:
        limit = self.max_body_bytes
        return await asgi.read_body(
            receive, limit, declared,
            lambda size: protocol.BodyTooLarge(_too_large(size, limit)))

    def _health(self, model: LoadedModel) -> dict[str, Any]:
        served = self.served
        return {"status": "ok", "model_uri": served.uri, "version": model.version,
                "follows_registry": served.follows, "last_error": served.last_error,
                "pid": os.getpid()}

    def _metadata(self, model: LoadedModel) -> dict[str, Any]:
        served = self.served
        return {"model_uri": served.uri, "follows_registry": served.follows,
                "poll_interval": served.poll_interval if served.follows else None,
                **model.describe(), "last_error": served.last_error,
                "mltrack_version": __version__}

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.served.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.served.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _score(model: LoadedModel, body: bytes, content_type: str) -> bytes:
    pyfunc = model.model
    data, params = protocol.parse_request(body, content_type, pyfunc.array_input)
    data = protocol.rows_as_table(data, pyfunc.signature)
    predictions = pyfunc.predict(data, params)
    return protocol.dumps(protocol.predictions_payload(predictions))


def _error(status: int, message: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    code = ERROR_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
    return status, _JSON, protocol.dumps({"error_code": code, "message": message})


def _too_large(size: int, limit: int) -> str:
    return (f"The request body is {size:,} bytes or more; this server accepts at most "
            f"{limit:,} bytes (start it with a larger --max-body-size, or send fewer rows "
            "per request).")


# -- configuration through the environment (for --workers N, where each worker builds
#    its own app) ---------------------------------------------------------------------------

ENV_MODEL_URI = "MLTRACK_SERVING_MODEL_URI"
ENV_TRUST = "MLTRACK_SERVING_TRUST"
ENV_POLL = "MLTRACK_SERVING_POLL_INTERVAL"
ENV_MAX_BODY = "MLTRACK_SERVING_MAX_BODY"


def app_from_environment() -> ScoringApp:
    """The app described by ``MLTRACK_SERVING_*`` variables (one per uvicorn worker)."""
    from ..tracking.client import Client

    uri = os.environ[ENV_MODEL_URI]
    client = Client(os.environ.get("MLTRACK_TRACKING_URI") or None) \
        if uri.startswith(("models:/", "runs:/")) else None
    served = ServedModel(uri, client=client, trust=os.environ.get(ENV_TRUST) == "1",
                         poll_interval=float(os.environ.get(ENV_POLL, "5")))
    return ScoringApp(served, max_body_bytes=int(os.environ.get(ENV_MAX_BODY,
                                                                str(DEFAULT_MAX_BODY))))
