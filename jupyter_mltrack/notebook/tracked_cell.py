"""Running one cell as one run: params before the body, metrics after, status always.

The body runs in the user's namespace like any cell: compiled under the cell's own
name, so tracebacks say ``Cell In[7], line 3`` with the line numbers the user sees, and
a last expression becomes the cell's output. The frames of this module are hidden from
tracebacks (``__tracebackhide__``).
"""

from __future__ import annotations

import ast
import json
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from ..entities import Metric, RunStatus
from ..errors import InvalidParameter
from ..tracking import fluent
from ..tracking.validation import param_value
from . import provenance
from .capture import CellCapture, analyze, apply_overrides, metric_number

#: Tag with the ``--param`` / grid overrides a run executed with: JSON of literal text.
OVERRIDES = "mltrack.notebook.overrides"
#: Tag with the ``%%track`` options line of the cell.
MAGIC_LINE = "mltrack.notebook.magic"
ERROR = "mltrack.error"
#: Artifact holding the whole cell when it is too long for the source tag.
CELL_ARTIFACT = "mltrack/cell.py"
_MAX_ERROR = 7900


@dataclass
class CellPlan:
    """A cell parsed once; each run (one, or one per grid point) executes it."""

    line: str
    body: str
    python: str  # the transformed body, after one empty line standing for the magic line
    tree: ast.Module
    capture: CellCapture
    count: int | None
    cell: str  # the cell as typed, magic line included

    @property
    def header(self) -> str:
        return f"%%track {self.line}".rstrip()


@dataclass
class CellResult:
    run_id: str
    run_name: str
    status: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    value: Any = None
    error: BaseException | None = None


def prepare(shell: Any, line: str, body: str) -> CellPlan:
    """Transform and parse the body; a syntax error is raised as the cell's own."""
    __tracebackhide__ = True
    count, cell = provenance.current_cell(shell)
    if cell is None or not cell.lstrip().startswith("%%track"):
        count, cell = shell.execution_count, f"%%track {line}".rstrip() + "\n" + body
    python = "\n" + shell.transform_cell(body)
    header = f"%%track {line}".rstrip()
    filename = shell.compile.cache(header + python, count or 0, raw_code=header + python)
    tree = shell.compile.ast_parse(python, filename=filename)
    return CellPlan(line=line, body=body, python=python, tree=tree,
                    capture=analyze(python, tree), count=count, cell=cell)


def run(shell: Any, plan: CellPlan, *, overrides: dict[str, str] | None = None,
        run_name: str | None = None, experiment_id: str | None = None,
        tags: dict[str, str] | None = None, nested: bool = False,
        metric_names: list[str] | None = None) -> CellResult:
    """Execute the planned cell once as a run; exceptions are returned, not raised."""
    __tracebackhide__ = True
    overrides = overrides or {}
    text, inject = apply_overrides(plan.python, plan.capture, overrides)
    # Named after the executed text (not the cell), so that its frames are told apart
    # from the cell's own frame that called the magic.
    filename = shell.compile.cache(plan.header + text, plan.count or 0,
                                   raw_code=plan.header + text)
    tree = plan.tree if text == plan.python else \
        shell.compile.ast_parse(text, filename=filename)
    code, last = _compile(shell, tree, filename)

    values = dict(plan.capture.params)
    values.update({name: ast.literal_eval(literal) for name, literal in overrides.items()})
    params, notes = _param_texts(values)

    run_tags = dict(tags or {})
    if overrides:
        run_tags[OVERRIDES] = json.dumps(overrides)
    run_tags[MAGIC_LINE] = plan.line
    outer = fluent.active_run()
    with provenance.cell_hint(plan.count, plan.cell):
        active = fluent.start_run(run_name=run_name, experiment_id=experiment_id,
                                  nested=nested, tags=run_tags)
    run_id = active.info.run_id
    client = fluent.client()
    result = CellResult(run_id=run_id, run_name=active.info.run_name,
                        status=RunStatus.RUNNING.value, params=dict(params), notes=notes)
    try:
        if params:
            client.log_batch(run_id, params=params)
        if len(plan.cell) > len(active.data.tags.get(provenance.CELL_SOURCE, plan.cell)):
            client.log_text(run_id, plan.cell, CELL_ARTIFACT)
        namespace = shell.user_ns
        for name, literal in inject.items():
            namespace[name] = ast.literal_eval(literal)
    except BaseException as exc:
        _end(run_id, outer, _failed(exc))
        raise

    started = time.perf_counter()
    try:
        exec(code, shell.user_global_ns, shell.user_ns)  # noqa: S102 - running the user's cell
        if last is not None:
            result.value = eval(last, shell.user_global_ns, shell.user_ns)  # noqa: S307
    except BaseException as exc:  # noqa: BLE001 - handed back to the caller to re-raise
        result.seconds = time.perf_counter() - started
        result.error = exc
        result.status = _failed(exc)
        _record_failure(run_id, outer, result, exc, filename, plan.count,
                        active.data.tags.get(provenance.PACKAGES))
        return result
    result.seconds = time.perf_counter() - started

    try:
        _refresh_packages(run_id, active.data.tags.get(provenance.PACKAGES))
        client.flush()
        stored = client.get_run(run_id)
        result.params = _ordered(result.params, stored.data.params)
        result.metrics = dict(stored.data.metrics)
        captured = _captured_metrics(shell.user_ns, plan.capture, metric_names,
                                     set(result.metrics), result.notes)
        if captured:
            now = time.time_ns() // 1_000_000
            client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in captured.items()])
            result.metrics.update(captured)
        result.status = RunStatus.FINISHED.value
        _end(run_id, outer, result.status)
    except BaseException as exc:
        _end(run_id, outer, _failed(exc))
        raise
    return result


