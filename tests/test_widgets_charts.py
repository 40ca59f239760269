"""Chart functions return Altair charts whose data and encodings say what is drawn."""

from __future__ import annotations

import itertools
import re

import altair as alt
import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc

from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.widgets import charts
from tests.widget_runs import make_runs


def _values(spec: dict) -> list[dict]:
    """Rows of the chart's (single) inline dataset."""
    datasets = spec.get("datasets", {})
    assert len(datasets) >= 1
    return next(iter(datasets.values())) if len(datasets) == 1 else \
        [row for rows in datasets.values() for row in rows]


def _mark(layer: dict) -> str:
    return layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]


def _layer(spec: dict, mark: str) -> list[dict]:
    return [layer for layer in spec["layer"] if _mark(layer) == mark]


def _renders(chart) -> str:
    svg = vlc.vegalite_to_svg(chart.to_dict())
    assert svg.startswith("<svg")
    return svg


def test_history_from_the_store_has_a_line_per_run(client) -> None:
    ids = make_runs(client, n=3)
    runs = client.search_runs_frame()[0]
    chart = charts.metric_history(runs, "loss", client=client)
    spec = chart.to_dict()
    rows = _values(spec)
    assert {r["run"] for r in rows} == {"run-0", "run-1", "run-2"}
    assert len(rows) == 3 * 60
    line = _layer(spec, "line")[0]
    assert line["encoding"]["x"]["field"] == "step"
    assert line["encoding"]["y"]["field"] == "value"
    assert line["encoding"]["color"]["field"] == "run"
    # The same runs by id give the same chart data.
    by_id = charts.metric_history(ids, "loss", client=client).to_dict()
    assert sorted(map(str, _values(by_id))) == sorted(map(str, rows))
    assert "run-2" in _renders(chart)


def test_a_million_point_history_is_downsampled_inside_the_row_limit() -> None:
    steps = np.arange(1_000_000)
    values = np.exp(-steps / 2e5)
    values[424_242] = 5.0
    history = {"long": pd.DataFrame({"step": steps, "value": values})}
    chart = charts.metric_history(history, "loss")
    spec = chart.to_dict()  # Altair raises MaxRowsError above 5,000 rows
    rows = _values(spec)
    assert len(rows) <= 1500
    assert max(r["value"] for r in rows) == 5.0
    assert "1,000,000 points" in spec["title"]["subtitle"][0]


def test_log_scale_and_smoothing_switches() -> None:
    history = {"a": pd.DataFrame({"step": [0, 1, 2, 3], "value": [0.0, 4.0, 2.0, 1.0]})}
    spec = charts.metric_history(history, "loss", log_scale=True, smoothing=0.5).to_dict()
    lines = _layer(spec, "line")
    assert len(lines) == 2  # the raw trace under the smoothed line
    assert lines[0]["mark"]["opacity"] < 1
    assert lines[1]["encoding"]["y"]["field"] == "smoothed"
    assert lines[1]["encoding"]["y"]["scale"]["type"] == "log"
    rows = _values(spec)
    assert [r["step"] for r in rows] == [1, 2, 3]  # 0.0 cannot sit on a log axis
    assert "1 values ≤ 0 hidden" in " ".join(spec["title"]["subtitle"])
    plain = charts.metric_history(history, "loss").to_dict()
    assert len(_layer(plain, "line")) == 1
    assert "type" not in _layer(plain, "line")[0]["encoding"]["y"]["scale"]


def test_colors_follow_the_given_label_order() -> None:
    histories = {name: pd.DataFrame({"step": [0, 1], "value": [1.0, 0.5]}) for name in "abc"}
    spec = charts.metric_history(histories, "loss", labels=["c", "a", "b"]).to_dict()
    scale = _layer(spec, "line")[0]["encoding"]["color"]["scale"]
    assert scale["domain"] == ["c", "a", "b"]
    assert scale["range"][:2] == ["#4c78a8", "#f58518"]


def test_many_lines_share_the_row_budget() -> None:
    histories = {f"r{i}": pd.DataFrame({"step": np.arange(1000), "value": np.random.rand(1000)})
                 for i in range(300)}
    rows = _values(charts.metric_history(histories, "loss").to_dict())
    assert len(rows) <= charts.ROW_BUDGET
    assert len({r["run"] for r in rows}) == 300
    too_many = {f"r{i}": histories["r0"] for i in range(charts.MAX_LINES + 1)}
    with pytest.raises(InvalidParameter, match=r"at most 480 runs.*runs\.head"):
        charts.metric_history(too_many, "loss")


