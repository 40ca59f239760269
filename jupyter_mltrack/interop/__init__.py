"""Moving data between jupyter_mltrack and other tools: importing an MLflow store."""

from __future__ import annotations

from .mlflow_import import ImportSummary, Skipped, import_mlflow, open_source

__all__ = ["ImportSummary", "Skipped", "import_mlflow", "open_source"]
