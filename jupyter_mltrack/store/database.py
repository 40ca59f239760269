"""One database: its engine, read and write transactions, and retries.

Both SQL stores (tracking in ``sql``, registry in ``registry_sql``) reach the
database only through a :class:`Database`, so how a transaction is opened and when
a write is tried again is decided in one place::

    db = Database("sqlite:///.mltrack/mltrack.db")
    with db.read() as conn:
        conn.execute(...)
    run_pk = db.execute_write_fn(lambda conn: conn.execute(...).scalar_one())
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from ..errors import StoreError
from .sql_engine import is_locked, make_engine, safe_uri

T = TypeVar("T")

#: How many times a write that met a lock, deadlock or duplicate key is tried in all.
WRITE_ATTEMPTS = 8


class Database:
    """An engine with the transaction rules every SQL store follows.

    - :meth:`read` gives a connection for reads (one implicit transaction);
    - :meth:`write` gives one write transaction; on SQLite it takes the write lock up
      front (``BEGIN IMMEDIATE``), so concurrent writers queue on the busy timeout
      instead of failing when a read lock would be upgraded;
    - :meth:`execute_write_fn` runs ``fn(conn)`` in a write transaction and runs it
      again when the database reports a lock, a deadlock or a concurrent insert of
      the same key; other errors (the stores' own ``MLTrackError``\\ s) pass through.
    """

    def __init__(self, uri: str):
        self.uri = uri
        self.engine = make_engine(uri)
        self.dialect: str = self.engine.dialect.name

    def __repr__(self) -> str:
        return f"Database({safe_uri(self.uri)!r})"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction, committed when the block ends without an error."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def execute_write_fn(self, fn: Callable[[Connection], T]) -> T:
        """``fn(conn)`` in a write transaction, tried again on locks and key races."""
        return self.retrying(lambda: self._in_write(fn))

    def _in_write(self, fn: Callable[[Connection], T]) -> T:
        with self.write() as conn:
            return fn(conn)

    def retrying(self, work: Callable[[], T]) -> T:
        """Run ``work()`` (which opens its own transactions), retrying as above."""
        delay = 0.05
        for attempt in range(WRITE_ATTEMPTS):
            try:
                return work()
            except IntegrityError as exc:
                # A concurrent transaction inserted the same key first (PostgreSQL runs
                # writers side by side): run the work again; it re-reads and decides.
                if attempt >= 2:
                    raise StoreError(f"Write to {safe_uri(self.uri)} failed: {exc.orig}") from exc
            except (OperationalError, DBAPIError) as exc:
                if not is_locked(exc) or attempt == WRITE_ATTEMPTS - 1:
                    raise StoreError(f"Write to {safe_uri(self.uri)} failed: {exc.orig}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def driver_sql(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in the driver's own paramstyle."""
        if self.engine.dialect.paramstyle in ("format", "pyformat"):
            return sql.replace("?", "%s")
        return sql

    def dialect_insert(self, table: Any) -> Any:
        """The dialect's INSERT (with ``on_conflict_do_nothing``/``do_update``)."""
        from sqlalchemy.dialects import postgresql, sqlite

        dialect: Any = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def upsert(conn: Connection, table: Any, keys: dict[str, Any], values: dict[str, Any]) -> None:
    """Update the row of ``table`` with ``keys`` to ``values``, or insert it."""
    where = and_(*(table.c[k] == v for k, v in keys.items()))
    if conn.execute(update(table).where(where).values(**values)).rowcount == 0:
        conn.execute(table.insert().values(**keys, **values))
