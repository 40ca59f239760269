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

from ..entities import Run
from ..errors import InvalidParameter
from .downsample import downsample_indices, smooth
from .style import color_for

if TYPE_CHECKING:
    from ..tracking.client import Client

__all__ = [
    "color_scale",
    "final_values",
    "history_data",
    "metric_history",
    "metric_panels",
    "parallel_coordinates",
    "param_scatter",
    "run_labels",
    "widget",
]

#: Rows a chart may hold: below Altair's 5,000-row guard, with room for annotations.
ROW_BUDGET = 4800
OTHER = "#bab0ac"
#: Lines one history chart draws (each keeps at least 10 points inside the row budget).
MAX_LINES = ROW_BUDGET // 10
#: Step ticks: 950, 10k, 1.5M (short, and "0" rather than "0k").
_STEP_LABEL = "abs(datum.value) >= 10000 ? format(datum.value, '~s') : format(datum.value, ',~d')"


def widget(chart: alt.TopLevelMixin) -> Any:
    """Any Altair chart as a notebook widget that draws offline (Vega comes from
    vl-convert, not from a CDN). ``chart.save("x.svg")`` also works offline."""
    from .vega import chart_view

    return chart_view(chart)


# -- naming runs ---------------------------------------------------------------------------


def run_labels(frame: pd.DataFrame) -> dict[str, str]:
    """A legend label per run id: its name, with a short id where names repeat."""
    ids = frame["run_id"].astype(str)
    names = frame["run_name"].fillna("").astype(str) if "run_name" in frame else ids.map(
        lambda _: "")
    repeated = names.duplicated(keep=False) & (names != "")
    labels = names.where(~repeated, names + " (" + ids.str[:6] + ")")
    labels = labels.where(names != "", ids.str[:8])
    return dict(zip(ids.tolist(), labels.tolist(), strict=False))


def color_scale(labels: Sequence[str]) -> alt.Scale:
    """The run colors used by every chart, in the order of ``labels``."""
    return alt.Scale(domain=list(labels), range=[color_for(i) for i in range(len(labels))])


def _client(client: Client | None) -> Client:
    if client is not None:
        return client
    from ..tracking import fluent

    return fluent.client()


def runs_frame(runs: Any, client: Client | None = None) -> pd.DataFrame:
    """The wide run frame (as ``search_runs`` returns it) for anything naming runs."""
    if isinstance(runs, pd.DataFrame):
        if "run_id" not in runs.columns:
            raise InvalidParameter(
                "The DataFrame needs a run_id column; pass the result of search_runs()."
            )
        return runs
    if isinstance(runs, (str, Run)):
        runs = [runs]
    if isinstance(runs, pd.Series):
        runs = runs.tolist()
    if not isinstance(runs, Sequence) or isinstance(runs, (bytes, Mapping)):
        raise InvalidParameter(
            f"Cannot read runs from {type(runs).__name__}; pass search_runs() output, "
            "Run objects or run ids."
        )
    objects = [r for r in runs if isinstance(r, Run)]
    ids = [r for r in runs if isinstance(r, str)]
    if len(objects) + len(ids) != len(runs):
        raise InvalidParameter("Pass Run objects or run id strings (or a search_runs() frame).")
    frames = []
    if objects:
        frames.append(_frame_of_runs(objects))
    if ids:
        frames.append(frame_of_ids(_client(client), ids))
    if not frames:
        return pd.DataFrame({"run_id": [], "run_name": []})
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def frame_of_ids(client: Client, run_ids: Sequence[str]) -> pd.DataFrame:
    """The wide frame of some runs, in the order given (unknown ids raise RunNotFound)."""
    from ..errors import RunNotFound

    parts = []
    for i in range(0, len(run_ids), 200):
        chunk = list(run_ids[i:i + 200])
        quoted = ", ".join("'" + r.replace("'", "") + "'" for r in chunk)
        frame, _ = client.search_runs_frame(None, f"attributes.run_id IN ({quoted})",
                                            run_view_type="all")
        parts.append(frame)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    missing = [r for r in run_ids if r not in set(frame["run_id"])]
    if missing:
        raise RunNotFound(f"No run with id {missing[0]!r}.")
    order = {r: i for i, r in enumerate(run_ids)}
    return frame.sort_values("run_id", key=lambda s: s.map(order)).reset_index(drop=True)


