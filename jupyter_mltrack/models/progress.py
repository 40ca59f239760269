"""Progress bars for saving, uploading, downloading and loading large models.

A bar is shown when ``progress=True`` is passed, or, with the default ``progress=None``,
when the model is large: at least ``MLTRACK_PROGRESS_MIN_BYTES`` bytes (64 MB by
default), or when a save with no known size takes longer than two seconds. It writes
one line to stderr, redrawn in place, which notebooks and terminals both show.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

MIN_BYTES_ENV = "MLTRACK_PROGRESS_MIN_BYTES"
_WIDTH = 24


def min_bytes() -> int:
    try:
        return int(os.environ.get(MIN_BYTES_ENV, str(64 * 1024 * 1024)))
    except ValueError:
        return 64 * 1024 * 1024


def wanted(total_bytes: int | None, progress: bool | None) -> bool:
    """Whether to show a bar for a transfer of ``total_bytes``."""
    if progress is not None:
        return progress
    return total_bytes is not None and total_bytes >= min_bytes()


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GB"


class Bar:
    """A one-line bar: ``done`` of ``total`` bytes (or bytes and seconds without a total);
    with ``unit``, ``done`` of ``total`` things of that unit ("runs")."""

    def __init__(self, desc: str, total: int | None = None, enabled: bool = True,
                 bytes_known: bool = True, unit: str | None = None):
        self.desc = desc
        self.unit = unit
        self.bytes_known = bytes_known
        self.total = total
        self.enabled = enabled
        self.done = 0
        self.start = time.monotonic()
        self._drawn = False

    def update(self, done: int) -> None:
        self.done = done
        if self.enabled:
            self._draw()

    def advance(self, n: int) -> None:
        self.update(self.done + n)

    def _draw(self, final: bool = False) -> None:
        elapsed = time.monotonic() - self.start
        if self.total:
            frac = min(1.0, self.done / self.total)
            filled = int(frac * _WIDTH)
            amount = (f"{self.done:,}/{self.total:,} {self.unit}" if self.unit
                      else f"{_size(self.done)}/{_size(self.total)}")
            text = (f"{self.desc}: [{'#' * filled}{'.' * (_WIDTH - filled)}] {frac:4.0%} "
                    f"{amount} {elapsed:.1f}s")
        elif self.bytes_known:
            text = f"{self.desc}: {_size(self.done)} {elapsed:.1f}s"
        else:
            text = f"{self.desc}: {elapsed:.1f}s"
        if final:
            text += " done"
        sys.stderr.write("\r" + text + ("\n" if final else ""))
        sys.stderr.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled:
            if self.total:
                self.done = self.total
            self._draw(final=True)


class Watch:
    """Redraws a bar from ``measure()`` in a thread while a slow step runs.

    Shown from the start with ``progress=True``; with ``None`` only once the step has
    taken ``delay`` seconds; never with ``False``.
    """

    def __init__(self, desc: str, measure: Callable[[], int] | None, progress: bool | None,
                 total: int | None = None, delay: float = 2.0, every: float = 0.25):
        self.bar = Bar(desc, total, enabled=False, bytes_known=measure is not None)
        self.measure = measure or (lambda: 0)
        self.progress = progress
        self.delay = 0.0 if progress else delay
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Watch:
        if self.progress:
            self.bar.enabled = True
            self.bar.update(self.measure())
        if self.progress is not False:
            self._thread = threading.Thread(target=self._run, name="mltrack-progress",
                                            daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        self.bar.enabled = True
        while True:
            try:
                self.bar.update(self.measure())
            except OSError:
                pass
            if self._stop.wait(self.every):
                return

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.bar.enabled:
            try:
                self.bar.done = self.measure()
            except OSError:
                pass
            if exc_type is None:
                self.bar.close()
            else:
                sys.stderr.write(" failed\n")


def folder_size(path: Path) -> int:
    """Bytes in all files under ``path`` (0 while it does not exist)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total
