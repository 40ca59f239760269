"""Running a notebook as a run: parameters injected papermill-style, a real kernel.

The cell tagged ``parameters`` holds the defaults; a new cell tagged
``injected-parameters`` is inserted after it (at the top when no cell has the tag) with
the values of this run. The notebook executes in a fresh kernel (nbclient) whose
process has ``MLTRACK_RUN_ID`` set, so ``mltrack.log_metric()`` and ``%%track`` in the
notebook log into the run. The input notebook and the executed one are artifacts of
the run (``mltrack/notebook/input.ipynb``, ``notebook/<name>.ipynb``).
"""

from __future__ import annotations

import ast
import copy
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..entities import RunStatus
from ..errors import ExecutionFailed, InvalidParameter
from . import tags as T

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
INPUT_ARTIFACT = "mltrack/notebook/input.ipynb"
OUTPUT_FOLDER = "notebook"


def read_notebook(path: str | os.PathLike[str]) -> Any:
    import nbformat

    file = Path(path)
    if not file.is_file():
        raise InvalidParameter(f"No notebook at {path}; give the path of an .ipynb file.")
    try:
        return nbformat.read(str(file), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds
        raise InvalidParameter(f"{path} is not a readable notebook: {exc}") from None


def literal(value: Any, name: str) -> str:
    """Python source for a parameter value; only literals can be injected."""
    text = repr(value)
    try:
        if ast.literal_eval(text) != value:
            raise ValueError
    except (ValueError, SyntaxError):
        raise InvalidParameter(
            f"Parameter {name!r}: {type(value).__name__} values cannot be written into a "
            "notebook cell; pass numbers, strings, booleans, None, or lists/dicts of them."
        ) from None
    return text


def inject_parameters(nb: Any, parameters: Mapping[str, Any]) -> Any:
    """A copy of ``nb`` with a cell assigning ``parameters`` after the parameters cell."""
    import nbformat

    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    if not parameters:
        return nb
    for name in parameters:
        if not str(name).isidentifier():
            raise InvalidParameter(f"Parameter {name!r} is not a Python variable name; it "
                                   "cannot be set in a notebook.")
    lines = ["# Parameters"] + [f"{k} = {literal(v, k)}" for k, v in parameters.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines) + "\n")
    cell.metadata["tags"] = [INJECTED_TAG]
    at = next((i + 1 for i, c in enumerate(nb.cells)
               if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])), 0)
    nb.cells.insert(at, cell)
    return nb


def kernel_manager(python: str | None) -> Any:
    """A kernel manager for ``python`` (None: the default ``python3`` kernel)."""
    import sys
    import tempfile

    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    if python is None or python == sys.executable:
        return KernelManager(kernel_name="python3")
    folder = Path(tempfile.mkdtemp(prefix="mltrack-kernel-"))
    spec_dir = folder / "mltrack-env"
    spec_dir.mkdir()
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "mltrack project", "language": "python"}))
    return KernelManager(kernel_name="mltrack-env",
                         kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(folder)]))


