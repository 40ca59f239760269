"""``mltrack run``: one entry point of a project as one tracked run.

The parameters are checked first (types, missing values): a bad value creates no run.
Then the run is created with the parameters as params and tags naming the project,
entry point, environment and git commit; the environment is prepared; the command
runs in a child process (or the notebook in a kernel) that attaches to the run through
``MLTRACK_RUN_ID``; the run ends FINISHED, FAILED or KILLED with the process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..entities import RunStatus
from ..errors import ExecutionFailed
from ..tracking import context, environment
from . import envs, notebooks
from . import tags as T
from .spec import EntryPoint, Project, load_project


@dataclass
class ProjectRun:
    """The run of one entry point (MLflow's ``SubmittedRun``: ``run_id``, ``wait()``,
    ``get_status()``, ``cancel()``). A run submitted with ``synchronous=False`` goes on in
    the background; ``wait()`` blocks until it ends and says whether it FINISHED."""

    run_id: str
    status: str
    entry_point: str
    env_manager: str
    command: str | None = None
    notes: list[str] = field(default_factory=list)
    error: BaseException | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _process: subprocess.Popen[Any] | None = field(default=None, repr=False)
    _cancelled: bool = field(default=False, repr=False)

    def wait(self) -> bool:
        if self._thread is not None:
            self._thread.join()
        return self.status == RunStatus.FINISHED.value

    def get_status(self) -> str:
        return self.status

    def cancel(self) -> None:
        """Stop the command (SIGTERM, then SIGKILL) and end the run KILLED."""
        self._cancelled = True
        if self._process is not None and self._process.poll() is None:
            _stop(self._process)
        self.wait()

    def __repr__(self) -> str:
        return f"<ProjectRun {self.entry_point} {self.status} {self.run_id}>"


def _fetcher(client: Any, work: Path) -> Any:
    def fetch(uri: str) -> str:
        rest = uri[len("runs:/"):].lstrip("/")
        run_id, _, path = rest.partition("/")
        folder = work / "inputs"
        folder.mkdir(parents=True, exist_ok=True)
        return str(client.download_artifacts(run_id, path, folder))
    return fetch


def run(uri: str | os.PathLike[str] = ".", entry_point: str = "main",
        parameters: Mapping[str, Any] | None = None, *, experiment_name: str | None = None,
        experiment_id: str | None = None, env_manager: str | None = None,
        run_name: str | None = None, tags: Mapping[str, str] | None = None,
        client: Any = None, quiet: bool = False, run_id: str | None = None,
        synchronous: bool = True) -> ProjectRun:
    """Run ``entry_point`` of the project in ``uri`` as a tracked run.

    ``run_id`` logs into a run that exists already (as MLflow's ``run_id=``: a sweep
    creates its child runs, then runs the entry point in each) instead of creating one.
    With ``synchronous=False`` the call returns once the run exists and the command
    goes on in the background: ``wait()`` on the result; failures end the run FAILED
    and ``wait()`` returns False instead of raising.

    Raises :class:`InvalidProject` for a bad project file or parameter (before any run
    exists) and :class:`ExecutionFailed` when the command fails (the run ends FAILED).
    """
    from ..tracking import fluent

    project = load_project(uri)
    point = project.entry_point(entry_point)
    manager = envs.choose_manager(project, env_manager)
    client = client or fluent.client()
    work = Path(tempfile.mkdtemp(prefix="mltrack-project-"))
    background = False
    try:
        values, extra = point.resolve(parameters, project.directory, _fetcher(client, work))
        command = point.shell_command(values, extra) if point.command is not None else None
        run_tags = project_tags(project, point, manager, parameters)
        if command is not None:
            run_tags[T.COMMAND] = command
        run_tags.update(tags or {})
        if run_id is not None:
            created = client.resume_run(run_id)  # refuses unknown and deleted runs
            client.set_tags(run_id, run_tags)
        else:
            if experiment_id is None:
                experiment_id = client.get_or_create_experiment(experiment_name) \
                    if experiment_name else fluent.get_experiment_id()
            created = client.create_run(str(experiment_id), run_name=run_name, tags=run_tags)
            run_id = created.info.run_id
        params = {**values, **extra}
        if params:
            client.log_params(run_id, params)
        result = ProjectRun(run_id, RunStatus.RUNNING.value, point.name, manager, command)
        if synchronous:
            return _execute(client, created, project, point, manager, command, values, work,
                            quiet, result)

        def in_background() -> None:
            try:
                _execute(client, created, project, point, manager, command, values, work,
                         True, result)
            except BaseException as exc:  # noqa: BLE001 - kept for wait()'s caller
                result.error = exc
                if result.status == RunStatus.RUNNING.value:
                    result.status = RunStatus.FAILED.value
            finally:
                shutil.rmtree(work, ignore_errors=True)

        result._thread = threading.Thread(target=in_background, daemon=True,
                                          name=f"mltrack-project-{run_id[:8]}")
        result._thread.start()
        background = True
        return result
    finally:
        if not background:
            shutil.rmtree(work, ignore_errors=True)


def project_tags(project: Project, point: EntryPoint, manager: str,
                 parameters: Mapping[str, Any] | None) -> dict[str, str]:
    tags = {**context.run_context(), **context.git_context(project.directory)}
    for key in list(tags):
        if key.startswith("mltrack.notebook.") or key == "mltrack.packages":
            tags.pop(key)  # the runner's own cell is not the project's code
    tags.update({
        context.SOURCE_TYPE: "PROJECT",
        context.SOURCE_NAME: str(project.directory),
        T.PROJECT_DIR: str(project.directory),
        T.ENTRY_POINT: point.name,
        T.ENV_MANAGER: manager,
        T.PARAMETERS: json.dumps({str(k): str(v) for k, v in (parameters or {}).items()}),
    })
    if project.name:
        tags[T.PROJECT_NAME] = str(project.name)
    if point.notebook:
        tags[T.NOTEBOOK] = str(project.directory / point.notebook)
    return tags


def _execute(client: Any, created: Any, project: Project, point: EntryPoint, manager: str,
             command: str | None, values: dict[str, str], work: Path,
             quiet: bool, result: ProjectRun) -> ProjectRun:
    run_id = created.info.run_id
    try:
        env = envs.prepare(project, manager, work)
    except BaseException as exc:
        _store_specs(client, run_id, work)
        _fail(client, run_id, exc)
        result.status = _failed_status(exc)
        raise
    _store_specs(client, run_id, work)
    result.notes = list(env.notes)
    for note in env.notes:
        client.set_tag(run_id, "mltrack.project.note", note)
        if not quiet:
            print(f"mltrack: {note}", file=sys.stderr)
    if env.location:
        client.set_tag(run_id, T.ENV_LOCATION, env.location)
    _offer_mlflow_api(client, run_id, env)
    _log_environment(client, created, env)

    if point.notebook is not None:
        if manager in ("conda", "docker"):
            _fail(client, run_id, None)
            result.status = RunStatus.FAILED.value
            raise ExecutionFailed(f"Notebook entry points run with --env-manager local or "
                                  f"virtualenv, not {manager}.")
        nb = notebooks.read_notebook(project.directory / point.notebook)
        typed = {k: _typed(point, k, v) for k, v in values.items()}
        done = notebooks.execute_run(client, created.info.experiment_id,
                                     project.directory / point.notebook, nb, typed, None,
                                     python=env.python if manager != "local" else None,
                                     run_id=run_id, variables=env.variables)
        result.status = done.status
        if done.status != RunStatus.FINISHED.value:
            raise ExecutionFailed(f"Run {run_id} failed: the notebook {point.notebook} "
                                  f"stopped with an error:\n{done.error}")
        return result

    assert command is not None
    variables = {**env.variables, **notebooks.run_variables(client, run_id)}
    child_env = {**os.environ, **variables}
    child_env.pop("MLTRACK_NOTEBOOK_PATH", None)
    if not quiet:
        print(f"mltrack: run {run_id} ({manager}): {command}", file=sys.stderr)
    try:
        process = subprocess.Popen(env.argv(command, notebooks.run_variables(client, run_id)),
                                   cwd=project.directory, env=child_env,
                                   start_new_session=True)
    except OSError as exc:
        _fail(client, run_id, exc)
        result.status = RunStatus.FAILED.value
        raise ExecutionFailed(f"Could not start {command!r}: {exc}") from exc
    result._process = process
    if result._cancelled:  # cancel() came before the process existed
        _stop(process)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        _stop(process)
        client.set_terminated(run_id, RunStatus.KILLED.value)
        result.status = RunStatus.KILLED.value
        raise
    if result._cancelled:
        client.set_terminated(run_id, RunStatus.KILLED.value)
        result.status = RunStatus.KILLED.value
        raise ExecutionFailed(f"Run {run_id} was cancelled.")
    status = RunStatus.FINISHED.value if code == 0 else RunStatus.FAILED.value
    if code != 0:
        client.set_tag(run_id, "mltrack.error", f"The command exited with code {code}: "
                       f"{command}")
    client.set_terminated(run_id, status)
    result.status = status
    if code != 0:
        raise ExecutionFailed(f"Run {run_id} failed: the command exited with code {code}: "
                              f"{command}")
    return result


def _offer_mlflow_api(client: Any, run_id: str, env: envs.Environment) -> None:
    """Give the command ``import mlflow`` (backed by this run) when it has no MLflow."""
    from . import mlflow_compat

    if env.manager == "local":
        has = mlflow_compat.local_has_mlflow()
    elif env.manager == "virtualenv":
        probe = subprocess.run([env.python, "-c", "import mlflow"], capture_output=True,
                               timeout=120, env={**os.environ, **env.variables})
        has = probe.returncode == 0
    else:
        return
    if not mlflow_compat.wanted(has):
        return
    path = env.variables.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    env.variables["PYTHONPATH"] = mlflow_compat.FOLDER + (os.pathsep + path if path else "")
    client.set_tag(run_id, T.MLFLOW_COMPAT, "true")


def _typed(point: EntryPoint, name: str, text: str) -> Any:
    """A notebook gets float and int parameters as numbers, the others as strings."""
    param = point.parameters.get(name)
    kind = param.type if param is not None else "string"
    if kind == "float":
        return float(text)
    if kind == "int":
        return int(text.strip())
    return text


def _log_environment(client: Any, created: Any, env: envs.Environment) -> None:
    if env.manager == "local":
        environment.log_environment(created)
        return
    if env.manager != "virtualenv":
        return
    code = ("import json;from jupyter_mltrack.tracking.environment import capture;"
            "print(json.dumps(capture()))")
    done = subprocess.run([env.python, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env.variables})
    if done.returncode == 0 and environment.enabled():
        client.log_text(created.info.run_id, done.stdout, environment.ARTIFACT)


def _store_specs(client: Any, run_id: str, work: Path) -> None:
    for artifact, name in envs.SPEC_FILES.items():
        if (work / name).is_file():
            client.log_artifact(run_id, work / name, artifact.rsplit("/", 1)[0])


def _failed_status(exc: BaseException | None) -> str:
    return RunStatus.KILLED.value if isinstance(exc, KeyboardInterrupt) else \
        RunStatus.FAILED.value


def _fail(client: Any, run_id: str, exc: BaseException | None) -> None:
    status = _failed_status(exc)
    if exc is not None:
        client.set_tag(run_id, "mltrack.error", str(exc)[-7000:])
    client.set_terminated(run_id, status)


def _stop(process: subprocess.Popen[Any]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
