"""Notebook widgets: run comparison, run details and the registry panel.

``compare()`` and ``show_run()`` return ipywidgets that read the tracking store
directly (no server, no iframe) and draw Altair charts offline. Every chart is also
a plain function in :mod:`jupyter_mltrack.widgets.charts`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compare", "show_run"]


def __getattr__(name: str) -> Any:
    # Each widget module loads on first use (charts pull in altair).
    if name == "compare":
        from .comparison import compare

        return compare
    if name == "show_run":
        from .run_view import show_run

        return show_run
    if name == "charts":
        import importlib

        return importlib.import_module(".charts", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
