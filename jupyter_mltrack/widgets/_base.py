"""Building blocks shared by the widgets (and the registry panel).

- :class:`View`: an anywidget carrying the shared stylesheet (``style.CSS``).
- :class:`Html`: an HTML fragment rendered with that stylesheet (escape values with
  ``style.esc``; the helpers in ``style`` do).
- :func:`chart_view`: an Altair chart as a widget that renders offline (no CDN). The
  Vega bundle (:func:`vega_bundle`) is sent once per page as a message when a chart
  asks for it, so it is never part of the widget state saved in a notebook.
- :class:`StaticCopy`: widgets display after a static HTML copy of themselves (for
  nbconvert, nbviewer, GitHub and CI reports), which the live widget hides.
- :func:`chart_svg`: a chart as inline SVG for those static copies.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from . import style

# Hides the static copies of a widget (see StaticCopy) once it is live.
_HIDE_JS = """
function hideStatic(id) {
  if (!id) return;
  const hide = () => {
    for (const copy of document.querySelectorAll(".mlt-static-" + id)) {
      const box = copy.closest(".jp-OutputArea-child") || copy;
      box.style.display = "none";
      box.classList.add("mlt-static-hidden");
    }
  };
  hide();
  // The copy may be attached to the page just after the view.
  for (const ms of [0, 50, 250, 1000, 3000]) setTimeout(hide, ms);
}
"""

_HTML_ESM = _HIDE_JS + """
function render({ model, el }) {
  el.classList.add("mlt");
  const draw = () => { el.innerHTML = model.get("value"); };
  draw();
  model.on("change:value", draw);
  hideStatic(model.get("_static_for"));
}
export default { render };
"""


class Stylesheet(anywidget.AnyWidget):
    """Carries the shared stylesheet to the page once per kernel session (never shown).

    The front end loads a model's CSS when the model is created, keyed by its class, and
    keeps it; so one model carries it instead of every view (and every saved notebook).
    """

    _esm = "export default {};"
    _css = style.CSS


_stylesheet: Stylesheet | None = None
_stylesheet_lock = threading.Lock()


def stylesheet() -> Stylesheet:
    """The session's stylesheet model (made again if it was closed)."""
    global _stylesheet
    with _stylesheet_lock:
        if _stylesheet is None or _stylesheet.comm is None:
            _stylesheet = Stylesheet()
        return _stylesheet


class View(anywidget.AnyWidget):
    """Base class of the project's custom views: they share one stylesheet."""

    def __init__(self, *args: Any, **kwargs: Any):
        stylesheet()  # opened before the view, so the page has the styles when it draws
        super().__init__(*args, **kwargs)


class Html(View):
    """Trusted HTML built by the project (values escaped), styled like the other widgets."""

    _esm = _HTML_ESM
    value = traitlets.Unicode("").tag(sync=True)
    #: Model id of the widget whose static copies this view hides when it renders.
    _static_for = traitlets.Unicode("").tag(sync=True)

    def __init__(self, value: str = "", **kwargs: Any):
        super().__init__(value=value, **kwargs)


# -- static copies --------------------------------------------------------------------

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
        return isinstance(opacity, dict) and opacity.get("value") == 0

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
    return f'<div class="mlt-chart">{svg}</div>'


# -- charts -------------------------------------------------------------------------------

# Altair's JupyterChart sends Vega (about 900 KB of JavaScript) as the module of every
# chart widget, and so into every notebook saved with widget state. Ours ask the kernel
# for the bundle with a message (messages are never saved), once per page: the first
# chart of a page imports it, and every chart of the page renders with Altair's own code
# from it. The `initialize` hook also keeps a bundle the kernel sends unasked.
_LOADER_ESM = _HIDE_JS + """
const KEY = "__mltrackVegaModule";
const WAITERS = "__mltrackVegaWaiters";
function receive(msg) {
  if (!msg || msg.kind !== "mltrack-vega-bundle" || !msg.code) return;
  if (globalThis[KEY + "Code"]) return;
  globalThis[KEY + "Code"] = msg.code;
  for (const resolve of globalThis[WAITERS] || []) resolve(msg.code);
  globalThis[WAITERS] = [];
}
function code(model) {
  if (globalThis[KEY + "Code"]) return Promise.resolve(globalThis[KEY + "Code"]);
  return new Promise((resolve) => {
    (globalThis[WAITERS] = globalThis[WAITERS] || []).push(resolve);
    model.send({ kind: "mltrack-vega-bundle?" });
  });
}
function load(model) {
  if (!globalThis[KEY]) {
    globalThis[KEY] = (async () => {
      const blob = new Blob([await code(model)], { type: "text/javascript" });
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
function initialize({ model }) {
  model.on("msg:custom", receive);
}
async function render({ model, el }) {
  hideStatic(model.get("_static_for"));
  const waiting = setTimeout(() => {
    el.innerHTML = '<div class="mlt-notice">Waiting for the kernel to send the chart ' +
      "library (it is busy, or stopped: run the cell again).</div>";
  }, 8000);
  try {
    const library = await load(model);
    clearTimeout(waiting);
    el.replaceChildren();
    return await library.default.render({ model: themed(model), el });
  } catch (error) {
    clearTimeout(waiting);
    el.innerHTML = '<div class="mlt-notice mlt-error">Chart not drawn: ' +
      String(error && error.message).replace(/[<>&]/g, "") + ". Run the cell again.</div>";
  }
}
export default { initialize, render };
"""


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
    """``alt.JupyterChart`` that gets Vega from the kernel once per page, with a static
    copy (an inline SVG) for notebook viewers."""
    global _chart_class
    if _chart_class is None:
        import altair as alt

        class ChartView(StaticCopy, alt.JupyterChart):
            _esm = _LOADER_ESM
            _static_for = traitlets.Unicode("").tag(sync=True)

            def __init__(self, *args: Any, **kwargs: Any):
                super().__init__(*args, **kwargs)
                self.on_msg(_send_bundle)

            def _static_body(self) -> str:
                chart = self.chart if self.chart is not None else getattr(self, "drawn", None)
                return chart_svg(chart) if chart is not None else ""

            def _static_hider(self) -> Any:
                return self

        _chart_class = ChartView
    return _chart_class


def _send_bundle(view: Any, content: Any, buffers: Any) -> None:
    if isinstance(content, dict) and content.get("kind") == "mltrack-vega-bundle?":
        view.send({"kind": "mltrack-vega-bundle", "code": vega_bundle()})


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
