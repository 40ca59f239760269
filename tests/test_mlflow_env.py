"""The separate MLflow environment that interoperability tests run real MLflow in."""

from __future__ import annotations

from pathlib import Path

from tests.mlflow_env import MLFLOW_VERSION, run_mlflow


def test_the_mlflow_environment_has_mlflow_but_not_this_package() -> None:
    """The environment is what the interoperability tests claim it is."""
    out = run_mlflow(
        "import importlib.util, mlflow, sys\n"
        "print(mlflow.__version__)\n"
        "print(importlib.util.find_spec('jupyter_mltrack') is None)\n",
        cwd=Path("/"),
    ).stdout.split()
    assert out == [MLFLOW_VERSION, "True"], out
