"""DESIGN.md's layers as a contract that runs: ``lint-imports`` (import-linter) with the
contracts in pyproject.toml. A wrong-way import must fail it, so the contract is tried on
a copy of the package with one planted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))


def _lint(package_parent: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [LINT, str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True, text=True, env=env, cwd=package_parent, timeout=300,
    )


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "jupyter_mltrack", tmp_path / "jupyter_mltrack",
                    ignore=shutil.ignore_patterns("__pycache__", "labextension"))
    return tmp_path


def test_the_package_keeps_its_layers() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "culprit"), [
    # persistence reaching up into a face
    ("store/schema.py", "from jupyter_mltrack.widgets import comparison", "store.schema"),
    # vocabulary reaching up into a service
    ("entities.py", "import jupyter_mltrack.tracking.client", "entities"),
    # a service reaching into a face
    ("registry/stages.py", "from jupyter_mltrack.cli import main", "registry.stages"),
    # MLflow's pyfunc module is above the registry, and the flavor modules above it
    ("registry/versions.py", "import jupyter_mltrack.pyfunc", "registry.versions"),
    ("pyfunc.py", "import jupyter_mltrack.sklearn", "pyfunc"),
])
def test_a_wrong_way_import_breaks_the_contract(tmp_path: Path, module: str, line: str,
                                                culprit: str) -> None:
    parent = _copy(tmp_path)
    target = parent / "jupyter_mltrack" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = _lint(parent)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert f"jupyter_mltrack.{culprit}" in result.stdout


def test_sqlalchemy_outside_the_store_breaks_the_contract(tmp_path: Path) -> None:
    parent = _copy(tmp_path)
    target = parent / "jupyter_mltrack" / "widgets" / "table.py"
    target.write_text(target.read_text() + "\nimport sqlalchemy  # noqa\n")
    result = _lint(parent)
    assert result.returncode != 0
    assert "jupyter_mltrack.widgets.table -> sqlalchemy" in result.stdout


def test_no_private_module_is_imported_across_packages() -> None:
    """``jupyter_mltrack.<package>._<module>`` is for its own package only."""
    import grimp

    graph = grimp.build_graph("jupyter_mltrack")
    wrong = []
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            parts = imported.split(".")
            private = [i for i, p in enumerate(parts) if p.startswith("_")
                       and not p.startswith("__") and i >= 2]
            if private and not importer.startswith(".".join(parts[:private[0]]) + "."):
                wrong.append(f"{importer} -> {imported}")
    assert wrong == []
