"""``mlflow.projects.run``: an entry point as a run, through ``mltrack run``'s runner."""

from __future__ import annotations

from typing import Any


def run(uri: str = ".", entry_point: str = "main", version: str | None = None,
        parameters: dict[str, Any] | None = None, experiment_name: str | None = None,
        experiment_id: str | None = None, env_manager: str | None = None,
        synchronous: bool = True, run_id: str | None = None, run_name: str | None = None,
        **_ignored: Any) -> Any:
    """Run the entry point (into ``run_id`` when given). ``synchronous=False`` returns at
    once: ``wait()`` on the result says whether the run finished."""
    from jupyter_mltrack.projects.runner import run as run_project

    return run_project(uri, entry_point, parameters, experiment_name=experiment_name,
                       experiment_id=experiment_id, env_manager=env_manager,
                       run_name=run_name, quiet=True, run_id=run_id,
                       synchronous=synchronous)
