"""JSON shapes the lab extension reads: entities as plain dicts, numbers JSON can hold."""

from __future__ import annotations

import math
from typing import Any

from ...entities import (
    Experiment,
    FileInfo,
    ModelVersion,
    RegisteredModel,
    RegistryPolicy,
    Run,
    StageTransition,
    TransitionRequest,
)

#: Most points of one metric history sent to a chart (evenly thinned, last point kept).
MAX_POINTS = 2000


def number(value: Any) -> float | None:
    """A float JSON can carry: NaN and infinities become ``None``."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def experiment(e: Experiment) -> dict[str, Any]:
    return {"experiment_id": e.experiment_id, "name": e.name,
            "lifecycle_stage": e.lifecycle_stage, "creation_time": e.creation_time}


def run(r: Run, tags: bool = False) -> dict[str, Any]:
    """A run: info, metrics and params (tags only when asked: they are many)."""
    i = r.info
    out: dict[str, Any] = {
        "run_id": i.run_id, "name": i.run_name, "status": i.status,
        "experiment_id": i.experiment_id, "start_time": i.start_time, "end_time": i.end_time,
        "user": i.user_id, "parent_run_id": i.parent_run_id,
        "metrics": {k: number(v) for k, v in sorted(r.data.metrics.items())},
        "params": dict(sorted(r.data.params.items())),
    }
    if tags:
        out["tags"] = dict(sorted(r.data.tags.items()))
        out["artifact_uri"] = i.artifact_uri
    return out


def file_info(f: FileInfo) -> dict[str, Any]:
    return {"path": f.path, "is_dir": f.is_dir, "file_size": f.file_size}


def history_points(points: list[Any]) -> list[list[Any]]:
    """``[step, value, timestamp]`` rows of a metric history, thinned to MAX_POINTS."""
    if len(points) > MAX_POINTS:
        stride = math.ceil(len(points) / MAX_POINTS)
        points = points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])
    return [[m.step, number(m.value), m.timestamp] for m in points]


def version(v: ModelVersion) -> dict[str, Any]:
    return {"name": v.name, "version": v.version, "stage": v.current_stage,
            "aliases": list(v.aliases), "run_id": v.run_id, "source": v.source,
            "creation_time": v.creation_time, "user": v.user_id,
            "description": v.description}


def model(m: RegisteredModel, versions: list[ModelVersion]) -> dict[str, Any]:
    return {"name": m.name, "description": m.description, "aliases": dict(m.aliases),
            "last_updated_time": m.last_updated_time,
            "versions": [version(v) for v in versions]}


def policy(p: RegistryPolicy | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {"require_approval_for": list(p.require_approval_for), "gates": dict(p.gates),
            "allow_self_approval": p.allow_self_approval}


def request(q: TransitionRequest) -> dict[str, Any]:
    return {"request_id": q.request_id, "version": q.version, "target": q.target,
            "target_label": q.target_label, "kind": q.kind, "status": q.status,
            "requested_by": q.requested_by, "requested_time": q.requested_time,
            "comment": q.comment}


def transition(x: StageTransition) -> dict[str, Any]:
    return {"timestamp": x.timestamp, "version": x.version, "kind": x.kind,
            "action": x.action, "from": x.from_value, "to": x.to_value, "alias": x.alias,
            "user": x.user_id, "comment": x.comment, "request_id": x.request_id}
