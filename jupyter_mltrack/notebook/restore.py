"""Rebuilding the cell a run executed, and comparing two runs.

A ``%%track`` run stores the cell as typed (``mltrack.notebook.cell_source``) and the
overrides it ran with (``mltrack.notebook.overrides``: ``--param`` and grid values, as
Python literal text). Params themselves are stored as MLflow stores them (strings as
they are, other values as their Python ``repr``), which cannot tell ``"None"`` from
``None``; so a restored cell is rebuilt from the source and the overrides, never by
re-reading param text. The cell that comes back is the code that ran.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..entities import Run
from ..errors import InvalidParameter, RunNotFound
from ..tracking import fluent
from . import provenance, sweep, tracked_cell
from .capture import analyze, apply_overrides, literal_text

RESTORED_FROM = "mltrack.restored_from"

Transform = Callable[[str], str]


def find_run(ref: str) -> Run:
    """An active run by id, unique id prefix (4+ characters) or unique name
    (``Client.find_run``)."""
    try:
        return fluent.client().find_run(ref, run_view_type="active_only")
    except RunNotFound as exc:
        raise RunNotFound(str(exc).replace("search_runs()", "%mltrack runs")) from None


@dataclass
class RunSource:
    """The code a run executed: its ``%%track`` line (or None) and its effective body."""

    magic_line: str | None
    body: str
    assignments: list[str]  # ``name = literal`` lines for values the body does not assign

    def code(self) -> str:
        lines = list(self.assignments)
        return "\n".join([*lines, self.body]) if lines else self.body


def cell_source(run: Run) -> str:
    tags = run.data.tags
    if tags.get(provenance.CELL_TRUNCATED) == "true":
        data = fluent.client().read_artifact(run.info.run_id, tracked_cell.CELL_ARTIFACT)
        return data.decode("utf-8")
    source = tags.get(provenance.CELL_SOURCE)
    if source is None:
        raise InvalidParameter(
            f"Run {run.info.run_id} has no cell source: it was not started in a notebook "
            "or IPython cell."
        )
    return source


def run_source(run: Run, transform: Transform | None = None) -> RunSource:
    """The body a run executed, with its overrides written back into the assignments."""
    cell = cell_source(run)
    first, _, rest = cell.partition("\n")
    magic_line = None
    body = cell
    if first.lstrip().startswith("%%track"):
        magic_line = first.strip()[len("%%track"):].strip()
        body = rest
    overrides: dict[str, str] = json.loads(run.data.tags.get(tracked_cell.OVERRIDES) or "{}")
    if magic_line is None:
        # A run started through the API: its params become assignments above the cell.
        assignments = [f"{k} = {literal_text(v)}" for k, v in run.data.params.items()
                       if k.isidentifier()]
        return RunSource(None, body, assignments)
    python = transform(body) if transform is not None else body
    capture = analyze(python)
    body_lines = body.splitlines()
    python_lines = python.splitlines()

    def unchanged(first: int, last: int) -> bool:
        """Lines the IPython transform left alone, so positions hold in the body too."""
        return body_lines[first - 1:last] == python_lines[first - 1:last] and \
            last <= min(len(body_lines), len(python_lines))

    same = {name for name in overrides if name in capture.sites and all(
        unchanged(site.start[0], site.statement_end[0]) for site in capture.sites[name])}
    in_body = {k: v for k, v in overrides.items() if k in same}
    new_body, _ = apply_overrides(body, capture, in_body) if in_body else (body, {})
    assignments = [f"{k} = {v}" for k, v in overrides.items() if k not in same]
    return RunSource(magic_line, new_body, assignments)


def restored_cell(run: Run, transform: Transform | None = None) -> str:
    """A new cell that reruns ``run``: ``%%track`` with its options, its params, its body."""
    source = run_source(run, transform)
    if source.magic_line is None:
        return f"# restored from run {run.info.run_name} ({run.info.run_id})\n" + source.code()
    options = _kept_options(source.magic_line, sweep=sweep.GRID in run.data.tags)
    experiment = fluent.client().get_experiment(run.info.experiment_id).name
    head = ["%%track", "--experiment", shlex.quote(experiment), *options,
            "--tag", shlex.quote(f"{RESTORED_FROM}={run.info.run_id}")]
    lines = [" ".join(head), f"# restored from run {run.info.run_name} ({run.info.run_id})"]
    return "\n".join(lines) + "\n" + source.code()


def _kept_options(magic_line: str, sweep: bool) -> list[str]:
    """The options of a ``%%track`` line that still apply to a rerun of the run.

    A grid child reruns as one run (its grid values are among the overrides); a sweep
    run keeps its ``--grid``.
    """
    from .magics import parse_track_line

    options = parse_track_line(magic_line)
    out: list[str] = []
    if sweep and options.grid:
        out.append("--grid")
        out += [shlex.quote(f"{k}={','.join(v)}") for k, v in options.grid.items()]
    if options.metrics is not None:
        out += ["--metrics", ",".join(options.metrics)]
    for key, value in options.tags.items():
        out += ["--tag", shlex.quote(f"{key}={value}")]
    if options.nested:
        out.append("--nested")
    if options.quiet:
        out.append("--quiet")
    return out


@dataclass
class RunDiff:
    params: list[tuple[str, Any, Any]]
    metrics: list[tuple[str, Any, Any]]
    same_params: int
    same_metrics: int
    a_source: str | None
    b_source: str | None


def diff_runs(a: Run, b: Run, transform: Transform | None = None) -> RunDiff:
    """Params and metrics that differ (missing values are None), and both sources."""

    def changed(x: dict[str, Any], y: dict[str, Any]) -> tuple[list[tuple[str, Any, Any]], int]:
        keys = sorted(set(x) | set(y))
        rows = [(k, x.get(k), y.get(k)) for k in keys if x.get(k) != y.get(k)]
        return rows, len(keys) - len(rows)

    params, same_params = changed(a.data.params, b.data.params)
    metrics, same_metrics = changed(a.data.metrics, b.data.metrics)

    def source(run: Run) -> str | None:
        try:
            return run_source(run, transform).code()
        except InvalidParameter:
            return None

    return RunDiff(params, metrics, same_params, same_metrics, source(a), source(b))
