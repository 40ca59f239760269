"""The IPython magics: ``%%track`` turns a cell into a run, ``%mltrack`` manages them."""

from __future__ import annotations

import argparse
import functools
import shlex
from dataclasses import dataclass, field
from typing import Any

from IPython.core import magic
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from ..errors import MLTrackError
from ..tracking import fluent
from . import display, provenance, restore, sweep, tracked_cell
from .capture import check_override_names, literal_text

TRACK_USAGE = """\
%%track [--experiment E] [--name N] [--param k=v ...] [--metrics a,b] [--tag k=v ...]
        [--nested] [--grid k=v1,v2 ...] [--quiet]"""

MLTRACK_USAGE = """\
%mltrack restore RUN         insert a cell below that reruns RUN (id, id prefix or name)
%mltrack diff RUN_A RUN_B    params, metrics and source that differ
%mltrack experiment [NAME]   show or set the current experiment
%mltrack uri [URI]           show or set the tracking store
%mltrack status              store, experiment, active run, notebook and kernel
%mltrack runs [-n N]         the N most recent runs of the current experiment (default 10)"""


@dataclass
class TrackOptions:
    experiment: str | None = None
    name: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[str] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    nested: bool = False
    grid: dict[str, list[str]] = field(default_factory=dict)
    quiet: bool = False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"%%track: {message}.\nUsage: {TRACK_USAGE}")


@functools.cache
def _track_parser() -> _Parser:
    parser = _Parser(prog="%%track", add_help=False, allow_abbrev=False)
    parser.add_argument("--experiment", "-e")
    parser.add_argument("--name", "-n")
    parser.add_argument("--param", "-p", action="append", nargs="+", default=[])
    parser.add_argument("--metrics", "-m")
    parser.add_argument("--tag", "-t", action="append", nargs="+", default=[])
    parser.add_argument("--nested", action="store_true")
    parser.add_argument("--grid", "-g", action="append", nargs="+", default=[])
    parser.add_argument("--quiet", "-q", action="store_true")
    return parser


