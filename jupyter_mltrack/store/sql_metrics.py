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
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, or_, select

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


def series_chunk(pk: int, series: MetricSeries
                 ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """One history chunk row of a non-empty series, and its latest point."""
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
            {"run_id": pk, "key": series.key, "value": None if nan else value, "step": top,
             "timestamp": ts, "is_nan": nan})


def _newer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (b["step"], b["timestamp"]) >= (a["step"], a["timestamp"])


def write_batches(conn: Connection, batches: Sequence[MetricBatch], client_id: str | None,
                  allow: Callable[[str], None] | None, insert_chunk_sql: str,
                  upsert_latest: Any, upsert_tag: Any) -> list[bool]:
    """:meth:`SqlStore.write_metric_batches` inside the caller's write transaction.

    The runs' rows are locked first (in id order, so that two writers never wait on each
    other crosswise), which makes the check of a client's last seq and its update one
    step: a second copy of a batch waits, then finds the seq taken.
    """
    runs = t.runs.c
    rows = conn.execute(
        select(runs.id, runs.run_uuid, runs.experiment_id, runs.lifecycle_stage)
        .where(runs.run_uuid.in_(sorted({b.run_id for b in batches})))
        .order_by(runs.id).with_for_update(key_share=True)).all()
    found = {row[1]: row for row in rows}
    for batch in batches:
        row = found.get(batch.run_id)
        if row is None:
            raise RunNotFound(f"No run with id {batch.run_id!r}.")
        if row[3] != LifecycleStage.ACTIVE.value:
            raise InvalidState(f"Run {batch.run_id} is deleted; restore it before logging "
                               "to it.")
    if allow is not None:
        for experiment in sorted({str(row[2]) for row in rows}):
            allow(experiment)
    sync_key = None if client_id is None else SYNC_TAG + client_id
    last: dict[int, int] = {}
    if sync_key is not None:
        # a statement of its own: on PostgreSQL it sees what the writer we may have
        # waited for committed (the locking one saw the tags as they were before)
        tags = t.tags.c
        last = {pk: int(value) for pk, value in conn.execute(
            select(tags.run_id, tags.value).where(tags.run_id.in_([row[0] for row in rows]),
                                                  tags.key == sync_key))}
    applied = []
    taken: dict[int, int] = {}
    chunks = []
    latest: dict[tuple[int, str], dict[str, Any]] = {}
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
            if known is None or _newer(known, point):
                latest[(pk, series.key)] = point
    if chunks:
        conn.exec_driver_sql(insert_chunk_sql, chunks)
        conn.execute(upsert_latest, [latest[k] for k in sorted(latest)])
    if taken:
        conn.execute(upsert_tag, [{"run_id": pk, "key": sync_key, "value": str(seq)}
                                  for pk, seq in sorted(taken.items())])
    return applied


def tag_upsert_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT that overwrites a run tag's value."""
    stmt = _dialect_insert(dialect)(t.tags)
    return stmt.on_conflict_do_update(index_elements=[t.tags.c.run_id, t.tags.c.key],
                                      set_={"value": stmt.excluded.value})


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
