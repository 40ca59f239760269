"""The on-disk queue of writes a team server could not take yet.

One SQLite file per server under ``~/.cache/jupyter_mltrack/queue/<server-hash>.db``
(``MLTRACK_QUEUE_DIR`` moves it), one row per batch, written with ``synchronous=FULL``
so that an acknowledged append survives a crash. Rows are replayed oldest first; a
replayer holds the file's write lock while it sends a row and deletes it, so two
replayers (the logging process and ``mltrack sync``) never send the same row twice;
appends do not wait for a replayer's network round trip (it holds a separate lock file,
not the database's write lock, while it sends).
Metric batches carry the sending process's id and a sequence number, by which the server
skips a batch it already applied (its answer was lost). They are queued as series (a
column per field); rows queued by earlier versions as [key, value, step, timestamp] are
turned into series when replayed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUEUE_DIR_ENV = "MLTRACK_QUEUE_DIR"


def queue_dir() -> Path:
    """Where the queue files live."""
    env = os.environ.get(QUEUE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jupyter_mltrack" / "queue"


def queue_path(server_url: str) -> Path:
    digest = hashlib.sha256(server_url.rstrip("/").encode()).hexdigest()[:16]
    return queue_dir() / f"{digest}.db"


@dataclass(frozen=True)
class QueuedOp:
    row_id: int
    kind: str
    body: dict[str, Any]
    created: int


class OfflineQueue:
    """Append-only queue of one server's pending writes."""

    def __init__(self, server_url: str, path: Path | None = None):
        self.server_url = server_url.rstrip("/")
        self.path = path or queue_path(server_url)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._replaying = threading.Lock()
        self.client_id = self._client_id()

    @property
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("CREATE TABLE IF NOT EXISTS ops (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                     "kind TEXT NOT NULL, body TEXT NOT NULL, created INTEGER NOT NULL)")
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('server', ?)", (self.server_url,))
        return conn

    def _client_id(self) -> str:
        self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('client_id', ?)",
                           (uuid.uuid4().hex,))
        row = self._conn.execute("SELECT value FROM meta WHERE key='client_id'").fetchone()
        return str(row[0])

    def append(self, kind: str, body: dict[str, Any]) -> int:
        """Store one op durably; returns its sequence number."""
        cur = self._conn.execute("INSERT INTO ops (kind, body, created) VALUES (?, ?, ?)",
                                 (kind, json.dumps(body), time.time_ns() // 1_000_000))
        return int(cur.lastrowid or 0)

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM ops").fetchone()[0])

    def summary(self) -> dict[str, Any]:
        """Pending ops by kind, metric points, and the oldest op's time."""
        kinds: dict[str, int] = {}
        points = 0
        oldest = None
        for kind, body, created in self._conn.execute("SELECT kind, body, created FROM ops"):
            kinds[kind] = kinds.get(kind, 0) + 1
            if kind == "metrics":
                points += sum(_points(b) for b in json.loads(body)["batches"])
            oldest = created if oldest is None else min(oldest, created)
        return {"server": self.server_url, "ops": sum(kinds.values()), "by_kind": kinds,
                "metric_points": points, "oldest_ms": oldest}

    def replay(self, send: Callable[[QueuedOp], None], limit: int | None = None) -> int:
        """Send ops oldest first and delete each once sent; stops at the first failure
        (which propagates). Returns how many were sent."""
        done = 0
        with self._replaying, open(self.path.with_suffix(".lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one replayer per queue on this machine
            while limit is None or done < limit:
                row = self._conn.execute(
                    "SELECT id, kind, body, created FROM ops ORDER BY id LIMIT 1").fetchone()
                if row is None:
                    return done
                send(QueuedOp(row[0], row[1], json.loads(row[2]), row[3]))
                self._conn.execute("DELETE FROM ops WHERE id = ?", (row[0],))
                done += 1
        return done

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _points(batch: dict[str, Any]) -> int:
    """The metric points of a queued batch: series of columns, or (earlier) rows."""
    if "series" in batch:
        return sum(len(series["steps"]) for series in batch["series"])
    return len(batch.get("metrics", ()))


def queues() -> Iterator[OfflineQueue]:
    """Every queue file on this machine, opened."""
    folder = queue_dir()
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.db")):
        conn = sqlite3.connect(path, timeout=60)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='server'").fetchone()
        except sqlite3.DatabaseError:
            continue
        finally:
            conn.close()
        if row:
            yield OfflineQueue(str(row[0]), path)
