"""``/api/2.0/mltrack/...``: what MLflow's API lacks."""

from __future__ import annotations

from .routes import Route

ROUTES: list[Route] = []
