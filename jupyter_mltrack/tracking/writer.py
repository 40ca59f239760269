"""The per-process background writer: metric points are buffered and stored in batches.

``append`` is the hot path: it only puts a tuple on a deque. A daemon thread
drains the deque every ``interval`` seconds (0.2 s by default) and stores the
points in one transaction per batch; it also sends the heartbeats of the runs
this process has open. A batch that fails is retried with backoff; when the
retries are used up the points are kept and the error is raised by the next
API call or ``flush()`` — never swallowed. ``flush()`` and interpreter exit
drain everything that is left.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from collections import deque
from typing import Any

from ..errors import MLTrackError, RunNotFound, WriteFailed
from ..store.protocols import MetricRow

DEFAULT_INTERVAL = float(os.environ.get("MLTRACK_FLUSH_INTERVAL", "0.2"))
HEARTBEAT_INTERVAL = float(os.environ.get("MLTRACK_HEARTBEAT_INTERVAL", "10"))
MAX_BATCH = 200_000
_RETRIES = 3

_writers: weakref.WeakSet[BatchWriter] = weakref.WeakSet()


class BatchWriter:
    """Buffers metric rows for one store and writes them from a background thread."""

    def __init__(self, store: Any, interval: float = DEFAULT_INTERVAL):
        self.store = store
        self.interval = interval
        self._queue: deque[MetricRow] = deque()
        self._retry: list[MetricRow] = []
        self._error: BaseException | None = None
        self._lock = threading.Lock()  # one drain at a time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.live_runs: set[str] = set()
        self._last_beat = 0.0
        _writers.add(self)

    # -- hot path ----------------------------------------------------------------------

    def append(self, row: MetricRow) -> None:
        self._queue.append(row)
        if self._thread is None or self._pid != os.getpid():
            self._start()

    def extend(self, rows: list[MetricRow]) -> None:
        self._queue.extend(rows)
        if self._thread is None or self._pid != os.getpid():
            self._start()
        if len(self._queue) >= MAX_BATCH:
            self._wake.set()

    def watch(self, run_id: str) -> None:
        """Send heartbeats for ``run_id`` from now on, whether or not it logs metrics."""
        self.live_runs.add(run_id)
        if self._thread is None or self._pid != os.getpid():
            self._start()

    def check(self) -> None:
        """Raise the error of a batch that could not be stored (once)."""
        if self._error is not None:
            error, self._error = self._error, None
            if isinstance(error, WriteFailed):
                raise error
            if self._retry:
                raise WriteFailed(
                    f"{len(self._retry)} metric points could not be stored: {error}. They are "
                    "kept in memory and retried at the next flush()."
                ) from error
            raise WriteFailed(
                f"Storing metric points failed for a while ({error}); a later retry stored "
                "them all, nothing was lost."
            ) from error

    # -- draining ----------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's thread did not come along
                self._pid = os.getpid()
                self._thread = None
                self._lock = threading.Lock()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mltrack-writer", daemon=True
                )
                self._thread.start()
                _flush_at_multiprocessing_exit()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.drain()
                self._beat()
            except MLTrackError:
                pass  # kept in self._error; raised at the next API call
            except Exception as exc:  # noqa: BLE001 - must never kill the writer thread
                self._error = exc

    def _beat(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.live_runs and (force or now - self._last_beat >= HEARTBEAT_INTERVAL):
            self._last_beat = now
            self.store.heartbeat(list(self.live_runs), time.time_ns() // 1_000_000)

    def drain(self) -> None:
        """Store everything buffered so far, in batches; keep what fails."""
        with self._lock:
            while True:
                rows = self._retry
                self._retry = []
                queue = self._queue
                take = min(len(queue), MAX_BATCH - len(rows))
                popleft = queue.popleft
                rows.extend(popleft() for _ in range(take))
                if not rows:
                    return
                if not self._store_batch(rows):
                    return

    def _store_batch(self, rows: list[MetricRow]) -> bool:
        delay = 0.1
        for attempt in range(_RETRIES):
            try:
                self.store.write_metrics(rows)
                return True
            except RunNotFound as exc:
                # A run was purged while its points waited: those points have nowhere to
                # go. Store the rest, and say how many were dropped.
                rows, dropped = self._without_missing_runs(rows)
                self._error = WriteFailed(f"{dropped} metric points were dropped: {exc}")
                if not rows:
                    return True
            except Exception as exc:  # noqa: BLE001 - retried, then surfaced by check()
                if attempt == _RETRIES - 1:
                    self._retry = rows
                    self._error = exc
                    return False
                time.sleep(delay)
                delay *= 4
        return False

    def _without_missing_runs(self, rows: list[MetricRow]) -> tuple[list[MetricRow], int]:
        alive = set()
        for run_id in {r[0] for r in rows}:
            try:
                self.store.get_run(run_id)
                alive.add(run_id)
            except RunNotFound:
                pass
        kept = [r for r in rows if r[0] in alive]
        return kept, len(rows) - len(kept)

    def flush(self) -> None:
        """Store everything buffered; raise if some of it could not be stored."""
        self.drain()
        self.check()

    def pending(self) -> int:
        return len(self._queue) + len(self._retry)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        try:
            self.drain()
        finally:
            if self._thread is not None and self._thread is not threading.current_thread():
                self._thread.join(timeout=5)


@atexit.register
def _flush_all_at_exit() -> None:
    for writer in list(_writers):
        try:
            writer.close()
        except Exception as exc:  # noqa: BLE001 - at exit all we can do is say it
            print(f"jupyter_mltrack: could not store buffered metrics at exit: {exc}",
                  file=sys.stderr)


_exit_hook_pid: int | None = None


def _flush_at_multiprocessing_exit() -> None:
    """Have multiprocessing's exit hook flush too: its children end with ``os._exit``."""
    global _exit_hook_pid
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None and _exit_hook_pid != os.getpid():
        _exit_hook_pid = os.getpid()
        mp_util.Finalize(None, _flush_all_at_exit, exitpriority=0)


def _after_fork_in_child() -> None:
    """A forked child starts with empty buffers and no runs of its own.

    What the parent buffered is the parent's to store (the child would store it a second
    time), and the parent's runs are not the child's to keep alive. multiprocessing ends
    its forked children with ``os._exit``, which skips atexit; its own exit hook (which
    it runs first) flushes the child's buffers instead (see ``_start``).
    """
    for writer in list(_writers):
        writer._queue = deque()
        writer._retry = []
        writer._error = None
        writer._lock = threading.Lock()
        writer._wake = threading.Event()
        writer._stop = threading.Event()
        writer._thread = None
        writer._pid = os.getpid()
        writer.live_runs = set()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
