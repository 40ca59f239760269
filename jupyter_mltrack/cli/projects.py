"""``mltrack run``, ``mltrack reproduce`` and ``mltrack env diff``."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import InvalidProject
from . import main


def _use_store(ctx: click.Context) -> Any:
    """Point the module-level API at the store given with --tracking-uri, if any."""
    from ..tracking import fluent

    uri = ctx.obj.get("tracking_uri") if ctx.obj else None
    if uri:
        fluent.set_tracking_uri(uri)
    return fluent.client()


def _pairs(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InvalidProject(f"-P {item!r}: write name=value, e.g. -P alpha=0.5.")
        out[key.strip()] = value
    return out


@main.command("run")
@click.argument("path", default=".", type=click.Path(file_okay=False))
@click.option("-e", "--entry-point", default="main", show_default=True,
              help="Entry point of the MLproject file, or a .py/.sh/.ipynb file.")
@click.option("-P", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A parameter value (repeat for several).")
@click.option("--experiment", "--experiment-name", "experiment", default=None,
              help="Experiment to log to (created if needed).")
@click.option("--env-manager", type=click.Choice(["local", "virtualenv", "conda", "docker"]),
              default=None, help="Where the command runs (default: local; docker for a "
              "docker_env project).")
@click.option("--run-name", default=None, help="Name of the run.")
@click.pass_context
def run_command(ctx: click.Context, path: str, entry_point: str, params: tuple[str, ...],
                experiment: str | None, env_manager: str | None, run_name: str | None) -> None:
    """Run an entry point of the project in PATH as a tracked run."""
    from ..projects.runner import run

    client = _use_store(ctx)
    done = run(path, entry_point, _pairs(params), experiment_name=experiment,
               env_manager=env_manager, run_name=run_name, client=client)
    click.echo(f"Run {done.run_id} {done.status}.")


@main.command("reproduce")
@click.argument("run_id")
@click.option("--rtol", default=1e-6, show_default=True, type=float,
              help="Relative tolerance when comparing metrics.")
@click.option("--atol", default=0.0, show_default=True, type=float,
              help="Absolute tolerance when comparing metrics.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def reproduce_command(ctx: click.Context, run_id: str, rtol: float, atol: float,
                      as_json: bool) -> None:
    """Re-execute RUN_ID as a new run and report what differs (exit 1 if anything does)."""
    from ..projects.reproduction import reproduce

    _use_store(ctx)
    result = reproduce(run_id, rtol=rtol, atol=atol, quiet=as_json)
    if as_json:
        click.echo(json.dumps({
            "ok": result.ok, "original": result.original_id, "run_id": result.run_id,
            "kind": result.kind, "status": result.status,
            "params": [{"key": k, "original": a, "reproduced": b} for k, a, b in result.params],
            "metrics": [vars(m) for m in result.metrics],
            "nondeterministic": result.nondeterministic,
            "environment": result.environment.lines(), "notes": result.notes}, indent=2))
    else:
        click.echo(str(result))
    ctx.exit(0 if result.ok else 1)


@main.group("env")
def env_group() -> None:
    """The environments runs recorded."""


@env_group.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def env_diff(ctx: click.Context, run_a: str, run_b: str, as_json: bool) -> None:
    """Packages added, removed and changed from RUN_A's environment to RUN_B's."""
    from ..tracking.environment import diff_runs

    client = _use_store(ctx)
    a, b = (client.find_run(ref, run_view_type="active_only").info.run_id
            for ref in (run_a, run_b))
    diff = diff_runs(client, a, b)
    if as_json:
        click.echo(json.dumps({"added": diff.added, "removed": diff.removed,
                               "changed": {k: list(v) for k, v in diff.changed.items()},
                               "python": list(diff.python) if diff.python else None,
                               "missing": diff.missing}, indent=2))
        return
    click.echo(f"{a} -> {b}")
    click.echo(str(diff))
