"""Static copies: each widget displays after an HTML copy of itself (tables, charts as
inline SVG) for nbconvert, nbviewer, GitHub and CI reports; the live widget hides it.

- :class:`StaticCopy`: the mixin that makes a widget display that way;
- :func:`chart_svg`: a chart as inline SVG for those copies.
"""

from __future__ import annotations

import itertools
import os
import re
from typing import Any

from . import style

_copies = itertools.count(1)


def static_copy(body: str, widget_id: str) -> str:
    """``body`` (static HTML of a widget) marked so that the live widget can hide it."""
    return (f'<div class="mlt-static mlt-static-{style.esc(widget_id)}" '
            f'data-mlt-static="{style.esc(widget_id)}">{style.page(body)}</div>')


def outputs_with_static_copy(widget: Any, body: str, hider: Any = None) -> list[dict[str, Any]]:
    """The outputs that show ``widget``: a static copy of it (``body``, HTML), then the
    widget itself.

    Notebook viewers, nbconvert and GitHub rank a widget's output above any HTML in the
    same output, so the copy is a separate ``text/html`` output; in a live front end the
    widget draws and ``hider`` (a child :class:`Html`, or the widget) hides the copy.
    """
    if hider is not None:
        hider._static_for = widget.model_id
    outputs = [{"text/html": static_copy(body, widget.model_id)}]
    data = widget._repr_mimebundle_()
    if isinstance(data, tuple):  # anywidget returns (data, metadata)
        data = data[0]
    if data:
        outputs.append(data)
    return outputs


class StaticCopy:
    """Mixin for the project's widgets: displayed after a static copy of themselves.

    Subclasses give ``_static_body()`` (HTML) and may name the child that hides the
    copy once the widget is live (``_static_hider``, an :class:`Html`).
    """

    def _static_body(self) -> str:
        raise NotImplementedError

    def _static_hider(self) -> Any:
        return getattr(self, "_header", None)

    def display_outputs(self) -> list[dict[str, Any]]:
        """The mime bundles displaying this widget shows (the static copy first)."""
        return outputs_with_static_copy(self, self._static_body(), self._static_hider())

    def _ipython_display_(self, **kwargs: Any) -> None:
        from IPython.display import display

        for data in self.display_outputs():
            display(data, raw=True)


_SVG_ID = re.compile(r'\bid="([^"]+)"')


_NUMBER = re.compile(r"-?\d+\.\d{2,}")


def _tenths(match: re.Match[str]) -> str:
    return f"{float(match.group()):.1f}"


def _visible_layers(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec without layers drawn transparent (hover targets for tooltips), which
    a static picture does not need."""
    def invisible(layer: Any) -> bool:
        opacity = layer.get("encoding", {}).get("opacity", {}) if isinstance(layer, dict) else {}
        # drawn transparent always: a condition (one-value runs shown as dots) keeps it
        return (isinstance(opacity, dict) and opacity.get("value") == 0
                and "condition" not in opacity)

    if isinstance(spec.get("layer"), list):
        spec = {**spec, "layer": [_visible_layers(layer) for layer in spec["layer"]
                                  if not invisible(layer)]}
    for key in ("vconcat", "hconcat", "concat"):
        if isinstance(spec.get(key), list):
            spec = {**spec, key: [_visible_layers(part) for part in spec[key]]}
    return spec


def chart_svg(chart: Any) -> str:
    """The chart as inline ``<svg>`` for static copies ("" when it cannot be drawn).

    Ids inside the SVG (clip paths, gradients) get a prefix unique to this process, so
    several charts inline in one page do not borrow each other's clips.
    """
    try:
        import vl_convert as vlc

        svg = vlc.vegalite_to_svg(_visible_layers(chart.to_dict(validate=False)))
    except Exception:  # noqa: BLE001 - a static copy must never break display
        return ""
    prefix = f"mlt{os.getpid():x}-{next(_copies)}-"
    for name in sorted(set(_SVG_ID.findall(svg)), key=len, reverse=True):
        svg = svg.replace(f'id="{name}"', f'id="{prefix}{name}"')
        svg = svg.replace(f"url(#{name})", f"url(#{prefix}{name})")
        svg = svg.replace(f'href="#{name}"', f'href="#{prefix}{name}"')
    svg = re.sub(r"^<\?xml[^>]*>\s*", "", svg)
    # Tenths of a pixel are plenty for paths: a third of the size of vl-convert's output.
    svg = re.sub(r'\bd="([^"]*)"', lambda m: 'd="' + _NUMBER.sub(_tenths, m.group(1)) + '"', svg)
    return f'<div class="mlt-chart">{_lean_svg(svg)}</div>'


# Marks drawn fully transparent (the hover targets of one-value runs' dots, kept in the
# spec because some of their points show) draw nothing in a picture.
_INVISIBLE = re.compile(r'<(?:path|line|rect|circle|text)\b[^>]*\sopacity="0"[^>]*/>')
# What only the interactive chart uses: hover descriptions of every mark for screen
# readers exploring it, class names for its event handling, pointer events; and values
# that are the defaults anyway.
_INTERACTIVE = re.compile(
    r'\s(?:aria-label|aria-roledescription|aria-hidden|role|class|pointer-events)="[^"]*"'
    r'|\stransform="translate\(0,0\)"|\sopacity="1"')


def _lean_svg(svg: str) -> str:
    """The SVG as a static picture needs it: about half the size of vl-convert's output.

    The root element keeps its role and description (the chart's title for screen
    readers); inner marks lose what only the interactive chart uses.
    """
    end = svg.find(">") + 1
    return svg[:end] + _INTERACTIVE.sub("", _INVISIBLE.sub("", svg[end:]))
