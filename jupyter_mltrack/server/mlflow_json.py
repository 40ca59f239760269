"""Our entities in the JSON shapes of MLflow's REST API (its protobuf messages)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..entities import Experiment, ModelVersion, RegisteredModel, Run
from ..store.protocols import HEARTBEAT_INTERVAL_TAG

if TYPE_CHECKING:
    from ..store.server_sql import LoggedModel
    from .state import ServerState

#: MLflow's ViewType enum as sent in JSON (names) or query strings (numbers).
VIEW_TYPES = {"ACTIVE_ONLY": "active_only", "DELETED_ONLY": "deleted_only", "ALL": "all",
              "1": "active_only", "2": "deleted_only", "3": "all"}


def pairs(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


def experiment(exp: Experiment, state: ServerState) -> dict[str, Any]:
    return {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "artifact_location": state.to_client(exp.artifact_location),
        "lifecycle_stage": exp.lifecycle_stage,
        "creation_time": exp.creation_time,
        "last_update_time": exp.last_update_time,
        "tags": pairs(exp.tags),
    }


def run(r: Run, state: ServerState, outputs: list[str] | None = None) -> dict[str, Any]:
    info = r.info
    return {
        "info": {
            "run_id": info.run_id, "run_uuid": info.run_id, "run_name": info.run_name,
            "experiment_id": info.experiment_id, "user_id": info.user_id,
            "status": info.status, "start_time": info.start_time,
            "end_time": info.end_time, "artifact_uri": state.to_client(info.artifact_uri),
            "lifecycle_stage": info.lifecycle_stage,
        },
        "data": {
            "metrics": [{"key": k, "value": v, "timestamp": 0, "step": 0}
                        for k, v in r.data.metrics.items()],
            "params": pairs(r.data.params),
            "tags": pairs({k: x for k, x in r.data.tags.items()
                           if k != HEARTBEAT_INTERVAL_TAG}),
        },
        "inputs": dataset_inputs(r),
        "outputs": {"model_outputs": [{"model_id": m, "step": 0} for m in outputs or ()]},
    }


def dataset_inputs(r: Run) -> dict[str, Any]:
    """A run's dataset inputs in MLflow's ``RunInputs`` shape."""
    return {"dataset_inputs": [
        {"tags": [{"key": t.key, "value": t.value} for t in item.tags],
         "dataset": {k: v for k, v in (
             ("name", item.dataset.name), ("digest", item.dataset.digest),
             ("source_type", item.dataset.source_type), ("source", item.dataset.source),
             ("schema", item.dataset.schema), ("profile", item.dataset.profile))
             if v is not None}}
        for item in r.inputs.dataset_inputs]}


def model_version(v: ModelVersion, state: ServerState) -> dict[str, Any]:
    source = v.source
    if source.startswith("runs:/") or "://" not in source:
        shown = source if source.startswith("runs:/") else state.to_client(source)
    else:
        shown = state.to_client(source)
    return {
        "name": v.name, "version": str(v.version),
        "creation_timestamp": v.creation_time, "last_updated_timestamp": v.last_updated_time,
        "user_id": v.user_id, "current_stage": v.current_stage,
        "description": v.description or "", "source": shown, "run_id": v.run_id or "",
        "status": "READY", "tags": pairs(v.tags), "aliases": list(v.aliases),
        **({"model_id": v.tags["mltrack.server.model_id"]}
           if "mltrack.server.model_id" in v.tags else {}),
    }


def registered_model(m: RegisteredModel, state: ServerState) -> dict[str, Any]:
    return {
        "name": m.name, "creation_timestamp": m.creation_time,
        "last_updated_timestamp": m.last_updated_time, "description": m.description or "",
        "tags": pairs(m.tags),
        "aliases": [{"alias": a, "version": str(n)} for a, n in sorted(m.aliases.items())],
        "latest_versions": [model_version(v, state) for v in m.latest_versions],
    }


def logged_model(m: LoggedModel, state: ServerState) -> dict[str, Any]:
    return {
        "info": {
            "model_id": m.model_id, "experiment_id": m.experiment_id, "name": m.name,
            "creation_timestamp_ms": m.created, "last_updated_timestamp_ms": m.updated,
            "artifact_uri": state.to_client(m.artifact_location), "status": m.status,
            "model_type": m.model_type or "", "source_run_id": m.source_run_id or "",
            "status_message": m.status_message or "", "tags": pairs(m.tags),
        },
        "data": {"params": pairs(m.params), "metrics": []},
    }
