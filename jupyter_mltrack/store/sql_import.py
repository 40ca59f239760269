"""Runs and model versions made elsewhere (an MLflow store), written in bulk with the
ids, numbers and times they had there.

A run is written in one transaction: the row, its params and tags, and each metric
history as a few chunks. Importing again adds only what is new: params the run lacks,
tags (overwritten with the source's value), and metric points whose (step, timestamp,
value) the run's history does not hold yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, update

from ..entities import LifecycleStage, RunStatus, Stage
from ..errors import AlreadyExists, ExperimentNotFound, InvalidState
from . import schema as t
from .database import upsert
from .mlflow_source import MetricHistory
from .registry_changes import audit, new_id
from .sql_metrics import decode_history

if TYPE_CHECKING:
    import numpy as np

    from .registry_sql import SqlRegistryStore
    from .sql import SqlStore

CHUNK_POINTS = 100_000
PARENT_TAG = "mlflow.parentRunId"


@dataclass(slots=True)
class RunImport:
    """What importing one run changed."""

    created: bool = False
    #: where the run keeps its artifacts in this store
    artifact_uri: str = ""
    points: int = 0
    params: int = 0
    tags: int = 0
    #: params the run had already with another value (kept as they were)
    conflicts: list[str] = field(default_factory=list)


def import_run(store: SqlStore, experiment_id: str, run_id: str, *, run_name: str,
               status: str, start_time: int, end_time: int | None, user_id: str,
               params: dict[str, str], tags: dict[str, str],
               histories: Sequence[MetricHistory]) -> RunImport:
    """Create (or complete) the run ``run_id`` of ``experiment_id`` in one transaction."""
    exp_int = int(experiment_id)
    status = RunStatus.parse(status).value

    def work(conn: Connection) -> RunImport:
        result = RunImport()
        row = conn.execute(select(t.runs.c.id, t.runs.c.experiment_id, t.runs.c.artifact_uri)
                           .where(t.runs.c.run_uuid == run_id)).first()
        if row is None:
            exp = conn.execute(select(t.experiments.c.artifact_location,
                                      t.experiments.c.lifecycle_stage)
                               .where(t.experiments.c.experiment_id == exp_int)).first()
            if exp is None:
                raise ExperimentNotFound(f"No experiment with id {experiment_id!r}.")
            if exp.lifecycle_stage != LifecycleStage.ACTIVE.value:
                raise InvalidState(f"Experiment {experiment_id} is deleted; restore it first.")
            result.artifact_uri = artifact_uri(exp.artifact_location, run_id)
            pk = new_id(conn.execute(t.runs.insert().values(
                run_uuid=run_id, experiment_id=exp_int, name=run_name, status=status,
                start_time=start_time, end_time=end_time,
                lifecycle_stage=LifecycleStage.ACTIVE.value, user_id=user_id,
                artifact_uri=result.artifact_uri,
                parent_run_uuid=tags.get(PARENT_TAG),
                # No heartbeat: no process of ours writes the run, so a RUNNING one stays
                # RUNNING (as the source says) instead of being marked KILLED as stale.
                heartbeat=None,
            )))
            result.created = True
            existing_params: dict[str, str] = {}
            existing_tags: dict[str, str] = {}
            counts: dict[str, int] = {}
        else:
            if int(row.experiment_id) != exp_int:
                raise AlreadyExists(
                    f"Run {run_id} exists already in experiment {row.experiment_id}; it is "
                    "not imported again into another experiment."
                )
            pk = int(row.id)
            result.artifact_uri = row.artifact_uri
            conn.execute(update(t.runs).where(t.runs.c.id == pk).values(
                name=run_name, status=status, end_time=end_time, heartbeat=None))
            existing_params = dict(conn.execute(select(t.params.c.key, t.params.c.value)
                                                .where(t.params.c.run_id == pk)).all())
            existing_tags = dict(conn.execute(select(t.tags.c.key, t.tags.c.value)
                                              .where(t.tags.c.run_id == pk)).all())
            mc = t.metric_chunks.c
            counts = {k: int(n) for k, n in conn.execute(
                select(mc.key, func.sum(mc.n)).where(mc.run_id == pk).group_by(mc.key)).all()}
        from .sql import param_number

        new_params = []
        for key, value in params.items():
            if key not in existing_params:
                new_params.append({"run_id": pk, "key": key, "value": value,
                                   "num": param_number(value)})
            elif existing_params[key] != value:
                result.conflicts.append(key)
        if new_params:
            conn.execute(t.params.insert(), new_params)
        result.params = len(new_params)
        changed = {k: v for k, v in tags.items() if existing_tags.get(k) != v}
        if result.created and changed:
            conn.execute(t.tags.insert(),
                         [{"run_id": pk, "key": k, "value": v} for k, v in changed.items()])
        else:
            for key, value in changed.items():
                upsert(conn, t.tags, {"run_id": pk, "key": key}, {"value": value})
        result.tags = len(changed)
        chunks: list[tuple[Any, ...]] = []
        latest: list[dict[str, Any]] = []
        for history in histories:
            points = history
            if counts.get(history.key):
                points = _new_points(store, conn, pk, history)
            if len(points):
                _encode(pk, points, chunks, latest)
                result.points += len(points)
        if chunks:
            conn.exec_driver_sql(store._insert_chunk_sql, chunks)
            conn.execute(store._upsert_latest, latest)
        return result

    return store.db.execute_write_fn(work)


def artifact_uri(artifact_location: str, run_id: str) -> str:
    """Where a run of an experiment keeps its artifacts (as ``create_run`` decides)."""
    return artifact_location.rstrip("/") + "/" + run_id + "/artifacts"


def _new_points(store: SqlStore, conn: Connection, pk: int,
                history: MetricHistory) -> MetricHistory:
    """The points of ``history`` that the run's stored history does not hold."""
    import numpy as np

    chunks = conn.exec_driver_sql(store.db.driver_sql(
        "SELECT steps, vals, timestamps FROM metric_chunks WHERE run_id = ? AND key = ?"),
        (pk, history.key)).fetchall()
    ours = decode_history(chunks)
    have: dict[tuple[int, int, int], int] = {}
    for point in zip(ours["step"].to_numpy().tolist(), ours["timestamp"].to_numpy().tolist(),
                     ours["value"].to_numpy().view(np.int64).tolist(), strict=True):
        have[point] = have.get(point, 0) + 1
    keep = np.ones(len(history), dtype=bool)
    source = zip(history.steps.tolist(), history.timestamps.tolist(),
                 np.asarray(history.values, dtype=np.float64).view(np.int64).tolist(),
                 strict=True)
    for i, point in enumerate(source):
        if have.get(point, 0) > 0:  # a point held already (counted, so repeats survive)
            have[point] -= 1
            keep[i] = False
    return MetricHistory(history.key, history.steps[keep], history.values[keep],
                         history.timestamps[keep])


