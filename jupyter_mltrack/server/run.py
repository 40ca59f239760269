"""Running the team server on uvicorn, with one or several worker processes."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from .. import asgi
from .._importers import import_optional
from ..errors import InvalidParameter
from .state import ENV_CONFIG, ServerConfig

log = logging.getLogger("jupyter_mltrack.server")


def log_config(access_log: bool = False) -> dict[str, Any]:
    """Our messages and uvicorn's to stderr; access lines (JSON) when asked."""
    return asgi.log_config("jupyter_mltrack.server", access_log)


def prepare(config: ServerConfig) -> None:
    """Open the stores once before the workers start (schemas created, admin from the
    environment created), so that workers never race to create them."""
    from .state import ServerState

    state = ServerState(config)
    state.open()
    username = os.environ.get("MLTRACK_SERVER_ADMIN_USERNAME")
    password = os.environ.get("MLTRACK_SERVER_ADMIN_PASSWORD")
    if username and password:
        from ..errors import AlreadyExists

        try:
            state.server_store.create_user(username, password, is_admin=True)
            log.info("Created admin user %s", username)
        except AlreadyExists:
            pass
    elif config.auth_enabled and not state.server_store.list_users():
        log.warning("Auth is on and there are no users yet: create an admin with "
                    "`mltrack server create-user NAME --admin` (or set "
                    "MLTRACK_SERVER_ADMIN_USERNAME and MLTRACK_SERVER_ADMIN_PASSWORD).")


def run(config: ServerConfig, workers: int = 1, access_log: bool = False) -> None:
    """Serve in the foreground until interrupted."""
    if workers < 1:
        raise InvalidParameter(f"--workers {workers}: pass 1 or more worker processes.")
    if not 0 <= config.port <= 65535:
        raise InvalidParameter(f"Port {config.port} is not a TCP port; pass 0-65535.")
    uvicorn = import_optional("uvicorn", "server")
    prepare(config)
    os.environ[ENV_CONFIG] = config.to_env()
    mode = "auth required" if config.auth_enabled else "open (loopback, no auth)"
    print(f"mltrack team server on http://{config.host}:{config.port} with {workers} "
          f"worker(s), {mode}", file=sys.stderr, flush=True)
    uvicorn.run("jupyter_mltrack.server.app:app_from_environment", factory=True,
                host=config.host, port=config.port, workers=workers,
                log_config=log_config(access_log), access_log=False, server_header=False,
                timeout_graceful_shutdown=20)
