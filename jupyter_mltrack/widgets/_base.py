"""Building blocks shared by the widgets (and the registry panel).

- :class:`View`: an anywidget carrying the shared stylesheet (``style.CSS``).
- :class:`Html`: an HTML fragment rendered with that stylesheet (escape values with
  ``style.esc``; the helpers in ``style`` do).
- :func:`chart_view`: an Altair chart as a widget that renders offline (no CDN); the
  Vega bundle travels once per page (:func:`vega_bundle`), not once per chart.
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
from ipywidgets import widget_serialization

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

# Altair's JupyterChart sends Vega (about 900 KB of JavaScript) as the module of every
# chart widget. Ours share one model holding that bundle (sent once per kernel session,
# by the kernel itself, so it arrives even while a cell runs): the first chart of a page
# imports it, and every chart of the page renders with Altair's own code from it.
_LOADER_ESM = """
const KEY = "__mltrackVegaModule";
function load(model) {
  if (!globalThis[KEY]) {
    globalThis[KEY] = (async () => {
      const ref = model.get("_library") || "";
      const library = await model.widget_manager.get_model(ref.replace("IPY_MODEL_", ""));
      const blob = new Blob([library.get("code")], { type: "text/javascript" });
      return await import(URL.createObjectURL(blob));
    })();
    globalThis[KEY].catch(() => { delete globalThis[KEY]; });
  }
  return globalThis[KEY];
}
function themed(model) {
  // In a dark JupyterLab theme, draw with vega-embed's dark theme.
  const dark = document.body && document.body.dataset.jpThemeLight === "false";
  if (!dark) return model;
  const get = (name) => name === "embed_options"
    ? { ...(model.get(name) || {}), theme: "dark", config: { text: { color: "#c9d1d9" } } }
    : model.get(name);
  return { ...model, get };
}
let resizePending = false;
function resized() {
  // One window "resize" per frame, however many charts changed width: Vega re-measures
  // charts sized to their container ("container" width) on window resizes only, and
  // a JupyterLab panel opening or closing is not one.
  if (resizePending) return;
  resizePending = true;
  requestAnimationFrame(() => {
    resizePending = false;
    window.dispatchEvent(new Event("resize"));
  });
}
async function render({ model, el }) {
  let observer = null;
  try {
    const library = await load(model);
    await library.default.render({ model: themed(model), el });
    let width = el.clientWidth;
    observer = new ResizeObserver(() => {
      if (el.clientWidth !== width) { width = el.clientWidth; resized(); }
    });
    observer.observe(el);
  } catch (error) {
    el.innerHTML = '<div class="mlt-notice mlt-error">Chart not drawn: ' +
      String(error && error.message).replace(/[<>&]/g, "") + ". Run the cell again.</div>";
  }
  return () => { if (observer) observer.disconnect(); };
}
export default { render };
"""


class VegaLibrary(anywidget.AnyWidget):
    """Holds the offline Vega bundle once for all chart views (never displayed)."""

    _esm = "export default { render() {} };"
    code = traitlets.Unicode("").tag(sync=True)


_library: VegaLibrary | None = None


def vega_library() -> VegaLibrary:
    """The session's one library model (made again if it was closed)."""
    global _library
    with _bundle_lock:
        current = _library
    if current is None or current.comm is None:
        current = _library = VegaLibrary(code=vega_bundle())
    return current


_bundle_lock = threading.Lock()
_bundle: str | None = None


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jupyter_mltrack"


def vega_bundle() -> str:
    """Altair's chart view with Vega, Vega-Lite and vega-embed inlined (no CDN).

    Bundling takes a second or two, so the bundle is cached on disk per vl-convert,
    Vega-Lite and Altair version; a broken cache is rebuilt.
    """
    global _bundle
    with _bundle_lock:
        if _bundle is not None:
            return _bundle
        import altair as alt
        import vl_convert as vlc
        from altair.jupyter.jupyter_chart import load_js_src
        from altair.utils._importers import vl_version_for_vl_convert

        versions = (getattr(vlc, "__version__", "?"), vl_version_for_vl_convert(),
                    alt.__version__)
        key = hashlib.sha256("-".join(versions).encode()).hexdigest()[:16]
        path = _cache_dir() / f"vega-bundle-{key}.js"
        try:
            if path.is_file() and path.stat().st_size > 100_000:
                _bundle = path.read_text(encoding="utf-8")
                return _bundle
        except OSError:
            pass
        lines = load_js_src().split("\n")
        # As Altair's enable_offline(): drop the CDN imports, bundle the rest.
        while lines and (not lines[0].strip() or lines[0].startswith(("import", "//"))):
            lines.pop(0)
        _bundle = vlc.javascript_bundle("\n".join(lines), vl_version=versions[1])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(_bundle, encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only home: bundling again next time is only slower
        return _bundle


_chart_class: Any = None


def _chart_view_class() -> Any:
    """``alt.JupyterChart`` that loads Vega once per page from the kernel, with a static
    fallback (an SVG image) for notebook viewers."""
    global _chart_class
    if _chart_class is None:
        import altair as alt

        class ChartView(alt.JupyterChart):  # type: ignore[misc, name-defined]
            _esm = _LOADER_ESM
            _library = traitlets.Instance(VegaLibrary, allow_none=True).tag(
                sync=True, **widget_serialization)

            def __init__(self, *args: Any, **kwargs: Any):
                super().__init__(*args, _library=vega_library(), **kwargs)

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
    """An offline chart widget drawing with SVG (crisp, and testable in a browser)."""
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
