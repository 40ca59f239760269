"""compare() in a fresh kernel: the first page read as plain rows (no SQLAlchemy, no
pandas), then the frame from the background read, showing the same thing."""

from __future__ import annotations

import json
import math
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from jupyter_mltrack import Client
from jupyter_mltrack.errors import ExperimentNotFound
from jupyter_mltrack.store import close_stores
from jupyter_mltrack.store.sqlite_peek import peek_runs
from jupyter_mltrack.tracking.staleness import stale_flags, stale_row_flags
from jupyter_mltrack.widgets import compare
from jupyter_mltrack.widgets.comparison import (
    FIRST_ROWS,
    frame_of_rows,
    rows_with_duration,
    with_duration,
)
from jupyter_mltrack.widgets.table import Column, Grid, sort_positions, sort_rows
from tests.widget_runs import fill_many, make_runs

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys
from jupyter_mltrack import Client
from jupyter_mltrack.widgets import compare

def state(w):
    return {"ids": w.table.visible_ids, "rows": w.table._rows, "total": w.table._total,
            "columns": [c["key"] for c in w.table._columns], "header": w.header_html,
            "metric": w.metric, "param": w.param_picker.value}

w = compare(sys.argv[2] or None, client=Client(sys.argv[1]), refresh_interval=None)
first = state(w)
first["modules"] = sorted(m for m in ("pandas", "numpy", "sqlalchemy") if m in sys.modules)
first["loading_or_done"] = True
w.wait_loaded()
after = state(w)
after["frame_rows"] = len(w.frame)
print(json.dumps({"first": first, "after": after}))
"""


def _fresh_compare(uri: str, experiment: str = "sweep") -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, uri, experiment], capture_output=True,
                         text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_first_widget_of_a_fresh_kernel_loads_neither_sqlalchemy_nor_pandas(client) -> None:
    make_runs(client, n=12)
    fill_many(client, "sweep", n_runs=FIRST_ROWS + 30, n_params=4, n_metrics=3)
    total = 12 + FIRST_ROWS + 30
    seen = _fresh_compare(client.tracking_uri)
    first, after = seen["first"], seen["after"]
    assert first["modules"] == []  # the page came without them
    assert f"{FIRST_ROWS}+ runs" in first["header"] and "loading more runs" in first["header"]
    assert after["total"] == after["frame_rows"] == total
    assert f"{total} runs" in after["header"] and "loading" not in after["header"]
    # The plain first page shows exactly what the frame shows for the same runs.
    expected = client.search_runs_frame(None, None, max_results=FIRST_ROWS)[0]
    assert first["ids"] == after["ids"] == expected["run_id"].tolist()
    assert first["columns"] == after["columns"]
    assert first["rows"] == after["rows"]
    assert (first["metric"], first["param"]) == (after["metric"], after["param"])


def test_all_experiments_in_a_fresh_kernel_show_as_the_frame_does(client) -> None:
    make_runs(client, n=4)
    make_runs(client, experiment="other", n=3, seed=1)
    seen = _fresh_compare(client.tracking_uri, "")
    first, after = seen["first"], seen["after"]
    assert first["modules"] == []
    assert "experiment" in first["columns"]  # runs of two experiments: the column shows
    assert "all experiments" in first["header"]
    assert (first["ids"], first["columns"], first["rows"]) == \
        (after["ids"], after["columns"], after["rows"])
    assert after["total"] == 7


def test_plain_rows_make_the_frame_the_store_reads(client) -> None:
    make_runs(client, n=5)
    exp = client.get_or_create_experiment("sweep")
    odd = client.create_run(exp, run_name="odd", start_time=1_800_000_000_000)
    client.log_metric(odd.info.run_id, "loss", float("nan"))
    client.set_tag(odd.info.run_id, "only.here", "x")
    client.flush()
    close_stores()  # as in a fresh kernel: the store is not open yet
    fresh = Client(client.tracking_uri)
    peek = fresh.peek_runs(["sweep"], 100)
    assert peek is not None and peek.experiment_ids == [str(exp)] and not peek.more
    now = 1_900_000_000_000
    plain = frame_of_rows(rows_with_duration(peek.rows, now))
    read = with_duration(fresh.search_runs_frame([exp])[0], now)
    pd.testing.assert_frame_equal(plain, read)
    assert math.isnan(plain.loc[plain["run_name"] == "odd", "metrics.loss"].iloc[0])
    # Once this process has the store open, the store is the way.
    assert fresh.peek_runs(["sweep"], 100) is None
    assert Client(client.tracking_uri).peek_runs(["sweep"], 100) is None


def test_the_plain_read_gives_way_when_it_cannot_read_plainly(client, tmp_path) -> None:
    make_runs(client, n=3)
    exp = client.get_or_create_experiment("sweep")
    gone = client.get_or_create_experiment("gone")
    client.delete_experiment(gone)
    uri = client.tracking_uri
    close_stores()
    assert peek_runs(uri, ["sweep"], 10) is not None
    assert peek_runs(uri, [exp], 10) is not None  # by id too
    assert peek_runs(uri, ["nope"], 10) is None
    assert peek_runs(uri, ["gone"], 10) is None
    assert peek_runs(uri + "?mode=ro", ["sweep"], 10) is None
    assert peek_runs("postgresql://u@h/db", ["sweep"], 10) is None
    missing = tmp_path / "elsewhere" / "mltrack.db"
    assert peek_runs(f"sqlite:///{missing}", [], 10) is None
    assert not missing.parent.exists()  # nothing created
    db = uri[len("sqlite:///"):]
    with sqlite3.connect(db) as con:
        con.execute("UPDATE alembic_version SET version_num = '0002'")
    try:
        assert peek_runs(uri, ["sweep"], 10) is None  # another revision: the store decides
    finally:
        with sqlite3.connect(db) as con:
            con.execute("UPDATE alembic_version SET version_num = '0003'")
    # An experiment the plain read does not find still gets the store's clear error.
    close_stores()
    with pytest.raises(ExperimentNotFound, match="known experiments"):
        compare("nope", client=Client(uri), refresh_interval=None)


def test_sorting_and_selecting_before_the_rest_arrives_hold_after(client) -> None:
    make_runs(client, n=8)
    fill_many(client, "sweep", n_runs=FIRST_ROWS + 10, n_params=2, n_metrics=2)
    close_stores()
    w = compare("sweep", client=Client(client.tracking_uri), refresh_interval=None)
    try:
        top = w.table.visible_ids[:2]
        w.selected_run_ids = top
        w.table._sort = {"key": "metrics.loss", "ascending": True}
        assert w.wait_loaded(120)
        assert w.selected_run_ids == top
        assert w.table.sort_by == ("metrics.loss", True)
        losses = w.frame["metrics.loss"].tolist()
        present = [x for x in losses if not math.isnan(x)]
        assert present == sorted(present) and losses[:len(present)] == present
        assert len(w.frame) == FIRST_ROWS + 18
    finally:
        w.close()


@pytest.mark.parametrize("values", [
    ["10", "9", None, "100", "2.5"],  # text that reads as numbers sorts as numbers
    ["b", "A", None, "a", "c", "B"],  # other text without case
    [3.0, float("nan"), 1.0, 2.0, None, 1.0],  # missing last, ties in order
    ["1", "x", "2", None],
])
def test_plain_rows_sort_as_frames_do(values) -> None:
    for ascending in (True, False):
        assert sort_rows(values, ascending) == \
            sort_positions(pd.Series(values), ascending).tolist()


def test_grid_shows_plain_rows_and_then_a_frame() -> None:
    rows = [{"id": f"r{i}", "n": float(10 - i), "t": f"v{i % 3}"} for i in range(7)]
    columns = [Column("n", "N", "number"), Column("t", "T")]
    grid = Grid(id_column="id", page_size=3)
    grid.set_rows(rows, columns, more=True)
    assert grid._total == 7 and grid.more and grid.page_count == 3
    assert grid.visible_ids == ["r0", "r1", "r2"] and grid._rows[0] == [10.0, "v0"]
    grid.sort("n")
    assert grid.visible_ids == ["r6", "r5", "r4"] and grid.head_ids(2) == ["r6", "r5"]
    grid.page = 2
    assert grid.visible_ids == ["r0"]
    grid.selected = ["r1", "r3"]
    assert list(grid.frame["id"]) == [f"r{i}" for i in range(6, -1, -1)]
    frame = pd.DataFrame(rows[:5])
    grid.set_frame(frame, columns)  # the frame takes over: sort, selection, page stay
    assert grid.sort_by == ("n", True) and grid.selected == ["r1", "r3"]
    assert grid.page == 1 and grid.visible_ids == ["r1", "r0"]
    assert grid._total == 5 and not grid.more
    with pytest.raises(Exception, match="no id column"):
        grid.set_rows([{"n": 1.0}])


def test_stale_runs_are_marked_in_plain_rows_as_in_frames(tmp_path) -> None:
    gone = str(tmp_path / "deleted.ipynb")
    here = socket.gethostname()
    rows = [
        {"run_id": "a", "tags.mltrack.notebook.cell_hash": "h1",
         "tags.mltrack.notebook.path": gone, "tags.mltrack.notebook.cell_source": "%%track\nx",
         "tags.mltrack.host": here, "start_time": 0, "end_time": 1},
        {"run_id": "b", "start_time": 0, "end_time": 1},
    ]
    assert stale_row_flags(rows) == stale_flags(frame_of_rows(rows)) == [True, False]
