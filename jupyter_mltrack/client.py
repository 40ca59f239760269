"""MLflow's ``MlflowClient``: the tracking :class:`Client` plus the model registry, under
MLflow's method names and argument order.

::

    from jupyter_mltrack import MlflowClient

    client = MlflowClient()
    client.create_model_version("churn", f"runs:/{run_id}/model", run_id)
    client.transition_model_version_stage("churn", 1, "Production")
    client.set_registered_model_alias("churn", "champion", 1)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from . import registry
from .entities import ModelVersion, PagedList, RegisteredModel, Run, TransitionRequest
from .errors import InvalidParameter, ModelVersionNotFound
from .registry.versions import artifact_location
from .tracking.client import Client
from .uris import resolve_tracking_uri

__all__ = ["MlflowClient"]


class MlflowClient(Client):
    """A :class:`Client` that speaks MLflow's ``MlflowClient``: its registry methods, and
    its argument order where ours differs (``log_metric(run_id, key, value, timestamp,
    step)``, ``create_run(experiment_id, start_time, tags, run_name)``)."""

    def __init__(self, tracking_uri: str | os.PathLike[str] | None = None,
                 registry_uri: str | None = None):
        super().__init__(tracking_uri)
        if registry_uri is not None and resolve_tracking_uri(registry_uri) != self.tracking_uri:
            raise InvalidParameter(
                f"The model registry lives in the tracking store ({self.tracking_uri}); "
                f"a separate registry_uri ({registry_uri}) is not supported. Leave it out."
            )

    def __repr__(self) -> str:
        return f"MlflowClient({self.tracking_uri!r})"

    # -- tracking, in MLflow's argument order --------------------------------------------

    def create_run(self, experiment_id: str, start_time: int | None = None,  # type: ignore[override]
                   tags: dict[str, Any] | None = None, run_name: str | None = None) -> Run:
        return super().create_run(experiment_id, run_name=run_name, tags=tags,
                                  start_time=start_time)

    def log_metric(self, run_id: str, key: str, value: Any,  # type: ignore[override]
                   timestamp: int | None = None, step: int | None = None,
                   synchronous: bool | None = None, dataset_name: str | None = None,
                   dataset_digest: str | None = None, model_id: str | None = None) -> None:
        if dataset_name is not None or dataset_digest is not None or model_id is not None:
            raise InvalidParameter(
                "Metrics are logged to runs here; leave out dataset_name, dataset_digest and "
                "model_id (log the dataset with log_input())."
            )
        super().log_metric(run_id, key, value, step=step, timestamp=timestamp,
                           synchronous=bool(synchronous))

    # -- registered models -----------------------------------------------------------------

    def create_registered_model(self, name: str, tags: dict[str, Any] | None = None,
                                description: str | None = None) -> RegisteredModel:
        return registry.create_registered_model(name, tags, description, client=self)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return registry.get_registered_model(name, client=self)

    def search_registered_models(self, filter_string: str | None = None,
                                 max_results: int = 100,
                                 order_by: Sequence[str] | None = None,
                                 page_token: str | None = None) -> PagedList:
        return registry.search_registered_models(filter_string, max_results, order_by,
                                                 page_token, client=self)

    def update_registered_model(self, name: str,
                                description: str | None = None) -> RegisteredModel:
        if description is None:
            return self.get_registered_model(name)
        return registry.update_registered_model(name, description, client=self)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return registry.rename_registered_model(name, new_name, client=self)

    def delete_registered_model(self, name: str) -> None:
        registry.delete_registered_model(name, client=self)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        registry.set_registered_model_tag(name, key, value, client=self)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        registry.delete_registered_model_tag(name, key, client=self)

    # -- versions --------------------------------------------------------------------------

    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: dict[str, Any] | None = None,
                             run_link: str | None = None, description: str | None = None,
                             await_creation_for: int | None = None) -> ModelVersion:
        """Register the model at ``source`` as the next version of ``name``; a source
        inside ``run_id``'s artifacts is linked to that run."""
        return registry.register_model(self._source_uri(source, run_id), name, tags,
                                       description, client=self)

    def _source_uri(self, source: str, run_id: str | None) -> str:
        """``runs:/<run_id>/<path>`` for a source given as a path in the run's artifacts."""
        if run_id is None or source.startswith(("runs:/", "models:/")):
            return source
        root = self.get_run(run_id).info.artifact_uri.rstrip("/")
        for prefix in (root, "file://" + root):
            if source == prefix or source.startswith(prefix + "/"):
                return f"runs:/{run_id}/{source[len(prefix):].strip('/')}"
        return source

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        return registry.get_model_version(name, version, client=self)

    def update_model_version(self, name: str, version: int | str,
                             description: str | None = None) -> ModelVersion:
        if description is None:
            return self.get_model_version(name, version)
        return registry.update_model_version(name, version, description, client=self)

    def delete_model_version(self, name: str, version: int | str) -> None:
        registry.delete_model_version(name, version, client=self)

    def get_latest_versions(self, name: str,
                            stages: Sequence[str] | None = None) -> list[ModelVersion]:
        return registry.get_latest_versions(name, stages, client=self)

    def search_model_versions(self, filter_string: str | None = None,
                              max_results: int = 10_000,
                              order_by: Sequence[str] | None = None,
                              page_token: str | None = None) -> PagedList:
        return registry.search_model_versions(filter_string, max_results, order_by,
                                              page_token, client=self)

    def transition_model_version_stage(self, name: str, version: int | str, stage: str,
                                       archive_existing_versions: bool = False
                                       ) -> ModelVersion | TransitionRequest:
        """Move a version to a stage (a pending request when the model's policy asks for
        approval)."""
        return registry.transition_stage(name, version, stage, archive_existing_versions,
                                         client=self)

    def set_model_version_tag(self, name: str, version: int | str | None = None,
                              key: str | None = None, value: Any = None,
                              stage: str | None = None) -> None:
        registry.set_model_version_tag(name, self._version(name, version, stage),
                                       _key(key), value, client=self)

    def delete_model_version_tag(self, name: str, version: int | str | None = None,
                                 key: str | None = None, stage: str | None = None) -> None:
        registry.delete_model_version_tag(name, self._version(name, version, stage),
                                          _key(key), client=self)

    def _version(self, name: str, version: int | str | None, stage: str | None) -> int | str:
        if (version is None) == (stage is None):
            raise InvalidParameter("Name the version with version= or stage=, one of them.")
        if version is not None:
            return version
        latest = self.get_latest_versions(name, [str(stage)])
        if not latest:
            raise ModelVersionNotFound(f"No version of {name!r} is in stage {stage!r}.")
        return latest[0].version

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """Where the files of a version are (a folder or URL)."""
        return artifact_location(self.get_model_version(name, version).source, self)

    # -- aliases ---------------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        registry.set_alias(name, alias, version, client=self)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        registry.delete_alias(name, alias, client=self)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return registry.get_model_version_by_alias(name, alias, client=self)


def _key(key: str | None) -> str:
    if key is None:
        raise InvalidParameter("Pass the tag's key=.")
    return key
