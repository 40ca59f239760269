"""Run charts as plain functions returning ``alt.Chart``: restyle, compose or save them.

::

    from jupyter_mltrack.widgets import charts

    runs = mltrack.search_runs(filter_string="params.model = 'mlp'")
    charts.metric_history(runs, "loss", smoothing=0.6, log_scale=True)
    charts.param_scatter(runs, "lr", "val_accuracy")
    charts.parallel_coordinates(runs, ["lr", "batch_size"], "val_accuracy")
    charts.final_values(runs, "val_accuracy").save("final.svg")

``runs`` is whatever names runs: the DataFrame of ``search_runs``, a list of ``Run``
objects or run ids, one run, or (for ``metric_history``) a mapping of label to a
history DataFrame with ``step`` and ``value`` columns. Long histories are
downsampled (LTTB by default) so that every chart stays under Altair's 5,000-row
limit and draws quickly, whatever the length of the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import altair as alt
import numpy as np
import pandas as pd

from ..errors import InvalidParameter
from ..tracking import fluent
from .downsample import downsample_indices, smooth
from .runs import frame_of_ids, run_labels, runs_frame
from .style import color_for

if TYPE_CHECKING:
    from ..tracking.client import Client

__all__ = [
    "color_scale",
    "final_values",
    "frame_of_ids",
    "history_data",
    "metric_history",
    "metric_panels",
    "parallel_coordinates",
    "param_scatter",
    "run_labels",
    "runs_frame",
    "widget",
]

#: Rows a chart may hold: below Altair's 5,000-row guard, with room for annotations.
ROW_BUDGET = 4800
#: Runs drawn as context: a cool grey, apart from the tenth run color (a warm grey).
OTHER = "#9aa3ad"
#: Lines one history chart draws (each keeps at least 10 points inside the row budget).
MAX_LINES = ROW_BUDGET // 10
#: Step ticks: 950, 10k, 1.5M (short, and "0" rather than "0k").
_STEP_LABEL = "abs(datum.value) >= 10000 ? format(datum.value, '~s') : format(datum.value, ',~d')"


def widget(chart: alt.TopLevelMixin) -> Any:
    """Any Altair chart as a notebook widget that draws offline (Vega comes from
    vl-convert, not from a CDN). ``chart.save("x.svg")`` also works offline."""
    from .vega import chart_view

    return chart_view(chart)


# -- naming and coloring runs --------------------------------------------------------------


def color_scale(labels: Sequence[str]) -> alt.Scale:
    """The run colors used by every chart, in the order of ``labels``."""
    return alt.Scale(domain=list(labels), range=[color_for(i) for i in range(len(labels))])


def _names(frame: pd.DataFrame, names: Mapping[str, str] | None) -> dict[str, str]:
    """Label per run id: the caller's (a widget labels runs over all its rows) or our own."""
    own = run_labels(frame)
    if names is None:
        return own
    return {r: names.get(r, own[r]) for r in own}


def _run_colors(order: Sequence[str], present: Sequence[str]) -> dict[str, str]:
    """Color per label: its position in ``order`` (the selection), else after those."""
    position = {lab: i for i, lab in enumerate(order)}
    extra = [lab for lab in dict.fromkeys(present) if lab not in position]
    position.update({lab: len(order) + i for i, lab in enumerate(extra)})
    return {lab: color_for(position[lab]) for lab in present}


def _message_chart(text: str, width: int | str, height: int) -> alt.Chart:
    return alt.Chart(pd.DataFrame({"text": [text]})).mark_text(
        color="#656d76", fontSize=13
    ).encode(text="text:N").properties(width=width, height=height)


# -- metric history ------------------------------------------------------------------------


