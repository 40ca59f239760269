"""``mltrack import-mlflow``: bring an MLflow store into this one."""

from __future__ import annotations

import json
import sys

import click

from . import main


@main.command("import-mlflow")
@click.argument("source")
@click.option("--experiment", "experiments", multiple=True, metavar="NAME",
              help="Import only this experiment (repeat for more); default: all.")
@click.option("--no-progress", is_flag=True, help="Do not draw the progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def import_mlflow_cmd(ctx: click.Context, source: str, experiments: tuple[str, ...],
                      no_progress: bool, as_json: bool) -> None:
    """Import an MLflow store: SOURCE is an mlruns/ folder, an MLflow database URI
    (sqlite:///mlflow.db, postgresql://...) or a tracking server URL (http://host:5000).

    Experiments, runs (keeping their ids) with params, tags, full metric histories and
    artifacts, and registered models with versions, stages, aliases and tags. The source
    is only read. Running it again imports only what is new.
    """
    from ..interop import import_mlflow

    summary = import_mlflow(source, experiments=list(experiments) or None,
                            tracking_uri=ctx.obj.get("tracking_uri"),
                            progress=not no_progress and not as_json and sys.stderr.isatty())
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        click.echo(str(summary))
