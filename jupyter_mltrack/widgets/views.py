"""The HTML views every widget is built from.

- :class:`View`: an anywidget carrying the shared stylesheet (``style.CSS``), sent once
  per session through :func:`stylesheet`, together with the views' code: a view's own
  module (:func:`shared_view_esm`) only waits for that code and calls it, so a notebook
  saved with twenty views keeps it once, not twenty times.
- :class:`Html`: an HTML fragment rendered with that stylesheet (escape values with
  ``style.esc``; the helpers in ``style`` do).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from . import style
from .controls import layout_trait

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

_HTML_JS = """
function html({ model, el }) {
  el.classList.add("mlt");
  const draw = () => { el.innerHTML = model.get("value"); };
  draw();
  model.on("change:value", draw);
  hideStatic(model.get("_static_for"));
}
"""


def _library_parts() -> tuple[str, str]:
    grid = (Path(__file__).with_name("grid.js")).read_text(encoding="utf-8")
    grid = grid.replace("export default { render };", "return render;")
    body = _HIDE_JS + _HTML_JS + "const grid = (() => {\n" + grid + "\n})();\n"
    # Keyed by the code itself: a page that loaded another version keeps both apart.
    key = "__mltrackViews" + hashlib.sha256(body.encode()).hexdigest()[:12]
    wait = (f"const views = () => globalThis.{key} ??= (() => {{\n"
            "  let ready;\n"
            "  const loaded = new Promise((resolve) => { ready = resolve; });\n"
            "  loaded.ready = ready;\n"
            "  return loaded;\n"
            "})();\n")
    return wait, wait + body + "views().ready({ html, grid });\nexport default {};\n"


_WAIT_JS, _LIBRARY_ESM = _library_parts()


def shared_view_esm(name: str) -> str:
    """The module of a view drawn by ``name`` (``html``, ``grid``) of the shared code."""
    return _WAIT_JS + ("export default { async render(context) { "
                       f"return (await views()).{name}(context); }} }};\n")


class Stylesheet(anywidget.AnyWidget):
    """Carries the shared stylesheet and the views' code to the page once per kernel
    session (never shown).

    The front end loads a model's CSS and module when the model is created, and keeps
    them; so one model carries them instead of every view (and every saved notebook).
    """

    _esm = _LIBRARY_ESM
    _css = style.CSS
    layout = layout_trait()


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

    layout = layout_trait()

    def __init__(self, *args: Any, **kwargs: Any):
        stylesheet()  # opened before the view, so the page has the styles when it draws
        super().__init__(*args, **kwargs)


class Html(View):
    """Trusted HTML built by the project (values escaped), styled like the other widgets."""

    _esm = shared_view_esm("html")
    value = traitlets.Unicode("").tag(sync=True)
    #: Model id of the widget whose static copies this view hides when it renders.
    _static_for = traitlets.Unicode("").tag(sync=True)

    def __init__(self, value: str = "", **kwargs: Any):
        super().__init__(value=value, **kwargs)
