"""Running the scoring app on uvicorn: in the foreground (the CLI) or in a thread (``serve``)."""

from __future__ import annotations

import logging
import logging.config
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from .. import asgi
from .._importers import import_optional
from ..errors import InvalidParameter, MLTrackError
from .app import (
    DEFAULT_MAX_BODY,
    ENV_MAX_BODY,
    ENV_MODEL_URI,
    ENV_POLL,
    ENV_TRUST,
    ScoringApp,
)
from .follow import ServedModel

if TYPE_CHECKING:
    from ..tracking.client import Client

log = logging.getLogger("jupyter_mltrack.serving")


def log_config(access_log: bool = True) -> dict[str, Any]:
    """Logging for a server process: our JSON lines and uvicorn's own messages to stderr."""
    return asgi.log_config("jupyter_mltrack.serving", access_log)


def _uvicorn() -> Any:
    return import_optional("uvicorn", "models")


def _check_port(host: str, port: int, workers: int) -> None:
    if not 0 <= port <= 65535:
        raise InvalidParameter(f"Port {port} is not a TCP port; pass 0-65535 (0: any free port).")
    if workers < 1:
        raise InvalidParameter(f"--workers {workers}: pass 1 or more worker processes.")


def run(model_uri: str, host: str = "127.0.0.1", port: int = 5001, workers: int = 1, *,
        tracking_uri: str | None = None, trust: bool = False, poll_interval: float = 5.0,
        max_body_bytes: int = DEFAULT_MAX_BODY, access_log: bool = True) -> None:
    """Serve ``model_uri`` in the foreground until interrupted (``mltrack models serve``)."""
    _check_port(host, port, workers)
    uvicorn = _uvicorn()
    config = log_config(access_log)
    logging.config.dictConfig(config)
    common = {"host": host, "port": port, "log_config": config, "access_log": False,
              "server_header": False, "date_header": False, "lifespan": "on",
              "timeout_graceful_shutdown": 10}
    if workers == 1:
        served = ServedModel(model_uri, client=_client(model_uri, tracking_uri), trust=trust,
                             poll_interval=poll_interval)
        _announce(served, host, port, 1)
        uvicorn.Server(uvicorn.Config(ScoringApp(served, max_body_bytes=max_body_bytes),
                                      **common)).run()
        return
    # Each worker process builds its own app from the environment and follows on its own.
    os.environ[ENV_MODEL_URI] = model_uri
    os.environ[ENV_TRUST] = "1" if trust else "0"
    os.environ[ENV_POLL] = str(poll_interval)
    os.environ[ENV_MAX_BODY] = str(max_body_bytes)
    if tracking_uri:
        os.environ["MLTRACK_TRACKING_URI"] = tracking_uri
    # Fail here, once, with a clear message rather than in every worker.
    served = ServedModel(model_uri, client=_client(model_uri, tracking_uri), trust=trust,
                         poll_interval=0)
    _announce(served, host, port, workers)
    del served
    uvicorn.run("jupyter_mltrack.serving.app:app_from_environment", factory=True,
                workers=workers, **common)


def _client(model_uri: str, tracking_uri: str | None) -> Client | None:
    if not model_uri.startswith(("models:/", "runs:/")):
        return None
    from ..tracking.client import Client

    return Client(tracking_uri)


def _announce(served: ServedModel, host: str, port: int, workers: int) -> None:
    current = served.current
    what = served.uri if current.version is None else \
        f"{served.uri} (version {current.version})"
    follow = f", following the registry every {served.poll_interval:g} s" \
        if served.follows and served.poll_interval > 0 else ""
    log.info(f"Serving {what} on http://{_display_host(host)}:{port} "
             f"with {workers} worker(s){follow}")


def _display_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class ServerThread:
    """uvicorn serving an app from a daemon thread of this process, on its own socket."""

    def __init__(self, app: ScoringApp, host: str = "127.0.0.1", port: int | None = None):
        uvicorn = _uvicorn()
        self.socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((host, port or 0))
        except OSError as exc:
            self.socket.close()
            raise InvalidParameter(
                f"Cannot listen on {host}:{port}: {exc.strerror}; pass another port, or "
                "port=None for any free one."
            ) from exc
        self.host = host
        self.port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(app, log_config=None, access_log=False, server_header=False,
                                date_header=False, lifespan="on", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"mltrack-serve-{self.port}",
                                       daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self.error = exc

    def start(self, timeout: float = 30.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise MLTrackError(f"The scoring server did not start: {self.error!r}")
            time.sleep(0.01)

    def stop(self, timeout: float = 15.0) -> None:
        self.server.should_exit = True
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout)
        self.socket.close()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()


__all__ = ["ServerThread", "log_config", "run"]
