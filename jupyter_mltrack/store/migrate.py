"""Create and migrate the schema exactly once, even when many processes start together.

Opening a store first asks the database for its schema version with one cheap
query; only when it is behind does this module take a lock (an immediate
transaction on SQLite, an advisory lock on PostgreSQL), check again under the
lock, and run the Alembic migrations inside that same transaction. Alembic is
imported only then, so opening an up-to-date store stays fast.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

from ..errors import SchemaError

#: The newest revision in migrations/versions; a test keeps the two in step.
HEAD = "0002"
_ORDER = ["0001", "0002"]
_PG_LOCK_KEY = 7_236_512_994  # any constant; names this project's migration lock


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return row[0] if row else None


def _check_known(revision: str | None) -> None:
    if revision is not None and revision not in _ORDER:
        raise SchemaError(
            f"The database has schema revision {revision!r}, which this version of "
            "jupyter_mltrack does not know; upgrade jupyter_mltrack (pip install -U "
            "jupyter_mltrack) to open it."
        )


def ensure_schema(engine: Engine) -> None:
    """Bring the database to HEAD; a no-op costing one query when it is already there."""
    with engine.connect() as conn:
        revision = current_revision(conn)
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


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
