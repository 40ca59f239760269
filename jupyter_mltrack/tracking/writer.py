"""The per-process background writer: metric points are buffered and stored in batches.

``append`` is the hot path: it only puts a tuple on a deque. A daemon thread
drains the deque every ``interval`` seconds (0.2 s by default) and stores the
points in one transaction per batch; it also sends the heartbeats of the runs
this process has open. A batch that fails is retried with backoff; when the
retries are used up the points are kept and the error is raised by the next
API call or ``flush()`` — never swallowed. A batch the store refuses for its
data (a number out of range, say) is split in halves until the refused points
are found: the others are stored, the refused ones are dropped and said at the
next call, so that one bad point never holds the good ones hostage.
``flush()`` and interpreter exit drain everything that is left.

SIGTERM (how Kubernetes, systemd and Jupyter stop a process) is handled like
Ctrl-C: while this process has runs open, a handler stores what is buffered,
marks those runs KILLED and then lets the process end as SIGTERM would (or
calls the handler that was there before). It is installed from the main thread
when a run starts, never in a process that starts none, and the previous
handler is put back when the last run ends.
"""

from __future__ import annotations

import atexit
import os
import signal
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
        #: The failure ``check()`` raises next, None when all is well; set whenever points
        #: were given up on, so that the hot path checks one attribute.
        self.pending_error: BaseException | None = None
        self._lost: list[tuple[str, BaseException | None]] = []  # points given up on
        self._report_lock = threading.Lock()
        self._lock = threading.Lock()  # one drain at a time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.live_runs: set[str] = set()
        #: Seconds between heartbeats; recorded with each run (readers judge by it).
        self.heartbeat_interval = HEARTBEAT_INTERVAL
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
        _install_sigterm_handler()

    def unwatch(self, run_id: str) -> None:
        """Stop sending heartbeats for ``run_id`` (it ended)."""
        self.live_runs.discard(run_id)
        if not self.live_runs:
            _restore_sigterm_handler()

    def check(self) -> None:
        """Raise what went wrong since the last check (once): points given up on, and
        a failure that keeps points waiting for a retry."""
        if self.pending_error is None:
            return
        with self._report_lock:
            error, self.pending_error = self.pending_error, None
            lost, self._lost = self._lost, []
        messages = [message for message, _ in lost]
        cause = lost[0][1] if lost else None
        if not isinstance(error, WriteFailed):  # a failure of the store, not a loss
            cause = error
            if self._retry:
                messages.append(
                    f"{len(self._retry)} metric points could not be stored: {error}. They "
                    "are kept in memory and retried at the next flush()."
                )
            elif not lost:
                messages.append(
                    f"Storing metric points failed for a while ({error}); a later retry "
                    "stored them all, nothing was lost."
                )
        if messages:
            raise WriteFailed(" ".join(messages)) from cause

    def _fail(self, error: BaseException) -> None:
        """Keep a store failure for the next check."""
        with self._report_lock:
            self.pending_error = error

    def _lose(self, message: str, cause: BaseException | None = None) -> None:
        """Say at the next check that points were given up on."""
        with self._report_lock:
            self._lost.append((message, cause))
            if self.pending_error is None:
                self.pending_error = WriteFailed(message)

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
            self._wake.wait(min(self.interval, self.heartbeat_interval))
            self._wake.clear()
            # Heartbeats go on while metric writes fail: the run is alive all the same.
            for step in (self.drain, self._beat):
                try:
                    step()
                except MLTrackError:
                    pass  # a failed write is kept in self.pending_error; a heartbeat comes again
                except Exception as exc:  # noqa: BLE001 - must never kill the writer thread
                    self._fail(exc)

    def _beat(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.live_runs and (force or now - self._last_beat >= self.heartbeat_interval):
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
        """Store ``rows``, or keep them in ``_retry`` and return False (the store fails)."""
        delay = 0.1
        for attempt in range(_RETRIES):
            try:
                self.store.write_metrics(rows)
                return True
            except RunNotFound as exc:
                # A run was purged while its points waited: those points have nowhere to
                # go. Store the rest, and say how many were dropped.
                rows, dropped = self._without_missing_runs(rows)
                self._lose(f"{dropped} metric points were dropped: {exc}", exc)
                if not rows:
                    return True
            except Exception as exc:  # noqa: BLE001 - retried, then surfaced by check()
                if _refused_data(exc):
                    return self._isolate(rows)
                if attempt == _RETRIES - 1:
                    self._retry = rows
                    self._fail(exc)
                    return False
                time.sleep(delay)
                delay *= 4
        return False

    def _isolate(self, rows: list[MetricRow]) -> bool:
        """Store a batch the store refused for its data, half by half, dropping only the
        points refused on their own. Keeps what is left when the store itself fails."""
        refused: list[tuple[MetricRow, BaseException]] = []
        parts = [rows]  # a stack: the last part is stored next
        while parts:
            part = parts.pop()
            try:
                self.store.write_metrics(part)
            except RunNotFound as exc:
                kept, dropped = self._without_missing_runs(part)
                if not dropped:  # every run is there after all: the store is confused
                    self._retry = [row for p in (part, *reversed(parts)) for row in p]
                    self._fail(exc)
                    self._say_refused(refused)
                    return False
                self._lose(f"{dropped} metric points were dropped: {exc}", exc)
                if kept:
                    parts.append(kept)
            except Exception as exc:  # noqa: BLE001 - kept or said, never swallowed
                if not _refused_data(exc):
                    self._retry = [row for p in (part, *reversed(parts)) for row in p]
                    self._fail(exc)
                    self._say_refused(refused)
                    return False
                if len(part) == 1:
                    refused.append((part[0], exc))
                else:
                    half = len(part) // 2
                    parts += [part[half:], part[:half]]
        self._say_refused(refused)
        return True

    def _say_refused(self, refused: list[tuple[MetricRow, BaseException]]) -> None:
        if not refused:
            return
        (run_id, key, value, step, timestamp), exc = refused[0]
        first = (f"run {run_id}, key {key!r}, step {_short(step)}, timestamp "
                 f"{_short(timestamp)}, value {_short(value)}: {type(exc).__name__}: {exc}")
        n = len(refused)
        what = "1 metric point was" if n == 1 else f"{n} metric points were"
        self._lose(
            f"{what} refused by the store and dropped ({'' if n == 1 else 'the first: '}"
            f"{first}). The other points of the batch were stored. Steps and timestamps "
            "must be integers in the signed 64-bit range, values real numbers.",
            exc,
        )

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


def _refused_data(exc: BaseException) -> bool:
    """Whether the store refused the points themselves (retrying cannot help), as
    opposed to failing on its own (locked, unreachable, out of space)."""
    data_errors = (ArithmeticError, ValueError, TypeError)
    return isinstance(exc, data_errors) or isinstance(getattr(exc, "orig", None), data_errors)


def _short(number: Any) -> str:
    if isinstance(number, int) and number.bit_length() > 128:
        return f"(an int of {number.bit_length()} bits)"
    return repr(number)


@atexit.register
def _flush_all_at_exit() -> None:
    for writer in list(_writers):
        try:
            writer.close()
        except Exception as exc:  # noqa: BLE001 - at exit all we can do is say it
            print(f"jupyter_mltrack: could not store buffered metrics at exit: {exc}",
                  file=sys.stderr)


_previous_sigterm: Any = None
_sigterm_installed = False
_killed_by_sigterm: set[str] = set()
_LOCK_WAIT = 5.0  # seconds a SIGTERM waits for a drain in progress


def ended_by_sigterm(run_id: str) -> bool:
    """Whether this process ended ``run_id`` KILLED on SIGTERM (it stays so)."""
    return run_id in _killed_by_sigterm


def _install_sigterm_handler() -> None:
    """Have SIGTERM store the buffered points and kill the open runs (main thread only)."""
    global _previous_sigterm, _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN:
        return  # the process means to outlive SIGTERM: so do its runs
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main interpreter
        return
    _previous_sigterm, _sigterm_installed = previous, True


def _restore_sigterm_handler() -> None:
    """Put the previous SIGTERM handler back once no run of this process is open."""
    global _sigterm_installed
    if (not _sigterm_installed or threading.current_thread() is not threading.main_thread()
            or any(w.live_runs for w in list(_writers))
            or signal.getsignal(signal.SIGTERM) is not _on_sigterm):  # replaced since
        return
    signal.signal(signal.SIGTERM, _previous_sigterm if _previous_sigterm is not None
                  else signal.SIG_DFL)
    _sigterm_installed = False


def _on_sigterm(signum: int, frame: Any) -> None:
    _kill_open_runs()
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
        return
    # Python's own default: end now, with the status a SIGTERM gives (shells show 143).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.raise_signal(signal.SIGTERM)


def _kill_open_runs() -> None:
    """Store what every writer buffered, then mark the runs this process has open KILLED."""
    now = time.time_ns() // 1_000_000
    for writer in list(_writers):
        runs = sorted(writer.live_runs)
        writer.live_runs.clear()
        try:
            # The drain in progress may be the one this signal interrupted, on this very
            # thread: then waiting for it would never end.
            if writer._lock.acquire(timeout=_LOCK_WAIT):
                writer._lock.release()
                writer.drain()
            else:
                print("jupyter_mltrack: SIGTERM came in the middle of a write; "
                      f"{writer.pending()} buffered metric points were not stored.",
                      file=sys.stderr)
            writer.check()
        except Exception as exc:  # noqa: BLE001 - the process is ending: say it, go on
            print(f"jupyter_mltrack: storing buffered metrics on SIGTERM: {exc}",
                  file=sys.stderr)
        for run_id in runs:
            try:
                writer.store.log_batch(run_id, tags={
                    "mltrack.error": "The process was stopped by SIGTERM."})
                writer.store.update_run(run_id, status="KILLED", end_time=now)
                _killed_by_sigterm.add(run_id)
            except Exception as exc:  # noqa: BLE001 - the process is ending: say it, go on
                print(f"jupyter_mltrack: marking run {run_id} KILLED on SIGTERM: {exc}",
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
        writer.pending_error = None
        writer._lost = []
        writer._report_lock = threading.Lock()
        writer._lock = threading.Lock()
        writer._wake = threading.Event()
        writer._stop = threading.Event()
        writer._thread = None
        writer._pid = os.getpid()
        writer.live_runs = set()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
