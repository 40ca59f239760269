"""``reproduce(run)``: run again what a run captured, and say what came out different.

What is re-executed, in a fresh kernel or process:

* a ``%%track`` run: its cell with its params (as ``%mltrack restore`` rebuilds it),
  after the cells above it in its notebook when the notebook still holds the cell
  (earlier ``%%track`` cells are skipped: they would make runs of their own);
* a notebook run (``run_notebook``): the notebook snapshot stored with the run, with the
  same parameters;
* a project run (``mltrack run``): the entry point with the same parameters and
  environment manager, from the recorded git commit (``git archive``) when there is one.

The new run is tagged ``mltrack.reproduces=<original id>``. The report lists params that
differ, metrics compared with a tolerance (outside it: flagged as non-deterministic, never
hidden) and the packages added, removed or changed.
"""

from __future__ import annotations

import ast
import html
import json
import math
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..entities import Run, RunStatus
from ..errors import ExecutionFailed, InvalidParameter
from ..tracking import context, environment
from . import notebooks
from . import tags as T


@dataclass
class MetricCheck:
    key: str
    original: float | None
    reproduced: float | None
    same: bool


@dataclass
class Reproduction:
    """The outcome of :func:`reproduce`; ``ok`` when params and metrics came out the same."""

    original_id: str
    run_id: str | None
    kind: str  # cell, notebook or project
    status: str
    params: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    metrics: list[MetricCheck] = field(default_factory=list)
    environment: environment.EnvironmentDiff = field(
        default_factory=environment.EnvironmentDiff)
    notes: list[str] = field(default_factory=list)
    rtol: float = 1e-6
    atol: float = 0.0

    @property
    def ok(self) -> bool:
        return (self.status == RunStatus.FINISHED.value and not self.params
                and all(m.same for m in self.metrics))

    @property
    def nondeterministic(self) -> list[str]:
        """Metrics whose reproduced value lies outside the tolerance."""
        return [m.key for m in self.metrics if not m.same]

    def lines(self) -> list[str]:
        verdict = "reproduced" if self.ok else "NOT reproduced"
        out = [f"{verdict}: run {self.original_id} ({self.kind}) -> "
               f"{self.run_id or 'no run'} {self.status}"]
        for key, a, b in self.params:
            out.append(f"  param {key}: {a!r} -> {b!r}")
        for m in self.metrics:
            mark = "=" if m.same else "≠"
            out.append(f"  metric {m.key}: {_num(m.original)} {mark} {_num(m.reproduced)}"
                       + ("" if m.same else f"  (outside rtol={self.rtol:g}, "
                          f"atol={self.atol:g}: non-deterministic?)"))
        if self.environment.same:
            out.append("  environment: same packages")
        else:
            out += ["  environment: " + line for line in self.environment.lines()]
        out += [f"  note: {n}" for n in self.notes]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return f"<Reproduction ok={self.ok} {self.original_id} -> {self.run_id}>"

    def _repr_html_(self) -> str:
        color = "#2e7d32" if self.ok else "#c62828"
        lines = self.lines()
        head = f'<div style="font-weight:600;color:{color}">{html.escape(lines[0])}</div>'
        body = "".join(f"<div>{html.escape(line.strip())}</div>" for line in lines[1:])
        return f'<div style="font-family:monospace;font-size:0.9em">{head}{body}</div>'


def _num(value: float | None) -> str:
    return "missing" if value is None else f"{value:.10g}"


def _kind(run: Run) -> str:
    tags = run.data.tags
    if T.ENTRY_POINT in tags and T.PROJECT_DIR in tags:
        return "project"
    if T.NOTEBOOK in tags:
        return "notebook"
    if tags.get("mltrack.notebook.cell_source", "").lstrip().startswith("%%track"):
        return "cell"
    raise InvalidParameter(
        f"Run {run.info.run_id} recorded no code that can be re-executed: reproduce works "
        "for %%track cells, run_notebook() runs and `mltrack run` project runs."
    )