def _frame_of_runs(runs: Sequence[Run]) -> pd.DataFrame:
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run_id": run.info.run_id, "run_name": run.info.run_name,
                               "status": run.info.status, "experiment_id": run.info.experiment_id}
        row.update({f"params.{k}": v for k, v in run.data.params.items()})
        row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
        row.update({f"tags.{k}": v for k, v in run.data.tags.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _message_chart(text: str, width: int, height: int) -> alt.Chart:
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
    c = _client(client)
    out = {labels[r]: c.get_metric_history_frame(r, metric) for r in frame["run_id"]}
    return out, [labels[r] for r in frame["run_id"]]


def metric_history(runs: Any, metric: str, *, client: Client | None = None,
                   smoothing: float = 0.0, log_scale: bool = False, max_points: int = 1500,
                   method: str = "lttb", labels: Sequence[str] | None = None,
                   width: int = 620, height: int = 260) -> alt.TopLevelMixin:
    """One line per run of ``metric`` by step; log scale and smoothing switches.

    With smoothing, the raw line stays as a faint trace under the smoothed one.
    ``labels`` fixes the color order (the widget passes its selection order).
    """
    histories, order = _histories(runs, metric, client)
    data, notes = history_data(histories, smoothing=smoothing, log_scale=log_scale,
                               max_points=max_points, method=method)
    if data.empty:
        return _message_chart(f"No history of {metric!r} for these runs.", width, height)
    domain = list(labels) if labels is not None else order
    domain = [d for d in domain if d in set(data["run"])] or sorted(set(data["run"]))
    subtitle = []
    if notes["points"] > notes["shown"]:
        subtitle.append(f"{notes['points']:,} points drawn as {notes['shown']:,} "
                        f"({notes['method'].upper()} downsampling)")
    if notes["dropped_nonpositive"]:
        subtitle.append(f"{notes['dropped_nonpositive']:,} values ≤ 0 hidden on the log scale")
    y_field = "smoothed" if smoothing > 0 else "value"
    scale = alt.Scale(type="log") if log_scale else alt.Scale(zero=False)
    color = alt.Color("run:N", scale=color_scale(domain), title="run",
                      legend=alt.Legend(orient="right", labelLimit=180))
    x = alt.X("step:Q", title="step", axis=alt.Axis(labelExpr=_STEP_LABEL))
    base = alt.Chart(data).encode(x=x, color=color)
    layers = []
    if smoothing > 0:
        layers.append(base.mark_line(strokeWidth=1, opacity=0.25).encode(
            y=alt.Y("value:Q", scale=scale, title=metric)))
    layers.append(base.mark_line(strokeWidth=1.8).encode(
        y=alt.Y(f"{y_field}:Q", scale=scale, title=metric)))
    tooltip = [alt.Tooltip("run:N"), alt.Tooltip("step:Q", format=","),
               alt.Tooltip("value:Q", format=".5~g")]
    if smoothing > 0:
        tooltip.append(alt.Tooltip("smoothed:Q", format=".5~g"))
    layers.append(base.mark_circle(size=45).encode(
        y=alt.Y(f"{y_field}:Q", scale=scale), opacity=alt.value(0), tooltip=tooltip))
    title = alt.TitleParams(text=f"{metric} by step", subtitle=subtitle or alt.Undefined,
                            anchor="start")
    return alt.layer(*layers).properties(width=width, height=height, title=title)


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
                 labels: Sequence[str] | None = None, width: int = 300,
                 bar_height: int = 20) -> alt.TopLevelMixin:
    """A bar per run: the last logged value of ``metric``, sorted."""
    frame = runs_frame(runs, client)
    column = _column(frame, "metrics.", metric)
    names = run_labels(frame)
    data = pd.DataFrame({"run": [names[r] for r in frame["run_id"]],
                         "value": pd.to_numeric(frame[column], errors="coerce")}).dropna()
    if data.empty:
        return _message_chart(f"No value of {metric!r} for these runs.", width, 60)
    domain = [lab for lab in (labels or data["run"].tolist()) if lab in set(data["run"])]
    data = data.sort_values("value", ascending=False, kind="stable")
    bars = alt.Chart(data).mark_bar(cornerRadiusEnd=2, height={"band": 0.75}).encode(
        x=alt.X("value:Q", title=f"final {metric}", axis=alt.Axis(tickCount=5, format="~g")),
        y=alt.Y("run:N", sort=data["run"].tolist(), title=None, axis=alt.Axis(labelLimit=140)),
        color=alt.Color("run:N", scale=color_scale(domain), legend=None),
        tooltip=[alt.Tooltip("run:N"), alt.Tooltip("value:Q", format=".5~g")],
    )
    # No color encoding: the theme's text color (dark or light) reads on either background.
    text = alt.Chart(data).mark_text(align="left", dx=3, fontSize=11, opacity=0.75).encode(
        x="value:Q", y=alt.Y("run:N", sort=data["run"].tolist()),
        text=alt.Text("value:Q", format=".4~g"))
    return alt.layer(bars, text).properties(
        width=width, height=max(60, bar_height * len(data)),
        title=alt.TitleParams(f"final {metric}", anchor="start"))


def param_scatter(runs: Any, param: str, metric: str, *, client: Client | None = None,
                  highlight: Sequence[str] | None = None, labels: Sequence[str] | None = None,
                  width: int = 300, height: int = 220, max_runs: int = ROW_BUDGET
                  ) -> alt.TopLevelMixin:
    """Each run as a point: ``param`` against the last value of ``metric``.

    ``highlight`` (run ids) are drawn in their run colors, the rest in grey. A numeric
    param spread over two decades or more gets a log axis.
    """
    frame = runs_frame(runs, client).head(max_runs)
    p_col = _column(frame, "params.", param)
    m_col = _column(frame, "metrics.", metric)
    names = run_labels(frame)
    hl = set(highlight or ())
    data = pd.DataFrame({
        "run": [names[r] for r in frame["run_id"]],
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
                  scale=alt.Scale(type="log") if log else alt.Scale(zero=False))
    else:
        data["param"] = data["param"].astype(str)
        x = alt.X("param:N", title=param, sort="ascending",
                  axis=alt.Axis(labelAngle=0, labelLimit=90))
    domain = [lab for lab in (labels or []) if lab in set(data.loc[data.selected, "run"])]
    data["group"] = np.where(data["selected"], data["run"], "other runs")
    if not domain:
        data["group"] = data["run"] if len(data) <= 10 else "runs"
        domain = data["group"].unique().tolist()
    scale = alt.Scale(domain=[*domain, "other runs"],
                      range=[*(color_for(i) for i in range(len(domain))), OTHER])
    data = data.sort_values("selected", kind="stable")  # highlighted drawn last, on top
    return alt.Chart(data).mark_circle(stroke="white", strokeWidth=0.6).encode(
        x=x,
        y=alt.Y("metric:Q", title=metric, scale=alt.Scale(zero=False)),
        color=alt.Color("group:N", scale=scale, legend=None),
        size=alt.condition("datum.selected", alt.value(110), alt.value(40)),
        opacity=alt.condition("datum.selected", alt.value(1.0), alt.value(0.55)),
        tooltip=[alt.Tooltip("run:N"), alt.Tooltip("param", title=param),
                 alt.Tooltip("metric:Q", title=metric, format=".5~g")],
    ).properties(width=width, height=height,
                 title=alt.TitleParams(f"{metric} against {param}", anchor="start"))


def parallel_coordinates(runs: Any, params: Sequence[str], metric: str, *,
                         client: Client | None = None, highlight: Sequence[str] | None = None,
                         width: int = 620, height: int = 220) -> alt.TopLevelMixin:
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
    names = run_labels(frame)
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
            rows.append((names[run_id], name, order, p, lab, mv, run_id in hl))
    data = pd.DataFrame(rows, columns=["run", "axis", "order", "pos", "label", "metric",
                                       "selected"]).dropna(subset=["pos"])
    if data.empty:
        return _message_chart("No runs with these params and metric.", width, height)
    axis_names = [a for a, _ in axes]
    x = alt.X("axis:N", sort=axis_names, title=None,
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
