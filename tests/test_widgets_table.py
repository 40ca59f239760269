"""The table widget, driven through the traits the browser sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.widgets.table import Column, Grid


@pytest.fixture
def grid() -> Grid:
    frame = pd.DataFrame({
        "id": [f"r{i}" for i in range(120)],
        "name": [f"run-{i}" for i in range(120)],
        "lr": [str(v) for v in np.tile([0.1, 0.01, 0.001, 1e-4], 30)],  # params are text
        "loss": [np.nan if i % 10 == 0 else 1 / (i + 1) for i in range(120)],
        "when": pd.to_datetime(np.arange(120) * 1000 + 1_700_000_000_000, unit="ms", utc=True),
    })
    columns = [Column("name", "Run", "name"), Column("lr", "lr", "text", "Params"),
               Column("loss", "loss", "number", "Metrics"), Column("when", "Started", "time")]
    return Grid(frame, columns, id_column="id", page_size=25)


def test_first_page_and_wire_format(grid: Grid) -> None:
    assert grid._total == 120
    assert len(grid._rows) == 25
    assert grid._row_ids[:2] == ["r0", "r1"]
    name, lr, loss, when = grid._rows[1]
    assert (name, lr, loss, when) == ("run-1", "0.01", 0.5, 1_700_000_001_000)
    assert grid._rows[0][2] is None  # NaN travels as null
    assert grid._columns[1] == {"key": "lr", "label": "lr", "kind": "text", "group": "Params"}


def test_header_click_sorts_all_rows_missing_last(grid: Grid) -> None:
    grid._sort = {"key": "loss", "ascending": True}
    losses = grid.frame["loss"].tolist()
    assert losses[:3] == sorted(losses[:3])
    assert all(np.isnan(v) for v in losses[-12:])
    assert grid._page == 0
    assert grid.visible_ids[0] == "r119"
    grid._sort = {"key": "loss", "ascending": False}
    assert grid.visible_ids[0] == "r1"
    assert np.isnan(grid.frame["loss"].iloc[-1])  # still last when descending


def test_text_that_reads_as_numbers_sorts_as_numbers(grid: Grid) -> None:
    grid.sort("lr", ascending=True)
    assert grid.frame["lr"].iloc[0] == "0.0001"
    assert grid.frame["lr"].iloc[-1] == "0.1"
    assert grid.sort_by == ("lr", True)


def test_pager_clamps_and_sends_the_right_rows(grid: Grid) -> None:
    grid._page = 4
    assert grid._row_ids == [f"r{i}" for i in range(100, 120)]
    grid._page = 99
    assert grid._page == 4
    grid._page = -3
    assert grid._page == 0
    assert grid.page_count == 5


def test_selection_survives_sorting_and_new_frames(grid: Grid) -> None:
    grid._selected = ["r3", "r7"]
    grid._sort = {"key": "name", "ascending": False}
    assert grid.selected == ["r3", "r7"]
    grid.set_frame(grid.frame[grid.frame["id"] != "r7"])
    assert grid.selected == ["r3"]
    assert grid.sort_by == ("name", False)


def test_single_selection_and_selection_limits() -> None:
    frame = pd.DataFrame({"id": list("abcd"), "x": [1, 2, 3, 4]})
    single = Grid(frame, [Column("x", "x", "number")], id_column="id", selection="single")
    single._selected = ["a", "b"]
    assert single.selected == ["b"]
    capped = Grid(frame, [Column("x", "x", "number")], id_column="id", max_selected=2)
    capped._selected = ["a", "b", "c"]
    assert capped.selected == ["b", "c"]


def test_bad_input_is_refused_with_a_reason(grid: Grid) -> None:
    with pytest.raises(InvalidParameter, match="no such column"):
        grid._sort = {"key": "nope", "ascending": True}
    with pytest.raises(InvalidParameter, match="kind"):
        Column("x", "x", "sparkles")
    with pytest.raises(InvalidParameter, match="id column"):
        grid.set_frame(pd.DataFrame({"x": [1]}))
    with pytest.raises(InvalidParameter, match="selection"):
        Grid(selection="many")


def test_ten_thousand_rows_by_three_hundred_columns_send_one_page() -> None:
    n, k = 10_000, 300
    data = {"id": [f"r{i}" for i in range(n)]}
    data.update({f"m{j}": np.random.rand(n) for j in range(k)})
    frame = pd.DataFrame(data)
    columns = [Column(f"m{j}", f"m{j}", "number", "Metrics") for j in range(k)]
    grid = Grid(frame, columns, id_column="id", page_size=50)
    assert len(grid._rows) == 50 and len(grid._rows[0]) == k
    grid._sort = {"key": "m7", "ascending": False}
    assert grid._rows[0][7] == pytest.approx(frame["m7"].max())
    grid._page = grid.page_count - 1
    assert len(grid._rows) == 50


def test_rows_still_being_read_are_announced_until_they_arrive(grid: Grid) -> None:
    frame = grid.frame
    grid.set_frame(frame.head(3), more=True)  # the first rows of a longer read
    assert grid.more and grid._more and grid._total == 3
    grid.set_frame(frame)
    assert not grid.more and not grid._more and grid._total == len(frame)
