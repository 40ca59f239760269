"""Reads an MLflow tracking database (SQLite or PostgreSQL), never writing to it.

SQLite is opened with ``mode=ro`` and ``PRAGMA query_only``; PostgreSQL sessions are
read-only (``default_transaction_read_only``). Metric histories are the bulk of a
store: on SQLite one query per run returns each key's history as three packed columns,
so Python never builds a row object per point. A large SQLite store is read by a few
worker processes at once (each opens the file read-only too), the runs dealt out in turn.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import ForeignStore, InvalidParameter, StoreError
from . import mlflow_sql_reader
from .mlflow_source import (
    MetricHistory,
    MlflowExperiment,
    MlflowModel,
    MlflowModelVersion,
    MlflowRun,
)
from .sql_engine import safe_uri

_NEEDED = {"experiments", "runs", "metrics", "params", "tags"}
#: a SQLite store with at least this many metric points is read by worker processes
PARALLEL_POINTS = 2_000_000
_DELETED_VERSION = "Deleted_Internal"  # MLflow's stage of a deleted model version


def is_mlflow_database(uri: str) -> bool:
    """Whether ``uri`` names a SQL database (the reader checks it is MLflow's)."""
    return uri.startswith(("sqlite:", "postgresql:", "postgresql+", "postgres:"))


class MlflowSqlSource:
    """An MLflow tracking database, read-only (an ``MlflowSource``)."""

    def __init__(self, uri: str, *, processes: int | None = None):
        """``processes``: how many worker processes read metric histories of a SQLite
        store (default: one per CPU, at most 4, for stores of ``PARALLEL_POINTS``
        points or more; 0 reads them in this process)."""
        self.uri = uri
        self.processes = processes
        self._sqlite: sqlite3.Connection | None = None
        self._engine: Any = None
        self._conn: Any = None
        if uri.startswith("sqlite:"):
            self._open_sqlite(uri)
        elif uri.startswith(("postgresql", "postgres:")):
            self._open_postgres(uri)
        else:
            raise InvalidParameter(
                f"{safe_uri(uri)!r} is not an MLflow database URI; use sqlite:///path/mlflow.db "
                "or postgresql://user@host/db."
            )
        tables = self._tables()
        missing = _NEEDED - tables
        if missing:
            self.close()
            raise ForeignStore(
                f"{safe_uri(uri)} is not an MLflow tracking database (no table "
                f"{sorted(missing)[0]!r}); give the URI MLflow's --backend-store-uri uses."
            )
        self._has_registry = {"registered_models", "model_versions"} <= tables
        self._has_aliases = "registered_model_aliases" in tables

    def describe(self) -> str:
        return safe_uri(self.uri)

    # -- connections -------------------------------------------------------------------

    def _open_sqlite(self, uri: str) -> None:
        if not uri.startswith("sqlite:///") or uri.startswith("sqlite:///:memory:"):
            raise InvalidParameter(f"{uri!r}: give the MLflow database as sqlite:///path.")
        path = Path(uri[len("sqlite:///"):].split("?", 1)[0])
        if not path.is_file():
            raise InvalidParameter(f"There is no MLflow database at {path}; check the path.")
        try:
            self._sqlite = mlflow_sql_reader.connect(path)
        except sqlite3.DatabaseError as exc:
            raise ForeignStore(f"{path} is not a SQLite database MLflow wrote: {exc}") from exc
        self._path = path

    def _open_postgres(self, uri: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.exc import SQLAlchemyError

        if uri.startswith("postgres://"):
            uri = "postgresql://" + uri[len("postgres://"):]
        if uri.startswith("postgresql://"):
            uri = "postgresql+psycopg://" + uri[len("postgresql://"):]
        try:
            self._engine = create_engine(
                uri, connect_args={"options": "-c default_transaction_read_only=on"})
            self._conn = self._engine.connect()
        except SQLAlchemyError as exc:
            raise StoreError(f"Cannot open the MLflow database {safe_uri(uri)}: {exc}") from exc

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        if self._sqlite is not None:
            return self._sqlite.execute(sql, args).fetchall()
        return list(self._conn.exec_driver_sql(sql.replace("?", "%s"), args).all())

    def _tables(self) -> set[str]:
        if self._sqlite is not None:
            rows = self._rows("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            rows = self._rows("SELECT table_name FROM information_schema.tables "
                              "WHERE table_schema = current_schema()")
        return {r[0] for r in rows}

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._conn is not None:
            self._conn.close()
            self._engine.dispose()
            self._conn = None

    # -- tracking ----------------------------------------------------------------------

    def experiments(self) -> list[MlflowExperiment]:
        tags: dict[str, dict[str, str]] = {}
        for exp_id, key, value in self._rows(
                "SELECT experiment_id, key, value FROM experiment_tags"):
            tags.setdefault(str(exp_id), {})[key] = value or ""
        return [
            MlflowExperiment(str(r[0]), r[1], r[2] or "", r[3] or "active", r[4], r[5],
                             tags.get(str(r[0]), {}))
            for r in self._rows(
                "SELECT experiment_id, name, artifact_location, lifecycle_stage, "
                "creation_time, last_update_time FROM experiments ORDER BY experiment_id")
        ]

    def runs(self, experiment_id: str) -> Iterator[MlflowRun]:
        exp = int(experiment_id)
        params: dict[str, dict[str, str]] = {}
        for run_id, key, value in self._rows(
                "SELECT p.run_uuid, p.key, p.value FROM params p JOIN runs r "
                "ON r.run_uuid = p.run_uuid WHERE r.experiment_id = ?", (exp,)):
            params.setdefault(run_id, {})[key] = value
        tags: dict[str, dict[str, str]] = {}
        for run_id, key, value in self._rows(
                "SELECT t.run_uuid, t.key, t.value FROM tags t JOIN runs r "
                "ON r.run_uuid = t.run_uuid WHERE r.experiment_id = ?", (exp,)):
            tags.setdefault(run_id, {})[key] = value or ""
        for r in self._rows(
                "SELECT run_uuid, name, status, start_time, end_time, lifecycle_stage, "
                "user_id, artifact_uri FROM runs WHERE experiment_id = ? "
                "ORDER BY start_time, run_uuid", (exp,)):
            yield MlflowRun(
                run_id=r[0], experiment_id=str(exp), run_name=r[1] or "",
                status=r[2] or "FINISHED", start_time=r[3], end_time=r[4],
                lifecycle_stage=r[5] or "active", user_id=r[6] or "",
                artifact_uri=r[7] or "", params=params.get(r[0], {}),
                tags=tags.get(r[0], {}),
            )

    def metric_histories(self, run_id: str) -> list[MetricHistory]:
        import numpy as np

        if self._sqlite is not None:
            try:
                found = mlflow_sql_reader.histories(self._sqlite, run_id)
            except mlflow_sql_reader.HistoryError as exc:
                raise StoreError(f"Cannot read MLflow's metric table: {exc}") from exc
            return [MetricHistory(*h) for h in found]
        rows = self._rows(
            "SELECT key, array_agg(step), array_agg(CASE WHEN is_nan THEN 'NaN'::float8 "
            "ELSE value END), array_agg(timestamp) FROM metrics WHERE run_uuid = ? "
            "GROUP BY key ORDER BY key", (run_id,))
        return [MetricHistory(key, np.array(s, dtype=np.int64), np.array(v, dtype=np.float64),
                              np.array(t, dtype=np.int64)) for key, s, v, t in rows]

    def metric_histories_of(self, run_ids: Sequence[str]) -> Iterator[list[MetricHistory]]:
        """The metric histories of each run of ``run_ids``, in that order."""
        workers = self._workers(len(run_ids))
        if workers < 2:
            for run_id in run_ids:
                yield self.metric_histories(run_id)
            return
        procs = [_Worker(self._path, run_ids[i::workers]) for i in range(workers)]
        try:
            for i in range(len(run_ids)):
                yield procs[i % workers].next()
        finally:
            for proc in procs:
                proc.close()

    def _workers(self, runs: int) -> int:
        if self._sqlite is None or runs < 2:
            return 0
        if self.processes is not None:
            return min(self.processes, runs)
        points = self._sqlite.execute("SELECT max(rowid) FROM metrics").fetchone()[0] or 0
        if points < PARALLEL_POINTS:
            return 0
        return min(os.cpu_count() or 1, 4, runs)

    # -- registry ----------------------------------------------------------------------

    def registered_models(self) -> list[MlflowModel]:
        if not self._has_registry:
            return []
        model_tags: dict[str, dict[str, str]] = {}
        for name, key, value in self._rows(
                "SELECT name, key, value FROM registered_model_tags"):
            model_tags.setdefault(name, {})[key] = value or ""
        aliases: dict[str, dict[str, int]] = {}
        if self._has_aliases:
            for name, alias, version in self._rows(
                    "SELECT name, alias, version FROM registered_model_aliases"):
                aliases.setdefault(name, {})[alias] = int(version)
        version_tags: dict[tuple[str, int], dict[str, str]] = {}
        for name, version, key, value in self._rows(
                "SELECT name, version, key, value FROM model_version_tags"):
            version_tags.setdefault((name, int(version)), {})[key] = value or ""
        versions: dict[str, list[MlflowModelVersion]] = {}
        for r in self._rows(
                "SELECT name, version, source, run_id, current_stage, creation_time, "
                "last_updated_time, user_id, description FROM model_versions "
                "ORDER BY name, version"):
            if r[4] == _DELETED_VERSION:
                continue
            versions.setdefault(r[0], []).append(MlflowModelVersion(
                name=r[0], version=int(r[1]), source=r[2] or "", run_id=r[3] or None,
                current_stage=r[4] or "None", creation_time=r[5], last_updated_time=r[6],
                user_id=r[7] or "", description=r[8],
                tags=version_tags.get((r[0], int(r[1])), {}),
            ))
        return [
            MlflowModel(name=r[0], creation_time=r[1], last_updated_time=r[2],
                        description=r[3], tags=model_tags.get(r[0], {}),
                        aliases=aliases.get(r[0], {}), versions=versions.get(r[0], []))
            for r in self._rows("SELECT name, creation_time, last_updated_time, description "
                                "FROM registered_models ORDER BY name")
        ]


def _widen(fd: int) -> None:
    """Let a reader run a few runs ahead of the importer: a pipe holds 64 KiB by default,
    less than one run's histories, so the readers would otherwise wait in lockstep."""
    try:
        import fcntl

        with open("/proc/sys/fs/pipe-max-size") as limit:
            size = min(int(limit.read()), 16 << 20)
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (OSError, ValueError, ImportError):  # not Linux, or not allowed: keep the default
        pass


class _Worker:
    """A process reading the metric histories of some runs of an MLflow SQLite store
    (opened read-only), handing them over a pipe in order."""

    def __init__(self, path: Path, run_ids: Sequence[str]):
        self.errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, mlflow_sql_reader.__file__, str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        _widen(self.proc.stdout.fileno())
        self.proc.stdin.write("\n".join(run_ids).encode())
        self.proc.stdin.close()

    def next(self) -> list[MetricHistory]:
        assert self.proc.stdout is not None
        try:
            ok, item = pickle.load(self.proc.stdout)  # noqa: S301 - our own worker's output
        except (EOFError, pickle.UnpicklingError) as exc:
            self.proc.wait()
            self.errors.seek(0)
            detail = self.errors.read().decode(errors="replace").strip().splitlines()
            raise StoreError(
                "A process reading the MLflow database stopped (exit code "
                f"{self.proc.returncode}): {detail[-1] if detail else exc}"
            ) from None
        if not ok:
            raise StoreError(f"Cannot read MLflow's metric table: {item}")
        return [MetricHistory(*h) for h in item]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # a reader only: stopping it midway leaves nothing behind
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.errors.close()
