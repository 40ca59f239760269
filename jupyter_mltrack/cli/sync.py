"""``mltrack sync`` and ``mltrack status``: the writes queued for team servers."""

from __future__ import annotations

import datetime as dt

import click

from . import emit, main


def _servers(ctx: click.Context, tracking_uri: str | None) -> list[str]:
    from ..store.rest_queue import queues

    uri = tracking_uri or ctx.obj.get("tracking_uri")
    if uri and uri.startswith(("http://", "https://")):
        return [uri.rstrip("/")]
    found = []
    for queue in queues():
        found.append(queue.server_url)
        queue.close()
    return found


@main.command("sync")
@click.option("--tracking-uri", default=None,
              help="The team server whose queue to push (default: every queued server).")
@click.pass_context
def sync(ctx: click.Context, tracking_uri: str | None) -> None:
    """Push the writes queued while a team server was unreachable."""
    from ..store.rest import sync as push

    servers = _servers(ctx, tracking_uri)
    if not servers:
        click.echo("Nothing queued.")
        return
    for server in servers:
        sent = push(server)
        click.echo(f"{server}: sent {sent} queued write(s); nothing left.")


@main.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """What is queued for each team server, waiting for `mltrack sync`."""
    from ..store.rest_queue import queues

    rows = []
    for queue in queues():
        summary = queue.summary()
        queue.close()
        oldest = summary["oldest_ms"]
        rows.append({
            "server": summary["server"], "writes": summary["ops"],
            "metric_points": summary["metric_points"],
            "oldest": None if oldest is None else
            dt.datetime.fromtimestamp(oldest / 1000, dt.timezone.utc).isoformat(
                timespec="seconds"),
        })
    if as_json:
        emit(rows, ["server", "writes", "metric_points", "oldest"], True)
        return
    if not rows:
        click.echo("Nothing queued.")
        return
    for row in rows:
        click.echo(f"{row['server']}: {row['writes']} queued write(s), "
                   f"{row['metric_points']} metric points"
                   + (f", oldest {row['oldest']}" if row["oldest"] else ""))
