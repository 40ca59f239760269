"""Metric history in chunks: what the writer stores, and how a history is read back.

One chunk per (run, key) per written batch holds the batch's steps, values and
timestamps as little-endian int64 / float64 / int64 arrays; a read decodes the chunks
and orders the points by (step, timestamp). Clients' batches arrive as columns
(:class:`~.protocols.MetricSeries`) and become chunks without a Python object per point.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, or_
from sqlalchemy.exc import DBAPIError

from ..entities import LifecycleStage
from ..errors import InvalidState, RunNotFound, StoreError
from . import schema as t
from .protocols import SYNC_TAG, MetricBatch, MetricSeries

if TYPE_CHECKING:
    import pandas as pd

_BIG_ENDIAN = sys.byteorder == "big"


def chunk_rows(rows: list[tuple[int, str, float, int, int]]
               ) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    """Group points into one history chunk per (run, key), and the latest value of each."""
    if rows:
        columns = tuple(zip(*rows, strict=True))
        if len(set(columns[0])) == 1 and len(set(columns[1])) == 1:
            return _one_chunk(columns)
    groups: dict[tuple[int, str], list[Any]] = {}
    for pk, key, value, step, ts in rows:
        g = groups.get((pk, key))
        if g is None:
            g = groups[(pk, key)] = [array("q"), array("d"), array("q"), step, ts, value]
        g[0].append(step)
        g[1].append(value)
        g[2].append(ts)
        if step > g[3] or (step == g[3] and ts >= g[4]):
            g[3], g[4], g[5] = step, ts, value
    chunks = []
    latest = []
    for (pk, key), (steps, vals, stamps, step, ts, value) in groups.items():
        if _BIG_ENDIAN:
            for arr in (steps, vals, stamps):
                arr.byteswap()
        chunks.append((pk, key, len(steps), min(steps), max(steps), steps.tobytes(),
                       vals.tobytes(), stamps.tobytes()))
        nan = value != value
        latest.append({"run_id": pk, "key": key, "value": None if nan else value,
                       "step": step, "timestamp": ts, "is_nan": nan})
    return chunks, latest


def _one_chunk(columns: tuple[tuple[Any, ...], ...]
               ) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    """:func:`chunk_rows` for points of one (run, key), the usual batch, column by column."""
    pks, keys, values, step_col, stamp_col = columns
    steps, vals, stamps = array("q", step_col), array("d", values), array("q", stamp_col)
    # the latest point: highest (step, timestamp), the later one on a tie
    step, ts, index = max(zip(step_col, stamp_col, range(len(values)), strict=True))
    value = values[index]
    if _BIG_ENDIAN:
        for arr in (steps, vals, stamps):
            arr.byteswap()
    nan = value != value
    return ([(pks[0], keys[0], len(steps), min(step_col), max(step_col), steps.tobytes(),
              vals.tobytes(), stamps.tobytes())],
            [{"run_id": pks[0], "key": keys[0], "value": None if nan else value,
              "step": step, "timestamp": ts, "is_nan": nan}])


def series_chunk(pk: int, series: MetricSeries) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """One history chunk row of a non-empty series, and its latest point as a row of
    ``latest_metrics`` (run_id, key, value, step, timestamp, is_nan)."""
    steps, vals, stamps = series.steps, series.values, series.timestamps
    top = max(steps)
    index = steps.index(top)
    if steps.count(top) > 1:  # several points at the last step: the latest time wins
        index = max((stamps[i], i) for i, step in enumerate(steps) if step == top)[1]
    value, ts = vals[index], stamps[index]
    if _BIG_ENDIAN:
        steps, vals, stamps = array("q", steps), array("d", vals), array("q", stamps)
        for arr in (steps, vals, stamps):
            arr.byteswap()
    nan = value != value
    return ((pk, series.key, len(steps), min(steps), top, steps.tobytes(), vals.tobytes(),
             stamps.tobytes()),
            (pk, series.key, None if nan else value, top, ts, nan))


class BatchWriter:
    """:meth:`SqlStore.write_metric_batches` for one database, in the driver's own SQL (a
    batch is a handful of statements, and building them would cost more than the points).

    The runs' rows are locked first (in id order, so that two writers never wait on each
    other crosswise); the client's last seq is then read and updated under that lock, so
    a second copy of a batch, arriving at once on another worker, waits and finds the seq
    taken.
    """

    def __init__(self, dialect: str, driver_sql: Callable[[str], str]):
        self._sql = driver_sql
        self._pipelined = dialect == "postgresql"
        self._lock_suffix = " ORDER BY id FOR NO KEY UPDATE" if dialect == "postgresql" \
            else " ORDER BY id"
        self._insert_chunk = driver_sql(
            "INSERT INTO metric_chunks (run_id, key, n, min_step, max_step, steps, vals, "
            "timestamps) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        self._upsert_latest = driver_sql(
            'INSERT INTO latest_metrics (run_id, "key", value, step, timestamp, is_nan) '
            'VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, "key") DO UPDATE SET '
            "value = excluded.value, step = excluded.step, timestamp = excluded.timestamp, "
            "is_nan = excluded.is_nan WHERE excluded.step > latest_metrics.step OR "
            "(excluded.step = latest_metrics.step AND "
            "excluded.timestamp >= latest_metrics.timestamp)")
        self._upsert_tag = driver_sql(
            'INSERT INTO tags (run_id, "key", value) VALUES (?, ?, ?) '
            'ON CONFLICT (run_id, "key") DO UPDATE SET value = excluded.value')

    def write(self, conn: Connection, batches: Sequence[MetricBatch], client_id: str | None,
              allow: Callable[[str], None] | None) -> list[bool]:
        """Store the batches in the caller's write transaction; which were applied."""
        dbapi = conn.dialect.loaded_dbapi
        try:
            return self._write(conn, batches, client_id, allow)
        except dbapi.Error as exc:  # as SQLAlchemy would raise it: the retries know those
            raise DBAPIError.instance(None, None, exc, dbapi.Error) from exc

    def _write(self, conn: Connection, batches: Sequence[MetricBatch], client_id: str | None,
               allow: Callable[[str], None] | None) -> list[bool]:
        run_ids = sorted({b.run_id for b in batches})
        marks = ", ".join("?" * len(run_ids))
        sync_key = None if client_id is None else SYNC_TAG + client_id
        driver = conn.connection.dbapi_connection  # no per-statement set-up
        assert driver is not None
        # PostgreSQL: the statements of each step go out together, answered at once
        with driver.pipeline() if self._pipelined else nullcontext():
            runs = driver.cursor()
            runs.execute(self._sql(
                "SELECT id, run_uuid, experiment_id, lifecycle_stage FROM runs WHERE "
                f"run_uuid IN ({marks})" + self._lock_suffix), tuple(run_ids))
            seqs = None
            if sync_key is not None:
                # after the lock, as a statement of its own: on PostgreSQL it sees what a
                # writer we waited for committed (the locking one saw the tags before)
                seqs = driver.cursor()
                seqs.execute(self._sql(
                    "SELECT t.run_id, t.value FROM tags t JOIN runs r ON r.id = t.run_id "
                    f'WHERE t."key" = ? AND r.run_uuid IN ({marks})'), (sync_key, *run_ids))
            rows = runs.fetchall()
            last: dict[int, int] = {} if seqs is None else {
                pk: int(value) for pk, value in seqs.fetchall()}
        found = {row[1]: row for row in rows}
        for batch in batches:
            row = found.get(batch.run_id)
            if row is None:
                raise RunNotFound(f"No run with id {batch.run_id!r}.")
            if row[3] != LifecycleStage.ACTIVE.value:
                raise InvalidState(f"Run {batch.run_id} is deleted; restore it before "
                                   "logging to it.")
        if allow is not None:
            for experiment in sorted({str(row[2]) for row in rows}):
                allow(experiment)
        applied = []
        taken: dict[int, int] = {}
        chunks = []
        latest: dict[tuple[int, str], tuple[Any, ...]] = {}
        for batch in batches:
            pk = found[batch.run_id][0]
            if sync_key is not None and batch.seq is not None:
                before = last.get(pk)
                if before is not None and before >= batch.seq:
                    applied.append(False)
                    continue
                last[pk] = taken[pk] = batch.seq
            applied.append(True)
            for series in batch.series:
                if not len(series.steps):
                    continue
                chunk, point = series_chunk(pk, series)
                chunks.append(chunk)
                known = latest.get((pk, series.key))
                if known is None or (point[3], point[4]) >= (known[3], known[4]):
                    latest[(pk, series.key)] = point
        with driver.pipeline() if self._pipelined else nullcontext():
            cursor = driver.cursor()
            if chunks:
                _execute(cursor, self._insert_chunk, chunks)
                _execute(cursor, self._upsert_latest, [latest[k] for k in sorted(latest)])
            if taken:
                _execute(cursor, self._upsert_tag, [(pk, sync_key, str(seq))
                                                    for pk, seq in sorted(taken.items())])
        return applied