def _pairs(option: str, items: list[list[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in (x for group in items for x in group):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"%%track {option} {item!r}: write key=value.")
        out[key.strip()] = value
    return out


def parse_track_line(line: str) -> TrackOptions:
    """The options of a ``%%track`` line; raises UsageError saying what to fix."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%%track: {exc} (check the quotes).\nUsage: {TRACK_USAGE}") from None
    args = _track_parser().parse_args(words)
    params = {}
    for key, value in _pairs("--param", args.param).items():
        if not key.isidentifier():
            raise UsageError(f"%%track --param {key}=...: a param set by --param is a Python "
                             "variable name (letters, digits, underscores).")
        params[key] = literal_text(value)
    metrics = None
    if args.metrics is not None:
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
        bad = [m for m in metrics if not m.isidentifier()]
        if bad or not metrics:
            raise UsageError(f"%%track --metrics {args.metrics!r}: list variable names "
                             "separated by commas, e.g. --metrics acc,loss.")
    try:
        grid = sweep.parse_grid([x for group in args.grid for x in group])
    except MLTrackError as exc:
        raise UsageError(str(exc)) from None
    both = sorted(set(grid) & set(params))
    if both:
        raise UsageError(f"%%track: {both[0]} is set by both --param and --grid; keep one.")
    return TrackOptions(experiment=args.experiment, name=args.name, params=params,
                        metrics=metrics, tags=_pairs("--tag", args.tag), nested=args.nested,
                        grid=grid, quiet=args.quiet)


def flush_after_cell(result: Any = None) -> None:
    """Cell end: store every buffered metric."""
    fluent.flush()


def _silenceable(fn: Any) -> Any:
    decorator = getattr(magic, "output_can_be_silenced", None)
    return decorator(fn) if decorator is not None else fn


@magics_class
class TrackMagics(Magics):
    """``%%track`` and ``%mltrack``."""

    @cell_magic
    @_silenceable
    def track(self, line: str, cell: str) -> Any:
        """Run the cell as a tracked run. See ``%mltrack`` for managing runs.

        %%track [--experiment E] [--name N] [--param k=v ...] [--metrics a,b]
                [--tag k=v ...] [--nested] [--grid k=v1,v2 ...] [--quiet]
        """
        __tracebackhide__ = True
        options = parse_track_line(line)
        if not cell.strip():
            raise UsageError("%%track needs code in the cell below the %%track line.")
        active = fluent.active_run()
        if active is not None and not options.nested:
            raise UsageError(
                f"Run {active.info.run_name} ({active.info.run_id}) is still active. End it "
                "with mltrack.end_run(), or use %%track --nested to make this cell a child "
                "run of it."
            )
        plan = tracked_cell.prepare(self.shell, line, cell)
        try:
            check_override_names(plan.capture, options.params, "--param")
            check_override_names(plan.capture, options.grid, "--grid")
            experiment_id = fluent.client().get_or_create_experiment(options.experiment) \
                if options.experiment else None
            if options.grid:
                return self._sweep(plan, options, experiment_id)
            result = tracked_cell.run(
                self.shell, plan, overrides=options.params, run_name=options.name,
                experiment_id=experiment_id, tags=options.tags, nested=options.nested,
                metric_names=options.metrics,
            )
        except MLTrackError as exc:
            raise UsageError(f"%%track: {exc}") from None
        if not options.quiet:
            display.show(*display.summary(
                result.run_name, result.run_id, result.status, result.seconds,
                result.params, result.metrics, result.notes, result.error))
        if result.error is not None:
            raise result.error
        return result.value

    def _sweep(self, plan: tracked_cell.CellPlan, options: TrackOptions,
               experiment_id: str | None) -> None:
        __tracebackhide__ = True
        result = sweep.run_sweep(
            self.shell, plan, options.grid, overrides=options.params, run_name=options.name,
            experiment_id=experiment_id, tags=options.tags, nested=options.nested,
            metric_names=options.metrics, quiet=options.quiet,
        )
        if not options.quiet:
            failed = result.children[-1] if result.error is not None and result.children \
                else None
            if failed is not None:
                display.show(*display.summary(
                    failed.run_name, failed.run_id, failed.status, failed.seconds,
                    failed.params, failed.metrics, failed.notes, failed.error))
            experiment = experiment_id or fluent.client().get_run(result.run_id) \
                .info.experiment_id
            if result.children:
                sweep.show_comparison(result, experiment)
        if result.error is not None:
            raise result.error

    @line_magic
    def mltrack(self, line: str) -> Any:
        """Manage tracked runs from the notebook.

        %mltrack restore RUN         insert a cell below that reruns RUN
        %mltrack diff RUN_A RUN_B    params, metrics and source that differ
        %mltrack experiment [NAME]   show or set the current experiment
        %mltrack uri [URI]           show or set the tracking store
        %mltrack status              store, experiment, active run, notebook, kernel
        %mltrack runs [-n N]         recent runs of the current experiment
        """
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%mltrack: {exc} (check the quotes).") from None
        command, args = (words[0], words[1:]) if words else ("help", [])
        handler = getattr(self, f"_cmd_{command}", None)
        if handler is None:
            raise UsageError(f"%mltrack has no command {command!r}.\n{MLTRACK_USAGE}")
        try:
            return handler(args)
        except MLTrackError as exc:
            raise UsageError(f"%mltrack {command}: {exc}") from None

    # -- %mltrack commands ---------------------------------------------------------------

    def _cmd_help(self, args: list[str]) -> None:
        print(MLTRACK_USAGE)

    def _cmd_restore(self, args: list[str]) -> None:
        if len(args) != 1:
            raise UsageError("Usage: %mltrack restore RUN (a run id, id prefix or name).")
        run = restore.find_run(args[0])
        ip: Any = self.shell
        text = restore.restored_cell(run, ip.transform_cell)
        ip.set_next_input(text, replace=False)
        print(f"Restored run {run.info.run_name} ({run.info.run_id[:8]}) into a new cell "
              "below.")

    def _cmd_diff(self, args: list[str]) -> None:
        if len(args) != 2:
            raise UsageError("Usage: %mltrack diff RUN_A RUN_B")
        a, b = restore.find_run(args[0]), restore.find_run(args[1])
        ip: Any = self.shell
        result = restore.diff_runs(a, b, ip.transform_cell)
        import pandas as pd

        name_a, name_b = a.info.run_name, b.info.run_name
        if name_a == name_b:
            name_a, name_b = f"{name_a} ({a.info.run_id[:8]})", f"{name_b} ({b.info.run_id[:8]})"
        for what, rows, same in (("params", result.params, result.same_params),
                                 ("metrics", result.metrics, result.same_metrics)):
            title = f"{what}: {len(rows)} differ, {same} the same"
            if rows:
                frame = pd.DataFrame([("—" if a_v is None else a_v, "—" if b_v is None else b_v)
                                      for _, a_v, b_v in rows],
                                     index=pd.Index([k for k, _, _ in rows], name=what),
                                     columns=[name_a, name_b])
                display.table(frame, title)
            else:
                display.show(f'<div style="font-size:0.85em">{title}</div>', title)
        if result.a_source is None or result.b_source is None:
            note = "source: not recorded for " + (name_a if result.a_source is None else name_b)
            display.show(f'<div style="font-size:0.85em">{note}</div>', note)
        else:
            display.show(*display.source_diff(name_a, name_b, result.a_source,
                                              result.b_source))

    def _cmd_experiment(self, args: list[str]) -> None:
        if len(args) > 1:
            raise UsageError("Usage: %mltrack experiment [NAME] (quote names with spaces).")
        if args:
            exp = fluent.set_experiment(args[0])
            print(f"Experiment {exp.name!r} (id {exp.experiment_id}) is current.")
        else:
            exp = fluent.get_experiment(fluent.get_experiment_id())
            print(f"Experiment {exp.name!r} (id {exp.experiment_id}).")

    def _cmd_uri(self, args: list[str]) -> None:
        if len(args) > 1:
            raise UsageError("Usage: %mltrack uri [URI]")
        if args:
            fluent.set_tracking_uri(args[0])
        print(f"Tracking store: {fluent.get_tracking_uri()}")

    def _cmd_status(self, args: list[str]) -> None:
        ip = self.shell
        kernel = provenance.kernel_id()
        path, how = provenance.notebook_path(ip, kernel)
        active = fluent.active_run()
        last = fluent.last_active_run()
        exp = fluent.get_experiment(fluent.get_experiment_id())
        rows = [
            ("tracking store", fluent.get_tracking_uri()),
            ("experiment", f"{exp.name} (id {exp.experiment_id})"),
            ("active run", f"{active.info.run_name} ({active.info.run_id})" if active
             else "none"),
            ("last run", f"{last.info.run_name} ({last.info.run_id}, {last.info.status})"
             if last else "none"),
            ("notebook", f"{path} (from {how})" if path else "unknown"),
            ("kernel", kernel or "not a Jupyter kernel"),
        ]
        text = "\n".join(f"{k:>15}: {v}" for k, v in rows)
        import html

        body = "".join(f"<tr><th style='text-align:right'>{html.escape(k)}</th>"
                       f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
                       for k, v in rows)
        display.show(f"<table style='font-size:0.85em'>{body}</table>", text)

    def _cmd_runs(self, args: list[str]) -> None:
        parser = _Parser(prog="%mltrack runs", add_help=False)
        parser.add_argument("-n", type=int, default=10)
        count = parser.parse_args(args).n
        if count < 1:
            raise UsageError("%mltrack runs -n N: N is at least 1.")
        frame = fluent.search_runs(max_results=count, order_by=["attributes.start_time DESC"])
        exp = fluent.get_experiment(fluent.get_experiment_id())
        if len(frame) == 0:
            print(f"No runs yet in experiment {exp.name!r}.")
            return
        display.table(runs_table(frame), f"{len(frame)} most recent runs of {exp.name!r}")


def runs_table(frame: Any) -> Any:
    """A compact view of a search_runs DataFrame: who, when, how long, params, metrics."""
    import pandas as pd

    out = pd.DataFrame({
        "run_id": frame["run_id"].str.slice(0, 8),
        "run_name": frame["run_name"],
        "status": frame["status"],
        "start": frame["start_time"].dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M:%S"),
        "duration": [
            display.duration((end - start).total_seconds()) if pd.notna(end) else ""
            for start, end in zip(frame["start_time"], frame["end_time"], strict=True)
        ],
    })
    for column in frame.columns:
        if column.startswith(("params.", "metrics.")):
            out[column] = frame[column].to_numpy()
    return out.set_index("run_id")
