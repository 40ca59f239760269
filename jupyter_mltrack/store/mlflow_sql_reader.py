"""Reads the metric histories of runs of an MLflow SQLite database, opened read-only.

Self-contained (the standard library and numpy only) so that it also runs as a script:
a worker process started with ``python mlflow_sql_reader.py PATH`` reads run ids on
stdin and writes each run's histories on stdout, in order, as pickles of
``(ok, [(key, steps, values, timestamps), ...])`` (or ``(False, message)``), without
importing the package.
"""

from __future__ import annotations

import pickle
import sqlite3
import sys
from array import array
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

#: one history: key, steps (int64), values (float64), timestamps (int64)
History = tuple[str, np.ndarray, np.ndarray, np.ndarray]


class HistoryError(ValueError):
    """The metrics table holds what an MLflow store cannot."""


class _Values:
    """SQLite aggregate: the values of one history as float64 bytes (steps and timestamps
    come exactly from ``group_concat``; SQLite prints floats with too few digits)."""

    __slots__ = ("step", "values")

    def __init__(self) -> None:
        self.values = array("d")
        self.step = self.values.append  # one C call per row

    def finalize(self) -> bytes:
        return self.values.tobytes()


def connect(path: Path) -> sqlite3.Connection:
    """``path`` opened read-only, ready for :func:`histories`."""
    conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True,
                           check_same_thread=False, timeout=30)
    conn.execute("PRAGMA query_only = ON")
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    conn.create_aggregate("mltrack_values", 1, _Values)  # type: ignore[arg-type]
    return conn


def _ints(text: str | int, n: int) -> np.ndarray:
    """``n`` integers from ``group_concat`` text ("1,2,3")."""
    out = np.fromstring(str(text), dtype=np.int64, sep=",")  # C speed; text mode is kept
    if len(out) != n:
        raise HistoryError(f"{n} values expected, {len(out)} read.")
    return out


#: one pass per run, grouped by key, so that the aggregates of a key see its rows in the
#: same order; MLflow stores NaN as 0 with ``is_nan`` set, which the last column says
_HISTORIES = ("SELECT key, count(*), group_concat(step), group_concat(timestamp), "
              "mltrack_values(value), {nans} FROM metrics WHERE run_uuid = ? "
              "GROUP BY key ORDER BY key")
_ANY_NAN = _HISTORIES.format(nans="max(is_nan)")
_WHERE_NAN = _HISTORIES.format(nans="CASE WHEN max(is_nan) THEN group_concat(is_nan) END")


def histories(conn: sqlite3.Connection, run_id: str) -> list[History]:
    """Every metric history of ``run_id``, by key."""
    rows = conn.execute(_ANY_NAN, (run_id,)).fetchall()
    has_nans = any(row[5] for row in rows)
    if has_nans:  # rare: read the run again, with where the NaNs are
        rows = conn.execute(_WHERE_NAN, (run_id,)).fetchall()
    out = []
    for key, n, steps, stamps, values, nans in rows:
        vals = np.frombuffer(values, dtype=np.float64).copy()
        if has_nans and nans is not None:
            vals[_ints(nans, n).astype(bool)] = np.nan
        out.append((key, _ints(steps, n), vals, _ints(stamps, n)))
    return out


def _serve(path: str) -> None:
    run_ids = sys.stdin.read().split()
    out = sys.stdout.buffer
    conn = connect(Path(path))
    try:
        for run_id in run_ids:
            try:
                item: tuple[bool, Any] = (True, histories(conn, run_id))
            except (sqlite3.Error, ValueError) as exc:
                item = (False, f"run {run_id}: {exc}")
            pickle.dump(item, out, protocol=pickle.HIGHEST_PROTOCOL)
            if not item[0]:
                break
        out.flush()
    except BrokenPipeError:  # the importer stopped reading
        pass
    finally:
        conn.close()


if __name__ == "__main__":
    _serve(sys.argv[1])
