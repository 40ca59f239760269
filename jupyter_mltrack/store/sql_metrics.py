"""Metric history in chunks: what the writer stores, and how a history is read back.

One chunk per (run, key) per written batch holds the batch's steps, values and
timestamps as little-endian int64 / float64 / int64 arrays; a read decodes the chunks
and orders the points by (step, timestamp).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_

from ..errors import StoreError
from . import schema as t

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


def latest_upsert_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT that keeps the point with the highest (step, timestamp)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:  # pragma: no cover - guarded in _make_engine
        raise StoreError(f"Unsupported database {dialect!r}.")
    stmt = insert(t.latest_metrics)
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