def _execute(cursor: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """One statement per row; a single row without the driver's executemany set-up."""
    if len(rows) == 1:
        cursor.execute(sql, rows[0])
    else:
        cursor.executemany(sql, rows)


def _dialect_insert(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:  # pragma: no cover - guarded in _make_engine
        raise StoreError(f"Unsupported database {dialect!r}.")
    return insert


def latest_upsert_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT that keeps the point with the highest (step, timestamp)."""
    stmt = _dialect_insert(dialect)(t.latest_metrics)
    current = t.latest_metrics.c
    newer = or_(
        stmt.excluded.step > current.step,
        and_(stmt.excluded.step == current.step, stmt.excluded.timestamp >= current.timestamp),
    )
    return stmt.on_conflict_do_update(
        index_elements=[current.run_id, current.key],
        set_={
            "value": stmt.excluded.value,
            "step": stmt.excluded.step,
            "timestamp": stmt.excluded.timestamp,
            "is_nan": stmt.excluded.is_nan,
        },
        where=newer,
    )


def decode_history(chunks: Sequence[Any], min_step: int | None = None) -> pd.DataFrame:
    """A DataFrame (step, value, timestamp) from chunk rows (steps, vals, timestamps)."""
    import numpy as np
    import pandas as pd

    if chunks:
        steps = np.concatenate([np.frombuffer(c[0], dtype="<i8") for c in chunks])
        vals = np.concatenate([np.frombuffer(c[1], dtype="<f8") for c in chunks])
        stamps = np.concatenate([np.frombuffer(c[2], dtype="<i8") for c in chunks])
    else:
        steps = np.array([], dtype="<i8")
        vals = np.array([], dtype="<f8")
        stamps = np.array([], dtype="<i8")
    if len(steps) > 1:
        d_step = np.diff(steps)
        ordered = bool(np.all((d_step > 0) | ((d_step == 0) & (np.diff(stamps) >= 0))))
        if not ordered:
            order = np.lexsort((stamps, steps))
            steps, vals, stamps = steps[order], vals[order], stamps[order]
    if min_step is not None and len(steps):
        keep = steps >= min_step
        steps, vals, stamps = steps[keep], vals[keep], stamps[keep]
    return pd.DataFrame({"step": steps.astype("int64"), "value": vals.astype("float64"),
                         "timestamp": stamps.astype("int64")})
