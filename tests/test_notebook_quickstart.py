"""notebooks/quickstart.ipynb, the main job of the README: what it creates, and that
running it again on the same store creates nothing more."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from jupyter_mltrack import Client
from jupyter_mltrack import registry as r

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "quickstart.ipynb"
pytestmark = [pytest.mark.kernel, pytest.mark.slow]


def _execute(folder: Path) -> list[str]:
    """Run the quickstart in a real kernel in ``folder``; the text it printed."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {k: v for k, v in os.environ.items() if k not in ("MLTRACK_TRACKING_URI",
                                                               "JPY_SESSION_NAME")}
    env["MLTRACK_NOTEBOOK_PATH"] = str(NOTEBOOK.resolve())
    NotebookClient(nb, kernel_name="python3", timeout=600,
                   resources={"metadata": {"path": str(folder)}}).execute(env=env)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    return [str(o.get("text", "")) for o in outputs if o.output_type == "stream"]


def test_quickstart_creates_what_the_readme_says_and_a_second_run_adds_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLTRACK_TRACKING_URI", raising=False)
    subprocess.run([str(Path(sys.executable).with_name("mltrack")), "init"], check=True,
                   capture_output=True)
    client = Client(str(tmp_path / ".mltrack"))

    def state() -> tuple[list[str], list[tuple[int, str, str | None]]]:
        runs = client.search_runs(client.resolve_experiment_id("quickstart"))
        versions = r.search_model_versions(client=client)
        return sorted(run.info.run_name for run in runs), \
            sorted((v.version, v.current_stage, v.run_id) for v in versions)

    first = _execute(tmp_path)
    names, versions = state()
    # README: 10 runs trained with the API, a %%track sweep run and its 3 children, and
    # the retrained model the served registry switches to and back from.
    assert len(names) == 15
    assert len([n for n in names if n.startswith("sgd-lr-")]) == 10
    assert names.count("sgd-sweep") == 1 and names.count("sgd-retrained") == 1
    assert [(v, stage) for v, stage, _ in versions] == [(1, "Production"), (2, "Archived")]
    assert "10 models trained" in "".join(first)
    trained = {run.info.run_name: run.info.run_id for run in client.search_runs(
        None, "attributes.run_name LIKE 'sgd-lr-%'")}
    recorded = client.get_run(versions[0][2]).data.tags
    assert recorded["mltrack.notebook.path"] == str(NOTEBOOK.resolve())

    second = _execute(tmp_path)
    assert state() == (names, versions)
    assert {run.info.run_name: run.info.run_id for run in client.search_runs(
        None, "attributes.run_name LIKE 'sgd-lr-%'")} == trained
    text = "".join(second)
    assert "0 models trained, 10 found in the store" in text
    assert "Deleted the previous sweep" in text
    assert "already registered" in text
    assert "retrained model found in the store" in text
