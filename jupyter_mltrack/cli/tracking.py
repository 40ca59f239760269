"""``mltrack experiments``, ``mltrack runs`` and ``mltrack gc``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from . import client_from, emit, main


def _time(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@main.group()
def experiments() -> None:
    """List, create, delete and restore experiments."""


@experiments.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include deleted experiments.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def experiments_list(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """List experiments."""
    c = client_from(ctx)
    rows = [
        {"id": e.experiment_id, "name": e.name, "lifecycle": e.lifecycle_stage,
         "created": _time(e.creation_time), "artifact_location": e.artifact_location}
        for e in c.search_experiments("all" if show_all else "active_only")
    ]
    emit(rows, ["id", "name", "lifecycle", "created"] + (["artifact_location"] if as_json else []),
         as_json)


@experiments.command("create")
@click.argument("name")
@click.option("--artifact-location", default=None, help="Artifact root (folder or s3://...).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def experiments_create(ctx: click.Context, name: str, artifact_location: str | None,
                       as_json: bool) -> None:
    """Create an experiment NAME."""
    exp_id = client_from(ctx).create_experiment(name, artifact_location)
    if as_json:
        click.echo(json.dumps({"id": exp_id, "name": name}))
    else:
        click.echo(f"Created experiment {name!r} with id {exp_id}.")


@experiments.command("delete")
@click.argument("experiment")
@click.pass_context
def experiments_delete(ctx: click.Context, experiment: str) -> None:
    """Soft-delete EXPERIMENT (name or id) and its runs; `mltrack gc` removes them for good."""
    c = client_from(ctx)
    exp_id = c.resolve_experiment_id(experiment)
    c.delete_experiment(exp_id)
    click.echo(f"Deleted experiment {experiment!r} (id {exp_id}).")


@experiments.command("restore")
@click.argument("experiment")
@click.pass_context
def experiments_restore(ctx: click.Context, experiment: str) -> None:
    """Restore a deleted EXPERIMENT (name or id) and its runs."""
    c = client_from(ctx)
    exp_id = c.resolve_experiment_id(experiment)
    c.restore_experiment(exp_id)
    click.echo(f"Restored experiment {experiment!r} (id {exp_id}).")


@main.group()
def runs() -> None:
    """List, show, delete and restore runs."""


def _run_row(r: Any) -> dict[str, Any]:
    duration = None
    if r.info.end_time is not None:
        duration = round((r.info.end_time - r.info.start_time) / 1000, 3)
    return {
        "run_id": r.info.run_id, "name": r.info.run_name, "status": r.info.status,
        "experiment_id": r.info.experiment_id, "start": _time(r.info.start_time),
        "duration_s": duration, "params": r.data.params, "metrics": r.data.metrics,
        "tags": r.data.tags, "parent_run_id": r.info.parent_run_id,
        "lifecycle": r.info.lifecycle_stage,
    }


@runs.command("list")
@click.option("--experiment", "-e", multiple=True, help="Experiment name or id (repeatable).")
@click.option("--filter", "filter_string", default=None,
              help="Search filter, e.g. \"metrics.acc > 0.9 and params.lr = '0.01'\".")
@click.option("--order-by", multiple=True, help="e.g. 'metrics.acc DESC' (repeatable).")
@click.option("--max-results", default=100, show_default=True, type=int)
@click.option("--deleted", is_flag=True, help="Show deleted runs instead.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runs_list(ctx: click.Context, experiment: tuple[str, ...], filter_string: str | None,
              order_by: tuple[str, ...], max_results: int, deleted: bool, as_json: bool) -> None:
    """List runs, newest first."""
    c = client_from(ctx)
    ids = [c.resolve_experiment_id(e) for e in experiment]
    page = c.search_runs(ids, filter_string, "deleted_only" if deleted else "active_only",
                         max_results, list(order_by) or None)
    rows = [_run_row(r) for r in page]
    if as_json:
        emit(rows, [], True)
        return
    metric_keys = sorted({k for r in rows for k in r["metrics"]})[:4]
    table = []
    for r in rows:
        flat = {k: r[k] for k in ("run_id", "name", "status", "start", "duration_s")}
        flat.update({k: r["metrics"].get(k) for k in metric_keys})
        table.append(flat)
    emit(table, ["run_id", "name", "status", "start", "duration_s", *metric_keys], False)


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runs_show(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show one run: attributes, params, metrics and tags."""
    row = _run_row(client_from(ctx).get_run(run_id))
    if as_json:
        click.echo(json.dumps(row, indent=2, default=str))
        return
    for key in ("run_id", "name", "status", "experiment_id", "start", "duration_s",
                "parent_run_id", "lifecycle"):
        click.echo(f"{key + ':':<15}{'' if row[key] is None else row[key]}")
    for section in ("params", "metrics", "tags"):
        click.echo(f"{section}:")
        for key, value in sorted(row[section].items()):
            click.echo(f"  {key} = {value}")


@runs.command("delete")
@click.argument("run_ids", nargs=-1, required=True)
@click.pass_context
def runs_delete(ctx: click.Context, run_ids: tuple[str, ...]) -> None:
    """Soft-delete runs; `mltrack gc` removes them for good."""
    c = client_from(ctx)
    for run_id in run_ids:
        c.delete_run(run_id)
        click.echo(f"Deleted run {run_id}.")


@runs.command("restore")
@click.argument("run_ids", nargs=-1, required=True)
@click.pass_context
def runs_restore(ctx: click.Context, run_ids: tuple[str, ...]) -> None:
    """Restore soft-deleted runs."""
    c = client_from(ctx)
    for run_id in run_ids:
        c.restore_run(run_id)
        click.echo(f"Restored run {run_id}.")


@main.command("gc")
@click.option("--older-than", default=None, type=float,
              help="Only runs deleted at least this many seconds ago.")
@click.option("--run-id", "run_ids", multiple=True, help="Only these deleted runs.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def gc(ctx: click.Context, older_than: float | None, run_ids: tuple[str, ...],
       as_json: bool) -> None:
    """Permanently remove deleted runs and their artifacts."""
    removed = client_from(ctx).gc(older_than, list(run_ids) or None)
    if as_json:
        click.echo(json.dumps({"removed": removed}))
    else:
        click.echo(f"Removed {len(removed)} deleted run(s) permanently.")
        for run_id in removed:
            click.echo(f"  {run_id}")


@main.command("init")
@click.argument("folder", default=".", type=click.Path(file_okay=False))
def init(folder: str) -> None:
    """Create a store in FOLDER/.mltrack (like `git init`); notebooks and scripts below
    FOLDER then find it."""
    from pathlib import Path

    from ..tracking.client import Client
    from ..uris import DB_FILE_NAME, STORE_DIR_NAME, sqlite_uri

    store_dir = Path(folder).resolve() / STORE_DIR_NAME
    existed = (store_dir / DB_FILE_NAME).exists()
    store_dir.mkdir(parents=True, exist_ok=True)
    Client(sqlite_uri(store_dir / DB_FILE_NAME)).search_experiments()  # creates the schema
    click.echo(f"{'Found' if existed else 'Created'} store {store_dir}")