def reproduce(run: Run | str, *, rtol: float = 1e-6, atol: float = 0.0,
              timeout: float | None = 600, quiet: bool = False) -> Reproduction:
    """Re-execute what ``run`` captured as a new run and compare the two."""
    from ..tracking import fluent

    client = fluent.client()
    original = run if isinstance(run, Run) else client.find_run(str(run),
                                                               run_view_type="active_only")
    kind = _kind(original)
    started = time.time_ns() // 1_000_000 - 1
    notes: list[str] = []
    new_id: str | None
    try:
        if kind == "project":
            new_id = _project(client, original, notes, quiet)
        elif kind == "notebook":
            new_id = _notebook(client, original, notes, timeout, quiet)
        else:
            new_id = _cell(client, original, notes, timeout, started)
    except ExecutionFailed as exc:
        new_id = _latest_reproduction(client, original, started)
        notes.append(f"the reproduction failed: {exc}")
    return compare(client, original, new_id, kind, notes, rtol, atol)


def compare(client: Any, original: Run, new_id: str | None, kind: str, notes: list[str],
            rtol: float = 1e-6, atol: float = 0.0) -> Reproduction:
    """The report of a reproduction: params, metrics within tolerance, environment."""
    if new_id is None:
        return Reproduction(original.info.run_id, None, kind, RunStatus.FAILED.value,
                            notes=notes, rtol=rtol, atol=atol)
    new = client.get_run(new_id)
    a, b = original.data.params, new.data.params
    params = [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    checks = []
    ma, mb = original.data.metrics, new.data.metrics
    for key in sorted(set(ma) | set(mb)):
        x, y = ma.get(key), mb.get(key)
        same = x is not None and y is not None and (
            (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=rtol, abs_tol=atol))
        checks.append(MetricCheck(key, x, y, same))
    env = environment.diff_runs(client, original.info.run_id, new_id)
    return Reproduction(original.info.run_id, new_id, kind, new.info.status, params, checks,
                        env, notes, rtol, atol)


def _latest_reproduction(client: Any, original: Run, since: int) -> str | None:
    runs = client.search_runs(
        [original.info.experiment_id],
        f"tags.`{T.REPRODUCES}` = '{original.info.run_id}' AND attributes.start_time >= {since}",
        max_results=1, order_by=["attributes.start_time DESC"])
    return runs[0].info.run_id if runs else None


# -- project runs -------------------------------------------------------------------------

def _project(client: Any, original: Run, notes: list[str], quiet: bool) -> str:
    from .runner import run as run_project

    tags = original.data.tags
    folder = Path(tags[T.PROJECT_DIR])
    commit = tags.get(context.GIT_COMMIT)
    extra = {T.REPRODUCES: original.info.run_id, T.PROJECT_DIR: str(folder),
             context.SOURCE_NAME: str(folder)}
    work = Path(tempfile.mkdtemp(prefix="mltrack-reproduce-"))
    try:
        where = folder
        if commit and folder.is_dir():
            where = _checkout(commit, folder, work, notes)
            if where != folder:
                extra[context.GIT_COMMIT] = commit
                if tags.get(context.GIT_DIRTY) == "true":
                    notes.append("the original ran with uncommitted changes; the "
                                 f"reproduction ran the committed code of {commit[:12]}.")
        elif not commit:
            notes.append("no git commit was recorded: the project ran as it is on disk now.")
        if not where.is_dir():
            raise InvalidParameter(f"The project folder {folder} of run "
                                   f"{original.info.run_id} does not exist any more.")
        parameters = json.loads(tags.get(T.PARAMETERS) or "{}")
        done = run_project(where, tags[T.ENTRY_POINT], parameters,
                           experiment_id=original.info.experiment_id,
                           env_manager=tags.get(T.ENV_MANAGER),
                           run_name=f"{original.info.run_name} (reproduced)", tags=extra,
                           client=client, quiet=quiet)
        return done.run_id
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _checkout(commit: str, folder: Path, work: Path, notes: list[str]) -> Path:
    """The project folder as it was at ``commit`` (extracted with ``git archive``)."""

    def git(where: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(where), *args], capture_output=True,
                              text=True, timeout=300)

    prefix = git(folder, "rev-parse", "--show-prefix")
    top = git(folder, "rev-parse", "--show-toplevel")
    archive = work / "code.tar"
    done = git(top.stdout.strip(), "archive", "--format=tar", "-o", str(archive), commit) \
        if prefix.returncode == 0 and top.returncode == 0 else prefix
    if done.returncode != 0:
        notes.append(f"git could not export commit {commit[:12]} ({done.stderr.strip()}); "
                     "the project ran as it is on disk now.")
        return folder
    code = work / "code"
    code.mkdir()
    shutil.unpack_archive(str(archive), str(code), "tar")
    found = code / prefix.stdout.strip()
    if not (found.is_dir() and any(found.iterdir())):
        notes.append(f"the project folder is not in commit {commit[:12]} (not committed?); "
                     "it ran as it is on disk now.")
        return folder
    return found


