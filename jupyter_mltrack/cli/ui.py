"""``mltrack ui``: JupyterLab on a store with the ML Tracker dashboard open — the
notebook-native answer to ``mlflow ui``."""

from __future__ import annotations

import os
import sys

import click

from ..uris import TRACKING_URI_ENV, resolve_tracking_uri
from . import main


@main.command("ui", context_settings={"ignore_unknown_options": True})
@click.option("--backend-store-uri", default=None, metavar="URI",
              help="Store to browse: a folder, sqlite:///..., postgresql://... or "
                   "http(s)://team-server (default: --tracking-uri, MLTRACK_TRACKING_URI, "
                   "else the nearest .mltrack folder).")
@click.option("--port", default=7006, show_default=True, type=click.IntRange(1, 65535),
              help="Port of the JupyterLab server.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser window.")
@click.argument("lab_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def ui(ctx: click.Context, backend_store_uri: str | None, port: int, host: str,
       no_browser: bool, lab_args: tuple[str, ...]) -> None:
    """Start JupyterLab bound to a store, with the ML Tracker dashboard open.

    Notebooks started there log to the same store. Extra arguments go to
    ``jupyter lab`` (e.g. ``--ServerApp.root_dir=...``).
    """
    from ..server.lab import OPEN_DASHBOARD_ENV  # the server package loads its state

    uri = resolve_tracking_uri(backend_store_uri or ctx.obj.get("tracking_uri"))
    env = {**os.environ, TRACKING_URI_ENV: uri, OPEN_DASHBOARD_ENV: "1"}
    command = [sys.executable, "-m", "jupyter", "lab", f"--port={port}", "--port-retries=0",
               f"--ServerApp.ip={host}", *(["--no-browser"] if no_browser else []),
               *lab_args]
    click.echo(f"ML Tracker on {uri}\nJupyterLab at http://{host}:{port}/lab "
               "(Ctrl+C to stop)", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, env)  # noqa: S606 - the user's own JupyterLab
