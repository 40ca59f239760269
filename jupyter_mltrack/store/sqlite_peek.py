"""The first page of a run search, read straight from a SQLite file with the standard
library: what ``compare()`` shows in a fresh kernel before SQLAlchemy and pandas load.

Only the plain search is read here: active runs of some experiments (by name or id) or
of all, newest first, no filter. A database at another schema revision, an
experiment that is not plainly found, a locked or unreadable file: any of these
gives None, and the caller opens the store as usual (which explains any error).
Nothing is written: the file is opened read-only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .revisions import HEAD
from .run_rows import fetch_runs, run_dicts

#: A first page is not worth waiting for a lock: the store's own read waits instead.
_BUSY_TIMEOUT_S = 0.2


@dataclass(frozen=True)
class RunsPeek:
    """A first page of runs: the experiment ids the names resolved to, one dict per run
    (keyed as the columns of a run frame, times in ms since the epoch) and whether more
    runs match."""

    experiment_ids: list[str]
    rows: list[dict[str, Any]]
    more: bool


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URI; None for any other URI."""
    if not uri.startswith("sqlite:///") or "?" in uri or uri.startswith("sqlite:///:memory:"):
        return None
    return Path(uri[len("sqlite:///"):])


def peek_runs(uri: str, experiments: Sequence[str], limit: int) -> RunsPeek | None:
    """The newest ``limit`` active runs of ``experiments`` (names or ids; all when empty),
    or None when this cannot be read plainly (see the module's docstring)."""
    path = sqlite_file(uri)
    if path is None or not path.is_file():
        return None
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                              timeout=_BUSY_TIMEOUT_S, isolation_level=None,
                              check_same_thread=False)
    except (sqlite3.Error, ValueError):
        return None
    try:
        cursor = con.cursor()
        cursor.execute("BEGIN")  # one snapshot for the page and its rows
        revision = cursor.execute("SELECT version_num FROM alembic_version").fetchall()
        if revision != [(HEAD,)]:
            return None
        ids = []
        for item in experiments:
            found = _experiment(cursor, str(item))
            if found is None:
                return None
            ids.append(found)
        where = ""
        if ids:
            where = " AND experiment_id IN (" + ",".join("?" * len(ids)) + ")"
        pks = [row[0] for row in cursor.execute(
            "SELECT id FROM runs WHERE lifecycle_stage = 'active'" + where +
            " ORDER BY start_time DESC, run_uuid ASC LIMIT ?", [*ids, limit + 1])]
        more = len(pks) > limit
        pks = pks[:limit]
        rows = run_dicts(fetch_runs(cursor, pks), pks)
        return RunsPeek([str(i) for i in ids], rows, more)
    except sqlite3.Error:
        return None
    finally:
        con.close()


def _experiment(cursor: sqlite3.Cursor, item: str) -> int | None:
    """An active experiment's id, by id (digits) first and then by name, as the store
    resolves them; None when not found or not active."""
    rows: list[Any] = []
    if item.isdigit():
        rows = cursor.execute("SELECT experiment_id, lifecycle_stage FROM experiments "
                              "WHERE experiment_id = ?", (int(item),)).fetchall()
    if not rows:
        rows = cursor.execute("SELECT experiment_id, lifecycle_stage FROM experiments "
                              "WHERE name = ?", (item,)).fetchall()
    if len(rows) != 1 or rows[0][1] != "active":
        return None
    return int(rows[0][0])
