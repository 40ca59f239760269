"""Projects: MLflow's ``MLproject`` format, notebook runs and reproduction.

``run()`` (``mltrack run``) runs one entry point of a project as a tracked run;
``run_notebook()`` runs a notebook with parameters injected; ``reproduce()``
(``mltrack reproduce``) re-executes what a run captured and reports the differences.
Nothing heavy loads until one of them is called.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_project", "reproduce", "run", "run_notebook"]


def __getattr__(name: str) -> Any:
    if name == "load_project":
        from .spec import load_project

        return load_project
    if name == "run":
        from .runner import run

        return run
    if name == "run_notebook":
        from .notebooks import run_notebook

        return run_notebook
    if name == "reproduce":
        from .reproduction import reproduce

        return reproduce
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
