"""A sortable, paged, selectable table widget over a pandas DataFrame.

The kernel keeps the whole frame, sorts it and sends one page of rows, so the
browser holds a few dozen rows however many there are (10,000 runs, hundreds of
columns). The front end only sets three traits: ``_sort`` (a header click),
``_page`` (the pager) and ``_selected`` (row clicks) — which is also how tests
drive it.

It can also show plain rows (dicts, :meth:`Grid.set_rows`) without loading pandas or
numpy: a fresh kernel's first page, until a frame replaces them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import traitlets

from ..errors import InvalidParameter
from .views import View, shared_view_esm

if TYPE_CHECKING:
    import numpy as np
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
        self._lock = threading.RLock()
        self.id_column = id_column
        # Either a frame, or plain rows until a frame replaces them (set_rows).
        self._frame: pd.DataFrame | None = None
        self._plain: list[dict[str, Any]] = []
        self._column_defs: list[Column] = []
        self._order: np.ndarray | list[int] = []
        self.observe(self._on_sort, "_sort")
        self.observe(self._on_page, "_page")
        self.observe(self._on_selected, "_selected")
        if frame is not None:
            self.set_frame(frame, columns)
        else:
            self.set_rows([], columns)

    # -- public state ----------------------------------------------------------------

    @property
    def frame(self) -> pd.DataFrame:
        """Every row, in the current sort order (plain rows become a frame as they are)."""
        return self.head(None)

    def head(self, n: int | None) -> pd.DataFrame:
        """The first ``n`` rows in the current sort order (cheaper than ``frame``)."""
        with self._lock:
            if self._frame is not None:
                return self._frame.iloc[self._order[:n]].reset_index(drop=True)
            import pandas as pd

            rows = [self._plain[i] for i in self._order[:n]]
            return pd.DataFrame(rows) if rows else pd.DataFrame({self.id_column: []})

    def head_ids(self, n: int) -> list[str]:
        """Ids of the first ``n`` rows in the current sort order."""
        with self._lock:
            if self._frame is not None:
                return self._frame[self.id_column].iloc[self._order[:n]].astype(str).tolist()
            return [str(self._plain[i][self.id_column]) for i in self._order[:n]]

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
        return max(1, -(-self._count() // self._page_size))

    def _count(self) -> int:
        return len(self._frame) if self._frame is not None else len(self._plain)

    def _has_column(self, key: Any) -> bool:
        if self._frame is not None:
            return key in self._frame.columns
        return any(c.key == key for c in self._column_defs) or \
            any(key in row for row in self._plain)

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
            self._plain = []
            self._show(set(self._frame[self.id_column].astype(str)), columns, more)

    def set_rows(self, rows: Sequence[dict[str, Any]], columns: Sequence[Column] | None = None,
                 *, more: bool = False) -> None:
        """Show plain rows (dicts keyed by column, times in ms since the epoch), as
        :meth:`set_frame` shows a frame; pandas is not needed until ``frame`` is read."""
        with self._lock:
            missing = next((r for r in rows if self.id_column not in r), None)
            if missing is not None:
                raise InvalidParameter(f"A row has no id column {self.id_column!r}.")
            self._frame = None
            self._plain = list(rows)
            self._show({str(r[self.id_column]) for r in self._plain}, columns, more)

    def _show(self, present: set[str], columns: Sequence[Column] | None, more: bool) -> None:
        if columns is not None:
            self._column_defs = list(columns)
        keep = [i for i in self._selected if i in present]
        sort = self._sort
        if sort and not self._has_column(sort.get("key")):
            sort = {}
        with self.hold_sync():
            self._columns = [asdict(c) for c in self._column_defs]
            self._order = self._sorted_order(sort)
            if sort != self._sort:
                self._sort = sort
            if keep != list(self._selected):
                self._selected = keep
            self._total = self._count()
            self._more = more
            self._page = min(self._page, self.page_count - 1)
            self._render_page()

    # -- trait reactions ---------------------------------------------------------------

    def _on_sort(self, change: dict[str, Any]) -> None:
        with self._lock:
            sort = change["new"] or {}
            if sort and not self._has_column(sort.get("key")):
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

    def _sorted_order(self, sort: dict[str, Any]) -> np.ndarray | list[int]:
        if self._frame is None:
            if not sort:
                return list(range(len(self._plain)))
            return sort_rows([r.get(sort["key"]) for r in self._plain],
                             bool(sort.get("ascending", True)))
        if not sort:
            import numpy as np

            return np.arange(len(self._frame))
        return sort_positions(self._frame[sort["key"]], bool(sort.get("ascending", True)))

    def _render_page(self) -> None:
        start = self._page * self._page_size
        positions = self._order[start:start + self._page_size]
        if self._frame is None:
            page_rows = [self._plain[i] for i in positions]
            with self.hold_sync():
                self._rows = [[plain_cell(r.get(c.key)) for c in self._column_defs]
                              for r in page_rows]
                self._row_ids = [str(r[self.id_column]) for r in page_rows]
            return
        page = self._frame.iloc[positions]
        columns = [cell_values(page[c.key], c.kind) if c.key in page.columns
                   else [None] * len(page) for c in self._column_defs]
        with self.hold_sync():
            rows = zip(*columns, strict=True) if columns else ([] for _ in range(len(page)))
            self._rows = [list(r) for r in rows]
            self._row_ids = page[self.id_column].astype(str).tolist()


def is_missing(value: Any) -> bool:
    """None or NaN: a cell with no value."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def sort_rows(values: Sequence[Any], ascending: bool) -> list[int]:
    """Positions of ``values`` in sorted order, as :func:`sort_positions` orders a
    column: missing values last either way, text that reads as numbers everywhere as
    numbers, other text case-insensitively."""
    present = [i for i, v in enumerate(values) if not is_missing(v)]
    missing = [i for i, v in enumerate(values) if is_missing(v)]
    keys: dict[int, Any] = {}
    try:
        for i in present:
            value = values[i]
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError(value)
            keys[i] = float(value)
        if any(math.isnan(k) for k in keys.values()):
            raise ValueError("nan")  # text such as "nan" sorts as text
    except ValueError:
        keys = {i: str(values[i]).lower() for i in present}
    present.sort(key=keys.__getitem__, reverse=not ascending)  # stable both ways, as pandas
    return present + missing


def plain_cell(value: Any) -> Any:
    """A JSON-ready cell of a plain row (None for missing)."""
    if is_missing(value):
        return None
    return value if isinstance(value, (str, int, float, bool)) else str(value)


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
        import numpy as np

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
