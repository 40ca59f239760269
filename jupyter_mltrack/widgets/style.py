"""The look shared by every widget: one stylesheet, run colors and small HTML helpers.

Widgets that render their own HTML (``views.Html``, the table, the registry panel)
use these class names so that they match; colors come from JupyterLab's theme
variables (with light fallbacks for Notebook 7, VS Code and static viewers), so dark
themes work too. Every helper escapes the text it is given.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

#: Colors given to runs in charts, in selection order (Vega's "tableau10").
RUN_COLORS: tuple[str, ...] = (
    "#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b",
    "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac",
)

#: Badge colors of run statuses (and of registry stages, which reuse the badge).
STATUS_COLORS: dict[str, str] = {
    "RUNNING": "#1f6feb",
    "SCHEDULED": "#8250df",
    "FINISHED": "#1a7f37",
    "FAILED": "#cf222e",
    "KILLED": "#9a6700",
    "Production": "#1a7f37",
    "Staging": "#9a6700",
    "Archived": "#6e7781",
    "None": "#6e7781",
}

#: Badge text per badge color, (light theme, dark theme): the accent colors above are
#: too faint as 11 px text on their own 13 % tint; these reach a contrast of 4.5:1 on
#: JupyterLab's light and dark backgrounds (tests compute it from the theme's CSS).
BADGE_TEXT: dict[str, tuple[str, str]] = {
    "#1f6feb": ("#0550ae", "#79c0ff"),
    "#8250df": ("#6639ba", "#d2a8ff"),
    "#1a7f37": ("#116329", "#56d364"),
    "#cf222e": ("#a40e26", "#ffa198"),
    "#9a6700": ("#7d4e00", "#e3b341"),
    "#6e7781": ("#57606a", "#b1bac4"),
}

#: What marks a dark theme: JupyterLab and Notebook 7, VS Code, or the ``mlt-dark`` class.
DARK = ('[data-jp-theme-light="false"]', "body.vscode-dark", ".mlt-dark")

FONT = "var(--jp-ui-font-family, system-ui, -apple-system, 'Segoe UI', sans-serif)"
MONO = "var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, monospace)"

CSS = """
.mlt { font-family: __FONT__; font-size: 12.5px; line-height: 1.45;
  color: var(--jp-ui-font-color1, #1f2328); }
.mlt * { box-sizing: border-box; }
.mlt-muted { color: var(--jp-ui-font-color2, #656d76); }
.mlt-mono { font-family: __MONO__; font-size: 12px; }
.mlt-header { display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap;
  padding: 2px 2px 6px 2px; }
.mlt-title { font-size: 15px; font-weight: 600; }
.mlt-sub { color: var(--jp-ui-font-color2, #656d76); }
.mlt-badge { display: inline-flex; align-items: center; gap: 5px; padding: 1px 8px;
  border-radius: 10px; font-size: 11px; font-weight: 600; white-space: nowrap;
  color: var(--mlt-badge-fg, var(--mlt-badge, #57606a));
  background: color-mix(in srgb, var(--mlt-badge, #6e7781) 13%, transparent);
  border: 1px solid color-mix(in srgb, var(--mlt-badge, #6e7781) 35%, transparent); }
.mlt-badge .mlt-dot { width: 7px; height: 7px; border-radius: 50%;
  background: var(--mlt-badge, #6e7781); }
.mlt-badge.mlt-live .mlt-dot { animation: mlt-pulse 1.2s ease-in-out infinite; }
@keyframes mlt-pulse { 0% { opacity: 1; transform: scale(1); }
  50% { opacity: .35; transform: scale(.7); } 100% { opacity: 1; transform: scale(1); } }
.mlt-card { border: 1px solid var(--jp-border-color2, #d0d7de); border-radius: 6px;
  padding: 8px 10px; background: var(--jp-layout-color0, #fff); }
.mlt-section { font-weight: 600; font-size: 12px; text-transform: uppercase;
  letter-spacing: .04em; color: var(--jp-ui-font-color2, #656d76); margin: 10px 0 4px 0; }
.mlt-notice { padding: 6px 10px; border-radius: 6px; margin: 4px 0;
  background: var(--jp-layout-color2, #f6f8fa); color: var(--jp-ui-font-color2, #656d76); }
.mlt-notice.mlt-error { background: color-mix(in srgb, #cf222e 10%, transparent);
  color: var(--jp-error-color1, #cf222e); }
.mlt-notice pre { margin: 4px 0 0 0; font-family: __MONO__; font-size: 12px;
  white-space: pre; overflow-x: auto; }
table.mlt-kv, table.mlt-tbl { border-collapse: collapse; font-size: 12.5px; }
table.mlt-kv td, table.mlt-kv th, table.mlt-tbl td, table.mlt-tbl th {
  padding: 3px 10px 3px 6px; text-align: left; vertical-align: top;
  border-bottom: 1px solid var(--jp-border-color3, #eaeef2); }
table.mlt-kv th { font-weight: 500; color: var(--jp-ui-font-color2, #656d76);
  white-space: nowrap; }
table.mlt-tbl th { font-weight: 600; background: var(--jp-layout-color2, #f6f8fa); }
table.mlt-tbl thead th { position: sticky; top: 0; }
table.mlt-side { table-layout: fixed; width: 100%; }
table.mlt-side thead th:first-child { width: 150px; }
table.mlt-side td, table.mlt-side th { overflow-wrap: anywhere; }
table.mlt-tbl td.mlt-num, table.mlt-kv td.mlt-num { text-align: right;
  font-variant-numeric: tabular-nums; }
table.mlt-static td, table.mlt-static th { white-space: nowrap; }
table.mlt-tbl tr.mlt-diff td { background: color-mix(in srgb, #eeca3b 18%, transparent); }
table.mlt-tbl tr.mlt-group td { font-weight: 600; font-size: 11px; text-transform: uppercase;
  letter-spacing: .04em; color: var(--jp-ui-font-color2, #656d76);
  background: var(--jp-layout-color1, #fff); padding-top: 10px; }
.mlt-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 5px; vertical-align: -1px; }
.mlt-code { font-family: __MONO__; font-size: 12px; white-space: pre; overflow: auto;
  max-height: 360px; margin: 0; padding: 8px 10px; border-radius: 6px;
  background: var(--jp-cell-editor-background, #f6f8fa);
  border: 1px solid var(--jp-border-color2, #d0d7de); }
.mlt-diff-line { display: block; padding: 0 4px; }
.mlt-diff-add { background: color-mix(in srgb, #1a7f37 16%, transparent); }
.mlt-diff-del { background: color-mix(in srgb, #cf222e 14%, transparent); }
.mlt-diff-hunk { color: var(--jp-ui-font-color2, #656d76);
  background: color-mix(in srgb, #1f6feb 8%, transparent); }
.mlt-scroll { overflow: auto; }
.mlt-spark { vertical-align: middle; }
.mlt-img { max-width: 100%; max-height: 480px; border-radius: 4px;
  border: 1px solid var(--jp-border-color3, #eaeef2); }
.mlt-chip { display: inline-block; padding: 0 6px; margin: 0 4px 2px 0; border-radius: 4px;
  background: var(--jp-layout-color2, #f6f8fa); font-size: 11.5px; }
details.mlt-details summary { cursor: pointer; color: var(--jp-ui-font-color2, #656d76); }
.mlt-grid { border: 1px solid var(--jp-border-color2, #d0d7de); border-radius: 6px;
  overflow: hidden; background: var(--jp-layout-color0, #fff); }
.mlt-grid-scroll { overflow: auto; scroll-snap-type: x mandatory; }
.mlt-grid-table thead tr:last-child th:not(.mlt-sticky) { scroll-snap-align: start; }
table.mlt-grid-table { border-collapse: separate; border-spacing: 0; width: max-content;
  min-width: 100%; font-size: 12.5px; }
.mlt-grid-table th, .mlt-grid-table td { padding: 4px 10px; white-space: nowrap;
  max-width: 260px; overflow: hidden; text-overflow: ellipsis; text-align: left;
  border-bottom: 1px solid var(--jp-border-color3, #eaeef2); }
.mlt-grid-table thead th { position: sticky; top: 0; z-index: 2; font-weight: 600;
  background: var(--jp-layout-color2, #f6f8fa); user-select: none; }
.mlt-grid-table thead tr.mlt-grid-groups th { top: 0; font-size: 10.5px; font-weight: 600;
  text-transform: uppercase; letter-spacing: .05em; padding: 2px 10px;
  color: var(--jp-ui-font-color2, #656d76); border-bottom: none; }
.mlt-grid-table thead tr.mlt-grid-groups + tr th { top: 21px; }
.mlt-grid-table th.mlt-group-params { box-shadow: inset 0 2px 0 #4c78a8; }
.mlt-grid-table th.mlt-group-metrics { box-shadow: inset 0 2px 0 #f58518; }
.mlt-grid-table th.mlt-group-tags { box-shadow: inset 0 2px 0 #54a24b; }
.mlt-grid-table th.mlt-sortable { cursor: pointer; }
.mlt-grid-table th.mlt-sortable:hover { color: var(--jp-brand-color1, #1f6feb); }
.mlt-grid-table th.mlt-sorted { color: var(--jp-brand-color1, #1f6feb); }
.mlt-grid-table .mlt-sticky { position: sticky; z-index: 1;
  background: var(--jp-layout-color0, #fff); }
.mlt-grid-table thead .mlt-sticky { z-index: 3; background: var(--jp-layout-color2, #f6f8fa); }
.mlt-grid-table td.mlt-sticky:last-of-type, .mlt-grid-table .mlt-name {
  border-right: 1px solid var(--jp-border-color3, #eaeef2); }
.mlt-grid-table .mlt-box { width: 30px; min-width: 30px; padding: 0 4px 0 10px; }
.mlt-grid-table .mlt-box input { margin: 0; cursor: pointer; vertical-align: middle; }
.mlt-grid-table .mlt-num { text-align: right; font-variant-numeric: tabular-nums; }
.mlt-grid-table .mlt-name { font-weight: 500; }
.mlt-grid-table .mlt-empty::after { content: "\\2013"; color: var(--jp-ui-font-color3, #afb8c1); }
.mlt-grid-table tr.mlt-clickable { cursor: pointer; }
.mlt-grid-table tbody tr:hover td { background: var(--jp-layout-color2, #f6f8fa); }
.mlt-grid-table tbody tr.mlt-selected td {
  background: color-mix(in srgb, var(--jp-brand-color1, #1f6feb) 11%,
                        var(--jp-layout-color0, #fff)); }
.mlt-grid-table .mlt-icon { vertical-align: -2px; color: var(--jp-ui-font-color2, #656d76); }
.mlt-grid-table .mlt-dir .mlt-icon { color: #d4a72c; }
.mlt-grid-table .mlt-nowrap { white-space: nowrap; }
.mlt-grid-footer { display: flex; align-items: center; gap: 16px; padding: 5px 10px;
  border-top: 1px solid var(--jp-border-color2, #d0d7de); font-size: 12px;
  background: var(--jp-layout-color1, #fff); min-height: 30px; }
.mlt-pager { display: inline-flex; align-items: center; gap: 4px; }
.mlt-pager button, button.mlt-link { border: 1px solid var(--jp-border-color2, #d0d7de);
  background: var(--jp-layout-color1, #fff); color: var(--jp-ui-font-color1, #1f2328);
  border-radius: 4px; padding: 0 7px; cursor: pointer; font-size: 12px; line-height: 20px; }
.mlt-pager button:disabled { opacity: .4; cursor: default; }
.mlt-pager span { padding: 0 6px; }
.mlt-grid-selection { margin-left: auto; display: inline-flex; gap: 6px; align-items: center;
  font-weight: 500; }
.mltrack-compare .widget-hbox, .mltrack-registry .widget-hbox { flex-wrap: wrap;
  row-gap: 4px; }
.mltrack-compare .widget-button, .mltrack-registry .widget-button { flex: 0 0 auto; }
.mltrack-compare .widget-text { flex: 0 1 520px; min-width: 200px; }
.mltrack-registry .mlt-reg-comment { width: auto !important; max-width: 100%;
  align-self: stretch; }
.mltrack-registry .mlt-reg-comment textarea { width: 100%; }
button.mlt-link { border: none; background: none; color: var(--jp-brand-color1, #1f6feb);
  padding: 0; }
""".replace("__FONT__", FONT).replace("__MONO__", MONO)


def _badge_vars(color: str) -> str:
    light, dark = BADGE_TEXT.get(color.lower(), (color, ""))
    out = f"--mlt-badge:{color};--mlt-badge-fg:{light}"
    return out + (f";--mlt-badge-fg-dark:{dark}" if dark else "")


def badge_class(status: str) -> str:
    """The class giving a status (or stage) badge its colors (see ``badge_css``)."""
    return "mlt-badge-" + "".join(c if c.isalnum() else "_" for c in status)


def badge_css() -> str:
    """A rule per known status with its badge colors, and the dark-theme text rule."""
    rules = [f".{badge_class(name)} {{ {_badge_vars(color)}; }}"
             for name, color in STATUS_COLORS.items()]
    dark = ", ".join(f"{scope} .mlt-badge" for scope in DARK)
    rules.append(f"{dark} {{ color: var(--mlt-badge-fg-dark, "
                 "color-mix(in srgb, var(--mlt-badge, #6e7781) 40%, #fff)); }")
    return "\n".join(rules) + "\n"


CSS += badge_css()


def esc(value: Any) -> str:
    """HTML-escaped text of any value (``None`` becomes an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def color_for(index: int) -> str:
    """The run color at a position of the selection (colors repeat after ten)."""
    return RUN_COLORS[index % len(RUN_COLORS)]


def status_badge(status: str, live: bool | None = None, color: str | None = None) -> str:
    """A colored pill for a run status (or a registry stage); RUNNING pulses."""
    live = status == "RUNNING" if live is None else live
    cls = "mlt-badge mlt-live" if live else "mlt-badge"
    if color is None and status in STATUS_COLORS:
        return (f'<span class="{cls} {badge_class(status)}">'
                f'<span class="mlt-dot"></span>{esc(status)}</span>')
    return (f'<span class="{cls}" style="{_badge_vars(color or "#6e7781")}">'
            f'<span class="mlt-dot"></span>{esc(status)}</span>')


def format_number(value: Any) -> str:
    """A metric or param value, short: 4 significant digits, thousands separated."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        magnitude = abs(value)
        if 1e4 <= magnitude < 1e15:
            return f"{value:,.0f}"
        if 1e-3 <= magnitude:
            return f"{value:.4g}"
        return f"{value:.3e}"
    return str(value)


def format_duration(seconds: float | None) -> str:
    """``1h 02m``, ``3m 05s``, ``4.2s``; empty for unknown."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def format_time(epoch_ms: int | None) -> str:
    """Local date and time of an epoch in milliseconds."""
    if epoch_ms is None:
        return ""
    return _dt.datetime.fromtimestamp(epoch_ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def header(title: str, subtitle: str = "", extra: str = "") -> str:
    """A widget's title line: bold title, muted subtitle, then ``extra`` (raw HTML)."""
    sub = f'<span class="mlt-sub">{esc(subtitle)}</span>' if subtitle else ""
    return f'<div class="mlt-header"><span class="mlt-title">{esc(title)}</span>{sub}{extra}</div>'


def notice(text: str, error: bool = False, detail: str | None = None) -> str:
    """A muted (or red, for errors) message box, with optional preformatted detail."""
    cls = "mlt-notice mlt-error" if error else "mlt-notice"
    pre = f"<pre>{esc(detail)}</pre>" if detail else ""
    return f'<div class="{cls}">{esc(text)}{pre}</div>'


def kv_table(rows: Iterable[tuple[str, Any]], raw: bool = False) -> str:
    """A two-column key/value table; values are escaped unless ``raw``."""
    body = "".join(
        f"<tr><th>{esc(k)}</th><td>{v if raw else esc(v)}</td></tr>" for k, v in rows
    )
    return f'<table class="mlt-kv">{body}</table>'


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]],
          numeric: Sequence[bool] | None = None, status_column: int | None = None) -> str:
    """A plain HTML table (escaped), numbers right-aligned, one line per row, scrolling
    sideways: the static fallback's table. ``status_column`` shows status badges."""
    numeric = list(numeric or [False] * len(columns))
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            if i == status_column and v:
                cells.append(f"<td>{status_badge(str(v))}</td>")
            elif numeric[i]:
                cells.append(f'<td class="mlt-num">{esc(format_number(v))}</td>')
            else:
                cells.append(f"<td>{esc(v)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div class="mlt-scroll"><table class="mlt-tbl mlt-static">'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def sparkline(values: Sequence[float], width: int = 120, height: int = 26,
              color: str = "#4c78a8") -> str:
    """An inline SVG polyline of a series (already short: downsample first)."""
    points = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if len(points) < 2:
        return ""
    lo, hi = min(points), max(points)
    span = (hi - lo) or 1.0
    step = (width - 2) / (len(points) - 1)
    coords = " ".join(
        f"{1 + i * step:.1f},{height - 2 - (p - lo) / span * (height - 4):.1f}"
        for i, p in enumerate(points)
    )
    return (f'<svg class="mlt-spark" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><polyline fill="none" stroke="{color}" '
            f'stroke-width="1.5" points="{coords}"/></svg>')


def _rules(css: str) -> list[str]:
    """The top-level rules of a stylesheet (an @-rule with its nested block is one)."""
    rules, depth, start = [], 0, 0
    for i, char in enumerate(css):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                rules.append(css[start:i + 1].strip())
                start = i + 1
    return rules


def used_css(body: str, css: str = "") -> str:
    """The rules of ``css`` (the shared stylesheet) whose classes occur in ``body``."""
    used = set(re.findall(r"mlt-[\w-]+", body)) | {"mlt"}
    keep = []
    for rule in _rules(css or CSS):
        selector = rule.split("{", 1)[0]
        classes = set(re.findall(r"\.(mlt[\w-]*)", selector))
        if rule.startswith("@keyframes") or not classes or classes & used:
            keep.append(rule)
    return "\n".join(keep)


def page(body: str) -> str:
    """Static HTML (for nbconvert and notebook viewers): ``body`` with the rules of the
    stylesheet it uses."""
    return f'<div class="mlt"><style>{used_css(body)}</style>{body}</div>'
