"""A notebook (a real kernel) and a script in another process log to one team server,
and each sees the other's run in ``compare()``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from jupyter_mltrack.store import close_stores
from jupyter_mltrack.store.rest_queue import QUEUE_DIR_ENV
from tests.team_server import TeamServer

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

SCRIPT = """
import json, jupyter_mltrack as mltrack
mltrack.set_experiment("shared")
with mltrack.start_run(run_name="script-run"):
    mltrack.log_param("lr", "0.5")
    mltrack.log_metric("loss", 0.75)
"""

COMPARE = """
import json, jupyter_mltrack as mltrack
frame = mltrack.compare("shared", refresh_interval=None).frame
print("FRAME " + json.dumps(sorted(zip(frame["run_name"], frame["metrics.loss"]))))
"""


def test_a_notebook_and_a_script_see_each_others_runs(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, QUEUE_DIR_ENV: str(tmp_path / "queue")}
    env.pop("JPY_SESSION_NAME", None)
    monkeypatch.setenv(QUEUE_DIR_ENV, str(tmp_path / "queue"))
    with TeamServer("sqlite:///" + str(tmp_path / "server.db"), str(tmp_path / "artifacts"),
                    tmp_path) as server:
        env["MLTRACK_TRACKING_URI"] = server.url
        nb = nbformat.v4.new_notebook()
        nb.cells = [
            nbformat.v4.new_code_cell("%load_ext jupyter_mltrack\n"
                                      "import jupyter_mltrack as mltrack\n"
                                      "mltrack.set_experiment('shared')"),
            nbformat.v4.new_code_cell("%%track --name notebook-run\nlr = 0.1\n"
                                      "loss = 0.25 * 1.0"),
        ]
        NotebookClient(nb, kernel_name="python3", timeout=300,
                       resources={"metadata": {"path": str(tmp_path)}}).execute(env=env)
        errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
        assert not errors, errors
        subprocess.run([sys.executable, "-c", SCRIPT], env=env, check=True, timeout=120,
                       cwd=tmp_path)
        # the script sees the notebook's run, and a notebook sees the script's
        seen = subprocess.run([sys.executable, "-c", COMPARE], env=env, check=True,
                              timeout=120, capture_output=True, text=True, cwd=tmp_path)
        expected = [["notebook-run", 0.25], ["script-run", 0.75]]
        line = [x for x in seen.stdout.splitlines() if x.startswith("FRAME ")][-1]
        assert json.loads(line[6:]) == expected
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(COMPARE)]
        NotebookClient(nb, kernel_name="python3", timeout=300,
                       resources={"metadata": {"path": str(tmp_path)}}).execute(env=env)
        text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
        line = [x for x in text.splitlines() if x.startswith("FRAME ")][-1]
        assert json.loads(line[6:]) == expected
    close_stores()
