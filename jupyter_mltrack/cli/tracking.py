"""``mltrack experiments``, ``mltrack runs`` and ``mltrack gc``."""

from __future__ import annotations

import datetime as dt
import json
import shutil
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
        for e in c.search_experiments("all" if show_all else "active_only", 50_000,
                                      order_by=["experiment_id"])
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


#: Attributes ``runs list --columns`` takes, besides params.<key>, metrics.<key>, tags.<key>.
ATTRIBUTES = ("run_id", "name", "status", "experiment_id", "start", "duration_s",
              "parent_run_id", "lifecycle", "user")
_DEFAULT = ("run_id", "name", "status", "start", "duration_s")


def _columns(text: str) -> list[str]:
    columns = [c.strip() for c in text.split(",") if c.strip()]
    for column in columns:
        kind, dot, key = column.partition(".")
        if dot and kind in ("params", "metrics", "tags") and key:
            continue
        if column not in ATTRIBUTES:
            raise click.BadParameter(
                f"{column!r} is not a column; use {', '.join(ATTRIBUTES)}, params.<key>, "
                "metrics.<key> or tags.<key>, separated by commas.", param_hint="--columns")
    if not columns:
        raise click.BadParameter("name at least one column.", param_hint="--columns")
    return columns


def _value(row: dict[str, Any], column: str) -> Any:
    kind, dot, key = column.partition(".")
    if dot and kind in ("params", "metrics", "tags"):
        return row[kind].get(key)
    if column == "user":
        return row["tags"].get("mltrack.user")
    return row[column]


def _fit(rows: list[dict[str, Any]], width: int) -> tuple[list[str], list[str]]:
    """Default columns: attributes, then params and metrics while they fit ``width``
    (metrics are kept first); returns (shown, left out)."""
    params = [f"params.{k}" for k in sorted({k for r in rows for k in r["params"]})]
    metrics = [f"metrics.{k}" for k in sorted({k for r in rows for k in r["metrics"]})]

    def size(column: str) -> int:
        if column == "run_id":
            return 10  # shown as 8 characters
        return max(len(column), *(len(_text(_value(r, column))) for r in rows)) + 2

    used = sum(size(c) for c in _DEFAULT)
    kept: set[str] = set()
    for column in metrics + params:
        if used + size(column) <= width:
            kept.add(column)
            used += size(column)
    shown = [*_DEFAULT, *(c for c in params + metrics if c in kept)]
    return shown, [c for c in params + metrics if c not in kept]


def _left_out_note(left_out: list[str], width: int) -> str:
    """``(3 more columns: a, b, ...; choose them with --columns)`` within ``width``."""
    tail = "; choose them with --columns)"
    names: list[str] = []
    for i, name in enumerate(left_out):
        rest = "" if i == len(left_out) - 1 else ", ..."
        candidate = ", ".join([*names, name]) + rest
        if len(f"({len(left_out)} more columns: {candidate}{tail}") > width:
            break
        names.append(name)
    shown = ", ".join([*names, "..."] if len(names) < len(left_out) else names)
    return f"({len(left_out)} more columns: {shown}{tail}"


def _text(value: Any) -> str:
    from . import _cell

    return _cell(value)


@runs.command("list")
@click.option("--experiment", "-e", multiple=True, help="Experiment name or id (repeatable).")
@click.option("--filter", "filter_string", default=None,
              help="Search filter, e.g. \"metrics.acc > 0.9 and params.lr = '0.01'\".")
@click.option("--order-by", multiple=True, help="e.g. 'metrics.acc DESC' (repeatable).")
@click.option("--max-results", default=100, show_default=True, type=int)
@click.option("--columns", "columns_text", default=None,
              help="Columns to show, e.g. 'name,params.lr,metrics.acc,tags.team' (default: "
                   "the attributes, params and metrics that fit the terminal).")
