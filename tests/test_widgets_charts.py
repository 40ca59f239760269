"""Chart functions return Altair charts whose data and encodings say what is drawn."""

from __future__ import annotations

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
    assert spec["encoding"]["color"]["scale"]["domain"] == ["run-0", "other runs"]
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
