"""Runs with their params, latest metrics and tags, read through a DB-API cursor.

Plain SQL and the standard library only: the SQL store loads its run frames through
this, and :mod:`.sqlite_peek` reads a first page with it before SQLAlchemy is imported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

CHUNK = 900  # below every database's bound-parameter limit
RUN_COLUMNS = ("r.id, r.run_uuid, r.experiment_id, r.name, r.status, r.start_time, r.end_time, "
               "r.lifecycle_stage, r.user_id, r.artifact_uri, r.parent_run_uuid, e.name")


class RunRow(NamedTuple):
    id: int
    run_uuid: str
    experiment_id: int
    name: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    user_id: str
    artifact_uri: str
    parent_run_uuid: str | None
    experiment_name: str


Fetched = tuple[list[RunRow], list[Any], list[Any], list[Any]]


def fetch_runs(cursor: Any, pks: Sequence[int], mark: str = "?") -> Fetched:
    """Run rows and their ``(run pk, key, value)`` params, latest metrics and tags.

    ``mark`` is the driver's placeholder (``?`` or ``%s``). Large pages are joined
    through a temporary table of ids instead of long IN lists.
    """
    if not pks:
        return [], [], [], []
    queries = {
        "runs": f"SELECT {RUN_COLUMNS} FROM runs r JOIN experiments e "
                "ON e.experiment_id = r.experiment_id WHERE r.id {cond}",
        "params": "SELECT run_id, key, value FROM params WHERE run_id {cond}",
        "metrics": "SELECT run_id, key, value FROM latest_metrics WHERE run_id {cond}",
        "tags": "SELECT run_id, key, value FROM tags WHERE run_id {cond}",
    }
    out: dict[str, list[Any]] = {name: [] for name in queries}
    if len(pks) <= CHUNK:
        cond = "IN (" + ",".join([mark] * len(pks)) + ")"
        for name, sql in queries.items():
            cursor.execute(sql.format(cond=cond), list(pks))
            out[name] = list(cursor.fetchall())
    else:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS mltrack_page (id INTEGER PRIMARY KEY)")
        cursor.execute("DELETE FROM mltrack_page")
        cursor.executemany(f"INSERT INTO mltrack_page (id) VALUES ({mark})",
                           [(pk,) for pk in pks])
        cond = "IN (SELECT id FROM mltrack_page)"
        for name, sql in queries.items():
            cursor.execute(sql.format(cond=cond))
            out[name] = list(cursor.fetchall())
        cursor.execute("DELETE FROM mltrack_page")
    return [RunRow(*row) for row in out["runs"]], out["params"], out["metrics"], out["tags"]


def run_dicts(fetched: Fetched, pks: Sequence[int]) -> list[dict[str, Any]]:
    """One dict per run in ``pks`` order, keyed as the columns of a run frame
    (``run_id``, ``start_time`` in ms, ``params.<key>``, ``metrics.<key>``...); a metric
    stored as NaN is ``nan``, a key a run lacks is absent."""
    runs_rows, params, metrics, tags = fetched
    by_pk: dict[int, dict[str, Any]] = {}
    for r in runs_rows:
        by_pk[r.id] = {
            "run_id": r.run_uuid, "experiment_id": str(r.experiment_id),
            "experiment": r.experiment_name, "run_name": r.name, "status": r.status,
            "start_time": r.start_time, "end_time": r.end_time, "user_id": r.user_id,
            "parent_run_id": r.parent_run_uuid, "artifact_uri": r.artifact_uri,
        }
    for prefix, triples in (("params.", params), ("metrics.", metrics), ("tags.", tags)):
        numeric = prefix == "metrics."
        for run_pk, key, value in triples:
            row = by_pk.get(run_pk)
            if row is not None:
                row[prefix + key] = (math.nan if value is None else float(value)) if numeric \
                    else value
    return [by_pk[pk] for pk in pks if pk in by_pk]
