"""``mlflow.projects.run``: an entry point as a run, through ``mltrack run``'s runner."""

from __future__ import annotations

from typing import Any


def run(uri: str = ".", entry_point: str = "main", version: str | None = None,
        parameters: dict[str, Any] | None = None, experiment_name: str | None = None,
        experiment_id: str | None = None, env_manager: str | None = None,
        synchronous: bool = True, run_name: str | None = None, **_ignored: Any) -> Any:
    """Run the entry point and wait for it (``synchronous=False`` waits too)."""
    from jupyter_mltrack.errors import ExecutionFailed
    from jupyter_mltrack.projects.runner import ProjectRun
    from jupyter_mltrack.projects.runner import run as run_project

    try:
        return run_project(uri, entry_point, parameters, experiment_name=experiment_name,
                           experiment_id=experiment_id, env_manager=env_manager,
                           run_name=run_name, quiet=True)
    except ExecutionFailed as exc:
        if synchronous:
            raise
        run_id = str(exc).split()[1] if str(exc).startswith("Run ") else ""
        return ProjectRun(run_id, "FAILED", entry_point, env_manager or "local")