def history_data(histories: Mapping[str, pd.DataFrame], *, smoothing: float = 0.0,
                 log_scale: bool = False, max_points: int = 1500, method: str = "lttb"
                 ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Chart rows (run, step, value[, smoothed]) of histories, and notes on what was done.

    Smoothing runs over the full history, then each line is downsampled to at most
    ``max_points`` (fewer when many lines share the row budget).
    """
    if not 0 <= smoothing < 1:
        raise InvalidParameter(f"smoothing is from 0 to below 1, not {smoothing!r}.")
    lines = {label: h for label, h in histories.items() if h is not None and len(h)}
    if len(lines) > MAX_LINES:
        raise InvalidParameter(
            f"A history chart draws at most {MAX_LINES} runs; {len(lines)} were given. "
            "Pass fewer runs, e.g. runs.head(20)."
        )
    per_line = max(10, min(int(max_points), ROW_BUDGET // max(1, len(lines))))
    parts = []
    notes: dict[str, Any] = {"points": 0, "shown": 0, "dropped_nonpositive": 0,
                             "per_line": per_line, "method": method}
    for label, frame in lines.items():
        steps = frame["step"].to_numpy(dtype="float64")
        values = frame["value"].to_numpy(dtype="float64")
        finite = np.isfinite(values)
        if log_scale:
            positive = finite & (values > 0)
            notes["dropped_nonpositive"] += int(finite.sum() - positive.sum())
            finite = positive
        steps, values = steps[finite], values[finite]
        notes["points"] += len(values)
        smoothed = smooth(values, smoothing) if smoothing > 0 else None
        keep = downsample_indices(steps, smoothed if smoothed is not None else values,
                                  per_line, method)
        part = {"run": label, "step": steps[keep], "value": values[keep]}
        if smoothed is not None:
            part["smoothed"] = smoothed[keep]
        parts.append(pd.DataFrame(part))
    if not parts:
        return pd.DataFrame({"run": [], "step": [], "value": []}), notes
    data = pd.concat(parts, ignore_index=True)
    notes["shown"] = len(data)
    return data, notes


def _histories(runs: Any, metric: str, client: Client | None
               ) -> tuple[dict[str, pd.DataFrame], list[str]]:
    if isinstance(runs, Mapping):
        return {str(k): v for k, v in runs.items()}, [str(k) for k in runs]
    frame = runs_frame(runs, client)
    labels = run_labels(frame)
    c = fluent.client(client)
    out = {labels[r]: c.get_metric_history_frame(r, metric) for r in frame["run_id"]}
    return out, [labels[r] for r in frame["run_id"]]


def metric_history(runs: Any, metric: str, *, client: Client | None = None,
                   smoothing: float = 0.0, log_scale: bool = False, max_points: int = 1500,
                   method: str = "lttb", labels: Sequence[str] | None = None,
                   width: int | str = 620, height: int = 260) -> alt.TopLevelMixin:
    """One line per run of ``metric`` by step; log scale and smoothing switches.

    With smoothing, the raw line stays as a faint trace under the smoothed one. A run
    with a single value is drawn as a point; when every run has one value (``%%track``
    runs), the chart is a dot per run instead of lines. ``labels`` fixes the color
    order (the widget passes its selection order). ``width="container"`` fits the
    chart to the width of the output area.
    """
    histories, order = _histories(runs, metric, client)
    data, notes = history_data(histories, smoothing=smoothing, log_scale=log_scale,
                               max_points=max_points, method=method)
    if data.empty:
        return _message_chart(f"No history of {metric!r} for these runs.", width, height)
    order = list(labels) if labels is not None else order
    present = data["run"].unique().tolist()
    domain = [d for d in order if d in set(present)] + [d for d in present if d not in order]
    colors = _run_colors(order, domain)
    color = alt.Color("run:N", title="run",
                      scale=alt.Scale(domain=domain, range=[colors[d] for d in domain]),
                      legend=alt.Legend(orient="right", labelLimit=220, symbolOpacity=1))
    y_field = "smoothed" if smoothing > 0 else "value"
    scale = alt.Scale(type="log") if log_scale else alt.Scale(zero=False)
    y_axis = _log_axis() if log_scale else alt.Axis(format="~g")
    tooltip = [alt.Tooltip("run:N"), alt.Tooltip("step:Q", format=","),
               alt.Tooltip("value:Q", format=".5~g")]
    subtitle = []
    if notes["dropped_nonpositive"]:
        subtitle.append(f"{notes['dropped_nonpositive']:,} values ≤ 0 hidden on the log scale")
    counts = data["run"].value_counts()
    if counts.max() == 1:
        # Nothing to draw as lines: one dot per run, its value on the y axis.
        dots = alt.Chart(data).mark_circle(size=90, opacity=1).encode(
            x=alt.X("run:N", sort=domain, title=None,
                    axis=alt.Axis(labelAngle=-30, labelLimit=160)),
            y=alt.Y("value:Q", scale=scale, title=metric, axis=y_axis),
            color=color, tooltip=tooltip)
        title = alt.TitleParams(
            text=f"{metric} by run", anchor="start",
            subtitle=["One value per run: nothing to draw by step.", *subtitle])
        return dots.properties(width=width, height=height, title=title)
    if notes["points"] > notes["shown"]:
        subtitle.insert(0, f"{notes['points']:,} points drawn as {notes['shown']:,} "
                           f"({notes['method'].upper()} downsampling)")
    single = set(counts.index[counts == 1])
    data["single"] = data["run"].isin(single)
    x = alt.X("step:Q", title="step", axis=alt.Axis(labelExpr=_STEP_LABEL, tickMinStep=1))
    base = alt.Chart(data).encode(x=x, color=color)
    layers = []
    if smoothing > 0:
        layers.append(base.mark_line(strokeWidth=1, opacity=0.25).encode(
            y=alt.Y("value:Q", scale=scale, title=metric, axis=y_axis)))
    layers.append(base.mark_line(strokeWidth=1.8).encode(
        y=alt.Y(f"{y_field}:Q", scale=scale, title=metric, axis=y_axis)))
    if smoothing > 0:
        tooltip.append(alt.Tooltip("smoothed:Q", format=".5~g"))
    # Hover targets; a run with a single point has no line, so its point shows.
    layers.append(base.mark_circle(size=45).encode(
        y=alt.Y(f"{y_field}:Q", scale=scale),
        opacity=alt.condition("datum.single", alt.value(1.0), alt.value(0.0)),
        tooltip=tooltip))
    title = alt.TitleParams(text=f"{metric} by step", subtitle=subtitle or alt.Undefined,
                            anchor="start")
    return alt.layer(*layers).properties(width=width, height=height, title=title)


def _log_axis() -> alt.Axis:
    """A log axis whose labels never touch: 1, 2, 5 per decade at most, spaced apart."""
    return alt.Axis(format="~g", labelOverlap="greedy", labelSeparation=8,
                    labelExpr="indexof(['1', '2', '5'], slice(format(datum.value, '.0e'), 0, 1))"
                              " >= 0 ? datum.label : ''")


def metric_panels(histories: Mapping[str, pd.DataFrame], *, columns: int = 4,
                  max_points: int = 300, width: int = 170, height: int = 80,
                  color: str = "#4c78a8") -> alt.TopLevelMixin:
    """Small multiples: one little history chart per metric of one run."""
    points = max(50, min(max_points, ROW_BUDGET // max(1, len(histories))))
    parts = []
    for key, frame in histories.items():
        if frame is None or not len(frame):
            continue
        steps = frame["step"].to_numpy(dtype="float64")
        values = frame["value"].to_numpy(dtype="float64")
        keep = downsample_indices(steps, values, points)
        parts.append(pd.DataFrame({"metric": key, "step": steps[keep], "value": values[keep]}))
    if not parts:
        return _message_chart("No metric history.", width * 2, height)
    data = pd.concat(parts, ignore_index=True)
    return alt.Chart(data).mark_line(color=color, strokeWidth=1.5).encode(
        x=alt.X("step:Q", title=None, axis=alt.Axis(labelExpr=_STEP_LABEL, tickCount=4)),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False),
                axis=alt.Axis(tickCount=3, format="~g")),
        tooltip=[alt.Tooltip("metric:N"), alt.Tooltip("step:Q", format=","),
                 alt.Tooltip("value:Q", format=".5~g")],
    ).properties(width=width, height=height).facet(
        facet=alt.Facet("metric:N", title=None, header=alt.Header(labelFontWeight="bold",
                                                                 labelFontSize=12)),
        columns=columns,
    ).resolve_scale(x="independent", y="independent")


# -- one value per run -----------------------------------------------------------------


def _column(frame: pd.DataFrame, prefix: str, key: str) -> str:
    name = key if key.startswith(prefix) else f"{prefix}{key}"
    if name not in frame.columns:
        kind = prefix.rstrip(".")
        known = sorted(c[len(prefix):] for c in frame.columns if c.startswith(prefix))
        hint = f"; known {kind}: {', '.join(known[:12])}" if known else f"; no {kind} logged"
        raise InvalidParameter(f"No {kind[:-1]} {key!r} in these runs{hint}.")
    return name


def _as_numbers(values: pd.Series) -> pd.Series | None:
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().sum() == values.notna().sum() and numbers.notna().any():
        return numbers
    return None


def final_values(runs: Any, metric: str, *, client: Client | None = None,
                 labels: Sequence[str] | None = None, names: Mapping[str, str] | None = None,
                 width: int | str = 300, bar_height: int = 20) -> alt.TopLevelMixin:
    """A bar per run: the last logged value of ``metric``, sorted.

    Bars take the run colors of ``labels`` order (the history legend's); ``names``
    (run id to label) overrides :func:`run_labels`, as the widget does.
    """
    frame = runs_frame(runs, client)
    column = _column(frame, "metrics.", metric)
    label_of = _names(frame, names)
    data = pd.DataFrame({"run": [label_of[r] for r in frame["run_id"]],
                         "value": pd.to_numeric(frame[column], errors="coerce")}).dropna()
    if data.empty:
        return _message_chart(f"No value of {metric!r} for these runs.", width, 60)
    colors = _run_colors(list(labels) if labels is not None else data["run"].tolist(),
                         data["run"].tolist())
    data["color"] = data["run"].map(colors)
    data = data.sort_values("value", ascending=False, kind="stable")
    order = data["run"].tolist()
    # Colors travel with the rows (no color scale): composing this chart with others
    # can neither merge its colors into theirs nor leave a bar without a color.
    bars = alt.Chart(data).mark_bar(cornerRadiusEnd=2, height={"band": 0.75}).encode(
        x=alt.X("value:Q", title=f"final {metric}", axis=alt.Axis(tickCount=5, format="~g")),
        y=alt.Y("run:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)),
        color=alt.Color("color:N", scale=None, legend=None),
        tooltip=[alt.Tooltip("run:N"), alt.Tooltip("value:Q", format=".5~g")],
    )
    # No color encoding: the theme's text color (dark or light) reads on either background.
    text = alt.Chart(data).mark_text(align="left", dx=3, fontSize=11, opacity=0.75).encode(
        x="value:Q", y=alt.Y("run:N", sort=order),
        text=alt.Text("value:Q", format=".4~g"))
    return alt.layer(bars, text).properties(
        width=width, height=max(60, bar_height * len(data)),
        title=alt.TitleParams(f"final {metric}", anchor="start"))


def param_scatter(runs: Any, param: str, metric: str, *, client: Client | None = None,
                  highlight: Sequence[str] | None = None, labels: Sequence[str] | None = None,
                  names: Mapping[str, str] | None = None, width: int | str = 300,
                  height: int = 220, max_runs: int = ROW_BUDGET) -> alt.TopLevelMixin:
    """Each run as a point: ``param`` against the last value of ``metric``.

    ``highlight`` (run ids) are drawn in their run colors (in ``labels`` order), the
    rest in grey; without a highlight, the first ten runs are. A numeric param spread
    over two decades or more gets a log axis.
    """
    frame = runs_frame(runs, client).head(max_runs)
    p_col = _column(frame, "params.", param)
    m_col = _column(frame, "metrics.", metric)
    label_of = _names(frame, names)
    hl = set(highlight or ())
    data = pd.DataFrame({
        "run": [label_of[r] for r in frame["run_id"]],
        "param": frame[p_col].to_numpy(),
        "metric": pd.to_numeric(frame[m_col], errors="coerce").to_numpy(),
        "selected": [r in hl for r in frame["run_id"]],
    }).dropna(subset=["param", "metric"])
    if data.empty:
        return _message_chart(f"No runs with both {param!r} and {metric!r}.", width, height)
    numbers = _as_numbers(data["param"])
    if numbers is not None:
        data["param"] = numbers
        positive = numbers[numbers > 0]
        log = len(positive) == len(numbers) and positive.max() / positive.min() >= 100
        x = alt.X("param:Q", title=param,
                  scale=alt.Scale(type="log") if log else alt.Scale(zero=False),
                  axis=_log_axis() if log else alt.Axis(format="~g"))
    else:
        data["param"] = data["param"].astype(str)
        x = alt.X("param:N", title=param, sort="ascending",
                  axis=alt.Axis(labelAngle=0, labelLimit=90))
    if data["selected"].any():
        picked = data.loc[data["selected"], "run"].tolist()
        colors = _run_colors(list(labels) if labels is not None else picked, picked)
        data["color"] = [colors[r] if sel else OTHER
                         for r, sel in zip(data["run"], data["selected"], strict=True)]
    else:
        # No highlight: the first ten runs (the top of a sorted frame) in their run
        # colors, as final_values of the same frame draws them; the rest in grey.
        first = data["run"].drop_duplicates().head(10).tolist()
        colors = _run_colors(list(labels) if labels is not None else [], first)
        data["color"] = data["run"].map(colors).fillna(OTHER)
    data = data.sort_values("selected", kind="stable")  # highlighted drawn last, on top
    # Colors travel with the rows (no color scale), as in final_values.
    return alt.Chart(data).mark_circle(stroke="white", strokeWidth=0.6).encode(
        x=x,
        y=alt.Y("metric:Q", title=metric, scale=alt.Scale(zero=False),
                axis=alt.Axis(format="~g")),
        color=alt.Color("color:N", scale=None, legend=None),
        size=alt.condition("datum.selected", alt.value(110), alt.value(40)),
        opacity=alt.condition("datum.selected", alt.value(1.0), alt.value(0.55)),
        tooltip=[alt.Tooltip("run:N"), alt.Tooltip("param", title=param),
                 alt.Tooltip("metric:Q", title=metric, format=".5~g")],
    ).properties(width=width, height=height,
                 title=alt.TitleParams(f"{metric} against {param}", anchor="start"))


def parallel_coordinates(runs: Any, params: Sequence[str], metric: str, *,
                         client: Client | None = None, highlight: Sequence[str] | None = None,
                         names: Mapping[str, str] | None = None, width: int | str = 620,
                         height: int = 220) -> alt.TopLevelMixin:
    """A line per run across one axis per param and a last axis for ``metric``.

    Each axis is scaled to its own range (text params: their sorted values, evenly
    spaced); lines are colored by the metric, ``highlight`` runs drawn bold.
    """
    if not params:
        raise InvalidParameter("Name at least one param for parallel coordinates.")
    frame = runs_frame(runs, client)
    axes = [(p, _column(frame, "params.", p)) for p in params]
    axes.append((metric, _column(frame, "metrics.", metric)))
    max_runs = max(1, ROW_BUDGET // (len(axes) + 2))
    frame = frame.head(max_runs)
    label_of = _names(frame, names)
    hl = set(highlight or ())
    metric_values = pd.to_numeric(frame[axes[-1][1]], errors="coerce")
    rows = []
    ticks = []
    for order, (name, col) in enumerate(axes):
        values = frame[col]
        numbers = _as_numbers(values)
        if numbers is not None:
            lo, hi = float(numbers.min()), float(numbers.max())
            span = (hi - lo) or 1.0
            pos = (numbers - lo) / span if hi > lo else numbers * 0 + 0.5
            labels_ = [f"{v:.4g}" if v == v else "" for v in numbers]
            ticks += [(name, order, 0.0, f"{lo:.4g}"), (name, order, 1.0, f"{hi:.4g}")]
        else:
            cats = sorted(values.dropna().astype(str).unique())
            index = {c: i for i, c in enumerate(cats)}
            denom = max(1, len(cats) - 1)
            pos = values.map(lambda v, ix=index, d=denom: (ix[str(v)] / d if len(ix) > 1 else 0.5)
                             if v is not None and v == v else np.nan)
            labels_ = values.astype(str).tolist()
            ticks += [(name, order, (i / denom if len(cats) > 1 else 0.5), c)
                      for i, c in enumerate(cats[:12])]
        for run_id, p, lab, mv in zip(frame["run_id"], pos, labels_, metric_values, strict=False):
            rows.append((label_of[run_id], name, order, p, lab, mv, run_id in hl))
    data = pd.DataFrame(rows, columns=["run", "axis", "order", "pos", "label", "metric",
                                       "selected"]).dropna(subset=["pos"])
    if data.empty:
        return _message_chart("No runs with these params and metric.", width, height)
    axis_names = [a for a, _ in axes]
    # The first axis sits at the left edge; the room after the last one holds its labels.
    x = alt.X("axis:N", sort=axis_names, title=None,
              scale=alt.Scale(type="point", padding=0.4, align=0),
              axis=alt.Axis(labelAngle=0, labelFontWeight="bold", orient="top",
                            domain=False, ticks=False, labelLimit=120))
    y = alt.Y("pos:Q", axis=None, scale=alt.Scale(domain=[-0.03, 1.03]))
    lines = alt.Chart(data).mark_line().encode(
        x=x, y=y, detail="run:N",
        color=alt.Color("metric:Q", title=metric, scale=alt.Scale(scheme="viridis")),
        strokeWidth=alt.condition("datum.selected", alt.value(3.2), alt.value(1.1)),
        opacity=alt.condition("datum.selected", alt.value(1.0),
                              alt.value(0.55 if not hl else 0.25)),
        tooltip=[alt.Tooltip("run:N"), alt.Tooltip("axis:N"), alt.Tooltip("label:N",
                                                                          title="value")],
    )
    rules = alt.Chart(pd.DataFrame({"axis": axis_names})).mark_rule(
        color="#8c959f").encode(x=x)
    tick_frame = pd.DataFrame(ticks, columns=["axis", "order", "pos", "label"])
    tick_text = alt.Chart(tick_frame).mark_text(align="left", dx=4, fontSize=10,
                                                opacity=0.75).encode(
        x=x, y=y, text="label:N")
    return alt.layer(rules, lines, tick_text).properties(
        width=width, height=height,
        title=alt.TitleParams(f"params and {metric}", anchor="start"))
