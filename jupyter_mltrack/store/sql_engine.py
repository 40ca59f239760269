"""Engines for the SQL store: SQLite tuned for many writers, PostgreSQL through psycopg."""

from __future__ import annotations

import os
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event

from ..errors import InvalidParameter, StoreError

BUSY_TIMEOUT_S = 60.0


def is_locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text or "deadlock" in text


def safe_uri(uri: str) -> str:
    """The URI without a password, for messages."""
    if "@" in uri and "://" in uri:
        scheme, rest = uri.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return uri


_engines: weakref.WeakSet[Any] = weakref.WeakSet()


def _forget_parent_connections() -> None:
    """A forked child must not use the parent's pooled connections (SQLite forbids it)."""
    for engine in list(_engines):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_connections)


def make_engine(uri: str) -> Any:
    """An engine for a SQLite or PostgreSQL URI; SQLite in WAL mode, BEGIN emitted by us."""
    if uri.startswith("sqlite"):
        if uri.startswith("sqlite:///") and not uri.startswith("sqlite:///:memory:"):
            path = Path(uri[len("sqlite:///"):])
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"Cannot create the folder of the tracking database {path}: "
                                 f"{exc.strerror or exc}") from exc
        engine = create_engine(
            uri,
            connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_conn.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            for attempt in range(50):
                try:
                    cursor.execute("PRAGMA journal_mode = WAL")
                    break
                except Exception as exc:  # another process holds the lock while converting
                    if not is_locked(exc) or attempt == 49:
                        raise
                    time.sleep(0.1)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA case_sensitive_like = ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        _engines.add(engine)
        return engine
    if uri.startswith("postgresql"):
        if uri.startswith("postgresql://"):
            uri = "postgresql+psycopg://" + uri[len("postgresql://"):]
        engine = create_engine(uri, pool_pre_ping=True)
        _engines.add(engine)
        return engine
    raise InvalidParameter(
        f"Unsupported database URI {safe_uri(uri)!r}; use sqlite:///path or postgresql://..."
    )