def test_no_history_gives_a_message_chart() -> None:
    spec = charts.metric_history({}, "loss").to_dict()
    assert "No history of 'loss'" in str(spec)


def test_final_values_are_the_last_logged(client) -> None:
    make_runs(client, n=4)
    runs = client.search_runs_frame()[0]
    spec = charts.final_values(runs, "loss").to_dict()
    rows = _values(spec)
    expected = dict(zip(runs["run_name"], runs["metrics.loss"], strict=False))
    assert {r["run"]: r["value"] for r in rows} == pytest.approx(expected)
    bars = _layer(spec, "bar")[0]
    ordered = sorted(expected, key=expected.get, reverse=True)
    assert bars["encoding"]["y"]["sort"] == ordered  # largest first
    _renders(charts.final_values(runs, "loss"))


def test_scatter_of_a_numeric_param_uses_a_log_axis_when_spread(client) -> None:
    ids = make_runs(client, n=6)
    runs = client.search_runs_frame()[0]
    chart = charts.param_scatter(runs, "lr", "acc", highlight=ids[:1], labels=["run-0"])
    spec = chart.to_dict()
    assert spec["encoding"]["x"]["type"] == "quantitative"
    assert spec["encoding"]["x"]["scale"]["type"] == "log"  # 0.001 .. 0.1
    rows = _values(spec)
    assert sorted(r["param"] for r in rows) == sorted([0.1, 0.01, 0.001] * 2)
    assert [r["selected"] for r in rows].count(True) == 1
    assert spec["encoding"]["color"]["scale"] is None  # colors travel with the rows
    colors = {r["run"]: r["color"] for r in rows}
    assert colors.pop("run-0") == "#4c78a8"
    assert set(colors.values()) == {charts.OTHER}
    text_param = charts.param_scatter(runs, "optimizer", "acc").to_dict()
    assert text_param["encoding"]["x"]["type"] == "nominal"
    _renders(chart)


def test_parallel_coordinates_scale_each_axis(client) -> None:
    make_runs(client, n=6)
    runs = client.search_runs_frame()[0]
    chart = charts.parallel_coordinates(runs, ["lr", "optimizer"], "loss")
    spec = chart.to_dict()
    lines = _layer(spec, "line")[0]
    assert lines["encoding"]["x"]["sort"] == ["lr", "optimizer", "loss"]
    assert lines["encoding"]["detail"]["field"] == "run"
    rows = [r for r in _values(spec) if "run" in r]
    assert len(rows) == 6 * 3
    assert all(0 <= r["pos"] <= 1 for r in rows)
    lr = {r["label"]: r["pos"] for r in rows if r["axis"] == "lr"}
    assert lr["0.001"] == 0 and lr["0.1"] == 1
    opt = {r["label"]: r["pos"] for r in rows if r["axis"] == "optimizer"}
    assert opt == {"adam": 0, "sgd": 1}
    _renders(chart)


def test_unknown_keys_name_the_known_ones(client) -> None:
    make_runs(client, n=2)
    runs = client.search_runs_frame()[0]
    with pytest.raises(InvalidParameter, match=r"No metric 'los'.*known metrics: acc, loss"):
        charts.final_values(runs, "los")
    with pytest.raises(InvalidParameter, match="No param 'rate'"):
        charts.param_scatter(runs, "rate", "loss")
    with pytest.raises(InvalidParameter, match="run_id column"):
        charts.final_values(pd.DataFrame({"x": [1]}), "loss")
    with pytest.raises(InvalidParameter, match="at least one param"):
        charts.parallel_coordinates(runs, [], "loss")


def test_metric_panels_draw_one_small_chart_per_metric() -> None:
    histories = {k: pd.DataFrame({"step": np.arange(5000), "value": np.random.rand(5000)})
                 for k in ("loss", "acc", "lr")}
    spec = charts.metric_panels(histories).to_dict()
    assert spec["facet"]["field"] == "metric"
    rows = _values(spec)
    assert {r["metric"] for r in rows} == {"loss", "acc", "lr"}
    assert len(rows) <= 3 * 300


# -- rendered checks: what Vega draws, read back from the SVG ---------------------------


def _svg_marks(svg: str, role: str) -> list[str]:
    """The elements of every mark group of one kind (``mark-rect``, ``mark-symbol``...)."""
    groups = re.findall(rf'<g class="{role} role-mark[^"]*"[^>]*>(.*?)</g>', svg, re.S)
    return [el for group in groups for el in re.findall(r"<path[^>]*>", group)]


