"""Live updates at a bounded cost: a polling thread that stops when nothing runs,
and a cache of metric histories that is extended, never re-read.

The thread lives in the kernel, so a widget keeps updating while another cell
trains (the front end receives the updates through the kernel's IOPub channel),
and also for runs logged by other processes into the same store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import InvalidParameter

if TYPE_CHECKING:
    import pandas as pd

    from ..tracking.client import Client

#: Seconds between two refreshes unless the caller says otherwise.
DEFAULT_INTERVAL = 2.0
MIN_INTERVAL = 0.2


class LiveLoop:
    """Calls ``tick()`` every ``interval`` seconds in a daemon thread.

    It ends when ``tick`` returns False (nothing runs any more), when ``stop()`` is
    called, or at the first error, which goes to ``on_error`` (the widget shows it).
    """

    def __init__(self, tick: Callable[[], bool], interval: float = DEFAULT_INTERVAL,
                 on_error: Callable[[BaseException], None] | None = None):
        if not isinstance(interval, (int, float)) or interval < MIN_INTERVAL:
            raise InvalidParameter(
                f"refresh_interval must be at least {MIN_INTERVAL} seconds, not {interval!r}; "
                "use None to turn live updates off."
            )
        self.interval = float(interval)
        self._tick = tick
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.ticks = 0
        self.error: BaseException | None = None
        self.finished = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start polling (nothing happens when it runs already)."""
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self.finished.clear()
            self._thread = threading.Thread(target=self._run, name="mltrack-live", daemon=True)
            self._thread.start()

    def stop(self, wait: bool = False) -> None:
        self._stop.set()
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    more = self._tick()
                except Exception as exc:  # noqa: BLE001 - shown by the widget, then stop
                    self.error = exc
                    if self._on_error is not None:
                        self._on_error(exc)
                    return
                self.ticks += 1
                if not more:
                    return
        finally:
            self.finished.set()


class HistoryCache:
    """Metric histories read once, then extended from their last step.

    ``extend`` asks the store only for points at or after the last step it holds
    (one index range read), so refreshing a long running history costs the new
    points, not the whole history. Bounded (least recently used first out) to
    ``max_entries`` histories and ``max_points`` points in all (10 million points are
    about 240 MB); the history in use always stays.
    """

    def __init__(self, client: Client, max_entries: int = 256, max_points: int = 10_000_000):
        self.client = client
        self.max_entries = max_entries
        self.max_points = max_points
        self._frames: OrderedDict[tuple[str, str], pd.DataFrame] = OrderedDict()
        self._lock = threading.RLock()
        self.reads = 0  # store reads, full or incremental (tests and benchmarks look)

    def get(self, run_id: str, key: str) -> pd.DataFrame:
        """The whole history of one metric of one run (read on first use)."""
        with self._lock:
            frame = self._frames.get((run_id, key))
            if frame is None:
                frame = self.client.get_metric_history_frame(run_id, key)
                self.reads += 1
                self._put((run_id, key), frame)
            else:
                self._frames.move_to_end((run_id, key))
            return frame

    def extend(self, run_id: str, key: str) -> bool:
        """Read the points logged since the last read; True when something changed."""
        import pandas as pd

        with self._lock:
            frame = self._frames.get((run_id, key))
            if frame is None or frame.empty:
                before = 0 if frame is None else len(frame)
                self._frames.pop((run_id, key), None)
                return len(self.get(run_id, key)) != before
            last = int(frame["step"].iloc[-1])
            fresh = self.client.get_metric_history_frame(run_id, key, min_step=last)
            self.reads += 1
            old_tail = frame[frame["step"] >= last]
            if len(fresh) == len(old_tail):
                return False
            head = frame[frame["step"] < last]
            self._put((run_id, key), pd.concat([head, fresh], ignore_index=True))
            return True

    def holds(self, run_id: str, key: str) -> bool:
        return (run_id, key) in self._frames

    def forget(self, run_id: str) -> None:
        with self._lock:
            for slot in [s for s in self._frames if s[0] == run_id]:
                del self._frames[slot]

    @property
    def points(self) -> int:
        return sum(len(f) for f in self._frames.values())

    def _put(self, slot: tuple[str, str], frame: Any) -> None:
        self._frames[slot] = frame
        self._frames.move_to_end(slot)
        while len(self._frames) > 1 and (len(self._frames) > self.max_entries
                                         or self.points > self.max_points):
            self._frames.popitem(last=False)
