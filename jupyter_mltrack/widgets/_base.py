"""Building blocks shared by the widgets (and the registry panel).

- :class:`View`: an anywidget carrying the shared stylesheet (``style.CSS``).
- :class:`Html`: an HTML fragment rendered with that stylesheet (escape values with
  ``style.esc``; the helpers in ``style`` do).
- :func:`chart_view`: an Altair chart as a widget that renders offline (no CDN).
- :func:`chart_image`: a chart as an inline SVG ``<img>`` for static fallbacks.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from . import style

_HTML_ESM = """
function render({ model, el }) {
  el.classList.add("mlt");
  const draw = () => { el.innerHTML = model.get("value"); };
  draw();
  model.on("change:value", draw);
}
export default { render };
"""


class View(anywidget.AnyWidget):
    """Base class of the project's custom views: they share one stylesheet."""

    _css = style.CSS


class Html(View):
    """Trusted HTML built by the project (values escaped), styled like the other widgets."""

    _esm = _HTML_ESM
    value = traitlets.Unicode("").tag(sync=True)

    def __init__(self, value: str = "", **kwargs: Any):
        super().__init__(value=value, **kwargs)


# -- charts -------------------------------------------------------------------------------

_offline_lock = threading.Lock()


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jupyter_mltrack"


def enable_offline_charts() -> None:
    """Make ``alt.JupyterChart`` load Vega from the vl-convert bundle, not from a CDN.

    Bundling takes a second or two, so the bundle is cached on disk per vl-convert
    and Vega-Lite version; a broken cache is rebuilt.
    """
    import altair as alt

    with _offline_lock:
        if getattr(alt.JupyterChart, "_is_offline", False):
            return
        try:
            import vl_convert as vlc
            from altair.utils._importers import vl_version_for_vl_convert

            versions = (getattr(vlc, "__version__", "?"), vl_version_for_vl_convert(),
                        alt.__version__)
            key = hashlib.sha256("-".join(versions).encode()).hexdigest()[:16]
            path = _cache_dir() / f"vega-bundle-{key}.js"
            if path.is_file() and path.stat().st_size > 100_000:
                alt.JupyterChart._esm = path.read_text(encoding="utf-8")
                alt.JupyterChart._is_offline = True
                return
        except (ImportError, OSError, AttributeError):
            path = None
        alt.JupyterChart.enable_offline()
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(alt.JupyterChart._esm, encoding="utf-8")
                os.replace(tmp, path)
            except OSError:
                pass  # a read-only home: bundling again next time is only slower


_chart_class: Any = None


def _chart_view_class() -> Any:
    """``alt.JupyterChart`` plus a static fallback (an SVG image) for notebook viewers."""
    global _chart_class
    if _chart_class is None:
        import altair as alt

        class ChartView(alt.JupyterChart):  # type: ignore[misc, name-defined]
            def _repr_mimebundle_(self, **kwargs: Any) -> Any:
                bundle = super()._repr_mimebundle_(**kwargs)
                data = bundle[0] if isinstance(bundle, tuple) else bundle
                chart = self.chart if self.chart is not None else getattr(self, "drawn", None)
                if isinstance(data, dict) and chart is not None:
                    data["text/html"] = chart_image(chart)
                return bundle

        _chart_class = ChartView
    return _chart_class


def show_chart(view: Any, chart: Any) -> None:
    """Draw ``chart`` in a view from :func:`chart_view` (None empties it).

    The project's own charts are checked by its tests, so the spec is sent without
    Altair's schema validation, which costs more than building the chart.
    """
    with view.hold_sync():
        view.spec = None if chart is None else chart.to_dict(validate=False)
    view.drawn = chart


def chart_view(chart: Any = None, **layout: Any) -> Any:
    """An offline ``alt.JupyterChart`` drawing with SVG (crisp, and testable in a browser)."""
    enable_offline_charts()
    view = _chart_view_class()(chart, embed_options={"renderer": "svg", "actions": False})
    if layout:
        view.layout = layout
    return view


def chart_image(chart: Any) -> str:
    """The chart as an ``<img>`` with an inline SVG, for static fallbacks ("" on failure)."""
    try:
        import vl_convert as vlc

        svg = vlc.vegalite_to_svg(chart.to_dict())
    except Exception:  # noqa: BLE001 - a fallback image must never break display
        return ""
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img class="mlt-chart" src="data:image/svg+xml;base64,{data}"/>'
