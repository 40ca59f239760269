"""Real MLflow, in a virtual environment of its own (never a dependency of the package).

``.ci/run`` creates ``.venv-mlflow`` with a pinned MLflow and the ML frameworks but
*without* jupyter_mltrack, so interoperability tests show what a plain MLflow user sees.
Point ``MLTRACK_MLFLOW_PYTHON`` at another interpreter to use a different environment.
Tests call :func:`run_mlflow` with a script; it runs in a fresh process of that
interpreter, with this repository kept off its ``sys.path``.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

#: The MLflow version ``.ci/run`` installs; tests are written against it.
MLFLOW_VERSION = "3.17.2"

REPO = Path(__file__).resolve().parents[1]


def mlflow_python() -> str:
    """The interpreter of the MLflow environment; skips (fails in CI) when there is none."""
    given = os.environ.get("MLTRACK_MLFLOW_PYTHON")
    path = Path(given) if given else REPO / ".venv-mlflow" / "bin" / "python"
    if not path.exists():
        message = (f"no MLflow environment at {path}: run .ci/run, or create one with "
                   f"python -m venv .venv-mlflow && .venv-mlflow/bin/pip install "
                   f"mlflow=={MLFLOW_VERSION} scikit-learn xgboost lightgbm keras torch")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return str(path)


def run_mlflow(script: str, *args: str, cwd: Path | None = None, timeout: float = 300,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (Python source) with MLflow's interpreter; raise with its output
    when it exits non-zero. The child's environment drops PYTHONPATH so that it cannot
    import jupyter_mltrack from this checkout."""
    child_env = {k: v for k, v in os.environ.items()
                 if k not in ("PYTHONPATH", "MLTRACK_TRACKING_URI", "VIRTUAL_ENV")}
    child_env.update({"MLFLOW_TRACKING_URI": "", "GIT_PYTHON_REFRESH": "quiet",
                      "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"})
    child_env.pop("MLFLOW_TRACKING_URI")
    child_env.update(env or {})
    done = subprocess.run([mlflow_python(), "-c", script, *args], cwd=cwd, env=child_env,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"MLflow script failed ({done.returncode}):\n"
                             f"--- stdout\n{done.stdout[-4000:]}\n"
                             f"--- stderr\n{done.stderr[-8000:]}")
    return done


def ported(source: str) -> str:
    """MLflow code with ``import mlflow`` changed to ``import jupyter_mltrack as mlflow``
    (``from mlflow...`` and ``import mlflow.<flavor>`` likewise), and nothing else."""
    out = re.sub(r"^import mlflow$", "import jupyter_mltrack as mlflow", source, flags=re.M)
    out = re.sub(r"^import mlflow\.", "import jupyter_mltrack.", out, flags=re.M)
    out = re.sub(r"^from mlflow(\.| )", r"from jupyter_mltrack\1", out, flags=re.M)
    changed = [new for old, new in zip(source.splitlines(), out.splitlines(), strict=True)
               if old != new]
    assert changed and all(line.startswith(("import ", "from ")) for line in changed)
    return out


@pytest.fixture(scope="session")
def mlflow_env() -> str:
    """Fixture form of :func:`mlflow_python`."""
    return mlflow_python()

