"""``%%track --grid``: one child run per combination, under one sweep run.

The sweep stops at the first child that fails or is interrupted: that child and the
sweep run end FAILED (or KILLED) and the error is shown as for any cell. Children that
ran keep their results.
"""

from __future__ import annotations

import ast
import html
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from ..entities import RunStatus
from ..errors import InvalidParameter
from ..tracking import fluent
from . import display, tracked_cell
from .capture import literal_text
from .provenance import in_kernel, shell

GRID = "mltrack.sweep.grid"
SIZE = "mltrack.sweep.size"
SWEEP = "mltrack.sweep"


def parse_grid(specs: list[str]) -> dict[str, list[str]]:
    """``["lr=0.001,0.01", "layers=[64],[64,32]"]`` -> names to lists of literal text."""
    grid: dict[str, list[str]] = {}
    for spec in specs:
        name, eq, values = spec.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier() or not values.strip():
            raise InvalidParameter(
                f"--grid {spec!r}: write name=value1,value2,... with a Python variable "
                "name, e.g. --grid lr=0.001,0.01,0.1"
            )
        if name in grid:
            raise InvalidParameter(f"--grid names {name} twice; list all its values once.")
        grid[name] = split_values(values)
    return grid


def split_values(text: str) -> list[str]:
    """Split ``a,b,c`` at top-level commas; each part is a literal or else a string."""
    try:
        node = ast.parse(f"({text},)", mode="eval").body
    except SyntaxError:
        return [literal_text(part) for part in text.split(",") if part.strip()]
    assert isinstance(node, ast.Tuple)
    parts = [ast.get_source_segment(f"({text},)", elt) or "" for elt in node.elts]
    return [literal_text(part) for part in parts]


def combinations(grid: dict[str, list[str]]) -> list[dict[str, str]]:
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]


def point_name(point: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items())


@dataclass
class SweepResult:
    run_id: str
    run_name: str
    status: str
    children: list[tracked_cell.CellResult] = field(default_factory=list)
    seconds: float = 0.0
    error: BaseException | None = None


def run_sweep(shell: Any, plan: tracked_cell.CellPlan, grid: dict[str, list[str]], *,
              overrides: dict[str, str], run_name: str | None, experiment_id: str | None,
              tags: dict[str, str], nested: bool, metric_names: list[str] | None,
              quiet: bool) -> SweepResult:
    """Run the cell once per grid point as children of a new sweep run."""
    __tracebackhide__ = True
    points = combinations(grid)
    sweep_tags = dict(tags)
    sweep_tags.update({SWEEP: "true", GRID: json.dumps(grid), SIZE: str(len(points)),
                       tracked_cell.MAGIC_LINE: plan.line})
    if overrides:
        sweep_tags[tracked_cell.OVERRIDES] = json.dumps(overrides)
    parent = fluent.start_run(run_name=run_name, experiment_id=experiment_id, nested=nested,
                              tags=sweep_tags)
    result = SweepResult(run_id=parent.info.run_id, run_name=parent.info.run_name,
                         status=RunStatus.RUNNING.value)
    progress = display.Progress(len(points), "sweep", quiet)
    status = RunStatus.FINISHED.value
    try:
        for i, point in enumerate(points):
            progress.update(i, point_name(point), finished=False)
            child = tracked_cell.run(
                shell, plan, overrides={**overrides, **point}, run_name=point_name(point),
                experiment_id=parent.info.experiment_id, tags=tags, nested=True,
                metric_names=metric_names,
            )
            result.children.append(child)
            result.seconds += child.seconds
            if child.error is not None:
                status = child.status
                result.error = child.error
                break
            progress.update(i + 1, point_name(point))
    except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
        status = RunStatus.KILLED.value if isinstance(exc, KeyboardInterrupt) else \
            RunStatus.FAILED.value
        result.error = exc
    progress.close(status)
    result.status = status
    current = fluent.active_run()
    if current is not None and current.info.run_id == result.run_id:
        fluent.end_run(status)
    return result


def children_frame(sweep_run_id: str, experiment_id: str) -> Any:
    """The sweep's children as a DataFrame: name, status, params, metrics, in run order."""
    frame: Any = fluent.search_runs(experiment_ids=[experiment_id],
                               filter_string=f"attributes.parent_run_id = '{sweep_run_id}'",
                               order_by=["attributes.start_time ASC"])
    keep = ["run_name", "status"] + \
        [c for c in frame.columns if c.startswith(("params.", "metrics."))]
    out = frame[keep].copy()
    out.columns = [c.split(".", 1)[1] if "." in c else c for c in keep]
    return out.set_index("run_name")


def show_comparison(result: SweepResult, experiment_id: str) -> None:
    """The sweep's children side by side: the compare widget in Jupyter, else a table."""
    title = f"sweep {result.run_name}: {len(result.children)} runs, " \
        f"{display.duration(result.seconds)}"
    if in_kernel(shell()):
        from ..widgets import compare

        display.show(f'<div style="font-size:0.85em;font-weight:600;margin:0.3em 0">'
                     f"{html.escape(title)}</div>", title)
        display.show_object(compare(experiment_id, runs=[c.run_id for c in result.children],
                                    client=fluent.client(), refresh_interval=None))
        return
    display.table(children_frame(result.run_id, experiment_id), title)
