"""``show_run()``: one run's params, metrics with small history charts, tags,
provenance and an artifact browser with inline previews."""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..entities import Run, RunStatus
from ..errors import InvalidParameter, RunNotFound
from . import charts, style
from . import controls as w
from .artifacts import ArtifactBrowser
from .downsample import downsample_indices
from .live import DEFAULT_INTERVAL, HistoryCache, LiveLoop
from .side_by_side import CELL_SOURCE_TAGS
from .static import StaticCopy, chart_svg
from .vega import chart_view, show_chart
from .views import Html

if TYPE_CHECKING:
    from ..tracking.client import Client

#: Metrics whose histories are read and drawn; the others show their last value.
MAX_METRIC_CHARTS = 12
SYSTEM_PREFIX = "mltrack."


def _run_id(run: Any) -> str:
    if isinstance(run, Run):
        return run.info.run_id
    if isinstance(run, str):
        if run.startswith("runs:/"):
            return run[len("runs:/"):].split("/", 1)[0]
        return run
    raise InvalidParameter(
        f"show_run takes a run id, a runs:/ URI or a Run, not {type(run).__name__}."
    )


def _pretty_key(key: str) -> str:
    return key[len(SYSTEM_PREFIX):] if key.startswith(SYSTEM_PREFIX) else key


class RunView(StaticCopy, w.VBox):
    """The widget ``show_run()`` returns."""

    def __init__(self, client: Client, run_id: str,
                 refresh_interval: float | None = DEFAULT_INTERVAL):
        self.client = client
        self.run = client.get_run(run_id)
        self.run_id = self.run.info.run_id
        self._histories = HistoryCache(client)
        self._lock = threading.RLock()
        self._header = Html()
        self._overview = Html()
        self._metrics = Html()
        self.history_view = chart_view()
        self.history_view.add_class("mltrack-chart-panels")
        self._provenance = Html()
        self.artifacts = ArtifactBrowser(client, self.run_id)
        self.chart: Any = None
        metrics_tab = w.VBox([self._metrics, self.history_view])
        self.tabs = w.Tab(children=[self._overview, metrics_tab, self.artifacts,
                                    self._provenance])
        self.tabs.titles = ("Overview", "Metrics", "Artifacts", "Provenance")
        super().__init__([self._header, self.tabs], layout=w.Layout(width="100%"))
        self.add_class("mltrack-run")
        self._render()
        self._live: LiveLoop | None = None
        if refresh_interval is not None:
            self._live = LiveLoop(self.poll, refresh_interval)
            if self.run.info.status == RunStatus.RUNNING.value:
                self._live.start()

    def __repr__(self) -> str:
        return f"RunView({self.run.info.run_name!r}, {self.run.info.status}, {self.run_id})"

    # -- public state --------------------------------------------------------------------

    @property
    def live(self) -> bool:
        return self._live is not None and self._live.running

    @property
    def header_html(self) -> str:
        """The header: name, status, ids, experiment, stale mark."""
        return str(self._header.value)

    def refresh(self) -> None:
        """Read the run again (status, values, new history points)."""
        with self._lock:
            self.run = self.client.get_run(self.run_id)
            for key in list(self.run.data.metrics)[:MAX_METRIC_CHARTS]:
                self._histories.extend(self.run_id, key)
            self._render()

    def close(self) -> None:
        live = getattr(self, "_live", None)
        if live is not None:
            live.stop()
        super().close()

    def poll(self) -> bool:
        self.refresh()
        return self.run.info.status == RunStatus.RUNNING.value

    # -- rendering -----------------------------------------------------------------------

    def histories(self) -> dict[str, Any]:
        keys = sorted(self.run.data.metrics)[:MAX_METRIC_CHARTS]
        return {k: self._histories.get(self.run_id, k) for k in keys}

    def _render(self) -> None:
        run = self.run
        histories = self.histories()
        self._header.value = header_html(self.client, run)
        self._overview.value = overview_html(run)
        self._metrics.value = metrics_html(run, histories)
        self._provenance.value = provenance_html(run)
        self.chart = charts.metric_panels(histories) if histories else None
        show_chart(self.history_view, self.chart)
        self.history_view.layout.display = None if histories else "none"

    def _static_body(self) -> str:
        return static_html(self)


def header_html(client: Client, run: Run) -> str:
    info = run.info
    try:
        experiment = client.get_experiment(info.experiment_id).name
    except Exception:  # noqa: BLE001 - a deleted experiment still shows its id
        experiment = info.experiment_id
    end = info.end_time if info.end_time is not None else time.time_ns() // 1_000_000
    parts = [f"experiment {experiment}", f"started {style.format_time(info.start_time)}",
             f"duration {style.format_duration((end - info.start_time) / 1000)}"]
    if info.user_id:
        parts.append(f"by {info.user_id}")
    sub = " · ".join(parts)
    ident = f'<span class="mlt-mono mlt-muted">{style.esc(info.run_id)}</span>'
    parent = (f'<span class="mlt-muted">child of <span class="mlt-mono">'
              f'{style.esc(info.parent_run_id[:8])}</span></span>' if info.parent_run_id else "")
    return style.header(info.run_name, sub,
                        style.status_badge(info.status) + _stale_badge(run) + ident + parent)


def _stale_badge(run: Run) -> str:
    """A STALE badge when a ``%%track`` run's cell is no longer in its notebook."""
    from ..tracking.staleness import stale_reason

    reason = stale_reason(run.data.tags)
    if reason is None:
        return ""
    badge = style.status_badge("STALE", live=False, color="#ef6c00")
    return f'<span class="mlt-stale" title="{style.esc(reason)}">{badge}</span>'


