"""Altair charts as widgets that render offline, with no CDN.

:func:`chart_view` makes one; the Vega bundle (:func:`vega_bundle`) is sent once per
page as a message when a chart asks for it, so it is never part of the widget state
saved in a notebook.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import traitlets

from .controls import layout_trait
from .static import StaticCopy, chart_svg
from .views import _HIDE_JS

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
function initialize({ model }) {
  model.on("msg:custom", receive);
}
async function render({ model, el }) {
  hideStatic(model.get("_static_for"));
  let observer = null;
  const waiting = setTimeout(() => {
    el.innerHTML = '<div class="mlt-notice">Waiting for the kernel to send the chart ' +
      "library (it is busy, or stopped: run the cell again).</div>";
  }, 8000);
  try {
    const library = await load(model);
    clearTimeout(waiting);
    el.replaceChildren();
    await library.default.render({ model: themed(model), el });
    let width = el.clientWidth;
    observer = new ResizeObserver(() => {
      if (el.clientWidth !== width) { width = el.clientWidth; resized(); }
    });
    observer.observe(el);
  } catch (error) {
    clearTimeout(waiting);
    el.innerHTML = '<div class="mlt-notice mlt-error">Chart not drawn: ' +
      String(error && error.message).replace(/[<>&]/g, "") + ". Run the cell again.</div>";
  }
  return () => { if (observer) observer.disconnect(); };
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
            layout = layout_trait()

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
