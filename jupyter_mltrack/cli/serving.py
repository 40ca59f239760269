"""``mltrack models serve | predict | dockerfile | build-docker``: serving and packaging."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from .registry import models

_URI_HELP = ("Model to use: models:/name@alias, models:/name/Production, models:/name/3, "
             "runs:/<run_id>/model or a model folder.")


def _tracking_uri(ctx: click.Context) -> str | None:
    return (ctx.find_root().obj or {}).get("tracking_uri")


def _client(ctx: click.Context, model_uri: str) -> Any:
    if not model_uri.startswith(("models:/", "runs:/")):
        return None
    from ..tracking.client import Client

    return Client(_tracking_uri(ctx))


@models.command("serve")
@click.option("-m", "--model-uri", required=True, help=_URI_HELP)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (0.0.0.0: every interface).")
@click.option("-p", "--port", default=5001, show_default=True, type=int)
@click.option("-w", "--workers", default=1, show_default=True, type=int,
              help="Worker processes.")
@click.option("--poll-interval", default=5.0, show_default=True, type=float,
              envvar="MLTRACK_SERVING_POLL_INTERVAL",
              help="Seconds between registry checks for an @alias or /Stage URI (0: never).")
@click.option("--max-body-size", default=32 * 1024 * 1024, show_default=True, type=int,
              envvar="MLTRACK_SERVING_MAX_BODY",
              help="Largest request body in bytes; larger ones get 413.")
@click.option("--trust", is_flag=True,
              help="Allow a model stored with pickle, or shipping code, from outside the store.")
@click.option("--no-access-log", is_flag=True, help="Do not log one JSON line per request.")
@click.pass_context
def serve_cmd(ctx: click.Context, model_uri: str, host: str, port: int, workers: int,
              poll_interval: float, max_body_size: int, trust: bool,
              no_access_log: bool) -> None:
    """Serve a model over HTTP with MLflow's scoring protocol (POST /invocations).

    A models:/name@alias or models:/name/Stage URI follows the registry: a promotion or
    rollback swaps the served version, with no failed request.
    """
    from ..serving.server import run

    run(model_uri, host, port, workers, tracking_uri=_tracking_uri(ctx), trust=trust,
        poll_interval=poll_interval, max_body_bytes=max_body_size,
        access_log=not no_access_log)


@models.command("predict")
@click.option("-m", "--model-uri", required=True, help=_URI_HELP)
@click.option("-i", "--input-path", required=True, type=click.Path(dir_okay=False),
              help="Input file: .csv, .parquet or .json (a scoring request or records).")
@click.option("-o", "--output-path", default=None, type=click.Path(dir_okay=False),
              help="Output file (.csv, .parquet or .json); default: JSON on stdout.")
@click.option("--chunk-rows", default=50_000, show_default=True, type=int,
              help="Rows scored at a time.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar (default: for 100,000 rows or more, when writing a file).")
@click.option("--trust", is_flag=True,
              help="Allow a model stored with pickle, or shipping code, from outside the store.")
@click.pass_context
def predict_cmd(ctx: click.Context, model_uri: str, input_path: str, output_path: str | None,
                chunk_rows: int, progress: bool | None, trust: bool) -> None:
    """Score every row of an input file with a model (batch scoring)."""
    from ..serving.batch import check_input, count_rows, predict_file

    check_input(input_path)
    total = count_rows(input_path)
    show = progress if progress is not None else (
        output_path is not None and total is not None and total >= 100_000)
    client = _client(ctx, model_uri)
    bar = _RowsBar(total) if show else None
    rows = predict_file(model_uri, input_path, output_path, client=client, trust=trust,
                        chunk_rows=chunk_rows, on_rows=bar.advance if bar else None)
    if bar is not None:
        bar.close()
    if output_path is not None:
        click.echo(f"Scored {rows:,} rows into {output_path}.", err=True)


class _RowsBar:
    """``Scoring: [######......] 40% 20,000/50,000 rows 1.2s`` on stderr, redrawn per chunk."""

    def __init__(self, total: int | None):
        self.total = total
        self.done = 0
        self.start = time.monotonic()

    def advance(self, rows: int) -> None:
        self.done += rows
        self._draw("")

    def close(self) -> None:
        self._draw(" done\n")

    def _draw(self, end: str) -> None:
        elapsed = time.monotonic() - self.start
        if self.total:
            frac = min(1.0, self.done / self.total)
            filled = int(frac * 24)
            text = (f"Scoring: [{'#' * filled}{'.' * (24 - filled)}] {frac:4.0%} "
                    f"{self.done:,}/{self.total:,} rows {elapsed:.1f}s")
        else:
            text = f"Scoring: {self.done:,} rows {elapsed:.1f}s"
        sys.stderr.write("\r" + text + end)
        sys.stderr.flush()


@models.command("dockerfile")
@click.option("-m", "--model-uri", required=True, help=_URI_HELP)
@click.option("-o", "--output-dir", required=True, type=click.Path(file_okay=False),
              help="New folder for the build context.")
@click.option("--base-image", default=None, help="Base image (default: python:<this X.Y>-slim).")
@click.option("--trust", is_flag=True,
              help="Allow a model stored with pickle, or shipping code (the image loads it).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def dockerfile_cmd(ctx: click.Context, model_uri: str, output_dir: str, base_image: str | None,
                   trust: bool, as_json: bool) -> None:
    """Write a Docker build context serving the model on port 8080."""
    from ..serving.docker import describe, write_docker_context

    context = write_docker_context(model_uri, output_dir, client=_client(ctx, model_uri),
                                   trust=trust, base_image=base_image)
    info = describe(context)
    if as_json:
        click.echo(json.dumps(info))
    else:
        click.echo(f"Wrote a build context to {context}. Build it with: docker build -t "
                   f"my-model {context}")


@models.command("build-docker")
@click.option("-m", "--model-uri", required=True, help=_URI_HELP)
@click.option("-t", "--tag", required=True, help="Image name, such as churn-model:3.")
@click.option("--context-dir", default=None, type=click.Path(file_okay=False),
              help="Keep the build context in this new folder (default: a temporary one).")
@click.option("--base-image", default=None, help="Base image (default: python:<this X.Y>-slim).")
@click.option("--trust", is_flag=True,
              help="Allow a model stored with pickle, or shipping code (the image loads it).")
@click.pass_context
def build_docker_cmd(ctx: click.Context, model_uri: str, tag: str, context_dir: str | None,
                     base_image: str | None, trust: bool) -> None:
    """Build a Docker image serving the model (needs a running Docker or Podman engine)."""
    import tempfile

    from ..serving.docker import build_image, engine, write_docker_context

    name = engine()  # before any work: say at once when there is no engine
    with tempfile.TemporaryDirectory(prefix="mltrack-docker-") as tmp:
        target = Path(context_dir) if context_dir else Path(tmp) / "context"
        context = write_docker_context(model_uri, target, client=_client(ctx, model_uri),
                                       trust=trust, base_image=base_image)
        build_image(context, tag, name)
    click.echo(f"Built {tag}. Run it with: {name} run -p 8080:8080 {tag}")


__all__ = ["build_docker_cmd", "dockerfile_cmd", "predict_cmd", "serve_cmd"]