@click.option("--deleted", is_flag=True, help="Show deleted runs instead.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runs_list(ctx: click.Context, experiment: tuple[str, ...], filter_string: str | None,
              order_by: tuple[str, ...], max_results: int, columns_text: str | None,
              deleted: bool, as_json: bool) -> None:
    """List runs, newest first. Run ids are shortened to 8 characters: every command
    taking a run accepts a unique start of its id, or its name."""
    columns = None if columns_text is None else _columns(columns_text)
    if max_results < 1:
        from ..errors import InvalidParameter

        raise InvalidParameter(f"--max-results must be 1 or more, not {max_results}.")
    c = client_from(ctx)
    ids = [c.resolve_experiment_id(e) for e in experiment]
    page = c.search_runs(ids, filter_string, "deleted_only" if deleted else "active_only",
                         max_results, list(order_by) or None)
    rows = [_run_row(r) for r in page]
    if as_json:
        if columns is not None:
            rows = [{col: _value(r, col) for col in columns} for r in rows]
        emit(rows, [], True)
        return
    left_out: list[str] = []
    if columns is None and rows:
        columns, left_out = _fit(rows, shutil.get_terminal_size((120, 24)).columns)
    columns = columns or list(_DEFAULT)
    table = [{col: _value(r, col) for col in columns} for r in rows]
    for flat in table:
        if "run_id" in flat:
            flat["run_id"] = flat["run_id"][:8]
    emit(table, columns, False,
         headers=[col if "." in col else col.upper() for col in columns])
    if left_out:
        click.echo(_left_out_note(left_out, shutil.get_terminal_size((120, 24)).columns))


@runs.command("show")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runs_show(ctx: click.Context, run: str, as_json: bool) -> None:
    """Show one RUN (its id, a unique start of its id, or its name): attributes,
    params, metrics and tags."""
    row = _run_row(client_from(ctx).find_run(run))
    if as_json:
        click.echo(json.dumps(row, indent=2, default=str))
        return
    for key in ("run_id", "name", "status", "experiment_id", "start", "duration_s",
                "parent_run_id", "lifecycle"):
        click.echo(f"{key + ':':<15}{'' if row[key] is None else row[key]}")
    for section in ("params", "metrics", "tags"):
        click.echo(f"{section}:")
        for key, value in sorted(row[section].items()):
            lines = str(value).splitlines()
            if len(lines) > 1:
                click.echo(f"  {key} =")
                for line in lines:
                    click.echo(f"      {line}".rstrip())
            else:
                click.echo(f"  {key} = {value}")


@runs.command("delete")
@click.argument("runs_", metavar="RUNS...", nargs=-1, required=True)
@click.pass_context
def runs_delete(ctx: click.Context, runs_: tuple[str, ...]) -> None:
    """Soft-delete RUNS (ids, unique id prefixes or names); `mltrack gc` removes them
    for good."""
    c = client_from(ctx)
    found = [c.find_run(ref, run_view_type="active_only") for ref in runs_]
    for run in found:
        c.delete_run(run.info.run_id)
        click.echo(f"Deleted run {run.info.run_id} ({run.info.run_name}).")


@runs.command("restore")
@click.argument("runs_", metavar="RUNS...", nargs=-1, required=True)
@click.pass_context
def runs_restore(ctx: click.Context, runs_: tuple[str, ...]) -> None:
    """Restore soft-deleted RUNS (ids, unique id prefixes or names)."""
    c = client_from(ctx)
    found = [c.find_run(ref, run_view_type="deleted_only") for ref in runs_]
    for run in found:
        c.restore_run(run.info.run_id)
        click.echo(f"Restored run {run.info.run_id} ({run.info.run_name}).")


@main.command("gc")
@click.option("--older-than", default=None, type=float,
              help="Only runs deleted at least this many seconds ago.")
@click.option("--run-id", "run_ids", multiple=True,
              help="Only these deleted runs (ids, unique id prefixes or names).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def gc(ctx: click.Context, older_than: float | None, run_ids: tuple[str, ...],
       as_json: bool) -> None:
    """Permanently remove deleted runs and their artifacts."""
    c = client_from(ctx)
    chosen = [c.find_run(ref).info.run_id for ref in run_ids]
    removed = c.gc(older_than, chosen or None)
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