def _fills(elements: list[str]) -> list[str]:
    return [m.group(1).lower() for el in elements if (m := re.search(r'fill="([^"]+)"', el))]


def _axis_labels(svg: str) -> list[tuple[float, float, str]]:
    """Boxes (left, right, text) of the x axis labels Vega shows, left to right.

    Labels hidden by overlap removal are drawn with opacity 0; a 10 px label is about
    6 px a character wide.
    """
    pattern = (r'<text text-anchor="(\w+)" transform="translate\(([-\d.]+),([-\d.]+)\)"'
               r'[^>]*opacity="([\d.]+)"[^>]*>([^<]*)</text>')
    for group in re.findall(r'<g class="mark-text role-axis-label"[^>]*>(.*?)</g>', svg, re.S):
        items = re.findall(pattern, group)
        if len({y for _, _, y, _, _ in items}) != 1:
            continue  # a vertical axis
        boxes = []
        for anchor, x, _, opacity, text in items:
            if not text or float(opacity) == 0:
                continue
            width, left = 6 * len(text), float(x)
            left -= {"start": 0, "middle": width / 2, "end": width}[anchor]
            boxes.append((left, left + width, text))
        return sorted(boxes)
    raise AssertionError("no x axis labels")


def test_one_value_per_run_draws_a_dot_per_run() -> None:
    # %%track runs: every metric has one value, at step 0. Lines of one point draw nothing.
    histories = {f"cell-{i}": pd.DataFrame({"step": [0], "value": [0.9 + i / 100]})
                 for i in range(3)}
    chart = charts.metric_history(histories, "accuracy", labels=["cell-2", "cell-0", "cell-1"])
    spec = chart.to_dict()
    assert "layer" not in spec and _mark(spec) == "circle"
    assert spec["encoding"]["x"]["field"] == "run"
    assert spec["encoding"]["y"]["field"] == "value"
    svg = _renders(chart)
    dots = _svg_marks(svg, "mark-symbol")
    assert len(dots) >= 3  # three dots (and the legend's symbols)
    # Each dot in its run's color, in the order given.
    assert {"#4c78a8", "#f58518", "#e45756"} <= set(_fills(dots))
    # A run with one value among runs with histories shows as a point, not nothing.
    mixed = {"long": pd.DataFrame({"step": [0, 1, 2], "value": [1.0, 0.5, 0.2]}),
             "short": pd.DataFrame({"step": [0], "value": [0.7]})}
    spec = charts.metric_history(mixed, "loss").to_dict()
    rows = _values(spec)
    assert {r["run"]: r["single"] for r in rows} == {"long": False, "short": True}
    points = _layer(spec, "circle")[0]
    assert points["encoding"]["opacity"]["condition"]["test"] == "datum.single"
    assert points["encoding"]["opacity"]["condition"]["value"] == 1


def test_step_axis_has_whole_steps_only() -> None:
    history = {"a": pd.DataFrame({"step": range(5), "value": [5.0, 4, 3, 2, 1]})}
    labels = [text for _, _, text in _axis_labels(_renders(charts.metric_history(history, "x")))]
    steps = [t for t in labels if t.isdigit()]
    assert steps == sorted(set(steps), key=int)  # no "0 0 0 1 1 1" from fractional ticks