# -- notebook runs ------------------------------------------------------------------------

def _notebook(client: Any, original: Run, notes: list[str], timeout: float | None,
              quiet: bool) -> str:
    import nbformat

    tags = original.data.tags
    path = Path(tags[T.NOTEBOOK])
    data = client.read_artifact(original.info.run_id, notebooks.INPUT_ARTIFACT)
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    parameters = {k: ast.literal_eval(v) for k, v in
                  json.loads(tags.get(T.PARAMETERS) or "{}").items()}
    if not path.parent.is_dir():
        notes.append(f"the notebook's folder {path.parent} is gone; it ran in a temporary "
                     "folder.")
        path = Path(tempfile.mkdtemp(prefix="mltrack-reproduce-")) / path.name
    progress = notebooks._CellProgress(sum(c.cell_type == "code" for c in nb.cells) + 1, quiet)
    try:
        done = notebooks.execute_run(
            client, original.info.experiment_id, path, nb, parameters,
            f"{original.info.run_name} (reproduced)", timeout=timeout, progress=progress,
            tags={T.REPRODUCES: original.info.run_id},
            param_texts={k: v for k, v in original.data.params.items() if k in parameters})
    finally:
        progress.bar.close("FINISHED")
    if done.error:
        notes.append(f"the notebook stopped with an error: {done.error[-500:]}")
    return done.run_id


# -- %%track cells ------------------------------------------------------------------------

def _transform(text: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return str(TransformerManager().transform_cell(text))


def _cell(client: Any, original: Run, notes: list[str], timeout: float | None,
          started: int) -> str | None:
    import nbformat

    from ..notebook import provenance
    from ..notebook.restore import restored_cell

    tags = original.data.tags
    cell = restored_cell(original, _transform)
    head, _, body = cell.partition("\n")
    head += " --tag " + shlex.quote(f"{T.REPRODUCES}={original.info.run_id}")
    prelude, folder = _prelude(tags.get(provenance.NOTEBOOK_PATH),
                               tags.get(provenance.CELL_HASH), notes)
    nb = nbformat.v4.new_notebook()
    cells = ["%load_ext jupyter_mltrack", *prelude, head + "\n" + body]
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    variables = {"MLTRACK_TRACKING_URI": str(client.tracking_uri)}
    error = notebooks.execute(nb, folder, variables, timeout=timeout)
    if error is not None:
        notes.append(f"the cell stopped with an error: {str(error)[-500:]}")
    return _latest_reproduction(client, original, started)


def _prelude(path: str | None, cell_hash: str | None, notes: list[str]
             ) -> tuple[list[str], Path]:
    """The code cells above the run's cell in its notebook, and the folder to run in."""
    from ..tracking.staleness import cell_hashes

    if not path or not Path(path).is_file():
        notes.append("the run's notebook is not on disk: its cell ran alone in a fresh "
                     "kernel.")
        return [], Path.cwd()
    import nbformat

    nb = nbformat.read(path, as_version=4)
    folder = Path(path).parent
    hashes = cell_hashes(Path(path))
    index = next((i for i, c in enumerate(nb.cells)
                  if c.cell_type == "code" and cell_hash in hashes.get(i, ())), None)
    if index is None:
        notes.append("the cell is no longer in its notebook (stale): it ran alone in a fresh "
                     "kernel.")
        return [], folder
    prelude, skipped = [], 0
    for c in nb.cells[:index]:
        if c.cell_type != "code" or not c.source.strip():
            continue
        if c.source.lstrip().startswith("%%track"):
            skipped += 1
            continue
        prelude.append(c.source)
    if skipped:
        notes.append(f"{skipped} earlier %%track cell(s) of the notebook were not re-run.")
    return prelude, folder
