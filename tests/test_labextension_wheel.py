"""The wheel carries the prebuilt lab extension and the server extension's switch: built
from this checkout, installed into a fresh virtual environment, ``jupyter labextension
list`` and ``jupyter server extension list`` (run by the venv's own Python) show them
there with no ``jupyter lab build``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    # Without PYTHONPATH, so the fresh venv imports what was installed into it.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          check=False, timeout=600, env=env)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def test_the_wheel_installs_the_lab_and_server_extensions(tmp_path: Path) -> None:
    if not (REPO / "jupyter_mltrack" / "labextension" / "static" / "style.js").exists():
        pytest.fail("the lab extension is not built: cd labextension && jlpm install && "
                    "jlpm build:prod (as .ci/run does)")
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", dist, REPO)
    wheel = next(dist.glob("jupyter_mltrack-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    data = [n for n in names if ".data/data/" in n]
    prefix = "share/jupyter/labextensions/jupyter-mltrack/"
    assert any(n.endswith(prefix + "package.json") for n in data)
    assert any(n.endswith(prefix + "static/style.js") for n in data)
    assert any(n.endswith(prefix + "schemas/jupyter-mltrack/plugin.json") for n in data)
    assert any(n.endswith("etc/jupyter/jupyter_server_config.d/jupyter_mltrack.json")
               for n in data)
    assert not any("node_modules" in n for n in names)

    # A fresh venv: the wheel goes into it; JupyterLab and the other dependencies come
    # from this environment's site-packages (a .pth), so nothing is downloaded.
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
                .strip())
    (site / "parent.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel)

    labext = _run(python, "-m", "jupyterlab.labextensions", "list", cwd=tmp_path)
    own = labext.split(str(venv / "share" / "jupyter" / "labextensions"), 1)
    assert len(own) == 2, f"nothing listed from the fresh venv:\n{labext}"
    section = own[1].split("\n/", 1)[0]
    assert "jupyter-mltrack v" in section and "enabled" in section and "OK" in section, labext
    server = _run(python, "-m", "jupyter_server.extension.serverextension", "list",
                  cwd=tmp_path)
    assert "jupyter_mltrack.server.lab enabled" in re.sub(r"\x1b\[[0-9;]*m", "", server), server
    where = _run(python, "-c", "import jupyter_mltrack; print(jupyter_mltrack.__file__)",
                 cwd=tmp_path)
    assert str(venv) in where