def _failed(exc: BaseException) -> str:
    """KILLED for an interrupt, FAILED for anything else."""
    killed = isinstance(exc, KeyboardInterrupt)
    return (RunStatus.KILLED if killed else RunStatus.FAILED).value


def _compile(shell: Any, tree: ast.Module, filename: str) -> tuple[Any, Any]:
    tree = shell.transform_ast(tree)
    body = list(tree.body)
    last = None
    if body and isinstance(body[-1], ast.Expr):
        expr = body.pop()
        assert isinstance(expr, ast.Expr)
        last = shell.compile(ast.Expression(expr.value), filename, "eval")
    return shell.compile(ast.Module(body, []), filename, "exec"), last


def _param_texts(values: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    params: dict[str, str] = {}
    notes: list[str] = []
    for name, value in values.items():
        try:
            params[name] = param_value(value)
        except InvalidParameter:
            notes.append(f"param {name} not logged: its value is too long for a param; "
                         "log it with mltrack.log_text() or log_dict().")
    return params, notes


def _captured_metrics(namespace: dict[str, Any], capture: CellCapture,
                      names: list[str] | None, logged: set[str],
                      notes: list[str]) -> dict[str, float]:
    """Numbers the cell computed at top level (or the ``--metrics`` names), not yet logged."""
    wanted = list(capture.metric_names) if names is None else names
    missing = object()
    captured: dict[str, float] = {}
    for name in wanted:
        if name in logged or name in capture.ignored:
            continue
        value = namespace.get(name, missing)
        number = None if value is missing else metric_number(value)
        if number is not None:
            captured[name] = number
        elif names is not None:
            what = "is not defined" if value is missing else \
                f"is a {type(value).__name__}, not a number"
            notes.append(f"--metrics {name}: {name} {what}.")
    return captured


def _ordered(first: dict[str, str], stored: dict[str, str]) -> dict[str, str]:
    """The stored params, the cell's own first in the cell's order."""
    out = {k: stored[k] for k in first if k in stored}
    out.update((k, v) for k, v in stored.items() if k not in out)
    return out


def _refresh_packages(run_id: str, at_start: str | None) -> None:
    """The cell may have imported packages: record the versions as they are at its end."""
    now = provenance.packages_text()
    if now and now != at_start:
        fluent.client().set_tag(run_id, provenance.PACKAGES, now)


def _record_failure(run_id: str, outer: Any, result: CellResult, exc: BaseException,
                    filename: str, count: int | None, packages: str | None) -> None:
    """Store the traceback (from the cell's first frame on) and end the run."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
    text = text.replace(f'"{filename}"', f"Cell In[{count}]" if count else "cell")
    client = fluent.client()
    try:
        _refresh_packages(run_id, packages)
        client.set_tag(run_id, ERROR, text[-_MAX_ERROR:])
        stored = client.get_run(run_id)
        result.params = _ordered(result.params, stored.data.params)
        result.metrics = dict(stored.data.metrics)
    except Exception as store_exc:  # noqa: BLE001 - never hide the user's own error
        result.notes.append(f"could not store the traceback: {store_exc}")
    try:
        _end(run_id, outer, result.status)
    except Exception as store_exc:  # noqa: BLE001 - never hide the user's own error
        result.notes.append(f"could not end the run: {store_exc}")


def _end(run_id: str, outer: Any, status: str) -> None:
    """End this cell's run, and any run the cell left open inside it, with ``status``."""
    outer_id = outer.info.run_id if outer is not None else None
    while True:
        current = fluent.active_run()
        if current is None or current.info.run_id == outer_id:
            return  # the cell ended its run itself
        fluent.end_run(status)
        if current.info.run_id == run_id:
            return