def overview_html(run: Run) -> str:
    params = sorted(run.data.params.items())
    user_tags = sorted((k, v) for k, v in run.data.tags.items() if not k.startswith(SYSTEM_PREFIX))
    metrics = sorted(run.data.metrics.items())
    parts = ['<div style="display:flex;gap:36px;flex-wrap:wrap">']
    parts.append('<div><div class="mlt-section">Params</div>')
    parts.append(style.kv_table(params) if params else '<div class="mlt-muted">None logged.</div>')
    parts.append("</div><div>")
    parts.append('<div class="mlt-section">Metrics (last value)</div>')
    parts.append(style.kv_table([(k, style.format_number(v)) for k, v in metrics]) if metrics
                 else '<div class="mlt-muted">None logged.</div>')
    parts.append('</div><div><div class="mlt-section">Tags</div>')
    parts.append(style.kv_table(user_tags) if user_tags
                 else '<div class="mlt-muted">No tags of your own.</div>')
    parts.append("</div></div>")
    return "".join(parts)


def metrics_html(run: Run, histories: dict[str, Any]) -> str:
    """Each metric: last value, min, max, number of points and a sparkline."""
    if not run.data.metrics:
        return style.notice("No metrics logged.")
    rows = []
    for key in sorted(run.data.metrics):
        last = run.data.metrics[key]
        frame = histories.get(key)
        if frame is not None and len(frame):
            values = frame["value"].to_numpy(dtype="float64")
            finite = values[np.isfinite(values)]
            spark = ""
            if len(finite):
                keep = downsample_indices(frame["step"].to_numpy(), values, 120)
                spark = style.sparkline(values[keep].tolist())
            lo = style.format_number(float(finite.min())) if len(finite) else ""
            hi = style.format_number(float(finite.max())) if len(finite) else ""
            count = f"{len(frame):,}"
        else:
            spark, lo, hi, count = "", "", "", ""
        rows.append(f'<tr><th>{style.esc(key)}</th>'
                    f'<td class="mlt-num">{style.esc(style.format_number(last))}</td>'
                    f'<td class="mlt-num">{style.esc(lo)}</td>'
                    f'<td class="mlt-num">{style.esc(hi)}</td>'
                    f'<td class="mlt-num">{count}</td><td>{spark}</td></tr>')
    hidden = len(run.data.metrics) - len(histories)
    note = (f'<div class="mlt-muted">Histories of the first {MAX_METRIC_CHARTS} metrics are '
            f"drawn; {hidden} more show their last value.</div>") if hidden > 0 else ""
    return ('<table class="mlt-tbl"><thead><tr><th>metric</th><th>last</th><th>min</th>'
            '<th>max</th><th>points</th><th>history</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>" + note)


def provenance_html(run: Run) -> str:
    tags = run.data.tags
    source = next((tags[t] for t in CELL_SOURCE_TAGS if tags.get(t)), None)
    rows = []
    long_rows = []
    for key in sorted(k for k in tags if k.startswith(SYSTEM_PREFIX) and k not in CELL_SOURCE_TAGS):
        value = tags[key]
        if "\n" in value or len(value) > 160:
            long_rows.append((key, value))
        else:
            rows.append((_pretty_key(key), value))
    info = run.info
    rows = [("run id", info.run_id), ("artifact uri", info.artifact_uri),
            *([("parent run", info.parent_run_id)] if info.parent_run_id else []), *rows]
    parts = ['<div class="mlt-section">Context</div>', style.kv_table(rows)]
    for key, value in long_rows:
        lines = value.count("\n") + 1
        parts.append(f'<details class="mlt-details"><summary>{style.esc(_pretty_key(key))} '
                     f'({lines} line{"s" if lines != 1 else ""})</summary>'
                     f'<pre class="mlt-code">{style.esc(value)}</pre></details>')
    parts.append('<div class="mlt-section">Cell source</div>')
    if source:
        parts.append(f'<pre class="mlt-code">{style.esc(source)}</pre>')
    else:
        parts.append(style.notice("No cell source recorded (runs made with %%track record it)."))
    return "".join(parts)


def static_html(view: RunView) -> str:
    """What notebook viewers show: header, overview, metrics and their history charts."""
    run = view.run
    body = header_html(view.client, run) + overview_html(run)
    body += '<div class="mlt-section">Metric history</div>' + metrics_html(run, view.histories())
    if view.chart is not None:
        body += chart_svg(view.chart)
    return body


def show_run(run: Any = None, *, client: Client | None = None,
             refresh_interval: float | None = DEFAULT_INTERVAL) -> RunView:
    """One run in detail: params, metrics with history charts, tags, provenance, artifacts.

    ``run``: a run id, a ``runs:/<id>`` URI or a ``Run``; the last run of this session
    when omitted. A RUNNING run refreshes itself every ``refresh_interval`` seconds.
    """
    from ..tracking import fluent

    c = fluent.client(client)
    if run is None:
        last = fluent.active_run() or fluent.last_active_run()
        if last is None:
            raise RunNotFound("No run in this session yet; pass a run id to show_run().")
        run = last
    if isinstance(refresh_interval, (int, float)) and math.isnan(refresh_interval):
        raise InvalidParameter("refresh_interval must be a number of seconds or None.")
    return RunView(c, _run_id(run), refresh_interval=refresh_interval)