def _encode(pk: int, history: MetricHistory, chunks: list[tuple[Any, ...]],
            latest: list[dict[str, Any]]) -> None:
    import numpy as np

    steps = np.ascontiguousarray(history.steps, dtype="<i8")
    values = np.ascontiguousarray(history.values, dtype="<f8")
    stamps = np.ascontiguousarray(history.timestamps, dtype="<i8")
    for lo in range(0, len(steps), CHUNK_POINTS):
        s, v, ts = (a[lo:lo + CHUNK_POINTS] for a in (steps, values, stamps))
        chunks.append((pk, history.key, len(s), int(s.min()), int(s.max()), s.tobytes(),
                       v.tobytes(), ts.tobytes()))
    last = _last(steps, stamps)
    value = float(values[last])
    nan = value != value
    latest.append({"run_id": pk, "key": history.key, "value": None if nan else value,
                   "step": int(steps[last]), "timestamp": int(stamps[last]), "is_nan": nan})


def _last(steps: np.ndarray, stamps: np.ndarray) -> int:
    """Index of the point with the highest (step, timestamp), the last such on ties."""
    import numpy as np

    top = steps.max()
    candidates = np.nonzero(steps == top)[0]
    best = candidates[stamps[candidates] == stamps[candidates].max()]
    return int(best[-1])


# -- registry ------------------------------------------------------------------------------


def import_model_version(registry: SqlRegistryStore, name: str, version: int, *, source: str,
                         run_id: str | None, user: str, description: str | None,
                         tags: dict[str, str], creation_time: int | None,
                         last_updated_time: int | None, now: int) -> bool:
    """Create version ``version`` of ``name`` with that number (the model too, if
    missing); False, changing nothing, when the version exists."""

    def work(conn: Connection) -> bool:
        conn.execute(
            registry.db.dialect_insert(t.registered_models).values(
                name=name, creation_time=creation_time or now,
                last_updated_time=last_updated_time or now, last_version=0,
            ).on_conflict_do_nothing(index_elements=["name"])
        )
        model = registry._lock_model(conn, name)
        mv = t.model_versions
        if conn.execute(select(mv.c.id).where(mv.c.model_id == model.id,
                                              mv.c.version == int(version))).first():
            return False
        conn.execute(update(t.registered_models)
                     .where(t.registered_models.c.id == model.id)
                     .values(last_version=max(int(model.last_version), int(version))))
        version_id = new_id(conn.execute(mv.insert().values(
            model_id=model.id, version=int(version), source=source, run_id=run_id,
            current_stage=Stage.NONE.value, creation_time=creation_time or now,
            last_updated_time=last_updated_time or now, user_id=user or "",
            description=description, lifecycle_stage=LifecycleStage.ACTIVE.value,
        )))
        if tags:
            conn.execute(t.model_version_tags.insert(),
                         [{"version_id": version_id, "key": k, "value": v}
                          for k, v in tags.items()])
        audit(conn, model.id, int(version), "stage", "register", None, Stage.NONE.value,
              user, now, comment=f"imported from MLflow, source {source}")
        return True

    return bool(registry.db.execute_write_fn(work))
