"""The team server: MLflow's REST API on jupyter_mltrack's stores, with auth.

``mltrack server --backend-store-uri postgresql://... --artifacts-destination s3://...``
serves ``/api/2.0/mlflow/...`` (experiments, runs, metrics, params, tags, search, the
registry, MLflow 3's logged models), the artifact proxy ``/api/2.0/mlflow-artifacts/...``
and ``/api/2.0/mltrack/...`` for what MLflow lacks, so that the official ``mlflow``
client works unchanged with ``MLFLOW_TRACKING_URI=http://host:5000``. The routes are
one declarative table (:mod:`.routes`) from which ``/openapi.json`` is generated.

:mod:`.lab` is the other server face: the Jupyter server extension behind the lab
extension (authenticated REST routes for the ML Tracker sidebar and dashboard).
"""

from __future__ import annotations

from .state import ServerConfig

__all__ = ["ServerConfig", "create_app"]


def create_app(config: ServerConfig) -> object:
    """The ASGI application for ``config``."""
    from .app import TeamServerApp

    return TeamServerApp(config)
