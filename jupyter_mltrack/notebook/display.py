"""How the notebook face shows things: one-line run summaries, tables, progress.

Everything is shown through ``IPython.display`` with an HTML and a plain-text form,
so a Jupyter front end renders the HTML and a terminal prints the text.
"""

from __future__ import annotations

import html
import sys
from typing import Any

from .provenance import in_kernel, shell

_MAX_ITEMS = 8
_MAX_VALUE = 40
_COLORS = {"FINISHED": "#2e7d32", "FAILED": "#c62828", "KILLED": "#ef6c00",
           "RUNNING": "#1565c0"}
_MARKS = {"FINISHED": "✓", "FAILED": "✗", "KILLED": "■", "RUNNING": "…"}


def show(html_text: str, plain_text: str) -> None:
    from IPython.display import display

    display({"text/html": html_text, "text/plain": plain_text}, raw=True)


def show_object(obj: Any) -> None:
    from IPython.display import display

    display(obj)


def short(value: Any, limit: int = _MAX_VALUE) -> str:
    text = value if isinstance(value, str) else format_number(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def format_number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def duration(seconds: float) -> str:
    if seconds < 0.001:
        return "<1 ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.0f} s"


def _items(mapping: dict[str, Any]) -> tuple[list[tuple[str, str]], int]:
    keys = list(mapping)
    shown = [(k, short(mapping[k])) for k in keys[:_MAX_ITEMS]]
    return shown, max(0, len(keys) - _MAX_ITEMS)


def summary(run_name: str, run_id: str, status: str, seconds: float,
            params: dict[str, Any], metrics: dict[str, Any], notes: list[str],
            error: BaseException | None = None) -> tuple[str, str]:
    """The one-line summary of a run, as (html, text)."""
    params_shown, params_more = _items(params)
    metrics_shown, metrics_more = _items(metrics)
    what = status if error is None else f"{status} ({type(error).__name__})"

    text_parts = [f"{_MARKS.get(status, '·')} run {run_name}", what, duration(seconds)]
    if params_shown:
        text_parts.append("params " + " ".join(f"{k}={v}" for k, v in params_shown) +
                          (f" +{params_more}" if params_more else ""))
    if metrics_shown:
        text_parts.append("metrics " + " ".join(f"{k}={v}" for k, v in metrics_shown) +
                          (f" +{metrics_more}" if metrics_more else ""))
    text_parts.append(f"id {run_id[:8]}")
    text = " · ".join(text_parts)
    for note in notes:
        text += f"\n  note: {note}"

    color = _COLORS.get(status, "#555")
    esc = html.escape

    def chips(items: list[tuple[str, str]], more: int, bold_values: bool) -> str:
        weight = "600" if bold_values else "400"
        out = "".join(
            f'<span style="margin-right:0.8em;white-space:nowrap"><span style="opacity:0.7">'
            f"{esc(k)}</span>="
            f'<span style="font-family:var(--jp-code-font-family,monospace);'
            f'font-weight:{weight}">{esc(v)}</span></span>'
            for k, v in items
        )
        if more:
            out += f'<span style="opacity:0.6">+{more} more</span>'
        return out

    sep = '<span style="opacity:0.4;margin:0 0.6em">│</span>'
    cells = [
        f'<span style="color:{color};font-weight:600">{_MARKS.get(status, "·")} '
        f"{esc(what)}</span>",
        f'<span style="font-weight:600">{esc(run_name)}</span>',
        f'<span style="opacity:0.7">{esc(duration(seconds))}</span>',
    ]
    if params_shown:
        cells.append(chips(params_shown, params_more, False))
    if metrics_shown:
        cells.append(chips(metrics_shown, metrics_more, True))
    cells.append(f'<span style="opacity:0.5" title="{esc(run_id)}">{esc(run_id[:8])}</span>')
    notes_html = "".join(
        f'<div style="opacity:0.8">note: {esc(note)}</div>' for note in notes
    )
    body = (
        '<div class="mltrack-run-summary" style="font-size:0.85em;line-height:1.6;'
        'color:var(--jp-ui-font-color1,inherit);border-left:3px solid '
        f'{color};padding:0.1em 0.6em;margin:0.2em 0">' + sep.join(cells) + notes_html +
        "</div>"
    )
    return body, text


def table(frame: Any, title: str | None = None) -> None:
    """Show a DataFrame, with a small title line."""
    if title:
        show(f'<div style="font-size:0.85em;font-weight:600;margin:0.3em 0">'
             f"{html.escape(title)}</div>", title)
    show_object(frame)


def source_diff(a_label: str, b_label: str, a_text: str, b_text: str) -> tuple[str, str]:
    """A unified diff of two sources, as (html, text)."""
    import difflib

    lines = list(difflib.unified_diff(a_text.splitlines(), b_text.splitlines(),
                                      a_label, b_label, lineterm=""))
    if not lines:
        return ('<div style="font-size:0.85em;opacity:0.8">Same source.</div>', "Same source.")
    styled = []
    for line in lines:
        color = ""
        if line.startswith("+") and not line.startswith("+++"):
            color = "background:rgba(46,160,67,0.18)"
        elif line.startswith("-") and not line.startswith("---"):
            color = "background:rgba(248,81,73,0.18)"
        elif line.startswith("@@"):
            color = "opacity:0.6"
        styled.append(f'<div style="{color}">{html.escape(line) or "&nbsp;"}</div>')
    body = ('<div style="font-family:var(--jp-code-font-family,monospace);font-size:0.85em;'
            'white-space:pre">' + "".join(styled) + "</div>")
    return body, "\n".join(lines)


class Progress:
    """A progress bar: an ipywidgets bar in Jupyter, a rewritten text line in a terminal."""

    def __init__(self, total: int, label: str, quiet: bool = False):
        self.total = total
        self.label = label
        self.quiet = quiet
        self._bar: Any = None
        self._text: Any = None
        if quiet:
            return
        if in_kernel(shell()):
            try:
                import ipywidgets as w
                from IPython.display import display
            except ImportError:
                pass
            else:
                self._bar = w.IntProgress(value=0, min=0, max=total, description=label,
                                          bar_style="info")
                self._text = w.Label(value=f"0/{total}")
                display(w.HBox([self._bar, self._text]))
                return
        self._tty = sys.stdout.isatty()
        self._write(0, "")

    def _write(self, done: int, text: str) -> None:
        width = 20
        filled = int(width * done / max(self.total, 1))
        line = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} " \
            f"{text}".rstrip()
        if self._tty:
            sys.stdout.write("\r" + line.ljust(72))
        elif done and text:
            sys.stdout.write(line + "\n")  # one line per finished run when not a terminal
        sys.stdout.flush()

    def update(self, done: int, text: str = "", finished: bool = True) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.value = done
            self._text.value = f"{done}/{self.total} {text}".strip()
        elif finished or self._tty:
            self._write(done, text)

    def close(self, status: str) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.bar_style = "success" if status == "FINISHED" else "danger"
        elif self._tty:
            sys.stdout.write("\n")
            sys.stdout.flush()
