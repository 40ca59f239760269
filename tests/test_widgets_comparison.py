"""compare(): the front end's actions (sort, filter, select, toggle) and what they show."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import threading

import pytest
import vl_convert as vlc

from jupyter_mltrack.errors import ExperimentNotFound, InvalidFilter, InvalidParameter
from jupyter_mltrack.widgets import compare, comparison
from jupyter_mltrack.widgets.comparison import FIRST_ROWS, MissingKeyWarning
from tests.widget_runs import fill_many, make_runs


def _rows(chart_spec: dict) -> list[dict]:
    return [row for rows in chart_spec["datasets"].values() for row in rows]


@pytest.fixture
def runs(client) -> list[str]:
    return make_runs(client, n=8)


@pytest.fixture
def widget(client, runs):
    w = compare("sweep", client=client, refresh_interval=None, page_size=5)
    yield w
    w.close()


def test_table_shows_params_metrics_tags_status_and_duration(widget) -> None:
    keys = [c["key"] for c in widget.table._columns]
    assert keys[:4] == ["run_name", "status", "duration", "start_time"]
    assert {"params.lr", "params.optimizer", "params.layers", "metrics.loss", "metrics.acc",
            "tags.team"} <= set(keys)
    assert not any(k.startswith("tags.mltrack.") for k in keys)  # provenance lives elsewhere
    assert widget.table._total == 8
    assert len(widget.table._rows) == 5  # one page
    row = dict(zip(keys, widget.table._rows[0], strict=False))
    assert row["status"] == "FINISHED"
    assert row["duration"] >= 0
    assert "8 runs" in widget.header_html


def test_sorting_by_a_metric_column(widget, client) -> None:
    widget.table._sort = {"key": "metrics.loss", "ascending": True}
    losses = widget.frame["metrics.loss"].tolist()
    assert losses == sorted(losses)
    best = client.search_runs_frame(None, None, order_by="metrics.loss ASC")[0]["run_id"][0]
    assert widget.table.visible_ids[0] == best
    # With nothing selected the charts follow the top of the table.
    assert widget.chart_run_ids[0] == best


def test_typing_a_filter_narrows_the_table(widget) -> None:
    widget.filter_box.value = "params.optimizer = 'adam' and params.lr < 0.05"
    assert set(widget.frame["params.optimizer"]) == {"adam"}
    assert set(widget.frame["params.lr"].astype(float)) <= {0.01, 0.001}
    assert widget.message_html == ""
    widget.filter = ""
    assert widget.table._total == 8


def test_a_bad_filter_shows_where_and_keeps_the_rows(widget) -> None:
    before = widget.frame["run_id"].tolist()
    widget.filter_box.value = "metrics.loss <"
    assert isinstance(widget.filter_error, InvalidFilter)
    assert "mlt-error" in widget.message_html
    assert "position 14" in widget.message_html
    assert widget.frame["run_id"].tolist() == before
    widget.filter_box.value = "metrics.loss < 10"
    assert widget.filter_error is None and widget.message_html == ""


def test_only_columns_that_differ(widget) -> None:
    widget.differ_switch.value = True
    keys = {c["key"] for c in widget.table._columns}
    assert "params.layers" not in keys and "tags.team" not in keys  # the same everywhere
    assert {"params.lr", "params.optimizer", "metrics.loss"} <= keys
    widget.only_differing = False
    assert "params.layers" in {c["key"] for c in widget.table._columns}


def test_selecting_rows_drives_every_chart(widget, runs) -> None:
    default = widget.chart_run_ids
    assert len(default) == 8  # the top of the table when nothing is selected
    widget.table._selected = [runs[2], runs[5]]
    assert widget.chart_run_ids == [runs[2], runs[5]]
    history = widget.chart_views["history"].spec  # what the browser receives
    assert {r["run"] for r in _rows(history)} == {"run-2", "run-5"}
    color = history["layer"][0]["encoding"]["color"]
    assert color["scale"]["domain"] == ["run-2", "run-5"]
    final = widget.charts["final"].to_dict()
    assert {r["run"] for r in _rows(final)} == {"run-2", "run-5"}
    scatter = widget.charts["scatter"].to_dict()
    picked = [r for r in _rows(scatter) if r["selected"]]
    assert {r["run"] for r in picked} == {"run-2", "run-5"}
    assert len(_rows(scatter)) == 8  # the other runs stay as grey context
    parallel = widget.charts["parallel"].to_dict()
    axes = parallel["layer"][1]["encoding"]["x"]["sort"]
    assert axes == ["lr", "optimizer", "loss"]  # the varying params, then the metric


def test_chart_switches(widget, runs) -> None:
    widget.table._selected = [runs[0]]
    widget.metric_picker.value = "acc"
    spec = widget.chart_views["history"].spec
    assert spec["layer"][0]["encoding"]["y"]["title"] == "acc"
    widget.log_switch.value = True
    widget.smoothing.value = 0.8
    spec = widget.chart_views["history"].spec
    lines = [layer for layer in spec["layer"] if layer["mark"]["type"] == "line"]
    assert len(lines) == 2 and lines[1]["encoding"]["y"]["field"] == "smoothed"
    assert lines[1]["encoding"]["y"]["scale"]["type"] == "log"
    widget.param_picker.value = "optimizer"
    assert widget.charts["scatter"].to_dict()["encoding"]["x"]["field"] == "param"
    assert widget.charts["scatter"].to_dict()["encoding"]["x"]["title"] == "optimizer"
    with pytest.raises(InvalidParameter, match="choose one of"):
        widget.metric = "nope"


def test_side_by_side_highlights_differences_and_diffs_sources(widget, runs) -> None:
    assert "Select 2 to 5 runs" in widget.side_by_side_html
    widget.table._selected = [runs[0], runs[1]]
    html = widget.side_by_side_html
    assert "run-0" in html and "run-1" in html
    assert html.count('class="mlt-diff"') >= 3  # lr, optimizer and the metrics differ
    assert "2 fields" not in html
    # The cell sources differ in lr and optimizer: a colored unified diff.
    assert '<span class="mlt-diff-line mlt-diff-del">-lr = 0.1</span>' in html
    assert '<span class="mlt-diff-line mlt-diff-add">+lr = 0.01</span>' in html
    widget.side_switch.value = True
    assert "<th>layers</th>" not in widget.side_by_side_html  # equal rows hidden
    widget.table._selected = runs[:6]
    assert "at most 5 runs" in widget.side_by_side_html


def test_names_and_values_are_escaped(client) -> None:
    exp = client.get_or_create_experiment("xss")
    ids = []
    for i in range(2):
        run = client.create_run(exp, run_name=f"<img src=x onerror=alert({i})>")
        client.log_params(run.info.run_id, {"note": "<script>alert(1)</script>"})
        client.set_terminated(run.info.run_id)
        ids.append(run.info.run_id)
    w = compare("xss", client=client, refresh_interval=None)
    w.selected_run_ids = ids
    assert "<img src=x" not in w.side_by_side_html and "&lt;img src=x" in w.side_by_side_html
    assert "<script>" not in w.side_by_side_html
    assert "<script>" not in w.display_outputs()[0]["text/html"]  # the static copy
    w.close()


def test_refresh_button_reads_new_runs(client, runs) -> None:
    w = compare("sweep", client=client, refresh_interval=None)
    assert not w.live  # nothing runs: no polling
    exp = client.get_experiment_by_name("sweep").experiment_id
    client.create_run(exp, run_name="late")
    w.refresh_button.click()
    assert "late" in w.frame["run_name"].tolist()
    assert w.table._total == 9
    w.close()


def test_missing_cell_sources_are_said_plainly(client) -> None:
    exp = client.get_or_create_experiment("plain")
    ids = []
    for i in range(2):
        run = client.create_run(exp, run_name=f"p{i}")
        client.log_params(run.info.run_id, {"k": i})
        client.set_terminated(run.info.run_id)
        ids.append(run.info.run_id)
    w = compare("plain", client=client, refresh_interval=None)
    w.selected_run_ids = ids
    assert "No cell source is recorded" in w.side_by_side_html
    assert "No metrics logged" in w.chart_notes_html
    w.close()


def test_restricting_runs_metrics_and_params(client, runs) -> None:
    w = compare(runs=runs[:3], metrics=["metrics.acc"], params="lr", client=client,
                refresh_interval=None)
    assert w.table._total == 3
    keys = [c["key"] for c in w.table._columns]
    assert "metrics.acc" in keys and "metrics.loss" not in keys
    assert "params.lr" in keys and "params.optimizer" not in keys
    assert w.metric == "acc"
    w.filter_box.value = "params.lr = 0.1"
    assert w.frame["run_id"].tolist() == [runs[0]]
    w.close()


def test_bad_arguments_raise_clear_errors(client, runs) -> None:
    with pytest.raises(ExperimentNotFound, match=r"'nope'; known experiments: .*'sweep'"):
        compare("nope", client=client)
    with pytest.raises(InvalidFilter, match="position"):
        compare("sweep", filter="params.lr >", client=client)
    with pytest.raises(InvalidParameter, match="runs= takes"):
        compare(runs=[42], client=client)
    with pytest.raises(InvalidParameter, match="refresh_interval"):
        compare("sweep", client=client, refresh_interval=0.01)


def test_static_copy_for_viewers(widget) -> None:
    copy, live = widget.display_outputs()
    assert "application/vnd.jupyter.widget-view+json" in live and "text/html" not in live
    html = copy["text/html"]
    assert "<table" in html and "run-0" in html
    assert html.count("<svg") >= 2 and "data:image" not in html


def test_ten_thousand_runs_with_many_columns(client) -> None:
    fill_many(client, "big", 10_000, n_params=30, n_metrics=20)
    w = compare("big", client=client, refresh_interval=None)
    assert w.wait_loaded(120)  # the runs after the first rows are read in the background
    assert w.table._total == 10_000
    assert len(w.table._rows) == 50
    assert len(w.table._columns) == 4 + 30 + 20
    w.table._sort = {"key": "metrics.m3", "ascending": False}
    assert w.table._rows[0][0] == "r9999"
    assert len(w.charts["scatter"].to_dict()["datasets"]) == 1  # under the row limit
    w.close()


def test_repeated_run_names_keep_every_bar_in_a_legend_color(client, runs) -> None:
    # Running the same cells again: names repeat across the table.
    exp = client.get_experiment_by_name("sweep").experiment_id
    again = []
    for name in ("run-1", "run-2"):
        run = client.create_run(exp, run_name=name)
        client.log_metric(run.info.run_id, "loss", 0.05)
        client.set_terminated(run.info.run_id)
        again.append(run.info.run_id)
    client.flush()
    w = compare("sweep", client=client, refresh_interval=None)
    # Of each repeated name only one run is charted: labels still say which one.
    w.table._selected = [runs[1], again[1], runs[3]]
    history = w.chart_views["history"].spec
    scale = history["layer"][0]["encoding"]["color"]["scale"]
    legend = dict(zip(scale["domain"], scale["range"], strict=True))
    assert set(legend) == {w._labels[r] for r in (runs[1], again[1], runs[3])}
    assert all(label.endswith(")") for label in list(legend)[:2])  # "run-1 (1a2b3c)"
    final = w.chart_views["final"].spec
    rows = _rows(final)
    assert {r["run"] for r in rows} == set(legend)
    svg = vlc.vegalite_to_svg(final)
    bars = re.findall(r'<g class="mark-rect role-mark[^"]*"[^>]*>(.*?)</g>', svg, re.S)
    fills = [f for bar in bars for f in re.findall(r'fill="([^"]+)"', bar)]
    assert sorted(fills) == sorted(legend.values())  # every bar drawn, in its legend color
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert set(legend) <= set(texts)  # axis labels whole, suffix included
    w.close()


def test_charts_fit_the_width_of_the_output_area(widget) -> None:
    for name, view in widget.chart_views.items():
        spec = view.spec
        if spec is None:
            continue
        assert spec["width"] == "container", name
        assert spec["autosize"]["type"] == "fit-x", name  # legends and axes inside it
        assert view.layout.width == "100%" or view.layout.flex, name
    # Static copies (no container) keep the width the chart functions draw at.
    svg = vlc.vegalite_to_svg(widget.charts["history"].to_dict())
    assert int(re.search(r'<svg[^>]* width="(\d+)"', svg).group(1)) >= 620


def test_a_metric_no_run_has_is_warned_with_the_closest_keys(client, runs) -> None:
    with pytest.warns(MissingKeyWarning) as caught:
        w = compare("sweep", metrics=["los", "acc"], params=["learning_rate"], client=client,
                    refresh_interval=None)
    messages = [str(c.message) for c in caught]
    assert len(messages) == 2
    assert "No run here has the metric 'los' (closest: 'loss')." in messages
    assert "param 'learning_rate'" in messages[1] and "'lr'" in messages[1]
    assert w.missing_keys == messages
    shown = html.unescape(w.chart_notes_html)
    assert all(m in shown for m in messages)  # said in the widget too
    assert w.metric == "acc"
    w.close()
    with pytest.warns(MissingKeyWarning, match="metric 'f1'.*metrics these runs have: 'acc'"):
        compare("sweep", metrics="f1", client=client, refresh_interval=None).close()


def test_charts_are_built_when_first_shown(client, runs, tmp_path) -> None:
    # compare() itself does not load Altair nor read histories: the table comes first.
    script = tmp_path / "fresh.py"
    script.write_text(
        "import sys\n"
        "from jupyter_mltrack import Client\n"
        "from jupyter_mltrack.widgets import compare\n"
        f"w = compare('sweep', client=Client({client.tracking_uri!r}), refresh_interval=None)\n"
        "assert 'altair' not in sys.modules, 'altair loaded by compare()'\n"
        "assert w.table._total == 8 and w.histories.reads == 0\n"
        "w._repr_mimebundle_()\n"
        "assert w.chart_views['history'].spec is not None\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
    # A front end drawing the Charts tab (inside another container) asks for them too.
    w = compare("sweep", client=client, refresh_interval=None)
    assert w._view_map is None
    w._probe._handle_custom_msg({"event": "shown"}, [])
    assert w._view_map is not None
    assert {r["run"] for r in _rows(w._view_map["history"].spec)} == {f"run-{i}" for i in range(8)}
    w.close()


def test_compare_resolves_experiments_by_the_clients_one_rule(client) -> None:
    """An experiment whose name is another one's id: compare() and the Client agree
    (digits that are an experiment id name that experiment)."""
    by_id = client.create_experiment("by-id")
    by_name = client.create_experiment(by_id)  # named like the first one's id
    client.create_run(by_id, run_name="in-by-id")
    client.create_run(by_name, run_name="in-by-name")
    assert client.resolve_experiment_id(by_id) == by_id
    widget = compare(by_id, client=client, refresh_interval=None)
    assert list(widget.frame["run_name"]) == ["in-by-id"]
    widget.close()


# -- many runs: the first rows at once, the rest read in the background -------------------


@pytest.fixture
def many(client) -> str:
    fill_many(client, "many", 600, n_params=3, n_metrics=2)  # run r{i}: m1 = i
    return "many"


@pytest.fixture
def loads_held():
    """Keeps background reads waiting (they take one lock, one read at a time) until the
    test calls the returned function."""
    comparison._loads.acquire()
    held = [True]

    def release() -> None:
        if held[0]:
            held[0] = False
            comparison._loads.release()

    yield release
    release()


def test_compare_shows_the_first_rows_at_once_and_reads_the_rest_in_the_background(
        client, many, loads_held) -> None:
    w = compare(many, client=client, refresh_interval=None)
    order = client.search_runs_frame(None, None)[0]["run_id"].tolist()
    # Returned with the first rows shown: the first page is the one all runs give.
    assert w.loading and w.table.more
    assert w.table._total == FIRST_ROWS
    assert w.table.visible_ids == order[:50]
    assert f"{FIRST_ROWS}+ runs" in w.header_html and "loading more runs" in w.header_html
    loads_held()
    assert w.wait_loaded(60)
    assert not w.loading and not w.table.more
    assert w.table._total == 600 and "600 runs" in w.header_html
    assert "loading" not in w.header_html
    assert w.frame["run_id"].tolist() == order
    w.close()


def test_frame_waits_for_every_run(client, many, loads_held) -> None:
    w = compare(many, client=client, refresh_interval=None)
    assert w.loading
    threading.Timer(0.3, loads_held).start()
    assert len(w.frame) == 600  # waited for the background read
    w.close()


def test_a_sort_clicked_while_loading_holds_for_every_run(client, many, loads_held) -> None:
    w = compare(many, client=client, refresh_interval=None)
    # The first rows are the newest runs (r599 down to r400): the smallest m1 is later.
    w.table._sort = {"key": "metrics.m1", "ascending": True}
    assert w.table._rows[0][0] == f"r{600 - FIRST_ROWS}"
    loads_held()
    assert w.wait_loaded(60)
    assert w.table.sort_by == ("metrics.m1", True)
    assert w.table._rows[0][0] == "r0"
    assert w.frame["metrics.m1"].tolist() == sorted(w.frame["metrics.m1"])
    w.close()


def test_a_filter_typed_while_loading_replaces_the_load(client, many, loads_held) -> None:
    w = compare(many, client=client, refresh_interval=None)
    w.filter = "metrics.m1 >= 250"  # 350 runs: first rows now, the rest read after
    assert w.table._total == FIRST_ROWS and w.loading
    loads_held()
    assert w.wait_loaded(60)
    frame = w.frame
    assert len(frame) == 350 and frame["metrics.m1"].min() == 250
    # The read of every run (started before the filter) never replaced the filtered table.
    assert w.table._total == 350 and "350 runs" in w.header_html
    w.close()


def test_a_small_search_loads_at_once(client, runs) -> None:
    w = compare("sweep", client=client, refresh_interval=None)
    assert not w.loading and w.table._total == 8 and not w.table.more
    w.close()
