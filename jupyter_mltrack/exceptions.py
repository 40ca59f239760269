"""MLflow's ``mlflow.exceptions``: ``MlflowException`` is :class:`MLTrackError`, the base
of every error raised here, so ``except MlflowException`` catches what it catches in
MLflow code."""

from .errors import MLTrackError

MlflowException = MLTrackError

__all__ = ["MlflowException"]
