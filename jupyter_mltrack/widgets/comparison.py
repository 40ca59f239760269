"""``compare()``: the run comparison widget.

A runs table (sort, filter with the search grammar, only-differing columns, row
selection, live status), Altair charts of the selected runs, and a side-by-side
view of 2-5 runs with the diff of their cell sources. While runs are RUNNING a
thread in the kernel refreshes table and charts, reading only what changed.

``compare()`` reads the first page of a search (and at least FIRST_ROWS runs) and returns
with them shown; the other runs are read by a background thread of the kernel, and
the table says "loading more runs…" until they arrive. Sorting, paging and the charts
take them in as soon as they are read; ``frame`` and :meth:`CompareWidget.wait_loaded`
wait for them. In a fresh kernel the first page of a plain search (no filter) of a
SQLite store comes as plain rows, read without SQLAlchemy or pandas
(``Client.peek_runs``); the background read brings the frame.

The chart widgets are made when a front end first draws the Charts tab (or ``charts``
is read), so that ``compare()`` itself never waits for Altair or for chart data, and a
notebook run without a front end (CI, nbconvert) saves no chart specs: those charts
could not draw there anyway (the chart library comes from the kernel), and the static
copy shows them as SVG.
"""

from __future__ import annotations

import difflib
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..entities import Run, RunStatus
from ..errors import InvalidFilter, InvalidParameter
from ..tracking import fluent
from . import controls as w
from . import style
from .live import DEFAULT_INTERVAL, HistoryCache, LiveLoop
from .runs import frame_of_ids, labels_of, run_labels
from .side_by_side import MAX_RUNS, MIN_RUNS, select_notice, side_by_side_html
from .static import StaticCopy, chart_svg
from .table import Column, Grid, is_missing
from .vega import chart_view, show_chart
from .views import Html, View

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

    from ..store.sqlite_peek import RunsPeek
    from ..tracking.client import Client

#: Runs charted when none is selected: the top of the table as sorted.
DEFAULT_CHART_RUNS = 10
#: At most this many selected runs are charted (colors repeat after ten).
MAX_CHART_RUNS = 20
#: At most this many runs are loaded into one widget.
MAX_RUNS_LOADED = 100_000
#: Runs read before ``compare()`` returns (at least a page); the rest load in the background.
FIRST_ROWS = 50

# One background read of runs at a time in a kernel: two widgets loading at once would
# only share the same CPU, and a load that a new filter replaced is skipped when it
# gets its turn.
_loads = threading.Lock()
#: Parallel coordinates show at most this many params.
MAX_PARALLEL_PARAMS = 6

#: Charts fill the width of the output area; the legend and axes fit inside it.
_FIT = {"type": "fit-x", "contains": "padding", "resize": True}
_STATIC_WIDTH = {"history": 620, "final": 300, "scatter": 300, "parallel": 620}

_FILTER_HINT = "metrics.loss < 0.5 and params.optimizer = 'adam'"
_RUN_COLUMNS = [
    Column("run_name", "Run", "name"),
    Column("status", "Status", "status"),
    Column("duration", "Duration", "duration"),
    Column("start_time", "Started", "time"),
]


class MissingKeyWarning(UserWarning):
    """``compare(metrics=..., params=...)`` named a key that none of the runs has."""


_PROBE_ESM = """
export default { render({ model }) { model.send({ event: "shown" }); } };
"""


class _ShownProbe(View):
    """Invisible; tells the kernel when a front end draws the Charts tab."""

    _esm = _PROBE_ESM


def _experiments(experiment: Any) -> list[str]:
    """The experiment names or ids ``compare(experiment=...)`` was given (none: all)."""
    if experiment is None:
        return []
    return [str(e) for e in ([experiment] if isinstance(experiment, (str, int))
                             else experiment)]


def _run_ids(runs: Any) -> list[str] | None:
    if runs is None:
        return None
    import pandas as pd

    if isinstance(runs, pd.DataFrame):
        if "run_id" not in runs.columns:
            raise InvalidParameter("runs= takes a search_runs() DataFrame (with a run_id column).")
        return runs["run_id"].astype(str).tolist()
    if isinstance(runs, (str, Run)):
        runs = [runs]
    ids = []
    for run in runs:
        if isinstance(run, Run):
            ids.append(run.info.run_id)
        elif isinstance(run, str):
            ids.append(run)
        else:
            raise InvalidParameter(
                f"runs= takes run ids, Run objects or a search_runs() DataFrame, not "
                f"{type(run).__name__}."
            )
    return ids


