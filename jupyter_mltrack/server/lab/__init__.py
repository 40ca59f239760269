"""The Jupyter server extension behind the JupyterLab extension ("ML Tracker").

REST routes under ``/mltrack/api/`` (see :data:`handlers.ROUTES`), each an authenticated,
XSRF-checked ``APIHandler`` that calls the same service functions as the Python API.
Enabled by ``jupyter-config/server-config/jupyter_mltrack.json`` in the wheel.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OPEN_DASHBOARD_ENV", "load_jupyter_server_extension"]

#: Set to "1" by ``mltrack ui``: the lab opens the dashboard when it starts.
OPEN_DASHBOARD_ENV = "MLTRACK_UI_OPEN_DASHBOARD"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "jupyter_mltrack.server.lab"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Register the REST handlers on the running Jupyter server."""
    from .handlers import setup_handlers

    setup_handlers(server_app.web_app, server_app.root_dir)
    server_app.log.info("jupyter_mltrack: ML Tracker API at /mltrack/api/")


load_jupyter_server_extension = _load_jupyter_server_extension
