"""The ``mltrack`` command line: human tables by default, ``--json`` for scripts.

Exit codes: 0 success, 1 refused or failed (the message says why), 2 usage error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from ..errors import MLTrackError


class _Group(click.Group):
    """Turns our errors into one clear line and exit code 1, instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MLTrackError as exc:
            from .hints import shell_hints

            click.echo(f"Error: {shell_hints(str(exc))}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.option("--tracking-uri", envvar="MLTRACK_TRACKING_URI", default=None,
              help="Store to use (default: the nearest .mltrack folder).")
@click.version_option(package_name="jupyter_mltrack")
@click.pass_context
def main(ctx: click.Context, tracking_uri: str | None) -> None:
    """jupyter_mltrack: experiments, runs, models and the registry."""
    ctx.obj = {"tracking_uri": tracking_uri}


def client_from(ctx: click.Context) -> Any:
    from ..tracking.client import Client

    return Client(ctx.obj.get("tracking_uri"))


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool,
         headers: Sequence[str] | None = None) -> None:
    """Print rows as a table (``headers`` default to the column names in capitals), or
    as JSON."""
    if as_json:
        click.echo(json.dumps(list(rows), indent=2, default=str))
        return
    if not rows:
        click.echo("(none)")
        return
    titles = [c.upper() for c in columns] if headers is None else list(headers)
    text = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(t), *(len(r[i]) for r in text)) for i, t in enumerate(titles)]
    click.echo("  ".join(t.ljust(w) for t, w in zip(titles, widths, strict=True)).rstrip())
    for r in text:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


from . import interop as _interop  # noqa: E402,F401
from . import projects as _projects  # noqa: E402,F401
from . import registry as _registry  # noqa: E402,F401
from . import server as _server  # noqa: E402,F401
from . import serving as _serving  # noqa: E402,F401
from . import sync as _sync  # noqa: E402,F401
from . import tracking as _tracking  # noqa: E402,F401  (registers the commands)
from . import ui as _ui  # noqa: E402,F401

__all__ = ["client_from", "emit", "main"]
