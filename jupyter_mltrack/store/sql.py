"""The SQLAlchemy tracking store for SQLite and PostgreSQL."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    and_,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from ..entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    PagedList,
    Run,
    RunInfo,
    RunStatus,
    ViewType,
    digest_tag,
)
from ..errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidParameter,
    InvalidState,
    NotFound,
    ParamConflict,
    RunNotFound,
    StoreError,
)
from ..uris import default_artifact_root
from . import schema as t
from .database import Database, upsert
from .migrate import ensure_schema
from .protocols import HEARTBEAT_INTERVAL_TAG, STALE_BEATS, MetricBatch, MetricRow
from .sql_engine import safe_uri
from .sql_metrics import BatchWriter, chunk_rows, decode_history, latest_upsert_statement

if TYPE_CHECKING:
    import pandas as pd

    from .mlflow_source import MetricHistory, MlflowRun
    from .registry_sql import SqlRegistryStore
    from .sql_import import RunImport

DEFAULT_EXPERIMENT_NAME = "Default"
#: MLflow's run name tag, kept equal to the run's name.
RUN_NAME_TAG = "mlflow.runName"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def param_number(value: str) -> float | None:
    """The param value as a finite float when it reads as a number, else None."""
    if not value or len(value) > 64:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


class SqlStore:
    """A tracking store on SQLite or PostgreSQL (the registry extends it in ``registry_sql``)."""

    def __init__(self, uri: str, artifact_root: str | None = None):
        self.uri = uri
        self.artifact_root = artifact_root or default_artifact_root(uri)
        self.db = Database(uri)
        self.engine = self.db.engine
        self.dialect = self.db.dialect
        self._run_pk: dict[str, int] = {}
        self._pk_lock = threading.Lock()
        try:
            ensure_schema(self.engine)
        except OperationalError as exc:
            raise StoreError(
                f"Cannot open the tracking store at {safe_uri(uri)}: {exc.orig}"
            ) from exc
        self._insert_chunk_sql = self.db.driver_sql(
            "INSERT INTO metric_chunks (run_id, key, n, min_step, max_step, steps, vals, "
            "timestamps) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self._upsert_latest = latest_upsert_statement(self.dialect)
        self._batches = BatchWriter(self.dialect, self.db.driver_sql)

    def __repr__(self) -> str:
        return f"SqlStore({safe_uri(self.uri)!r})"

    # -- experiments -------------------------------------------------------------------

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        if not isinstance(name, str) or not name.strip():
            raise InvalidParameter("An experiment needs a non-empty name.")
        if len(name) > t.MAX_NAME:
            raise InvalidParameter(f"Experiment name is longer than {t.MAX_NAME} characters.")

        def work(conn: Connection) -> str:
            if conn.execute(
                select(t.experiments.c.experiment_id).where(t.experiments.c.name == name)
            ).first():
                raise AlreadyExists(
                    f"An experiment named {name!r} exists already; pick another name or "
                    "use set_experiment() to reuse it."
                )
            now = now_ms()
            result = conn.execute(
                t.experiments.insert().values(
                    name=name,
                    artifact_location=artifact_location or "",
                    lifecycle_stage=LifecycleStage.ACTIVE.value,
                    creation_time=now,
                    last_update_time=now,
                )
            )
            exp_id = result.inserted_primary_key[0]  # type: ignore[index]
            if not artifact_location:
                conn.execute(
                    update(t.experiments)
                    .where(t.experiments.c.experiment_id == exp_id)
                    .values(artifact_location=_join(self.artifact_root, str(exp_id)))
                )
            if tags:
                conn.execute(
                    t.experiment_tags.insert(),
                    [{"experiment_id": exp_id, "key": k, "value": str(v)}
                     for k, v in tags.items()],
                )
            return str(exp_id)

        try:
            return self.db.execute_write_fn(work)
        except IntegrityError as exc:  # a concurrent creator won the race
            raise AlreadyExists(f"An experiment named {name!r} exists already.") from exc

    def get_or_create_experiment(self, name: str) -> str:
        found = self.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == LifecycleStage.DELETED.value:
                raise InvalidState(
                    f"Experiment {name!r} is deleted; restore it (mltrack experiments restore) "
                    "or choose another name."
                )
            return found.experiment_id
        try:
            return self.create_experiment(name)
        except AlreadyExists:
            found = self.get_experiment_by_name(name)
            assert found is not None
            return found.experiment_id

    def _experiments(self, conn: Connection, where: Any) -> list[Experiment]:
        rows = conn.execute(
            select(t.experiments).where(where).order_by(t.experiments.c.experiment_id)
        ).all()
        if not rows:
            return []
        tag_rows = conn.execute(
            select(t.experiment_tags).where(
                t.experiment_tags.c.experiment_id.in_([r.experiment_id for r in rows])
            )
        ).all()
        tags: dict[int, dict[str, str]] = {}
        for tr in tag_rows:
            tags.setdefault(tr.experiment_id, {})[tr.key] = tr.value
        return [
            Experiment(
                experiment_id=str(r.experiment_id),
                name=r.name,
                artifact_location=r.artifact_location,
                lifecycle_stage=r.lifecycle_stage,
                creation_time=r.creation_time,
                last_update_time=r.last_update_time,
                tags=tags.get(r.experiment_id, {}),
            )
            for r in rows
        ]

    def get_experiment(self, experiment_id: str) -> Experiment:
        exp_int = _experiment_int(experiment_id)
        with self.db.read() as conn:
            found = self._experiments(conn, t.experiments.c.experiment_id == exp_int)
        if not found:
            raise ExperimentNotFound(f"No experiment with id {experiment_id!r}.")
        return found[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self.db.read() as conn:
            found = self._experiments(conn, t.experiments.c.name == name)
        return found[0] if found else None

    def search_experiments(self, view_type: ViewType = ViewType.ACTIVE_ONLY,
                           max_results: int = 1000, filter_string: str | None = None,
                           order_by: Sequence[str] | None = None,
                           page_token: str | None = None) -> PagedList:
        from .experiment_search import page_of_experiments

        with self.db.read() as conn:
            ids, token = page_of_experiments(
                conn, _lifecycle_clause(t.experiments, view_type), max_results,
                filter_string, order_by, page_token)
            found = {e.experiment_id: e for e in self._experiments(
                conn, t.experiments.c.experiment_id.in_(ids))} if ids else {}
        return PagedList([found[str(i)] for i in ids if str(i) in found], token)

    def set_experiment_lifecycle(self, experiment_id: str, deleted: bool) -> None:
        exp_int = _experiment_int(experiment_id)
        stage = LifecycleStage.DELETED if deleted else LifecycleStage.ACTIVE

        def work(conn: Connection) -> None:
            result = conn.execute(
                update(t.experiments)
                .where(t.experiments.c.experiment_id == exp_int)
                .values(lifecycle_stage=stage.value, last_update_time=now_ms())
            )
            if result.rowcount == 0:
                raise ExperimentNotFound(f"No experiment with id {experiment_id!r}.")
            conn.execute(
                update(t.runs)
                .where(t.runs.c.experiment_id == exp_int)
                .values(
                    lifecycle_stage=stage.value, deleted_time=now_ms() if deleted else None
                )
            )

        self.db.execute_write_fn(work)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        exp_int = _experiment_int(experiment_id)

        def work(conn: Connection) -> None:
            taken = conn.execute(select(t.experiments.c.experiment_id)
                                 .where(t.experiments.c.name == new_name)).first()
            if taken is not None and taken.experiment_id != exp_int:
                raise AlreadyExists(f"An experiment named {new_name!r} exists already; "
                                    "pick another name.")
            result = conn.execute(
                update(t.experiments).where(t.experiments.c.experiment_id == exp_int)
                .values(name=new_name, last_update_time=now_ms()))
            if result.rowcount == 0:
                raise ExperimentNotFound(f"No experiment with id {experiment_id!r}.")

        try:
            self.db.execute_write_fn(work)
        except IntegrityError as exc:  # a concurrent writer took the name
            raise AlreadyExists(f"An experiment named {new_name!r} exists already; "
                                "pick another name.") from exc

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        exp_int = _experiment_int(experiment_id)
        self.get_experiment(experiment_id)

        def work(conn: Connection) -> None:
            upsert(conn, t.experiment_tags, {"experiment_id": exp_int, "key": key},
                         {"value": value})

        self.db.execute_write_fn(work)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        exp_int = _experiment_int(experiment_id)

        def work(conn: Connection) -> None:
            stage = conn.execute(select(t.experiments.c.lifecycle_stage)
                                 .where(t.experiments.c.experiment_id == exp_int)).scalar()
            if stage is None:
                raise ExperimentNotFound(f"No experiment with id {experiment_id!r}.")
            if stage != LifecycleStage.ACTIVE.value:
                raise InvalidState(f"Experiment {experiment_id} is deleted; restore it "
                                   "before changing its tags.")
            gone = conn.execute(delete(t.experiment_tags).where(
                t.experiment_tags.c.experiment_id == exp_int,
                t.experiment_tags.c.key == key)).rowcount
            if not gone:
                raise NotFound(f"Experiment {experiment_id} has no tag {key!r}.")

        self.db.execute_write_fn(work)

    # -- runs --------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        run_name: str | None,
        start_time: int,
        user_id: str,
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> RunInfo:
        exp_int = _experiment_int(experiment_id)
        run_id = uuid.uuid4().hex
        tagged = (tags or {}).get(RUN_NAME_TAG)
        if run_name and tagged and tagged != run_name:
            raise InvalidParameter(
                f"The run is named {run_name!r} but its tag {RUN_NAME_TAG!r} says "
                f"{tagged!r}; give one name."
            )
        name = run_name or tagged or ""
        def work(conn: Connection) -> tuple[int, str]:
            exp = conn.execute(
                select(t.experiments.c.name, t.experiments.c.artifact_location,
                       t.experiments.c.lifecycle_stage)
                .where(t.experiments.c.experiment_id == exp_int)
            ).first()
            if exp is None:
                raise ExperimentNotFound(f"No experiment with id {experiment_id!r}.")
            if exp.lifecycle_stage != LifecycleStage.ACTIVE.value:
                raise InvalidState(
                    f"Experiment {exp.name!r} is deleted; restore it or log to another one."
                )
            artifact_uri = _join(exp.artifact_location, run_id, "artifacts")
            if parent_run_id is not None:
                self._pk(conn, parent_run_id)
            pk = conn.execute(  # type: ignore[index]
                t.runs.insert().values(
                    run_uuid=run_id,
                    experiment_id=int(experiment_id),
                    name=name,
                    status=RunStatus.RUNNING.value,
                    start_time=start_time,
                    lifecycle_stage=LifecycleStage.ACTIVE.value,
                    user_id=user_id or "",
                    artifact_uri=artifact_uri,
                    parent_run_uuid=parent_run_id,
                    heartbeat=now_ms(),
                )
            ).inserted_primary_key[0]
            if tags:  # the Client adds the mlflow.* system tags, mlflow.runName among them
                conn.execute(
                    t.tags.insert(),
                    [{"run_id": pk, "key": k, "value": v} for k, v in tags.items()],
                )
            return int(pk), artifact_uri

        pk, artifact_uri = self.db.execute_write_fn(work)
        with self._pk_lock:
            self._run_pk[run_id] = pk
        return RunInfo(
            run_id=run_id,
            experiment_id=str(experiment_id),
            run_name=name,
            status=RunStatus.RUNNING.value,
            start_time=start_time,
            end_time=None,
            lifecycle_stage=LifecycleStage.ACTIVE.value,
            user_id=user_id or "",
            artifact_uri=artifact_uri,
            parent_run_id=parent_run_id,
        )

    def _pk(self, conn: Connection, run_id: str) -> int:
        pk = self._run_pk.get(run_id)
        if pk is not None:
            return pk
        row = conn.execute(select(t.runs.c.id).where(t.runs.c.run_uuid == run_id)).first()
        if row is None:
            raise RunNotFound(f"No run with id {run_id!r}.")
        with self._pk_lock:
            self._run_pk[run_id] = row.id
        return int(row.id)

    def _pks(self, conn: Connection, run_ids: Iterable[str]) -> dict[str, int]:
        missing = [r for r in set(run_ids) if r not in self._run_pk]
        if missing:
            rows = conn.execute(
                select(t.runs.c.run_uuid, t.runs.c.id).where(t.runs.c.run_uuid.in_(missing))
            ).all()
            with self._pk_lock:
                for row in rows:
                    self._run_pk[row.run_uuid] = row.id
            unknown = set(missing) - {row.run_uuid for row in rows}
            if unknown:
                raise RunNotFound(f"No run with id {sorted(unknown)[0]!r}.")
        return self._run_pk

    def _check_active(self, conn: Connection, run_id: str) -> int:
        row = conn.execute(
            select(t.runs.c.id, t.runs.c.lifecycle_stage).where(t.runs.c.run_uuid == run_id)
        ).first()
        if row is None:
            raise RunNotFound(f"No run with id {run_id!r}.")
        if row.lifecycle_stage != LifecycleStage.ACTIVE.value:
            raise InvalidState(f"Run {run_id} is deleted; restore it before logging to it.")
        return int(row.id)

    def update_run(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = RunStatus.parse(status).value
        if end_time is not None:
            values["end_time"] = end_time
        if run_name:  # an empty name keeps the old one, as in MLflow
            values["name"] = run_name
        if values.get("status") == RunStatus.RUNNING.value:
            values["end_time"] = None
            values["heartbeat"] = now_ms()

        def work(conn: Connection) -> None:
            pk = self._pk(conn, run_id)
            if values:
                conn.execute(update(t.runs).where(t.runs.c.id == pk).values(**values))
            if run_name:
                upsert(conn, t.tags, {"run_id": pk, "key": RUN_NAME_TAG}, {"value": run_name})

        self.db.execute_write_fn(work)

    def set_run_lifecycle(self, run_id: str, deleted: bool) -> None:
        def work(conn: Connection) -> None:
            pk = self._pk(conn, run_id)
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == pk)
                .values(
                    lifecycle_stage=(LifecycleStage.DELETED if deleted
                                     else LifecycleStage.ACTIVE).value,
                    deleted_time=now_ms() if deleted else None,
                )
            )

        self.db.execute_write_fn(work)

    def get_run(self, run_id: str) -> Run:
        from .sql_search import load_runs

        with self.db.read() as conn:
            pk = self._pk(conn, run_id)
            found = load_runs(conn, [pk])
        if not found:
            raise RunNotFound(f"No run with id {run_id!r}.")
        return found[0]

    def heartbeat(self, run_ids: Iterable[str], now: int) -> None:
        ids = list(run_ids)
        if not ids:
            return

        def work(conn: Connection) -> None:
            conn.execute(
                update(t.runs)
                .where(t.runs.c.run_uuid.in_(ids), t.runs.c.status == RunStatus.RUNNING.value)
                .values(heartbeat=now)
            )

        self.db.execute_write_fn(work)

    def mark_stale_runs(self, cutoff: int) -> list[str]:
        """Mark RUNNING runs KILLED whose last heartbeat is older than ``cutoff`` and than
        ``STALE_BEATS`` of their own heartbeat intervals: the writer's interval rules, so
        that a reader with a short timeout never declares a live run dead."""
        now = now_ms()
        interval = t.tags.alias("interval")
        candidates = (
            select(t.runs.c.id, t.runs.c.run_uuid, t.runs.c.heartbeat, interval.c.value)
            .select_from(t.runs.outerjoin(interval, and_(
                interval.c.run_id == t.runs.c.id, interval.c.key == HEARTBEAT_INTERVAL_TAG)))
            .where(t.runs.c.status == RunStatus.RUNNING.value, t.runs.c.heartbeat < cutoff)
        )

        def stale(conn: Connection) -> list[Any]:
            return [row for row in conn.execute(candidates).all()
                    if row.heartbeat < now - STALE_BEATS * _interval_ms(row.value)]

        with self.db.read() as conn:
            if not stale(conn):
                return []

        def work(conn: Connection) -> list[str]:
            rows = stale(conn)  # again, under the write lock: a beat may have come
            for row in rows:
                conn.execute(
                    update(t.runs)
                    .where(t.runs.c.id == row.id)
                    .values(status=RunStatus.KILLED.value, end_time=row.heartbeat)
                )
            return [row.run_uuid for row in rows]

        return list(self.db.execute_write_fn(work))

    def deleted_runs(self, older_than: int | None = None) -> list[RunInfo]:
        from .sql_search import run_info

        where = t.runs.c.lifecycle_stage == LifecycleStage.DELETED.value
        if older_than is not None:
            where = and_(where, t.runs.c.deleted_time <= older_than)
        with self.db.read() as conn:
            return [run_info(r) for r in conn.execute(select(t.runs).where(where)).all()]

    def purge_runs(self, run_ids: Sequence[str]) -> None:
        ids = list(run_ids)
        if not ids:
            return

        def work(conn: Connection) -> None:
            pks = select(t.runs.c.id).where(t.runs.c.run_uuid.in_(ids))
            inputs = select(t.run_inputs.c.id).where(t.run_inputs.c.run_id.in_(pks))
            conn.execute(delete(t.input_tags).where(t.input_tags.c.input_id.in_(inputs)))
            for table in (t.run_inputs, t.metric_chunks, t.latest_metrics, t.params, t.tags):
                conn.execute(delete(table).where(table.c.run_id.in_(pks)))
            conn.execute(delete(t.runs).where(t.runs.c.run_uuid.in_(ids)))

        self.db.execute_write_fn(work)
        with self._pk_lock:
            for run_id in ids:
                self._run_pk.pop(run_id, None)

    # -- params, tags, metrics ---------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        def work(conn: Connection) -> None:
            pk = self._check_active(conn, run_id)
            if params:
                self._insert_params(conn, pk, run_id, params)
            for key, value in (tags or {}).items():
                upsert(conn, t.tags, {"run_id": pk, "key": key}, {"value": value})
            if tags and RUN_NAME_TAG in tags:  # MLflow renames a run through this tag
                conn.execute(update(t.runs).where(t.runs.c.id == pk)
                             .values(name=tags[RUN_NAME_TAG]))
            if metrics:
                self._write_metric_rows(
                    conn, [(pk, m.key, m.value, m.step, m.timestamp) for m in metrics]
                )

        self.db.execute_write_fn(work)

    def record_model_digest(self, run_id: str, artifact_path: str, digest: str) -> None:
        self.log_batch(run_id, tags={digest_tag(artifact_path): digest})

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        def work(conn: Connection) -> None:
            pk = self._check_active(conn, run_id)
            exp_int = conn.execute(
                select(t.runs.c.experiment_id).where(t.runs.c.id == pk)).scalar_one()
            for item in datasets:
                ds = item.dataset
                dataset_id = conn.execute(select(t.datasets.c.id).where(
                    t.datasets.c.experiment_id == exp_int, t.datasets.c.name == ds.name,
                    t.datasets.c.digest == ds.digest)).scalar()
                if dataset_id is None:
                    dataset_id = conn.execute(t.datasets.insert().values(
                        experiment_id=exp_int, name=ds.name, digest=ds.digest,
                        source_type=ds.source_type, source=ds.source, schema=ds.schema,
                        profile=ds.profile)).inserted_primary_key[0]  # type: ignore[index]
                input_id = conn.execute(select(t.run_inputs.c.id).where(
                    t.run_inputs.c.run_id == pk,
                    t.run_inputs.c.dataset_id == dataset_id)).scalar()
                if input_id is None:
                    input_id = conn.execute(t.run_inputs.insert().values(
                        run_id=pk, dataset_id=dataset_id)).inserted_primary_key[0]  # type: ignore[index]
                for tag in item.tags:
                    upsert(conn, t.input_tags, {"input_id": input_id, "key": tag.key},
                           {"value": tag.value})

        self.db.execute_write_fn(work)

    def delete_tag(self, run_id: str, key: str) -> None:
        def work(conn: Connection) -> None:
            pk = self._check_active(conn, run_id)
            result = conn.execute(delete(t.tags).where(t.tags.c.run_id == pk,
                                                       t.tags.c.key == key))
            if result.rowcount == 0:
                raise NotFound(f"Run {run_id} has no tag {key!r}.")

        self.db.execute_write_fn(work)

    def _insert_params(self, conn: Connection, pk: int, run_id: str,
                       params: dict[str, str]) -> None:
        existing = dict(
            conn.execute(
                select(t.params.c.key, t.params.c.value).where(
                    t.params.c.run_id == pk, t.params.c.key.in_(list(params))
                )
            ).all()
        )
        for key, value in params.items():
            if key in existing and existing[key] != value:
                raise ParamConflict(
                    f"Param {key!r} of run {run_id} is {existing[key]!r} already and cannot "
                    f"become {value!r}: params are immutable. Log the new value under "
                    "another key, or start a new run."
                )
        new = [
            {"run_id": pk, "key": k, "value": v, "num": param_number(v)}
            for k, v in params.items()
            if k not in existing
        ]
        if new:
            conn.execute(t.params.insert(), new)

    def write_metrics(self, rows: Sequence[MetricRow]) -> None:
        if not rows:
            return

        def work(conn: Connection) -> None:
            pks = self._pks(conn, (r[0] for r in rows))
            self._write_metric_rows(
                conn, [(pks[r[0]], r[1], r[2], r[3], r[4]) for r in rows]
            )

        try:
            self.db.execute_write_fn(work)
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            # Another process purged a run whose id this one had cached: look the ids up
            # again, so that the purged run raises RunNotFound instead of blocking the rest.
            with self._pk_lock:
                for row in rows:
                    self._run_pk.pop(row[0], None)
            self.db.execute_write_fn(work)

    def write_metric_batches(self, batches: Sequence[MetricBatch], client_id: str | None = None,
                             allow: Callable[[str], None] | None = None) -> list[bool]:
        """Store metric series of many runs in one transaction (see
        :class:`~.protocols.WritesMetricBatches`); returns which batches were applied."""
        if not batches:
            return []
        return self.db.execute_write_fn(
            lambda conn: self._batches.write(conn, batches, client_id, allow))

    def get_metric_history(self, run_id: str, key: str, min_step: int | None = None
                           ) -> pd.DataFrame:
        """Columns step, value, timestamp ordered by step then timestamp.

        ``min_step`` returns only points at or after that step (for incremental reads).
        """
        sql = ("SELECT steps, vals, timestamps FROM metric_chunks WHERE run_id = ? AND "
               "key = ?")
        with self.db.read() as conn:
            pk = self._pk(conn, run_id)
            args: tuple[Any, ...] = (pk, key)
            if min_step is not None:
                sql += " AND max_step >= ?"
                args += (int(min_step),)
            chunks = conn.exec_driver_sql(self.db.driver_sql(sql + " ORDER BY id"), args).fetchall()
        return decode_history(chunks, min_step)

    def _write_metric_rows(self, conn: Connection, rows: list[tuple[int, str, float, int, int]]
                           ) -> None:
        chunks, latest = chunk_rows(rows)
        conn.exec_driver_sql(self._insert_chunk_sql, chunks)
        conn.execute(self._upsert_latest, latest)

    def metric_keys(self, run_id: str) -> list[str]:
        with self.db.read() as conn:
            pk = self._pk(conn, run_id)
            rows = conn.execute(
                select(t.latest_metrics.c.key).where(t.latest_metrics.c.run_id == pk)
                .order_by(t.latest_metrics.c.key)
            ).all()
        return [r.key for r in rows]

    # -- search ------------------------------------------------------------------------

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        from .sql_search import load_runs, page_of_runs

        with self.db.read() as conn:
            page, token = page_of_runs(conn, experiment_ids, filter_string, view_type,
                                       max_results, order_by, page_token)
            return PagedList(load_runs(conn, page), token)

    def search_runs_frame(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 100_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> tuple[pd.DataFrame, str | None]:
        from .sql_search import load_frame, page_of_runs

        with self.db.read() as conn:
            page, token = page_of_runs(conn, experiment_ids, filter_string, view_type,
                                       max_results, order_by, page_token)
            return load_frame(conn, page), token

    def count_runs(self, experiment_ids: Sequence[str]) -> int:
        with self.db.read() as conn:
            return int(conn.execute(
                select(func.count()).select_from(t.runs).where(
                    t.runs.c.experiment_id.in_([_experiment_int(e) for e in experiment_ids])
                )
            ).scalar_one())

    def import_runs(self, experiment_id: str,
                    runs: Sequence[tuple[MlflowRun, Sequence[MetricHistory]]]
                    ) -> list[RunImport]:
        """Create the runs with their data (or add what they lack), in one transaction
        (``ImportsRuns``)."""
        from .sql_import import import_runs

        return import_runs(self, experiment_id, runs)

    def registry_store(self) -> SqlRegistryStore:
        """The model registry in the same database (a ``RegistryStore``)."""
        from .registry_sql import registry_for

        return registry_for(self)

    def close(self) -> None:
        self.db.close()


# -- helpers ----------------------------------------------------------------------------


def _interval_ms(text: str | None) -> int:
    """A run's heartbeat interval tag in milliseconds; 0 when absent or unreadable."""
    try:
        seconds = float(text) if text is not None else 0.0
    except ValueError:
        return 0
    return int(seconds * 1000) if math.isfinite(seconds) and seconds > 0 else 0


def _experiment_int(experiment_id: str | int) -> int:
    try:
        return int(experiment_id)
    except (TypeError, ValueError):
        raise ExperimentNotFound(
            f"{experiment_id!r} is not an experiment id; ids are numbers such as '1'. "
            "To look an experiment up by name, use get_experiment_by_name()."
        ) from None


def _lifecycle_clause(table: Any, view_type: ViewType) -> Any:
    view_type = ViewType.parse(view_type)
    if view_type == ViewType.ACTIVE_ONLY:
        return table.c.lifecycle_stage == LifecycleStage.ACTIVE.value
    if view_type == ViewType.DELETED_ONLY:
        return table.c.lifecycle_stage == LifecycleStage.DELETED.value
    return table.c.lifecycle_stage.in_([s.value for s in LifecycleStage])


def _join(root: str, *parts: str) -> str:
    return root.rstrip("/") + "/" + "/".join(parts)
