"""Reproducing runs (a %%track cell, a project, notebooks) in fresh kernels and processes,
the stale marker of %%track runs whose cell changed, and notebook runs with parameters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from jupyter_mltrack import Client, reproduce, run, run_notebook
from jupyter_mltrack.cli import main
from jupyter_mltrack.projects import tags as T
from jupyter_mltrack.tracking.staleness import is_stale, stale_flags, stale_reason
from tests.test_projects import EXAMPLE, child_env

pytestmark = pytest.mark.slow


@pytest.fixture
def store(tracking_uri: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import jupyter_mltrack as mltrack
    from tests.conftest import _reset_fluent

    monkeypatch.chdir(tmp_path)
    for key, value in child_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLTRACK_TRACKING_URI", tracking_uri)  # kernels log to this store
    _reset_fluent()
    mltrack.set_tracking_uri(tracking_uri)
    yield Client(tracking_uri)
    _reset_fluent()


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           *args], cwd=folder, capture_output=True, text=True, check=True
                          ).stdout.strip()


def script_project(folder: Path, script: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "MLproject").write_text(textwrap.dedent("""\
        name: scaled
        entry_points:
          main:
            parameters:
              scale: {type: float, default: 2.0}
              times: {type: int, default: 3}
            command: "python job.py {scale} {times}"
    """))
    (folder / "job.py").write_text(textwrap.dedent(script))
    return folder


DETERMINISTIC = """\
    import sys
    import jupyter_mltrack as mltrack
    scale, times = float(sys.argv[1]), int(sys.argv[2])
    with mltrack.start_run():
        mltrack.log_metric("total", scale * times / 7)
