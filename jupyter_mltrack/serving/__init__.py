"""Serving models over HTTP with MLflow's scoring protocol, and packaging them for deployment.

::

    server = mltrack.serve("models:/churn@champion")   # background, any free port
    server.predict(df)                                  # through HTTP, like any client
    server.stop()

    $ mltrack models serve -m models:/churn/Production --port 5001 --workers 2

A server on a ``models:/name@alias`` or ``models:/name/Stage`` URI follows the
registry: promotions and rollbacks swap the served version with no failed request.
``write_docker_context`` writes a Docker build context that runs the same server.
uvicorn loads only when a server starts.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "ModelServer": "jupyter_mltrack.serving.handle",
    "ScoringApp": "jupyter_mltrack.serving.app",
    "ScoringFailed": "jupyter_mltrack.serving.handle",
    "ServedModel": "jupyter_mltrack.serving.follow",
    "predict_file": "jupyter_mltrack.serving.batch",
    "run": "jupyter_mltrack.serving.server",
    "serve": "jupyter_mltrack.serving.handle",
    "write_docker_context": "jupyter_mltrack.serving.docker",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_mltrack.serving' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = sorted(_LAZY)