def _notebook_runs(n: int = 12) -> pd.DataFrame:
    """Like the softmax sweep of notebooks/compare.ipynb, best first."""
    lrs = [0.001, 0.01, 0.1]
    return pd.DataFrame({
        "run_id": [f"{i:032x}" for i in range(n)],
        "run_name": [f"softmax-lr{lrs[i % 3]}-l2{['0.0001', '0.01'][i % 2]}-m{i}"
                     for i in range(n)],
        "params.lr": [str(lrs[i % 3]) for i in range(n)],
        "params.l2": [["0.0001", "0.01"][i % 2] for i in range(n)],
        "params.momentum": [["0.0", "0.9"][(i // 2) % 2] for i in range(n)],
        "metrics.val_accuracy": np.linspace(0.97, 0.85, n),
    })


def test_charts_composed_keep_their_colors(capfd) -> None:
    # The "charts as functions" cell of notebooks/compare.ipynb.
    runs = _notebook_runs()
    histories = {label: pd.DataFrame({"step": range(5), "value": np.linspace(0.5, 0.9, 5)})
                 for label in charts.run_labels(runs.head(4)).values()}
    history = charts.metric_history(histories, "val_accuracy", smoothing=0.3)
    scatter = charts.param_scatter(runs, "lr", "val_accuracy")
    bars = charts.final_values(runs.head(8), "val_accuracy")
    parallel = charts.parallel_coordinates(runs, ["lr", "l2", "momentum"], "val_accuracy")
    composed = alt.vconcat(history, alt.hconcat(scatter, bars), parallel).resolve_scale(
        color="independent").to_dict()
    capfd.readouterr()
    vlc.vegalite_to_vega(composed, show_warnings=True)
    assert "Conflicting scale" not in "".join(capfd.readouterr())
    svg = vlc.vegalite_to_svg(composed)
    run_colors = [charts.color_for(i) for i in range(8)]
    # Each bar in the color of its run (best run first, as in the history legend).
    assert sorted(_fills(_svg_marks(svg, "mark-rect"))) == sorted(run_colors)
    # The scatter colors the same eight runs (and the two after them) alike, the rest grey.
    points = _fills(_svg_marks(svg, "mark-symbol"))
    assert set(run_colors) <= set(points)
    assert points.count(charts.OTHER) == 2


def test_log_axis_labels_do_not_touch() -> None:
    runs = pd.DataFrame({"run_id": [f"{i:032x}" for i in range(9)],
                         "run_name": [f"r{i}" for i in range(9)],
                         "params.lr": ["0.001", "0.002", "0.003", "0.005", "0.01", "0.02",
                                       "0.03", "0.05", "0.1"],
                         "metrics.acc": np.linspace(0.5, 0.9, 9)})
    for width in (160, 300):
        chart = charts.param_scatter(runs, "lr", "acc", width=width)
        labels = _axis_labels(_renders(chart))
        assert len(labels) >= 2
        for (_, right, a), (left, _, b) in itertools.pairwise(labels):
            assert left - right >= 2, (a, b, labels)
    steep = {"a": pd.DataFrame({"step": range(3), "value": [1, 0.01, 1e-4]})}
    spec = charts.metric_history(steep, "loss", log_scale=True).to_dict()
    axis = _layer(spec, "line")[0]["encoding"]["y"]["axis"]
    assert axis["labelOverlap"] == "greedy" and axis["labelSeparation"] > 0


def test_parallel_coordinates_start_at_the_left_edge(client) -> None:
    make_runs(client, n=6)
    runs = client.search_runs_frame()[0]
    vega = vlc.vegalite_to_vega(charts.parallel_coordinates(runs, ["lr", "optimizer"],
                                                            "loss").to_dict())
    x = next(s for s in vega["scales"] if s["name"] == "x")
    assert x["type"] == "point"  # axes at points, not in the middle of bands
    assert x["align"] == 0  # the spare room goes after the last axis, for its labels
    svg = _renders(charts.parallel_coordinates(runs, ["lr", "optimizer"], "loss"))
    rules = re.findall(r'<g class="mark-rule role-mark[^"]*"[^>]*>(.*?)</g>', svg, re.S)[0]
    xs = sorted(float(m) for m in re.findall(r'transform="translate\(([-\d.]+),', rules))
    assert xs[0] == 0


def test_repeated_and_long_names_stay_unique_and_colored() -> None:
    name = "softmax-lr0.001-l20.0001-momentum0.9-batch32"
    runs = pd.DataFrame({"run_id": ["a" * 32, "b" * 32, "c" * 32],
                         "run_name": [name, name, "short"],
                         "metrics.loss": [0.3, 0.2, 0.1]})
    labels = charts.run_labels(runs)
    assert len(set(labels.values())) == 3
    assert labels["a" * 32].endswith("(aaaaaa)") and labels["b" * 32].endswith("(bbbbbb)")
    assert all(len(v) <= 40 for v in labels.values())
    svg = _renders(charts.final_values(runs, "loss"))
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert labels["a" * 32] in texts and labels["b" * 32] in texts  # not cut to "softmax-lr…"
    # A widget labels runs over all its rows: "short" repeats there, not in this subset.
    names = {**labels, "c" * 32: "short (cccccc)"}
    chart = charts.final_values(runs, "loss", names=names, labels=list(names.values()))
    bars = _svg_marks(_renders(chart), "mark-rect")
    assert sorted(_fills(bars)) == sorted(charts.color_for(i) for i in range(3))

