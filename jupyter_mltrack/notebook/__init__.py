"""The notebook face: ``%%track``, ``%mltrack``, notebook provenance, restore and sweeps.

``%load_ext jupyter_mltrack`` calls :func:`load_ipython_extension`. To load it in every
kernel, add it to an IPython profile (``ipython profile create`` makes one)::

    # ~/.ipython/profile_default/ipython_config.py
    c.InteractiveShellApp.extensions = ["jupyter_mltrack"]

This package stays light: IPython-facing modules load when the extension loads.
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%track`` and ``%mltrack``, and flush logged metrics after every cell."""
    from . import provenance
    from .magics import TrackMagics, flush_after_cell

    ipython.register_magics(TrackMagics)
    if flush_after_cell not in ipython.events.callbacks["post_run_cell"]:
        ipython.events.register("post_run_cell", flush_after_cell)
    provenance.warm_up()


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and the cell-end hook again."""
    from .magics import flush_after_cell

    for kind, name in (("cell", "track"), ("line", "mltrack")):
        ipython.magics_manager.magics[kind].pop(name, None)
    if flush_after_cell in ipython.events.callbacks["post_run_cell"]:
        ipython.events.unregister("post_run_cell", flush_after_cell)
