"""The HTML views every widget is built from.

- :class:`View`: an anywidget carrying the shared stylesheet (``style.CSS``), sent once
  per session through :func:`stylesheet`.
- :class:`Html`: an HTML fragment rendered with that stylesheet (escape values with
  ``style.esc``; the helpers in ``style`` do).
"""

from __future__ import annotations

import threading
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
