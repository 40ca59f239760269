"""Shared widget parts: static copies before the live view, inline SVG charts, the
stylesheet sent once, the chart library kept out of widget state."""

from __future__ import annotations

import json
import re

import altair as alt
import pandas as pd
import vl_convert as vlc

from jupyter_mltrack.widgets import static, style, vega, views
from jupyter_mltrack.widgets.charts import metric_history

VIEW = "application/vnd.jupyter.widget-view+json"


def _chart() -> alt.TopLevelMixin:
    history = pd.DataFrame({"step": range(50), "value": [1 / (s + 1) for s in range(50)]})
    return metric_history({"a": history, "b": history * 0.5}, "loss")


def test_a_chart_widget_displays_after_its_static_svg_copy() -> None:
    view = vega.chart_view(_chart())
    copy, live = view.display_outputs()
    assert list(copy) == ["text/html"] and "<svg" in copy["text/html"]
    assert f"mlt-static-{view.model_id}" in copy["text/html"]
    assert VIEW in live and "text/html" not in live
    assert view._static_for == view.model_id  # the chart hides its own copy when live
    # Neither the chart's state nor its module carries the Vega library.
    state = json.dumps(view.get_state(), default=str)
    assert len(state) < 30_000  # the bundle alone is 900 KB
    assert len(view._esm) < 5_000
    view.close()


def _clipped() -> alt.Chart:
    data = pd.DataFrame({"x": range(10), "y": range(10)})
    return alt.Chart(data).mark_line(clip=True).encode(
        x=alt.X("x", scale=alt.Scale(domain=[0, 5])), y="y")


def test_inline_svgs_do_not_share_ids_and_drop_invisible_hover_layers() -> None:
    # Two charts with a clip path each: inline in one page, each keeps its own.
    first, second = static.chart_svg(_clipped()), static.chart_svg(_clipped())
    ids = [set(re.findall(r'\bid="([^"]+)"', svg)) for svg in (first, second)]
    assert ids[0] and not ids[0] & ids[1]
    for svg in (first, second):
        for ref in re.findall(r"url\(#([^)]+)\)", svg):
            assert f'id="{ref}"' in svg
    points = pd.DataFrame({"x": [1, 2], "y": [3, 4]})
    line = alt.Chart(points).mark_line().encode(x="x", y="y")
    hover = alt.Chart(points).mark_circle().encode(x="x", y="y", opacity=alt.value(0))
    spec = alt.layer(line, hover).to_dict()
    assert len(static._visible_layers(spec)["layer"]) == 1  # the hover target is gone
    # a layer that shows some points (one-value runs) stays
    shown = alt.Chart(points).mark_circle().encode(
        x="x", y="y", opacity=alt.condition("datum.x > 1", alt.value(1.0), alt.value(0.0)))
    assert len(static._visible_layers(alt.layer(line, shown).to_dict())["layer"]) == 2
    assert "<?xml" not in first


def test_the_stylesheet_travels_once_not_with_every_view() -> None:
    fragments = [views.Html("a"), views.Html("b")]
    assert all(not view.has_trait("_css") or not view._css for view in fragments)
    sheet = views.stylesheet()
    assert sheet._css == style.CSS and views.stylesheet() is sheet
    for view in fragments:
        view.close()


def test_static_pages_carry_only_the_rules_they_use() -> None:
    body = style.status_badge("Archived") + style.table(["a"], [[1]])
    css = style.used_css(body)
    assert ".mlt-badge-Archived" in css and ".mlt-grid-table" not in css
    assert len(style.page(body)) < len(style.CSS) / 2


def test_static_svg_keeps_what_shows_and_drops_what_only_the_live_chart_uses() -> None:
    # Three runs of 40 steps, one of them a single value drawn as a dot: the dots layer
    # holds a transparent point for every step of the other runs (hover targets).
    steps = pd.DataFrame({"step": range(40), "value": [1 / (s + 1) for s in range(40)]})
    one = pd.DataFrame({"step": [0], "value": [0.5]})
    chart = metric_history({"alpha-run": steps, "bravo-run": steps.assign(value=steps["value"] / 2),
                            "solo": one}, "loss")
    full = vlc.vegalite_to_svg(chart.to_dict(validate=False))
    svg = static.chart_svg(chart)
    assert re.search(r'\sopacity="0"', full) and not re.search(r'\sopacity="0"', svg)
    assert full.count("aria-label=") > 40 and svg.count("aria-label=") <= 1
    assert ' class="' not in svg.split(">", 2)[2] and "pointer-events" not in svg
    # What a reader sees stays: a line per run, the dot, the legend, the axis titles.
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert {"alpha-run", "bravo-run", "solo", "step", "loss"} <= set(texts)
    assert svg.count("<path") >= 3 + 1
    assert len(svg) < len(full) / 2
