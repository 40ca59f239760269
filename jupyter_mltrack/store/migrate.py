"""Create and migrate the schema exactly once, even when many processes start together.

Opening a store first asks the database for its schema version with one cheap
query; only when it is behind does this module take a lock (an immediate
transaction on SQLite, an advisory lock on PostgreSQL), check again under the
lock, and run the Alembic migrations inside that same transaction. Alembic is
imported only then, so opening an up-to-date store stays fast.

Before anything is written (on SQLite even ``PRAGMA journal_mode = WAL`` writes),
a database without a known revision is looked at read-only: MLflow's, another
program's, a file that is not SQLite, ours without its revision row, and a new
database inside MLflow's ``mlruns/`` folder are refused with a message saying what
they are (:func:`check_owned`, :func:`check_sqlite_path`).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Collection
from itertools import islice
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

from ..errors import ForeignStore, SchemaError, StoreError
from . import schema
from .revisions import HEAD, ORDER
from .sql_engine import BUSY_TIMEOUT_S as _BUSY_TIMEOUT_S

_PG_LOCK_KEY = 7_236_512_994  # any constant; names this project's migration lock

_OURS = frozenset(schema.metadata.tables)
# The tables each revision creates (0002 adds the registry to 0001's); a new revision
# adds its line here.
_TABLES_AT = {
    "0001": frozenset({"experiments", "experiment_tags", "runs", "params", "tags",
                       "metric_chunks", "latest_metrics"}),
    "0002": _OURS - {"datasets", "run_inputs", "input_tags"},
    "0003": _OURS,
}
_POINT_ELSEWHERE = ("Point MLTRACK_TRACKING_URI (or set_tracking_uri()) at a new file such as "
                    ".mltrack/mltrack.db")


def _mlflow_kind(tables: Collection[str], columns: Callable[[str], set[str]]) -> str | None:
    """"tracking database" or "model registry database" when the tables have MLflow's
    shape (runs keyed by run_uuid, a metrics history, models keyed by name), else None."""
    if "metrics" in tables and "run_uuid" in columns("metrics"):
        return "tracking database"
    if "runs" in tables and {"run_uuid"} <= columns("runs") and "id" not in columns("runs"):
        return "tracking database"
    if "registered_models" in tables and "id" not in columns("registered_models"):
        return "model registry database"
    if "model_versions" in tables and "model_id" not in columns("model_versions"):
        return "model registry database"
    return None


def check_owned(where: str, tables: Collection[str], revision: str | None,
                columns: Callable[[str], set[str]]) -> None:
    """Refuse a database that is not an empty one or a jupyter_mltrack store.

    ``tables`` are its table names, ``revision`` its alembic_version row (None when
    there is none), ``columns(table)`` a table's column names. Raises ForeignStore for
    MLflow's or another program's database, SchemaError for our tables without a
    revision row. Reads only: the caller has written nothing yet.
    """
    if revision in ORDER:
        return
    names = {n for n in tables if not n.startswith("sqlite_") and n != "alembic_version"}
    if not names:
        return  # empty: a new store
    mlflow = _mlflow_kind(names, columns)
    if mlflow is not None:
        raise ForeignStore(
            f"{where} is an MLflow {mlflow}; jupyter_mltrack does not write to it (nothing "
            f"was changed). {_POINT_ELSEWHERE}; to bring its runs over, import it: "
            f"mltrack import-mlflow {where}."
        )
    ours = "metric_chunks" in names or ("runs" in names and {"id", "run_uuid"} <= columns("runs"))
    if not ours:  # a table called "tags" or "experiments" alone does not make it ours
        shown = ", ".join(sorted(names)[:8]) + (", ..." if len(names) > 8 else "")
        raise ForeignStore(
            f"{where} is not a jupyter_mltrack store: it holds other tables ({shown}). "
            f"jupyter_mltrack does not write to it (nothing was changed). {_POINT_ELSEWHERE}."
        )
    if revision is not None:
        return  # ours, from a newer version: ensure_schema says to upgrade
    guess = next((rev for rev in reversed(ORDER) if _TABLES_AT[rev] <= names), None)
    missing = "table" if "alembic_version" not in tables else "row"
    if guess is None:
        raise SchemaError(
            f"{where} has some of jupyter_mltrack's tables but no schema revision (the "
            f"alembic_version {missing} is missing) and lacks "
            f"{', '.join(sorted(_TABLES_AT['0001'] - names))}: it is incomplete, and "
            f"nothing was changed. Move it away and start a new store, or restore it from "
            "a backup."
        )
    create = ("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY); "
              if missing == "table" else "")
    raise SchemaError(
        f"{where} has jupyter_mltrack's tables but no schema revision (the alembic_version "
        f"{missing} is missing, e.g. after a manual edit or a partial copy), so it cannot be "
        f"migrated safely; nothing was changed. Its tables are those of revision {guess}: "
        f"if you know the file is complete, record that revision with {create}"
        f"INSERT INTO alembic_version (version_num) VALUES ('{guess}'); and open it again."
    )


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return row[0] if row else None


def _check_known(revision: str | None) -> None:
    if revision is not None and revision not in ORDER:
        raise SchemaError(
            f"The database has schema revision {revision!r}, which this version of "
            "jupyter_mltrack does not know; upgrade jupyter_mltrack (pip install -U "
            "jupyter_mltrack) to open it."
        )


def ensure_schema(engine: Engine) -> None:
    """Bring the database to HEAD; a no-op costing one query when it is already there.

    Refuses (ForeignStore, SchemaError) a database that is not ours, changing nothing.
    """
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        database = str(engine.url.database)
        if not database.startswith("file:"):
            check_sqlite_path(Path(database))
    with engine.connect() as conn:
        revision = current_revision(conn)
        if revision not in ORDER:
            inspector = inspect(conn)
            check_owned(_where(engine), inspector.get_table_names(), revision,
                        lambda table: {c["name"] for c in inspector.get_columns(table)})
        conn.rollback()
    _check_known(revision)
    if revision == HEAD:
        return
    if engine.dialect.name == "sqlite":
        conn_ctx = engine.connect().execution_options(sqlite_begin="IMMEDIATE")
    else:
        conn_ctx = engine.connect()
    with conn_ctx as conn:
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            revision = current_revision(conn)
            _check_known(revision)
            if revision != HEAD:
                _upgrade(conn)


def looks_like_mlruns(folder: Path) -> bool:
    """Whether ``folder`` is MLflow's file store: ``.trash/``, or experiment folders
    (numbered, or ``models/<name>/``) holding a ``meta.yaml``."""
    if not folder.is_dir():
        return False
    if (folder / ".trash").is_dir():
        return True
    try:
        with os.scandir(folder) as entries:
            for i, entry in enumerate(entries):
                if i >= 500:
                    break
                if not entry.is_dir() or not (entry.name.isdigit() or entry.name == "models"):
                    continue
                inner = Path(entry.path)
                candidates = [inner] if entry.name.isdigit() else \
                    [p for p in islice(inner.iterdir(), 50) if p.is_dir()]
                if any((c / "meta.yaml").is_file() for c in candidates):
                    return True
    except OSError:
        return False
    return False


def check_sqlite_path(path: Path) -> None:
    """Refuse, reading only, a SQLite path that jupyter_mltrack must not write to."""
    if path.is_dir():
        raise StoreError(
            f"{path} is a folder, not a database file; use sqlite:///{path / 'mltrack.db'} "
            "or pass the folder as the tracking URI without sqlite:///."
        )
    if not path.exists():
        if looks_like_mlruns(path.parent):
            raise ForeignStore(
                f"{path.parent} is an MLflow file store (mlruns: experiment folders with "
                "meta.yaml); jupyter_mltrack does not create its database inside it. Point "
                "MLTRACK_TRACKING_URI (or set_tracking_uri()) at another folder, such as "
                "./.mltrack; to bring its runs over, import it: mltrack import-mlflow "
                f"{path.parent}."
            )
        return
    if path.stat().st_size == 0:
        return  # SQLite's new, empty database
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                               timeout=_BUSY_TIMEOUT_S)
    except sqlite3.Error:
        return  # unreadable: opening the engine reports it
    try:
        _check_sqlite_file(path, conn)
    except sqlite3.DatabaseError as exc:
        if "not a database" not in str(exc) and "malformed" not in str(exc):
            return  # locked for longer than the busy timeout, say: the engine reports it
        with open(path, "rb") as handle:
            sqlite_header = handle.read(16) == b"SQLite format 3\x00"
        if sqlite_header:
            raise StoreError(
                f"{path} is a damaged SQLite database ({exc}); jupyter_mltrack does not write "
                f"to it (nothing was changed). Restore it from a backup, or try "
                f"'sqlite3 {path} .recover'; to start afresh, point MLTRACK_TRACKING_URI at "
                "a new file."
            ) from exc
        raise ForeignStore(
            f"{path} is not a SQLite database ({exc}); jupyter_mltrack does not write to it "
            f"(nothing was changed). {_POINT_ELSEWHERE}."
        ) from exc
    finally:
        conn.close()


def _check_sqlite_file(path: Path, conn: sqlite3.Connection) -> None:
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE "
                                             "type = 'table'")]
    revision = None
    if "alembic_version" in tables:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None

    def columns(table: str) -> set[str]:
        quoted = '"' + table.replace('"', '""') + '"'
        return {row[1] for row in conn.execute(f"PRAGMA table_info({quoted})")}

    check_owned(str(path), tables, revision, columns)


def _where(engine: Engine) -> str:
    if engine.dialect.name == "sqlite" and engine.url.database:
        return str(engine.url.database)
    return engine.url.render_as_string(hide_password=True)


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