def execute(nb: Any, cwd: Path, variables: Mapping[str, str], *, python: str | None = None,
            timeout: float | None = 600, progress: Any = None) -> BaseException | None:
    """Run every cell of ``nb`` in place in a fresh kernel; returns the error, if any."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    def cell_done(**_kw: Any) -> None:
        if progress is not None:
            progress.step()

    km = kernel_manager(python)
    client = NotebookClient(nb, km=km, timeout=timeout,
                            resources={"metadata": {"path": str(cwd)}},
                            on_cell_executed=cell_done)
    env = dict(os.environ)
    env.update(variables)
    try:
        client.execute(env=env)
    except CellExecutionError as exc:
        return exc
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a kernel that died or timed out
        return exc
    finally:
        # A clean shutdown lets the kernel flush and end what it logged (atexit).
        if km.has_kernel:
            km.shutdown_kernel(now=False)
    return None


@dataclass
class NotebookRun:
    """One executed notebook: its run, status, metrics and the executed notebook."""

    run_id: str
    run_name: str
    status: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    notebook: Any = None
    error: str | None = None

    def __repr__(self) -> str:
        metrics = " ".join(f"{k}={v:.6g}" for k, v in self.metrics.items())
        return f"<NotebookRun {self.run_name} {self.status} {self.run_id[:8]} {metrics}>".strip()


class _CellProgress:
    def __init__(self, total: int, quiet: bool):
        from ..notebook.display import Progress

        self.total = total
        self.done = 0
        self.text = ""
        self.bar = Progress(total, "notebook", quiet)

    def step(self) -> None:
        self.done += 1
        self.bar.update(self.done, self.text, finished=False)


def run_notebook(path: str | os.PathLike[str],
                 parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None, *,
                 experiment: str | None = None, run_name: str | None = None,
                 timeout: float | None = 600, quiet: bool = False,
                 tags: Mapping[str, str] | None = None) -> Any:
    """Execute a notebook as a tracked run, with ``parameters`` injected.

    A list of parameter dicts runs the notebook once per dict (a sweep) and returns a
    list of :class:`NotebookRun`; a progress bar counts the executed cells. A failing
    cell ends its run FAILED and raises :class:`ExecutionFailed`.
    """
    from ..tracking import fluent

    many = isinstance(parameters, Sequence) and not isinstance(parameters, (str, bytes))
    points: list[Mapping[str, Any]]
    if isinstance(parameters, Sequence) and many:
        points = list(parameters)
    else:
        points = [parameters or {}]  # type: ignore[list-item]
    nb = read_notebook(path)
    for point in points:
        inject_parameters(nb, point)  # refuses bad names and values before any run
    client = fluent.client()
    experiment_id = client.get_or_create_experiment(experiment) if experiment else \
        fluent.get_experiment_id()
    code_cells = sum(1 for c in nb.cells if c.cell_type == "code") + (1 if any(points) else 0)
    progress = _CellProgress(code_cells * len(points), quiet)
    results = []
    status = RunStatus.FINISHED.value
    try:
        for i, point in enumerate(points):
            name = run_name if run_name and not many else None
            if many:
                progress.text = ", ".join(f"{k}={v!r}" for k, v in point.items())
                name = f"{run_name or Path(path).stem} [{i + 1}/{len(points)}]"
            result = execute_run(client, experiment_id, Path(path), nb, point, name,
                                 timeout=timeout, progress=progress, tags=tags)
            results.append(result)
            status = result.status
            if result.status != RunStatus.FINISHED.value:
                raise ExecutionFailed(f"Notebook {path} failed in run {result.run_id}:\n"
                                      f"{result.error}")
    finally:
        progress.bar.close(status)
    return results if many else results[0]


def execute_run(client: Any, experiment_id: str, path: Path, nb: Any,
                parameters: Mapping[str, Any], run_name: str | None, *,
                timeout: float | None = 600, progress: Any = None,
                tags: Mapping[str, str] | None = None, python: str | None = None,
                run_id: str | None = None, param_texts: Mapping[str, str] | None = None,
                variables: Mapping[str, str] | None = None) -> NotebookRun:
    """Run one notebook execution as a run (new, or ``run_id`` created by the caller)."""
    from ..tracking import context, environment
    from ..tracking.validation import param_value

    path = path.resolve()
    if run_id is None:
        run_tags = {**context.git_context(path.parent), context.SOURCE_TYPE: "NOTEBOOK_JOB",
                    context.SOURCE_NAME: str(path), T.NOTEBOOK: str(path),
                    T.PARAMETERS: json.dumps({k: literal(v, k) for k, v in parameters.items()}),
                    **(tags or {})}
        run = client.create_run(experiment_id, run_name=run_name or path.stem, tags=run_tags)
        run_id = run.info.run_id
        environment.log_environment(run)
        texts = param_texts or {k: param_value(v) for k, v in parameters.items()}
        if texts:
            client.log_params(run_id, dict(texts))
    client.log_text(run_id, _dumps(nb), INPUT_ARTIFACT)
    executed = inject_parameters(nb, parameters)
    started = time.perf_counter()
    kernel_vars = {**(variables or {}), **run_variables(client, run_id)}
    kernel_vars["MLTRACK_NOTEBOOK_PATH"] = str(path)
    try:
        error = execute(executed, path.parent, kernel_vars, python=python, timeout=timeout,
                        progress=progress)
    except KeyboardInterrupt:
        client.log_text(run_id, _dumps(executed), f"{OUTPUT_FOLDER}/{path.name}")
        client.set_terminated(run_id, RunStatus.KILLED.value)
        raise
    seconds = time.perf_counter() - started
    client.log_text(run_id, _dumps(executed), f"{OUTPUT_FOLDER}/{path.name}")
    status = RunStatus.FINISHED.value if error is None else RunStatus.FAILED.value
    message = None
    if error is not None:
        message = str(error)[-7000:]
        client.set_tag(run_id, "mltrack.error", message)
    client.set_terminated(run_id, status)
    stored = client.get_run(run_id)
    return NotebookRun(run_id, stored.info.run_name, status, dict(stored.data.params),
                       dict(stored.data.metrics), seconds, executed, message)


def run_variables(client: Any, run_id: str) -> dict[str, str]:
    """What a child process needs to log into ``run_id``.

    MLflow's own variables are set too when the store is a team server (it speaks
    MLflow's REST API); a local store is not one MLflow can open.
    """
    uri = str(client.tracking_uri)
    run = client.get_run(run_id)
    variables = {"MLTRACK_RUN_ID": run_id, "MLTRACK_TRACKING_URI": uri}
    try:
        variables["MLTRACK_EXPERIMENT_NAME"] = client.get_experiment(
            run.info.experiment_id).name
    except Exception:  # noqa: BLE001,S110 - the run id is what matters
        pass
    if uri.startswith(("http://", "https://")):
        variables.update({"MLFLOW_RUN_ID": run_id, "MLFLOW_TRACKING_URI": uri,
                          "MLFLOW_EXPERIMENT_ID": run.info.experiment_id})
    return variables


def _dumps(nb: Any) -> str:
    import nbformat

    return str(nbformat.writes(nb))
