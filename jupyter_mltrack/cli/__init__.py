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
            click.echo(f"Error: {exc}", err=True)
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


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool) -> None:
    """Print rows as a table, or as JSON."""
    if as_json:
        click.echo(json.dumps(list(rows), indent=2, default=str))
        return
    if not rows:
        click.echo("(none)")
        return
    text = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in text)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in text:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


from . import projects as _projects  # noqa: E402,F401
from . import registry as _registry  # noqa: E402,F401
from . import tracking as _tracking  # noqa: E402,F401  (registers the commands)

__all__ = ["client_from", "emit", "main"]
