"""A sortable, paged, selectable table widget over a pandas DataFrame.

The kernel keeps the whole frame, sorts it and sends one page of rows, so the
browser holds a few dozen rows however many there are (10,000 runs, hundreds of
columns). The front end only sets three traits: ``_sort`` (a header click),
``_page`` (the pager) and ``_selected`` (row clicks) — which is also how tests
drive it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import traitlets

from ..errors import InvalidParameter
from .views import View, shared_view_esm

if TYPE_CHECKING:
    import pandas as pd

KINDS = ("text", "name", "number", "status", "duration", "time", "size", "path")


@dataclass(frozen=True)
class Column:
    """A column of the table: the frame column ``key`` shown as ``label``.

    ``kind`` sets formatting (text, name, number, status, duration, time, size,
    path); ``group`` labels a band over consecutive columns (Params, Metrics...).
    """

    key: str
    label: str
    kind: str = "text"
    group: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidParameter(f"Unknown column kind {self.kind!r}; use one of {KINDS}.")


class Grid(View):
    """The table. Public state is plain Python: ``frame``, ``selected``, ``sort_by``."""

    _esm = shared_view_esm("grid")  # grid.js, sent once per page with the stylesheet

    _columns: traitlets.List[Any] = traitlets.List().tag(sync=True)
    _rows: traitlets.List[Any] = traitlets.List().tag(sync=True)
    _row_ids: traitlets.List[Any] = traitlets.List().tag(sync=True)
    _selected: traitlets.List[Any] = traitlets.List().tag(sync=True)
    _sort = traitlets.Dict().tag(sync=True)
    _page = traitlets.Int(0).tag(sync=True)
    _page_size = traitlets.Int(50).tag(sync=True)
    _total = traitlets.Int(0).tag(sync=True)
    _selection = traitlets.Unicode("multi").tag(sync=True)
    _max_selected = traitlets.Int(0).tag(sync=True)
    _empty = traitlets.Unicode("Nothing to show.").tag(sync=True)
    _max_height = traitlets.Int(420).tag(sync=True)
    _sticky = traitlets.Int(1).tag(sync=True)
    _more = traitlets.Bool(False).tag(sync=True)

    def __init__(self, frame: pd.DataFrame | None = None, columns: Sequence[Column] = (),
                 id_column: str = "id", *, page_size: int = 50, selection: str = "multi",
                 max_selected: int = 0, empty_message: str = "Nothing to show.",
                 max_height: int = 420, sticky: int = 1, **kwargs: Any):
        if selection not in ("multi", "single", "none"):
            raise InvalidParameter(f"selection is 'multi', 'single' or 'none', not {selection!r}.")
        if page_size < 1:
            raise InvalidParameter(f"page_size must be at least 1, not {page_size!r}.")
        super().__init__(_page_size=page_size, _selection=selection, _max_selected=max_selected,
                         _empty=empty_message, _max_height=max_height, _sticky=sticky, **kwargs)
        import pandas as pd

        self._lock = threading.RLock()
        self.id_column = id_column
        self._frame: pd.DataFrame = pd.DataFrame({id_column: []})
        self._column_defs: list[Column] = []
        self._order: np.ndarray = np.arange(0)
        self.observe(self._on_sort, "_sort")
        self.observe(self._on_page, "_page")
        self.observe(self._on_selected, "_selected")
        self.set_frame(frame if frame is not None else self._frame, columns)

    # -- public state ----------------------------------------------------------------

    @property
    def frame(self) -> pd.DataFrame:
        """Every row, in the current sort order."""
        return self._frame.iloc[self._order].reset_index(drop=True)

    def head(self, n: int) -> pd.DataFrame:
        """The first ``n`` rows in the current sort order (cheaper than ``frame``)."""
        return self._frame.iloc[self._order[:n]].reset_index(drop=True)

    @property
    def columns(self) -> list[Column]:
        return list(self._column_defs)

    @property
    def selected(self) -> list[str]:
        """Ids of the selected rows, in the order they were selected."""
        return list(self._selected)

    @selected.setter
    def selected(self, ids: Sequence[str]) -> None:
        self._selected = [str(i) for i in ids]

    @property
    def sort_by(self) -> tuple[str, bool] | None:
        """``(column key, ascending)`` or None for the frame's own order."""
        if not self._sort:
            return None
        return self._sort["key"], bool(self._sort.get("ascending", True))

    def sort(self, key: str | None, ascending: bool = True) -> None:
        """Sort by a column (None: the frame's own order), as a header click does."""
        self._sort = {} if key is None else {"key": key, "ascending": ascending}

    @property
    def page(self) -> int:
        return self._page

    @page.setter
    def page(self, number: int) -> None:
        self._page = number

    @property
    def page_count(self) -> int:
        return max(1, -(-len(self._frame) // self._page_size))

    @property
    def visible_ids(self) -> list[str]:
        """Ids of the rows on the current page, top to bottom."""
        return list(self._row_ids)

    @property
    def more(self) -> bool:
        """True while more rows than the frame holds are still being read (the footer
        says so)."""
        return self._more

    def set_frame(self, frame: pd.DataFrame, columns: Sequence[Column] | None = None, *,
                  more: bool = False) -> None:
        """Show new rows (and columns); selection and sort stay where they still apply.
        ``more``: rows after these are still being read."""
        with self._lock:
            if self.id_column not in frame.columns:
                raise InvalidParameter(f"The frame has no id column {self.id_column!r}.")
            self._frame = frame.reset_index(drop=True)
            if columns is not None:
                self._column_defs = list(columns)
            present = set(self._frame[self.id_column].astype(str))
            keep = [i for i in self._selected if i in present]
            sort = self._sort
            if sort and sort.get("key") not in self._frame.columns:
                sort = {}
            with self.hold_sync():
                self._columns = [asdict(c) for c in self._column_defs]
                self._order = self._sorted_order(sort)
                if sort != self._sort:
                    self._sort = sort
                if keep != list(self._selected):
                    self._selected = keep
                self._total = len(self._frame)
                self._more = more
                self._page = min(self._page, self.page_count - 1)
                self._render_page()

    # -- trait reactions ---------------------------------------------------------------

    def _on_sort(self, change: dict[str, Any]) -> None:
        with self._lock:
            sort = change["new"] or {}
            if sort and sort.get("key") not in self._frame.columns:
                raise InvalidParameter(f"Cannot sort by {sort.get('key')!r}: no such column.")
            with self.hold_sync():
                self._order = self._sorted_order(sort)
                self._page = 0
                self._render_page()

    def _on_page(self, change: dict[str, Any]) -> None:
        with self._lock:
            clamped = max(0, min(int(change["new"]), self.page_count - 1))
            if clamped != change["new"]:
                self._page = clamped  # observers run again with the clamped page
                return
            self._render_page()

    def _on_selected(self, change: dict[str, Any]) -> None:
        if self._selection == "single" and len(change["new"]) > 1:
            self._selected = change["new"][-1:]
        elif self._max_selected and len(change["new"]) > self._max_selected:
            self._selected = change["new"][-self._max_selected:]

    # -- work ------------------------------------------------------------------------------

    def _sorted_order(self, sort: dict[str, Any]) -> np.ndarray:
        n = len(self._frame)
        if not sort:
            return np.arange(n)
        return sort_positions(self._frame[sort["key"]], bool(sort.get("ascending", True)))

    def _render_page(self) -> None:
        start = self._page * self._page_size
        positions = self._order[start:start + self._page_size]
        page = self._frame.iloc[positions]
        columns = [cell_values(page[c.key], c.kind) if c.key in page.columns
                   else [None] * len(page) for c in self._column_defs]
        with self.hold_sync():
            rows = zip(*columns, strict=True) if columns else ([] for _ in range(len(page)))
            self._rows = [list(r) for r in rows]
            self._row_ids = page[self.id_column].astype(str).tolist()


def sort_positions(column: pd.Series, ascending: bool) -> np.ndarray:
    """Row positions in sorted order; missing values last either way.

    Text that reads as numbers everywhere (params are stored as text) sorts as numbers.
    """
    import pandas as pd

    values = column
    if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)):
        as_numbers = pd.to_numeric(values, errors="coerce")
        if as_numbers.notna().sum() == values.notna().sum():
            values = as_numbers
        else:
            values = values.astype("string").str.lower()
    ordered = values.reset_index(drop=True).sort_values(
        ascending=ascending, na_position="last", kind="stable"
    )
    return ordered.index.to_numpy()


def cell_values(column: pd.Series, kind: str) -> list[Any]:
    """JSON-ready values of one column of a page (None for missing)."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(column):
        return epoch_ms(column)
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        array = column.to_numpy(dtype="float64", na_value=np.nan)
        return [None if v != v else v for v in array.tolist()]
    return [None if (v is None or (isinstance(v, float) and v != v)) else
            (v if isinstance(v, (str, int, float, bool)) else str(v)) for v in column.tolist()]


def epoch_ms(column: pd.Series) -> list[int | None]:
    """Milliseconds since the epoch of a datetime column (naive means UTC)."""
    if getattr(column.dt, "tz", None) is not None:
        column = column.dt.tz_convert("UTC").dt.tz_localize(None)
    missing = column.isna().to_numpy()
    ms = column.to_numpy().astype("datetime64[ms]").astype("int64")
    return [None if gone else int(v)
            for v, gone in zip(ms.tolist(), missing.tolist(), strict=True)]