def _keys(values: Sequence[str] | str | None, prefix: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    return [v[len(prefix):] if v.startswith(prefix) else v for v in values]


def with_duration(frame: pd.DataFrame, now_ms: int | None = None) -> pd.DataFrame:
    """Add a ``duration`` column (seconds; running runs count up to now)."""
    import pandas as pd

    frame = frame.copy()
    if frame.empty:
        frame["duration"] = pd.Series(dtype="float64")
        return frame
    now = pd.Timestamp(now_ms if now_ms is not None else time.time_ns() // 1_000_000,
                       unit="ms", tz="UTC")
    end = frame["end_time"].where(frame["end_time"].notna(), now)
    running = frame["status"] == RunStatus.RUNNING.value
    end = end.where(~running, now)
    frame["duration"] = (end - frame["start_time"]).dt.total_seconds().to_numpy(dtype="float64")
    return frame


def rows_with_duration(rows: list[dict[str, Any]], now_ms: int | None = None
                       ) -> list[dict[str, Any]]:
    """:func:`with_duration` of plain rows (times in ms since the epoch)."""
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    out = []
    for row in rows:
        end = row.get("end_time")
        if end is None or row.get("status") == RunStatus.RUNNING.value:
            end = now
        out.append({**row, "duration": (end - row["start_time"]) / 1000.0})
    return out


def frame_of_rows(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Plain rows (as ``Client.peek_runs`` reads them, with ``duration``) as the frame
    ``search_runs_frame`` and :func:`with_duration` make of the same runs."""
    import pandas as pd

    columns: dict[str, Any] = {}
    for key in plain_columns(rows):
        values = [row.get(key) for row in rows]
        if key in ("start_time", "end_time"):
            columns[key] = pd.to_datetime(pd.array(values, dtype="Int64"), unit="ms", utc=True)
        elif key.startswith("metrics.") or key == "duration":
            columns[key] = pd.array([float("nan") if v is None else v for v in values],
                                    dtype="float64")
        else:
            columns[key] = values
    return pd.DataFrame(columns)


_ATTRIBUTE_COLUMNS = ("run_id", "experiment_id", "experiment", "run_name", "status",
                      "start_time", "end_time", "user_id", "parent_run_id", "artifact_uri")


def plain_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The columns of plain rows in a run frame's order: attributes, then params,
    metrics and tags (each sorted), then duration."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    out = [k for k in _ATTRIBUTE_COLUMNS if k in keys]
    for prefix in ("params.", "metrics.", "tags."):
        out += sorted(k for k in keys if k.startswith(prefix))
    return out + (["duration"] if "duration" in keys else [])



class CompareWidget(StaticCopy, w.VBox):
    """The widget ``compare()`` returns. Its public attributes are plain Python."""

    def __init__(self, client: Client, experiment_ids: list[str], filter: str | None = None,
                 run_ids: list[str] | None = None, metrics: list[str] | None = None,
                 params: list[str] | None = None, refresh_interval: float | None = DEFAULT_INTERVAL,
                 page_size: int = 50, first: RunsPeek | None = None):
        self.client = client
        self.experiment_ids = experiment_ids
        self.run_ids = run_ids
        self.metric_keys = metrics
        self.param_keys = params
        self._lock = threading.RLock()
        # The runs shown: a frame, or (a fresh kernel's first page) plain rows that
        # become a frame when something needs one (see _frame).
        self._frame_data: pd.DataFrame | None = None
        self._rows: list[dict[str, Any]] | None = []
        self._labels: dict[str, str] = {}
        self._varying: tuple[object, list[str]] | None = None
        self._histories = HistoryCache(client)
        self._built: dict[str, alt.TopLevelMixin] = {}
        self._view_map: dict[str, Any] | None = None  # made when the charts are first shown
        #: Messages about ``metrics=``/``params=`` keys that no run has (also warned).
        self.missing_keys: list[str] = []
        self.updated_at: float | None = None
        #: The error of the last filter typed, if it did not parse (the box shows it too).
        self.filter_error: InvalidFilter | None = None
        self._building = True
        self._suspended = 0
        self._page_size = page_size
        #: The error of the last background read, if it failed (the widget shows it too).
        self.load_error: Exception | None = None
        self._generation = 0  # counts searches; a background read applies to its own only
        self._more = False  # True while the rest of the current search is being read
        self._loaded = threading.Event()
        self._loaded.set()

        self._header = Html()
        self.filter_box = w.Text(value=filter or "", placeholder=_FILTER_HINT,
                                 continuous_update=False, description="Filter",
                                 layout=w.Layout(width="520px"),
                                 style={"description_width": "42px"})
        self.differ_switch = w.Checkbox(value=False, description="Only columns that differ",
                                        indent=False, layout=w.Layout(width="auto"))
        self.refresh_button = w.Button(description="Refresh", icon="refresh",
                                       tooltip="Read the runs again",
                                       layout=w.Layout(width="auto"))
        self._message = Html()
        self.table = Grid(id_column="run_id", page_size=page_size, sticky=1,
                          empty_message="No runs match.")
        self.metric_picker = w.Dropdown(description="Metric", layout=w.Layout(width="250px"),
                                        style={"description_width": "48px"})
        self.param_picker = w.Dropdown(description="Param", layout=w.Layout(width="230px"),
                                       style={"description_width": "44px"})
        self.log_switch = w.Checkbox(value=False, description="Log scale", indent=False,
                                     layout=w.Layout(width="auto"))
        self.smoothing = w.FloatSlider(value=0.0, min=0.0, max=0.99, step=0.01,
                                       description="Smoothing", readout_format=".2f",
                                       continuous_update=False, layout=w.Layout(width="300px"),
                                       style={"description_width": "initial"})
        self._chart_note = Html()
        self._keys_note = Html()
        self._probe = _ShownProbe()
        self._probe.on_msg(lambda _widget, content, _buffers: self._show_charts())
        self._chart_box = w.VBox([self._probe], layout=w.Layout(width="100%"))
        self.side_switch = w.Checkbox(value=False, description="Only differences", indent=False,
                                      layout=w.Layout(width="auto"))
        self._side = Html()

        toolbar = w.HBox([self.filter_box, self.differ_switch, self.refresh_button],
                         layout=w.Layout(align_items="center", grid_gap="14px"))
        chart_controls = w.HBox([self.metric_picker, self.param_picker, self.log_switch,
                                 self.smoothing],
                                layout=w.Layout(align_items="center", grid_gap="12px",
                                                flex_flow="row wrap"))
        chart_panel = w.VBox([chart_controls, self._chart_note, self._chart_box],
                             layout=w.Layout(width="100%"))
        side_panel = w.VBox([self.side_switch, self._side])
        self.tabs = w.Tab(children=[chart_panel, side_panel])
        self.tabs.titles = ("Charts", "Side by side")
        super().__init__([self._header, toolbar, self._keys_note, self._message, self.table,
                          self.tabs],
                         layout=w.Layout(width="100%"))
        self.add_class("mltrack-compare")

        self._live: LiveLoop | None = None
        if refresh_interval is not None:
            self._live = LiveLoop(self.poll, refresh_interval, on_error=self._live_failed)

        if first is not None:
            self._show_first(first)
        else:
            self._load(filter or "")
        self._building = False
        self._update_charts()
        self._update_side()

        self.filter_box.observe(self._on_filter, "value")
        self.differ_switch.observe(lambda _: self._refresh_columns(), "value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.table.observe(self._on_selection, "_selected")
        self.table.observe(self._on_sort, "_sort")
        for control in (self.metric_picker, self.param_picker, self.log_switch, self.smoothing):
            control.observe(lambda _: self._update_charts(), "value")
        self.side_switch.observe(lambda _: self._update_side(), "value")
        self._start_live()

    def __repr__(self) -> str:
        return (f"CompareWidget({self._n()} runs, {len(self.table.selected)} selected, "
                f"metric={self.metric!r})")

    # -- public state ------------------------------------------------------------------

    @property
    def frame(self) -> pd.DataFrame:
        """The runs in the table, in its current order (all pages; waits until every
        run of the search has been read)."""
        self.wait_loaded()
        self._ensure_frame()  # plain rows still (the background read failed): a frame
        return self.table.frame

    @property
    def loading(self) -> bool:
        """True while the runs after the first rows are being read in the background."""
        return not self._loaded.is_set()

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """Wait until every run of the current search is in the table; False on timeout."""
        return self._loaded.wait(timeout)

    @property
    def filter(self) -> str:
        return self.filter_box.value

    @filter.setter
    def filter(self, text: str) -> None:
        self.filter_box.value = text

    @property
    def selected_run_ids(self) -> list[str]:
        return self.table.selected

    @selected_run_ids.setter
    def selected_run_ids(self, ids: Sequence[str]) -> None:
        self.table.selected = list(ids)

    @property
    def only_differing(self) -> bool:
        return bool(self.differ_switch.value)

    @only_differing.setter
    def only_differing(self, on: bool) -> None:
        self.differ_switch.value = bool(on)

    @property
    def metric(self) -> str | None:
        return self.metric_picker.value

    @metric.setter
    def metric(self, key: str) -> None:
        if key not in self.metric_picker.options:
            raise InvalidParameter(
                f"No metric {key!r} in these runs; choose one of "
                f"{list(self.metric_picker.options)}."
            )
        self.metric_picker.value = key

    @property
    def chart_run_ids(self) -> list[str]:
        """The runs the charts show: the selection, else the top of the table."""
        selected = [r for r in self.table.selected if r in self._labels]
        if selected:
            return selected[:MAX_CHART_RUNS]
        return self.table.head_ids(DEFAULT_CHART_RUNS)

    @property
    def charts(self) -> dict[str, alt.TopLevelMixin]:
        """The Altair charts the Charts tab shows (history, final, scatter, parallel)."""
        self._show_charts()
        return self._built

    @property
    def _views(self) -> dict[str, Any]:
        """The chart widgets, by chart name (made on first use)."""
        self._show_charts()
        assert self._view_map is not None
        return self._view_map

    @property
    def live(self) -> bool:
        """True while the widget refreshes itself."""
        return self._live is not None and self._live.running

    # -- what the front end shows (read-only) -------------------------------------------

    @property
    def header_html(self) -> str:
        """The header line: title, run count, live status."""
        return str(self._header.value)

    @property
    def message_html(self) -> str:
        """The notice under the filter box (a filter error with its caret), or ''."""
        return str(self._message.value)

    @property
    def side_by_side_html(self) -> str:
        """The Side by side tab as rendered."""
        return str(self._side.value)

    @property
    def chart_notes_html(self) -> str:
        """The notices above the charts (no metrics, keys no run has...)."""
        return str(self._chart_note.value) + str(self._keys_note.value)

    @property
    def chart_views(self) -> dict[str, Any]:
        """The chart widgets by name (``history``, ``final``, ``scatter``, ``parallel``);
        each one's ``spec`` is what the browser draws."""
        return dict(self._views)

    @property
    def histories(self) -> HistoryCache:
        """The metric histories read for the charts (``reads`` counts store reads)."""
        return self._histories

    def refresh(self) -> None:
        """Read the runs again (as the Refresh button does) and restart live updates."""
        with self._lock:
            frame = self._frame
            for run_id in frame.loc[frame["status"] == RunStatus.RUNNING.value, "run_id"]:
                self._histories.forget(run_id)
            self._load(self.filter)
        self._start_live()

    def _static_body(self) -> str:
        return static_html(self)

    def _static_charts(self) -> dict[str, alt.TopLevelMixin]:
        """The charts as drawn, or as they will be once shown (for the static copy)."""
        with self._lock:
            if self._view_map is not None:
                return self._built
            metric = self.metric_picker.value
            return self._build_charts(metric, self.chart_run_ids) if metric is not None else {}

    def close(self) -> None:
        live = getattr(self, "_live", None)
        if live is not None:
            live.stop()
        if hasattr(self, "_loaded"):
            with self._lock:
                self._generation += 1  # a read under way is dropped
                self._more = False
                self._loaded.set()
        views = list(self._view_map.values()) if self._view_map is not None else []
        for child in (self.table, self._header, self._message, self._side, self._chart_note,
                      self._keys_note, self._probe, *views):
            child.close()
        super().close()

    # -- the runs shown: a frame, or plain rows ------------------------------------------

    @property
    def _frame(self) -> pd.DataFrame:
        return self._ensure_frame()

    def _ensure_frame(self) -> pd.DataFrame:
        """The runs shown, as a frame: plain rows become one here (and the table shows
        it), so that everything after a fresh kernel's first page works on frames."""
        with self._lock:
            if self._frame_data is None:
                rows = self._rows or []
                if rows:
                    frame = frame_of_rows(rows)
                else:
                    import pandas as pd

                    frame = with_duration(pd.DataFrame({
                        "run_id": [], "run_name": [], "status": [], "start_time": [],
                        "end_time": []}))
                self._frame_data, self._rows = frame, None
                self.table.set_frame(frame, more=self._more)
            return self._frame_data

    def _n(self) -> int:
        return len(self._frame_data) if self._frame_data is not None else len(self._rows or [])

    def _names(self) -> list[str]:
        if self._frame_data is not None:
            return [str(c) for c in self._frame_data.columns]
        return plain_columns(self._rows or [])

    def _nunique(self, key: str, dropna: bool = True) -> int:
        if self._frame_data is not None:
            if key not in self._frame_data:
                return 0
            return int(self._frame_data[key].nunique(dropna=dropna))
        values = {None if is_missing(r.get(key)) else r.get(key) for r in self._rows or []}
        return len(values - {None}) if dropna else len(values)

    def _present(self, key: str) -> int:
        if self._frame_data is not None:
            return int(self._frame_data[key].notna().sum())
        return sum(not is_missing(r.get(key)) for r in self._rows or [])

    def _running(self) -> int:
        if self._frame_data is not None:
            return int((self._frame_data["status"] == RunStatus.RUNNING.value).sum())
        return sum(r.get("status") == RunStatus.RUNNING.value for r in self._rows or [])

    def _show_first(self, first: RunsPeek) -> None:
        """Show a first page read as plain rows; the background read brings the frame
        (and the runs after them, when there are more)."""
        from ..tracking.staleness import stale_row_flags

        rows = rows_with_duration(first.rows)
        for row, stale in zip(rows, stale_row_flags(rows), strict=True):
            if stale:
                row["run_name"] = f"{row.get('run_name')} ⚠ stale"
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._more = first.more
            self.load_error = None
            self._loaded.clear()
            self._frame_data, self._rows = None, rows
            self._labels = labels_of([r["run_id"] for r in rows],
                                     [r.get("run_name") for r in rows])
            self._show_runs(lambda columns: self.table.set_rows(rows, columns, more=self._more))
        threading.Thread(target=self._load_rest, args=("", generation),
                         name="mltrack-compare-load", daemon=True).start()

    # -- reading runs ------------------------------------------------------------------

    def _load(self, text: str) -> None:
        """Show the first rows of a search now; read the rest in the background."""
        first = max(FIRST_ROWS, self._page_size)
        frame, more = self._search(text, limit=first)  # a bad filter raises here
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._more = more
            self.load_error = None
            if more:
                self._loaded.clear()
            self._set_frame(frame)
            if not more:
                self._loaded.set()
        if more:
            threading.Thread(target=self._load_rest, args=(text, generation),
                             name="mltrack-compare-load", daemon=True).start()

    def _load_rest(self, text: str, generation: int) -> None:
        with _loads:
            if generation != self._generation:
                return  # a newer search (or close) replaced this one
            try:
                frame, _ = self._search(text)
            except Exception as exc:  # noqa: BLE001 - shown by the widget, like live errors
                with self._lock:
                    if generation == self._generation:
                        self.load_error = exc
                        self._more = False
                        self._message.value = style.notice(
                            f"Could not read the runs after the first {self._n():,}: "
                            f"{exc}. Press Refresh to try again.", error=True)
                        self._update_header()
                        self._loaded.set()
                return
            with self._lock:
                if generation != self._generation:
                    return
                self._more = False
                self._set_frame(frame)
                self._loaded.set()
        self._start_live()

    def _search(self, text: str, limit: int = MAX_RUNS_LOADED) -> tuple[pd.DataFrame, bool]:
        """The runs matching ``text`` (at most ``limit``) and whether there are more."""
        text = text.strip()
        if self.run_ids is None:
            frame, token = self.client.search_runs_frame(self.experiment_ids, text or None,
                                                         max_results=limit)
            return with_duration(frame), token is not None and limit < MAX_RUNS_LOADED
        if text:
            # Parse the user's filter alone first, so an error points into their text.
            self.client.search_runs_frame(self.experiment_ids, text, max_results=1)
        parts = []
        for i in range(0, len(self.run_ids), 200):
            quoted = ", ".join("'" + r.replace("'", "") + "'" for r in self.run_ids[i:i + 200])
            combined = f"attributes.run_id IN ({quoted})" + (f" AND ({text})" if text else "")
            part, _ = self.client.search_runs_frame(self.experiment_ids, combined,
                                                    max_results=MAX_RUNS_LOADED)
            parts.append(part)
        if not parts:
            return self._frame.head(0), False
        import pandas as pd

        return with_duration(pd.concat(parts, ignore_index=True) if len(parts) > 1
                             else parts[0]), False

    # -- reactions ---------------------------------------------------------------------

    def _on_filter(self, change: dict[str, Any]) -> None:
        with self._lock:
            try:
                self._load(change["new"])
            except InvalidFilter as exc:
                lines = str(exc).split("\n", 1)
                self._message.value = style.notice(
                    f"{lines[0]}. Fix the filter and press Enter; the table still shows the "
                    "previous result.", error=True, detail=lines[1] if len(lines) > 1 else None)
                self.filter_error = exc
                return
            self.filter_error = None
            if self.load_error is None:
                self._message.value = ""
        self._start_live()

    def _on_selection(self, _change: dict[str, Any]) -> None:
        with self._lock:
            self._update_charts()
            self._update_side()

    def _on_sort(self, _change: dict[str, Any]) -> None:
        if not self.table.selected:
            with self._lock:
                self._update_charts()

    # -- building the view ---------------------------------------------------------------

    def _set_frame(self, frame: pd.DataFrame) -> None:
        frame = _mark_stale(frame)
        self._frame_data, self._rows = frame, None
        self._labels = run_labels(frame) if len(frame) else {}
        self._show_runs(lambda columns: self.table.set_frame(frame, columns, more=self._more))

    def _show_runs(self, put: Callable[[list[Column]], None]) -> None:
        """``put(columns)`` puts the runs just set in the table; the pickers, header,
        notes, charts and side-by-side follow (one chart update at the end, not one per
        control)."""
        self._suspended += 1
        try:
            put(self._columns())
            self._set_options()
            self._update_header()
            self._check_keys()
        finally:
            self._suspended -= 1
        self._update_charts()
        self._update_side()

    def _refresh_columns(self) -> None:
        with self._lock:
            if self._frame_data is None and self._rows:
                self.table.set_rows(self._rows, self._columns(), more=self._more)
            else:
                self.table.set_frame(self._frame, self._columns(), more=self._more)

    def _columns(self) -> list[Column]:
        names = self._names()
        columns = list(_RUN_COLUMNS)
        if self._nunique("experiment_id") > 1:
            columns.append(Column("experiment", "Experiment"))
        groups = (("params.", "Params", self.param_keys, "text"),
                  ("metrics.", "Metrics", self.metric_keys, "number"),
                  ("tags.", "Tags", None, "text"))
        for prefix, group, wanted, kind in groups:
            keys = [c[len(prefix):] for c in names if c.startswith(prefix)]
            if group == "Tags":
                keys = [k for k in keys if not k.startswith("mltrack.")]
            if wanted is not None:
                keys = [k for k in wanted if k in set(keys)]
            if self.only_differing and self._n() > 1:
                keys = [k for k in keys if self._nunique(prefix + k, dropna=False) > 1]
            columns += [Column(prefix + k, k, kind, group) for k in keys]
        return columns

    def _metric_options(self) -> list[str]:
        keys = [c[len("metrics."):] for c in self._names() if c.startswith("metrics.")]
        if self.metric_keys is not None:
            keys = [k for k in self.metric_keys if k in set(keys)]
        return keys

    def _param_options(self) -> list[str]:
        keys = [c[len("params."):] for c in self._names() if c.startswith("params.")]
        if self.param_keys is not None:
            keys = [k for k in self.param_keys if k in set(keys)]
        return keys

    def _varying_params(self) -> list[str]:
        """Params that differ between runs, those most runs have first (once per frame)."""
        source = self._frame_data if self._frame_data is not None else self._rows
        cached = self._varying
        if cached is not None and cached[0] is source:
            return cached[1]
        counts = {k: self._nunique(f"params.{k}") for k in self._param_options()}
        varying = [k for k, count in counts.items() if count > 1]
        if self.param_keys is None:
            rank = {k: (-self._present(f"params.{k}"), -counts[k]) for k in varying}
            varying.sort(key=rank.__getitem__)
        self._varying = (source, varying)
        return varying

    def _set_options(self) -> None:
        metrics = self._metric_options()
        params = self._param_options()
        current_metric, current_param = self.metric_picker.value, self.param_picker.value
        self.metric_picker.options = metrics
        self.metric_picker.value = current_metric if current_metric in metrics else \
            _default_metric(metrics, self.metric_keys)
        varying = self._varying_params()
        self.param_picker.options = params
        self.param_picker.value = current_param if current_param in params else \
            (varying[0] if varying else (params[0] if params else None))

    def _update_header(self) -> None:
        running = self._running()
        scope = "all experiments"
        if self._nunique("experiment") == 1:
            scope = f"experiment {self._first_value('experiment')}"
        elif self.experiment_ids and len(self.experiment_ids) == 1:
            scope = f"experiment {self.experiment_ids[0]}"
        extra = ""
        if running:
            extra += style.status_badge(f"{running} running", live=True,
                                        color=style.STATUS_COLORS["RUNNING"])
        if self.updated_at is not None:
            stamp = time.strftime("%H:%M:%S", time.localtime(self.updated_at))
            extra += f'<span class="mlt-muted">updated {stamp}</span>'
        if self._more:
            extra += '<span class="mlt-muted">loading more runs…</span>'
        count = f"{self._n():,}+" if self._more else f"{self._n():,}"
        self._header.value = style.header("Compare runs", f"{count} runs · {scope}", extra)

    def _first_value(self, key: str) -> Any:
        """The first present value of a column."""
        if self._frame_data is not None:
            return self._frame_data[key].dropna().iloc[0]
        return next(r[key] for r in self._rows or [] if not is_missing(r.get(key)))

    def _chart_frame(self, run_ids: list[str]) -> pd.DataFrame:
        frame = self._frame.set_index("run_id", drop=False)
        return frame.loc[[r for r in run_ids if r in frame.index]].reset_index(drop=True)

    def _show_charts(self) -> None:
        """Make the chart widgets and draw them (once; later changes redraw them)."""
        with self._lock:
            if self._view_map is not None:
                return
            views = {name: chart_view() for name in ("history", "final", "scatter", "parallel")}
            for name, view in views.items():
                view.add_class(f"mltrack-chart-{name}")
                # Charts are drawn with width="container": each view needs a definite width.
                view.layout = w.Layout(width="100%") if name in ("history", "parallel") else \
                    w.Layout(flex="1 1 320px", min_width="280px", max_width="100%")
            self._view_map = views
            pair = w.HBox([views["scatter"], views["final"]],
                          layout=w.Layout(grid_gap="24px", flex_flow="row wrap", width="100%"))
            self._chart_box.children = [self._probe, views["history"], pair, views["parallel"]]
            self._update_charts()

    def _update_charts(self) -> None:
        if self._building or self._suspended:
            return
        metric = self.metric_picker.value
        run_ids = self.chart_run_ids
        note = ""
        if not self.table.selected and run_ids:
            note = (f"Showing the top {len(run_ids)} runs of the table; select rows to "
                    "choose the runs charted.")
        elif len(self.table.selected) > MAX_CHART_RUNS:
            note = f"Showing the first {MAX_CHART_RUNS} selected runs."
        if metric is None:
            self._chart_note.value = style.notice(
                "No metrics logged in these runs yet." if self._n() else "No runs.")
        else:
            self._chart_note.value = \
                f'<div class="mlt-muted">{style.esc(note)}</div>' if note else ""
        if self._view_map is None:
            return  # not shown yet: built when first shown
        built = self._build_charts(metric, run_ids) if metric is not None else {}
        self._built = built
        for name, view in self._view_map.items():
            chart = built.get(name)
            show_chart(view, chart)
            view.layout.display = None if chart is not None else "none"

    def _build_charts(self, metric: str, run_ids: list[str]) -> dict[str, alt.TopLevelMixin]:
        from . import charts

        labels = [self._labels[r] for r in run_ids if r in self._labels]
        histories = {self._labels[r]: self._histories.get(r, metric) for r in run_ids}
        chart_frame = self._chart_frame(run_ids)
        context = self.table.head(charts.ROW_BUDGET)  # scatter and parallel cap rows there
        fit = "container"  # each chart fits the width of the output area
        built: dict[str, alt.TopLevelMixin] = {
            "history": charts.metric_history(histories, metric, labels=labels,
                                             smoothing=float(self.smoothing.value),
                                             log_scale=bool(self.log_switch.value), width=fit),
            "final": charts.final_values(chart_frame, metric, labels=labels, names=self._labels,
                                         width=fit),
        }
        param = self.param_picker.value
        if param is not None:
            built["scatter"] = charts.param_scatter(context, param, metric, highlight=run_ids,
                                                    labels=labels, names=self._labels,
                                                    width=fit)
        varying = self._varying_params()[:MAX_PARALLEL_PARAMS]
        if varying:
            built["parallel"] = charts.parallel_coordinates(
                context, varying, metric, highlight=self.table.selected[:MAX_CHART_RUNS],
                names=self._labels, width=fit)
        # Where no container gives a width (static copies, saved files), Vega-Lite draws
        # the chart at config.view.continuousWidth: the width the chart functions use.
        return {name: chart.properties(autosize=_FIT).configure_view(
                    continuousWidth=_STATIC_WIDTH[name]) for name, chart in built.items()}

    def _check_keys(self) -> None:
        """Say which ``metrics=``/``params=`` keys no run has, and the closest ones."""
        names = self._names()
        messages = []
        if self._n():
            for prefix, kind, wanted in (("metrics.", "metric", self.metric_keys),
                                         ("params.", "param", self.param_keys)):
                known = [c[len(prefix):] for c in names if c.startswith(prefix)]
                for key in wanted or ():
                    if key in known:
                        continue
                    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
                    if close:
                        hint = "closest: " + ", ".join(repr(k) for k in close)
                    elif known:
                        hint = f"{kind}s these runs have: " + ", ".join(
                            repr(k) for k in known[:10]) + (" …" if len(known) > 10 else "")
                    else:
                        hint = f"these runs have no {kind}s"
                    messages.append(f"No run here has the {kind} {key!r} ({hint}).")
        self.missing_keys = messages
        self._keys_note.value = style.notice(" ".join(messages)) if messages else ""

    def _update_side(self) -> None:
        if self._building or self._suspended:
            return
        selected = self.table.selected
        if len(selected) < MIN_RUNS:
            self._side.value = select_notice(len(selected))
            return
        frame = self._chart_frame(selected)
        labels = [self._labels[r] for r in frame["run_id"]]
        colors = [style.color_for(i) for i in range(len(labels))]
        if len(selected) > MAX_RUNS:
            self._side.value = style.notice(
                f"Select at most {MAX_RUNS} runs to compare side by side ({len(selected)} "
                "selected).")
            return
        self._side.value = side_by_side_html(frame, labels, colors,
                                             only_differences=bool(self.side_switch.value))

    # -- live updates --------------------------------------------------------------------

    def _any_running(self) -> bool:
        return self._running() > 0

    def _start_live(self) -> None:
        if self._live is not None and self._any_running():
            self._live.start()

    def _live_failed(self, exc: BaseException) -> None:
        self._message.value = style.notice(
            f"Live updates stopped: {exc}. Press Refresh to try again.", error=True)

    def poll(self) -> bool:
        """One live refresh: re-read running runs, pick up new ones, extend histories."""
        with self._lock:
            if self.loading:
                return True  # the runs are being read; the next tick looks again
            frame = self._frame
            running = frame.loc[frame["status"] == RunStatus.RUNNING.value, "run_id"].tolist()
            updates = [with_duration(frame_of_ids(self.client, running))] if running else []
            if self.run_ids is None and len(frame):
                newest = round(frame["start_time"].max().timestamp() * 1000)
                usable = self.filter if self.filter_error is None else ""
                fresh, _ = self.client.search_runs_frame(self.experiment_ids, usable,
                                                         max_results=MAX_RUNS_LOADED,
                                                         started_after=newest)
                fresh = fresh[~fresh["run_id"].isin(set(frame["run_id"]) - set(running))]
                if len(fresh):
                    updates.append(with_duration(fresh))
            changed_histories = False
            metric = self.metric_picker.value
            charted = set(self.chart_run_ids)
            if metric is not None:
                for run_id in running:
                    if run_id in charted and self._histories.holds(run_id, metric):
                        changed_histories |= self._histories.extend(run_id, metric)
            if updates:
                import pandas as pd

                update = pd.concat(updates, ignore_index=True).drop_duplicates("run_id",
                                                                               keep="last")
                rest = frame[~frame["run_id"].isin(set(update["run_id"]))]
                merged = pd.concat([update, rest], ignore_index=True) if len(rest) else update
                merged = merged.sort_values("start_time", ascending=False, kind="stable")
                self.updated_at = time.time()
                self._set_frame(merged.reset_index(drop=True))
            elif changed_histories:
                self.updated_at = time.time()
                self._update_charts()
            return self._any_running()


def _mark_stale(frame: pd.DataFrame) -> pd.DataFrame:
    """``%%track`` runs whose cell is no longer in their notebook get "⚠ stale" in their
    name, so a result is never read as coming from the code there now."""
    from ..tracking.staleness import stale_flags

    flags = stale_flags(frame) if "run_name" in frame.columns else []
    if not any(flags):
        return frame
    frame = frame.copy()
    frame.loc[flags, "run_name"] = frame.loc[flags, "run_name"].astype(str) + " ⚠ stale"
    return frame


def _default_metric(metrics: list[str], wanted: list[str] | None) -> str | None:
    if not metrics:
        return None
    if wanted:
        return metrics[0]
    for word in ("val_loss", "loss", "error", "accuracy", "acc"):
        for key in metrics:
            if word in key.lower():
                return key
    return metrics[0]


def _static_rows(widget: CompareWidget, limit: int = 20) -> tuple[list[str], list[list[Any]],
                                                                   list[bool]]:
    frame = widget.table.head(limit)
    cols = [c for c in widget.table.columns if c.kind != "time"][:18]
    header = [c.label for c in cols]
    numeric = [c.kind in ("number", "duration") for c in cols]
    rows = []
    for _, row in frame.iterrows():
        values = []
        for c in cols:
            value = row.get(c.key)
            if c.kind == "duration":
                value = style.format_duration(value)
            values.append(None if is_missing(value) else value)
        rows.append(values)
    numeric = [n and c.kind != "duration" for n, c in zip(numeric, cols, strict=False)]
    return header, rows, numeric


def static_html(widget: CompareWidget, max_points: int = 150) -> str:
    """What nbconvert, notebook viewers and GitHub show: the top of the table and the
    charts of the metric, as inline SVG (histories downsampled to ``max_points``)."""
    header, rows, numeric = _static_rows(widget)
    total = widget._n()
    shown = min(total, 20)
    count = f"{total:,}+" if widget._more else f"{total:,}"
    body = style.header("Compare runs", f"{count} runs" + (
        f" (static copy: the first {shown}; run the notebook to interact)"
        if shown < total or widget._more else " (static copy; run the notebook to interact)"))
    status = header.index("Status") if "Status" in header else None
    body += style.table(header, rows, numeric, status_column=status)
    metric = widget.metric
    built = widget._static_charts() if metric is not None else {}
    if metric is not None and built:
        from . import charts  # Altair: loaded once charts are drawn

        run_ids = widget.chart_run_ids
        labels = [widget._labels[r] for r in run_ids if r in widget._labels]
        histories = {widget._labels[r]: widget._histories.get(r, metric)
                     for r in run_ids if r in widget._labels}
        drawn = [charts.metric_history(histories, metric, labels=labels, max_points=max_points,
                                       smoothing=float(widget.smoothing.value),
                                       log_scale=bool(widget.log_switch.value))]
        if "final" in built:
            drawn.append(built["final"])
        body += "".join(chart_svg(chart) for chart in drawn)
    return body


def compare(experiment: str | Sequence[str] | None = None, filter: str | None = None,
            runs: Any = None, metrics: Sequence[str] | str | None = None,
            params: Sequence[str] | str | None = None, *, client: Client | None = None,
            refresh_interval: float | None = DEFAULT_INTERVAL, page_size: int = 50
            ) -> CompareWidget:
    """Compare runs in the notebook: a sortable, filterable table, charts and a side-by-side.

    ``experiment``: a name or id (or several); all experiments when omitted.
    ``filter``: a search filter such as ``"metrics.loss < 0.2"`` (editable in the widget).
    ``runs``: only these runs (ids, ``Run`` objects or a ``search_runs()`` DataFrame).
    ``metrics`` / ``params``: the keys to show (all when omitted); the first metric is charted.
    A key that no run has is named in the widget and warned (``MissingKeyWarning``),
    with the closest keys the runs have.
    ``refresh_interval``: seconds between live refreshes while runs are RUNNING (None: off).
    """
    c = fluent.client(client)
    if page_size < 5 or page_size > 1000:
        raise InvalidParameter(f"page_size is from 5 to 1000 rows, not {page_size!r}.")
    first = None
    if runs is None and not filter:
        # A fresh kernel: the first page as plain rows, before SQLAlchemy and pandas load.
        first = c.peek_runs(_experiments(experiment), max(FIRST_ROWS, page_size))
    if first is not None:
        experiment_ids = first.experiment_ids
    else:
        experiment_ids = [c.resolve_experiment_id(e) for e in _experiments(experiment)]
    if filter:
        c.search_runs_frame(experiment_ids, filter, max_results=1)  # bad filters fail here
    widget = CompareWidget(
        c, experiment_ids, filter=filter, run_ids=_run_ids(runs),
        metrics=_keys(metrics, "metrics."), params=_keys(params, "params."),
        refresh_interval=refresh_interval, page_size=page_size, first=first,
    )
    for message in widget.missing_keys:
        warnings.warn(message, MissingKeyWarning, stacklevel=2)
    return widget