"""


# -- project runs ---------------------------------------------------------------------------

def test_a_project_run_is_reproduced_from_its_commit(store: Client, tmp_path: Path) -> None:
    folder = script_project(tmp_path / "repo" / "project", DETERMINISTIC)
    git(folder.parent, "init", "-q")
    git(folder.parent, "add", ".")
    git(folder.parent, "commit", "-q", "-m", "job")
    commit = git(folder.parent, "rev-parse", "HEAD")
    original = run(folder, parameters={"scale": "1.5"}, experiment_name="jobs", quiet=True)
    # The code on disk changes after the run: the reproduction still runs the commit.
    (folder / "job.py").write_text(textwrap.dedent(DETERMINISTIC).replace("/ 7", "/ 8"))

    result = reproduce(original.run_id, quiet=True)
    assert result.ok, str(result)
    assert result.kind == "project" and result.status == "FINISHED"
    assert [(m.key, m.same) for m in result.metrics] == [("total", True)]
    assert result.metrics[0].original == result.metrics[0].reproduced == pytest.approx(1.5 * 3 / 7)
    assert result.params == [] and result.environment.same
    new = store.get_run(result.run_id)
    assert new.data.tags[T.REPRODUCES] == original.run_id
    assert new.data.tags["mltrack.source.git.commit"] == commit
    assert new.data.params == {"scale": "1.5", "times": "3"}
    assert "reproduced: run" in str(result) and "metric total" in str(result)


def test_non_determinism_is_flagged_not_hidden(store: Client, tmp_path: Path,
                                               tracking_uri: str) -> None:
    folder = script_project(tmp_path / "noisy", DETERMINISTIC.replace(
        'mltrack.log_metric("total", scale * times / 7)',
        'import random\n        mltrack.log_metric("total", scale * times)\n'
        '        mltrack.log_metric("noise", random.random())'))
    original = run(folder, quiet=True)
    result = CliRunner().invoke(main, ["--tracking-uri", tracking_uri, "reproduce",
                                       original.run_id])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"NOT reproduced: run {original.run_id} (project)")
    assert "metric noise:" in result.output and "non-deterministic?" in result.output
    assert "no git commit was recorded" in result.output
    as_json = CliRunner().invoke(main, ["--tracking-uri", tracking_uri, "reproduce", "--json",
                                        "--atol", "1", original.run_id])
    data = json.loads(as_json.output)
    assert data["ok"] is True and data["nondeterministic"] == []  # within atol=1


# -- %%track cells and the stale marker -----------------------------------------------------

TRACKED = "%%track --experiment cells\nscale = 2.0\nresult = math.sqrt(base) * scale"


def cell_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in (
        "%load_ext jupyter_mltrack", "import math\nbase = 3.0", TRACKED)]
    nbformat.write(nb, str(path))


@pytest.mark.kernel
def test_a_tracked_cell_is_reproduced_and_marked_stale_when_edited(
        store: Client, tmp_path: Path, tracking_uri: str) -> None:
    from nbclient import NotebookClient

    path = tmp_path / "analysis.ipynb"
    cell_notebook(path)
    nb = nbformat.read(str(path), as_version=4)
    env = {**os.environ, "MLTRACK_NOTEBOOK_PATH": str(path)}
    NotebookClient(nb, kernel_name="python3", timeout=300,
                   resources={"metadata": {"path": str(tmp_path)}}).execute(env=env)
    (original,) = store.search_runs(None, None, "all")
    assert original.data.metrics == {"result": pytest.approx(3.0 ** 0.5 * 2)}
    assert not is_stale(original)

    result = reproduce(original.info.run_id)
    assert result.ok, str(result)
    assert result.kind == "cell"
    assert result.metrics[0].reproduced == original.data.metrics["result"]
    new = store.get_run(result.run_id)
    assert new.data.tags[T.REPRODUCES] == original.info.run_id
    assert new.data.params == original.data.params == {"scale": "2.0"}
    assert result.environment.same, result.environment.lines()

    # The cell changes in the notebook on disk: the old result is marked stale.
    edited = nbformat.read(str(path), as_version=4)
    edited.cells[2].source = TRACKED.replace("2.0", "4.0")
    nbformat.write(edited, str(path))
    assert is_stale(original)
    assert "no longer in analysis.ipynb" in (stale_reason(original.data.tags) or "")
    assert not is_stale(new)  # its cell was never in a notebook file

    from jupyter_mltrack import compare, show_run

    view = show_run(original.info.run_id, client=store, refresh_interval=None)
    assert "STALE" in view.header_html
    assert "STALE" not in show_run(new.info.run_id, client=store,
                                   refresh_interval=None).header_html
    table = compare(original.info.experiment_id, client=store, refresh_interval=None)
    names = dict(zip(table.frame["run_id"], table.frame["run_name"], strict=True))
    assert names[original.info.run_id].endswith("⚠ stale")
    assert not names[new.info.run_id].endswith("⚠ stale")

    # Reproducing the stale run says the cell ran alone, and still fails clearly.
    again = reproduce(original.info.run_id)
    assert any("no longer in its notebook" in n for n in again.notes)
    assert not again.ok and again.status == "FAILED"  # `math` is not defined alone


def test_stale_checks_read_each_notebook_once_per_change(tmp_path: Path) -> None:
    import hashlib

    import pandas as pd

    path = tmp_path / "n.ipynb"
    cell_notebook(path)
    digest = hashlib.sha256(TRACKED.encode()).hexdigest()
    tags = {"mltrack.notebook.cell_hash": digest, "mltrack.notebook.path": str(path),
            "mltrack.notebook.cell_source": TRACKED}
    frame = pd.DataFrame([{f"tags.{k}": v for k, v in tags.items()},
                          {"tags.mltrack.notebook.cell_hash": None}] * 200)
    assert stale_flags(frame) == [False, False] * 200
    path.write_text(path.read_text().replace("scale = 2.0", "scale = 5.0"))
    assert stale_flags(frame) == [True, False] * 200
    path.unlink()
    assert stale_reason(tags) is None  # made elsewhere: this machine cannot tell
    import socket

    here = {**tags, "mltrack.host": socket.gethostname()}
    assert "not on disk" in (stale_reason(here) or "")
    # runs that are not %%track runs are never stale
    assert stale_reason({**tags, "mltrack.notebook.cell_source": "x = 1"}) is None


# -- notebooks --------------------------------------------------------------------------------

@pytest.mark.kernel
def test_a_notebook_entry_point_runs_with_injected_parameters_and_reproduces(
        store: Client, tracking_uri: str) -> None:
    result = CliRunner().invoke(main, ["--tracking-uri", tracking_uri, "run", str(EXAMPLE),
                                       "-e", "explore", "-P", "alpha=0.3",
                                       "--experiment", "explore"])
    assert result.exit_code == 0, result.output
    (original,) = store.search_runs(None, None, "all")
    assert original.info.status == "FINISHED"
    assert original.data.params == {"alpha": "0.3", "l1_ratio": "0.1"}
    assert set(original.data.metrics) == {"rmse"}
    executed = nbformat.reads(store.read_artifact(
        original.info.run_id, "notebook/explore.ipynb").decode(), as_version=4)
    injected = executed.cells[2]
    assert injected.metadata.tags == ["injected-parameters"]
    assert "alpha = 0.3\n" in injected.source and "l1_ratio = 0.1\n" in injected.source
    assert executed.cells[-1].outputs  # executed: the last cell shows the rmse

    again = reproduce(original.info.run_id, quiet=True)
    assert again.ok, str(again)
    assert again.metrics[0].original == again.metrics[0].reproduced


@pytest.mark.kernel
def test_run_notebook_sweeps_and_a_notebook_run_reproduces(store: Client) -> None:
    results = run_notebook(EXAMPLE / "explore.ipynb", [{"alpha": 0.05}, {"alpha": 2.0}],
                           experiment="sweep", quiet=True)
    assert [r.status for r in results] == ["FINISHED", "FINISHED"]
    assert [r.params["alpha"] for r in results] == ["0.05", "2.0"]
    assert results[0].metrics["rmse"] < results[1].metrics["rmse"]
    stored = store.get_run(results[1].run_id)
    assert json.loads(stored.data.tags[T.PARAMETERS]) == {"alpha": "2.0"}

    again = reproduce(results[1].run_id, quiet=True)
    assert again.ok and again.kind == "notebook", str(again)
    assert store.get_run(again.run_id).data.params == {"alpha": "2.0"}


def test_run_notebook_refuses_values_it_cannot_write(store: Client) -> None:
    from jupyter_mltrack import InvalidParameter

    with pytest.raises(InvalidParameter, match="cannot be written into a notebook cell"):
        run_notebook(EXAMPLE / "explore.ipynb", {"alpha": object()}, quiet=True)
    with pytest.raises(InvalidParameter, match="not a Python variable name"):
        run_notebook(EXAMPLE / "explore.ipynb", {"my alpha": 1}, quiet=True)
    assert len(store.search_runs(None, None, "all")) == 0


def test_reproduce_refuses_runs_without_code(store: Client) -> None:
    from jupyter_mltrack import InvalidParameter

    run_id = store.create_run(store.create_experiment("plain")).info.run_id
    with pytest.raises(InvalidParameter, match="recorded no code that can be re-executed"):
        reproduce(run_id)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
