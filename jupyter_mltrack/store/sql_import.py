"""Runs and model versions made elsewhere (an MLflow store), written in bulk with the
ids, numbers and times they had there.

Runs come in batches, one transaction each: the new runs' rows, params, tags, metric
chunks and latest values go in as one multi-row statement per table, so the cost per
run is the data, not the statements. Importing again adds only what is new: params the
run lacks, tags (overwritten with the source's value), and metric points whose
(step, timestamp, value) the run's history does not hold yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, update

from ..entities import LifecycleStage, RunStatus, Stage
from ..errors import ExperimentNotFound, InvalidParameter
from . import schema as t
from .database import upsert
from .mlflow_source import MetricHistory, MlflowRun
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
    #: why the run was not imported (then nothing of it was written)
    refused: str | None = None


def import_runs(store: SqlStore, experiment_id: str,
                runs: Sequence[tuple[MlflowRun, Sequence[MetricHistory]]]) -> list[RunImport]:
    """Create the runs (or complete those imported before) in ``experiment_id``, in one
    transaction; one result per run, in order."""
    exp_int = int(experiment_id)

    def work(conn: Connection) -> list[RunImport]:
        exp = conn.execute(select(t.experiments.c.artifact_location,
                                  t.experiments.c.lifecycle_stage)
                           .where(t.experiments.c.experiment_id == exp_int)).first()
        if exp is None:
            raise ExperimentNotFound(f"No experiment with id {experiment_id!r}.")
        r = t.runs.c
        found = {row.run_uuid: row for row in conn.execute(
            select(r.id, r.run_uuid, r.experiment_id, r.artifact_uri)
            .where(r.run_uuid.in_({run.run_id for run, _ in runs})))}
        results = [RunImport() for _ in runs]
        new: list[tuple[MlflowRun, Sequence[MetricHistory], RunImport]] = []
        seen: set[str] = set()
        for (run, histories), result in zip(runs, results, strict=True):
            try:
                status = RunStatus.parse(run.status).value
            except InvalidParameter as exc:
                result.refused = str(exc)
                continue
            row = found.get(run.run_id)
            if run.run_id in seen:
                result.refused = f"Run {run.run_id} is listed twice; it is imported once."
            elif row is None:
                if exp.lifecycle_stage != LifecycleStage.ACTIVE.value:
                    result.refused = f"Experiment {experiment_id} is deleted; restore it first."
                else:
                    result.created = True
                    result.artifact_uri = artifact_uri(exp.artifact_location, run.run_id)
                    new.append((run, histories, result))
            elif int(row.experiment_id) != exp_int:
                result.refused = (f"Run {run.run_id} exists already in experiment "
                                  f"{row.experiment_id}; it is not imported again into "
                                  "another experiment.")
            else:
                result.artifact_uri = row.artifact_uri
                _complete(store, conn, int(row.id), run, status, histories, result)
            seen.add(run.run_id)
        if new:
            _create(store, conn, exp_int, new)
        return results

    return store.db.execute_write_fn(work)


def _create(store: SqlStore, conn: Connection, exp_int: int,
            new: list[tuple[MlflowRun, Sequence[MetricHistory], RunImport]]) -> None:
    """Insert new runs with all they hold: one multi-row statement per table."""
    from .sql import param_number

    active = LifecycleStage.ACTIVE.value
    conn.execute(t.runs.insert(), [
        # No heartbeat: no process of ours writes the run, so a RUNNING one stays
        # RUNNING (as the source says) instead of being marked KILLED as stale.
        {"run_uuid": run.run_id, "experiment_id": exp_int, "name": run.run_name,
         "status": RunStatus.parse(run.status).value, "start_time": run.start_time or 0,
         "end_time": run.end_time, "lifecycle_stage": active, "user_id": run.user_id,
         "artifact_uri": result.artifact_uri, "parent_run_uuid": run.tags.get(PARENT_TAG),
         "heartbeat": None}
        for run, _, result in new])
    pks = dict(conn.execute(select(t.runs.c.run_uuid, t.runs.c.id).where(
        t.runs.c.run_uuid.in_([run.run_id for run, _, _ in new]))).all())
    params: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    chunks: list[tuple[Any, ...]] = []
    latest: list[dict[str, Any]] = []
    for run, histories, result in new:
        pk = int(pks[run.run_id])
        params += [{"run_id": pk, "key": k, "value": v, "num": param_number(v)}
                   for k, v in run.params.items()]
        tags += [{"run_id": pk, "key": k, "value": v} for k, v in run.tags.items()]
        result.params, result.tags = len(run.params), len(run.tags)
        for history in histories:
            if len(history):
                _encode(pk, history, chunks, latest)
                result.points += len(history)
    if params:
        conn.execute(t.params.insert(), params)
    if tags:
        conn.execute(t.tags.insert(), tags)
    if chunks:
        conn.exec_driver_sql(store._insert_chunk_sql, chunks)
        conn.execute(store._upsert_latest, latest)


def _complete(store: SqlStore, conn: Connection, pk: int, run: MlflowRun, status: str,
              histories: Sequence[MetricHistory], result: RunImport) -> None:
    """Bring a run imported before up to date: its status and end time, the params it
    lacks, the source's tags, and the metric points it does not hold."""
    conn.execute(update(t.runs).where(t.runs.c.id == pk).values(
        name=run.run_name, status=status, end_time=run.end_time, heartbeat=None))
    have_params = dict(conn.execute(select(t.params.c.key, t.params.c.value)
                                    .where(t.params.c.run_id == pk)).all())
    have_tags = dict(conn.execute(select(t.tags.c.key, t.tags.c.value)
                                  .where(t.tags.c.run_id == pk)).all())
    mc = t.metric_chunks.c
    counts = {k: int(n) for k, n in conn.execute(
        select(mc.key, func.sum(mc.n)).where(mc.run_id == pk).group_by(mc.key)).all()}
    from .sql import param_number

    new_params = []
    for key, value in run.params.items():
        if key not in have_params:
            new_params.append({"run_id": pk, "key": key, "value": value,
                               "num": param_number(value)})
        elif have_params[key] != value:
            result.conflicts.append(key)
    if new_params:
        conn.execute(t.params.insert(), new_params)
    result.params = len(new_params)
    changed = {k: v for k, v in run.tags.items() if have_tags.get(k) != v}
    for key, value in changed.items():
        upsert(conn, t.tags, {"run_id": pk, "key": key}, {"value": value})
    result.tags = len(changed)
    chunks: list[tuple[Any, ...]] = []
    latest: list[dict[str, Any]] = []
    for history in histories:
        points = _new_points(store, conn, pk, history) if counts.get(history.key) else history
        if len(points):
            _encode(pk, points, chunks, latest)
            result.points += len(points)
    if chunks:
        conn.exec_driver_sql(store._insert_chunk_sql, chunks)
        conn.execute(store._upsert_latest, latest)


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
        s, v, ts = ((a[lo:lo + CHUNK_POINTS] if len(a) > CHUNK_POINTS else a)
                    for a in (steps, values, stamps))
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

    at = np.flatnonzero(steps == steps.max())
    if len(at) > 1:
        at = at[stamps[at] == stamps[at].max()]
    return int(at[-1])


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
