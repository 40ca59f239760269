"""What the two HTTP services (the scoring server and the team server) share: reading a
request body under a size limit, and the logging set-up of a server process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


async def read_body(receive: Receive, limit: int, declared: str | bytes | None,
                    too_large: Callable[[int], Exception]) -> bytes:
    """The whole body, refused with ``too_large(size)`` as soon as the declared length or
    the bytes received pass ``limit`` (a client that lies about its length is cut off)."""
    try:
        size = int(declared) if declared is not None else 0
    except ValueError:
        size = 0
    if size > limit:
        raise too_large(size)
    chunks = []
    total = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise too_large(total)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def log_config(logger: str, access_log: bool) -> dict[str, Any]:
    """``logging.config`` for a server process: ``logger`` and uvicorn's messages to stderr,
    and ``logger + ".access"`` (one JSON line per request) only when asked."""
    handler = {"class": "logging.StreamHandler", "formatter": "plain",
               "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(message)s"}},
        "handlers": {"stderr": handler},
        "loggers": {
            logger: {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            f"{logger}.access": {"handlers": ["stderr"] if access_log else [],
                                 "level": "INFO" if access_log else "WARNING",
                                 "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }
