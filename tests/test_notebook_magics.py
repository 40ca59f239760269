"""%%track and %mltrack in a real kernel: a notebook executed by nbclient, then the store.

One notebook with several tracked cells, a failing cell, a cell interrupted by a real
SIGINT, a grid sweep, a run started through the API, nested runs and the %mltrack
commands is executed once per module in a fresh git repository; the tests read the
SQLite store it wrote and the outputs nbclient collected.
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

SETUP = """\
%load_ext jupyter_mltrack
import jupyter_mltrack as mltrack
%mltrack experiment nbtest"""

FIRST = """\
%%track --name first --tag team=vision
lr = 0.01
epochs = 3
layers = [64, 32]
optimizer = "adam"
import numpy as np
for epoch in range(epochs):
    loss_value = 1.0 / (epoch + 1 + lr)
    mltrack.log_metric("train_loss", loss_value, step=epoch)
accuracy = np.float64(0.75) + lr
n_layers = len(layers)
seed = 7  # mltrack: ignore
debug = accuracy * 2  # mltrack: ignore
accuracy"""

OVERRIDE = """\
%%track --name override --param lr=0.5 --param batch=32 --metrics score
lr = 0.01
score = lr * batch
other = 3.5 * 2"""

FAILING = """\
%%track --name broken
alpha = 0.3
partial = alpha * 2
raise ValueError("bad data in batch 3")"""

INTERRUPTED = """\
%%track --name sleeper
import time
ticks = 0
for _ in range(600):
    time.sleep(0.1)"""

SWEEP = """\
%%track --grid lr=0.1,0.2 epochs=1,2 --name sweep
lr = 0.5
epochs = 5
score = lr * epochs"""

API_RUN = """\
with mltrack.start_run(run_name="api-run"):
    mltrack.log_param("source", "api")
    mltrack.log_metric("m", 1.5)"""

OUTER = 'outer = mltrack.start_run(run_name="outer")'
INNER = """\
%%track --nested --name inner
k = 1
doubled = k * 2"""
NOT_NESTED = """\
%%track --name refused
k = 2"""
END_OUTER = "mltrack.end_run()"

AFTER_INTERRUPT = """\
%%track --name after --quiet
x = 2
y = x ** 2"""

RESTORE = "%mltrack restore override"
DIFF = "%mltrack diff first override"
STATUS = "%mltrack status"
RUNS = "%mltrack runs -n 3"


@dataclass
class Executed:
    nb: Any
    cells: dict[str, int]
    replies: dict[int, dict[str, Any]]
    uri: str
    notebook_path: Path
    repo: Path
    kernel_id: str
    commit: str

    def cell(self, name: str) -> Any:
        return self.nb.cells[self.cells[name]]

    def reply(self, name: str) -> dict[str, Any]:
        return self.replies[self.cells[name]]["content"]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Executed]:
    repo = tmp_path_factory.mktemp("project")
    _git(repo, "init", "-q", "-b", "main")
    (repo / "data.txt").write_text("v1\n")
    _git(repo, "add", "data.txt")
    _git(repo, "commit", "-q", "-m", "data")
    (repo / "data.txt").write_text("v2\n")  # a tracked file changed: the tree is dirty
    commit = _git(repo, "rev-parse", "HEAD")
    uri = f"sqlite:///{repo / '.mltrack' / 'mltrack.db'}"
    notebook_path = repo / "train.ipynb"
    runtime = tmp_path_factory.mktemp("runtime")  # no Jupyter server knows this kernel

    named = [("setup", SETUP), ("first", FIRST), ("override", OVERRIDE),
             ("failing", FAILING), ("interrupted", INTERRUPTED),
             ("after_interrupt", AFTER_INTERRUPT), ("sweep", SWEEP), ("api", API_RUN),
             ("outer", OUTER), ("inner", INNER), ("not_nested", NOT_NESTED),
             ("end_outer", END_OUTER), ("restore", RESTORE), ("diff", DIFF),
             ("status", STATUS), ("runs", RUNS)]
    nb = nbformat.v4.new_notebook()
    cells: dict[str, int] = {}
    for name, source in named:
        cell = nbformat.v4.new_code_cell(source)
        if name in ("failing", "interrupted", "not_nested"):
            cell.metadata["tags"] = ["raises-exception"]
        if name == "interrupted":
            cell.metadata["test_timeout"] = 4
        cells[name] = len(nb.cells)
        nb.cells.append(cell)

    replies: dict[int, dict[str, Any]] = {}

    def on_executed(cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        replies[cell_index] = execute_reply

    env = {k: v for k, v in os.environ.items() if k not in ("JPY_SESSION_NAME",)}
    env.update({"MLTRACK_TRACKING_URI": uri, "MLTRACK_NOTEBOOK_PATH": str(notebook_path),
                "MLTRACK_USER": "tester", "JUPYTER_RUNTIME_DIR": str(runtime)})
    client = NotebookClient(
        nb, kernel_name="python3", timeout=180, store_widget_state=True,
        interrupt_on_timeout=True, timeout_func=lambda c: c.metadata.get("test_timeout", 180),
        resources={"metadata": {"path": str(repo)}}, on_cell_executed=on_executed,
    )
    with client.setup_kernel(env=env):
        assert client.km is not None
        kernel_id = Path(client.km.connection_file).stem.removeprefix("kernel-")
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        # Round trip: run the cell %mltrack restore inserted, as a user would.
        payload = replies[cells["restore"]]["content"]["payload"]
        restored = nbformat.v4.new_code_cell(payload[0]["text"])
        cells["restored"] = len(nb.cells)
        nb.cells.append(restored)
        client.execute_cell(restored, cells["restored"])
        client.set_widgets_metadata()
    yield Executed(nb, cells, replies, uri, notebook_path, repo, kernel_id, commit)


@pytest.fixture(scope="module")
def store(executed: Executed) -> Any:
    from jupyter_mltrack import Client

    return Client(executed.uri)


def _run(store: Any, name: str) -> Any:
    exp = store.get_experiment_by_name("nbtest")
    runs = [r for r in store.search_runs([exp.experiment_id], max_results=1000)
            if r.info.run_name == name]
    assert len(runs) == 1, f"expected one run named {name!r}, found {len(runs)}"
    return runs[0]


def _outputs(cell: Any, mime: str = "text/plain") -> str:
    texts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            texts.append(out.text)
        elif out.output_type in ("display_data", "execute_result"):
            texts.append(out.data.get(mime, ""))
        elif out.output_type == "error":
            texts.append(f"{out.ename}: {out.evalue}")
    return "\n".join(texts)


def test_tracked_cell_params_metrics_and_output(executed: Executed, store: Any) -> None:
    run = _run(store, "first")
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.01", "epochs": "3", "layers": "[64, 32]",
                               "optimizer": "adam"}
    last_loss = 1.0 / (3 + 0.01)
    assert run.data.metrics == {"train_loss": last_loss, "loss_value": last_loss,
                                "accuracy": 0.76, "n_layers": 2.0}
    history = store.get_metric_history(run.info.run_id, "train_loss")
    assert [(m.step, m.value) for m in history] == \
        [(e, 1.0 / (e + 1 + 0.01)) for e in range(3)]
    assert run.data.tags["team"] == "vision"
    # The last expression is the cell's output, after the one-line summary.
    cell = executed.cell("first")
    assert [o.output_type for o in cell.outputs] == ["display_data", "execute_result"]
    summary, result = cell.outputs
    assert result.data["text/plain"] == "np.float64(0.76)"
    assert "mltrack-run-summary" in summary.data["text/html"]
    assert summary.data["text/plain"].startswith("✓ run first · FINISHED")
    assert "accuracy=0.76" in summary.data["text/plain"]


def test_param_override_runs_the_cell_with_the_override(executed: Executed, store: Any) -> None:
    run = _run(store, "override")
    assert run.data.params == {"lr": "0.5", "batch": "32"}
    assert run.data.metrics == {"score": 16.0}  # --metrics keeps only score
    assert json.loads(run.data.tags["mltrack.notebook.overrides"]) == \
        {"lr": "0.5", "batch": "32"}


def test_failing_cell_is_failed_with_traceback_and_error_shown(executed: Executed,
                                                             store: Any) -> None:
    run = _run(store, "broken")
    assert run.info.status == "FAILED"
    assert run.info.end_time is not None
    assert run.data.params == {"alpha": "0.3"}
    assert run.data.metrics == {}  # nothing is captured from a cell that failed
    error = run.data.tags["mltrack.error"]
    count = executed.cell("failing").execution_count
    assert error.startswith("Traceback (most recent call last):")
    assert f"Cell In[{count}], line 4" in error
    assert error.rstrip().endswith("ValueError: bad data in batch 3")
    assert "tracked_cell" not in error  # the magic's own frames are not the user's
    reply = executed.reply("failing")
    assert reply["status"] == "error"
    assert (reply["ename"], reply["evalue"]) == ("ValueError", "bad data in batch 3")
    errors = [o for o in executed.cell("failing").outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "ValueError"
    assert "✗ run broken · FAILED (ValueError)" in _outputs(executed.cell("failing"))


def test_interrupted_cell_is_killed_and_the_kernel_goes_on(executed: Executed,
                                                         store: Any) -> None:
    run = _run(store, "sleeper")
    assert run.info.status == "KILLED"
    assert "KeyboardInterrupt" in run.data.tags["mltrack.error"]
    assert executed.reply("interrupted")["ename"] == "KeyboardInterrupt"
    after = _run(store, "after")
    assert after.info.status == "FINISHED"
    assert after.data.params == {"x": "2"} and after.data.metrics == {"y": 4.0}
    # --quiet: no summary output at all
    assert executed.cell("after_interrupt").outputs == []


def test_grid_sweep_children_under_one_sweep_run(executed: Executed, store: Any) -> None:
    parent = _run(store, "sweep")
    assert parent.info.status == "FINISHED"
    assert json.loads(parent.data.tags["mltrack.sweep.grid"]) == \
        {"lr": ["0.1", "0.2"], "epochs": ["1", "2"]}
    exp = store.get_experiment_by_name("nbtest")
    children = list(store.search_runs(
        [exp.experiment_id], f"attributes.parent_run_id = '{parent.info.run_id}'",
        order_by=["attributes.start_time ASC"]))
    got = {c.info.run_name: (c.data.params, c.data.metrics, c.info.status) for c in children}
    expected = {}
    for lr in (0.1, 0.2):
        for epochs in (1, 2):
            expected[f"lr={lr}, epochs={epochs}"] = (
                {"lr": str(lr), "epochs": str(epochs)}, {"score": lr * epochs}, "FINISHED")
    assert got == expected
    for child in children:
        assert child.info.parent_run_id == parent.info.run_id
        assert child.data.tags["mltrack.parentRunId"] == parent.info.run_id
    # A progress bar widget that reached the end, then the compare widget on the children.
    state = executed.nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    bars = [m["state"] for m in state.values() if m["model_name"] == "IntProgressModel"]
    assert [(b["value"], b["max"]) for b in bars] == [(4, 4)]
    grids = [m["state"] for m in state.values() if "_row_ids" in m["state"]]
    assert [sorted(g["_row_ids"]) for g in grids] == \
        [sorted(c.info.run_id for c in children)]
    views = [o for o in executed.cell("sweep").outputs
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 2  # the progress bar and the comparison
    assert "sweep sweep: 4 runs" in _outputs(executed.cell("sweep"))


def test_api_run_in_a_plain_cell_gets_notebook_provenance(executed: Executed,
                                                          store: Any) -> None:
    run = _run(store, "api-run")
    tags = run.data.tags
    assert tags["mltrack.notebook.cell_source"] == API_RUN
    assert tags["mltrack.notebook.execution_count"] == \
        str(executed.cell("api").execution_count)
    assert tags["mltrack.notebook.path"] == str(executed.notebook_path)
    assert run.data.params == {"source": "api"} and run.data.metrics == {"m": 1.5}


def test_provenance_of_a_tracked_cell(executed: Executed, store: Any) -> None:
    import hashlib

    tags = _run(store, "first").data.tags
    assert tags["mltrack.notebook.cell_source"] == FIRST
    assert tags["mltrack.notebook.cell_hash"] == hashlib.sha256(FIRST.encode()).hexdigest()
    assert tags["mltrack.notebook.execution_count"] == \
        str(executed.cell("first").execution_count)
    assert tags["mltrack.source.type"] == "NOTEBOOK"
    assert tags["mltrack.source.name"] == tags["mltrack.notebook.path"] == \
        str(executed.notebook_path)
    assert tags["mltrack.notebook.path_source"] == "MLTRACK_NOTEBOOK_PATH"
    assert tags["mltrack.notebook.kernel_id"] == executed.kernel_id
    assert tags["mltrack.source.git.commit"] == executed.commit
    assert tags["mltrack.source.git.branch"] == "main"
    assert tags["mltrack.source.git.dirty"] == "true"
    assert tags["mltrack.python_version"] == platform.python_version()
    assert tags["mltrack.user"] == "tester"
    assert tags["mltrack.host"] == socket.gethostname()
    packages = dict(line.split("==") for line in tags["mltrack.packages"].splitlines())
    assert packages["numpy"] == np.__version__
    assert "ipykernel" in packages


def test_nested_cell_is_a_child_and_unnested_is_refused(executed: Executed,
                                                       store: Any) -> None:
    outer, inner = _run(store, "outer"), _run(store, "inner")
    assert inner.info.parent_run_id == outer.info.run_id
    assert inner.data.metrics == {"doubled": 2.0}
    assert outer.info.status == "FINISHED"
    reply = executed.reply("not_nested")
    assert reply["ename"] == "UsageError"
    assert "still active" in reply["evalue"] and "--nested" in reply["evalue"]
    exp = store.get_experiment_by_name("nbtest")
    names = [r.info.run_name for r in store.search_runs([exp.experiment_id])]
    assert "refused" not in names


def test_restore_inserts_the_cell_that_reruns_the_run(executed: Executed, store: Any) -> None:
    original = _run(store, "override")
    payload = executed.reply("restore")["payload"]
    assert payload[0]["source"] == "set_next_input" and payload[0]["replace"] is False
    text = payload[0]["text"]
    assert text.splitlines()[0] == ("%%track --experiment nbtest --metrics score --tag "
                                    f"mltrack.restored_from={original.info.run_id}")
    assert text.splitlines()[1:] == [
        f"# restored from run override ({original.info.run_id})",
        "batch = 32", "lr = 0.5", "score = lr * batch", "other = 3.5 * 2",
    ]
    # Running the restored cell reproduces the run.
    exp = store.get_experiment_by_name("nbtest")
    again = [r for r in store.search_runs([exp.experiment_id])
             if r.data.tags.get("mltrack.restored_from") == original.info.run_id]
    assert len(again) == 1
    assert again[0].data.params == original.data.params
    assert again[0].data.metrics == original.data.metrics


def test_diff_status_and_runs_commands(executed: Executed) -> None:
    diff = _outputs(executed.cell("diff"))
    assert "params: 5 differ, 0 the same" in diff
    assert "metrics: 5 differ, 0 the same" in diff
    assert "-lr = 0.01" in diff and "+lr = 0.5" in diff and "+batch = 32" in diff
    status = _outputs(executed.cell("status"))
    assert str(executed.notebook_path) in status and executed.kernel_id in status
    assert "nbtest" in status
    runs = _outputs(executed.cell("runs"), "text/html")
    assert "3 most recent runs of &#x27;nbtest&#x27;" in runs or \
        "3 most recent runs of 'nbtest'" in runs


def test_terminal_ipython_shows_text(tmp_path: Path) -> None:
    """A plain terminal IPython shell: the same magics, text output only."""
    script = tmp_path / "terminal.py"
    script.write_text(
        "from IPython.terminal.interactiveshell import TerminalInteractiveShell\n"
        "shell = TerminalInteractiveShell.instance()\n"
        "for cell in ['%load_ext jupyter_mltrack', '%mltrack experiment term',\n"
        "             '%%track --name t1\\nlr = 0.1\\nacc = lr * 5',\n"
        "             '%%track --grid lr=1,2\\nlr = 0\\nscore = lr * 3',\n"
        "             '%mltrack runs']:\n"
        "    shell.run_cell(cell, store_history=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
    env["MLTRACK_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mltrack.db'}"
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "✓ run t1 · FINISHED" in text and "params lr=0.1 · metrics acc=0.5" in text
    assert "sweep [##########..........] 1/2 lr=1" in text
    assert "sweep [####################] 2/2 lr=2" in text
    assert "<div" not in text  # no HTML in a terminal
    from jupyter_mltrack import Client

    client = Client(env["MLTRACK_TRACKING_URI"])
    exp = client.get_experiment_by_name("term")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert runs["t1"].data.tags["mltrack.source.type"] == "IPYTHON"
    assert runs["t1"].data.tags["mltrack.notebook.cell_source"] == \
        "%%track --name t1\nlr = 0.1\nacc = lr * 5"
    assert math.isclose(runs["lr=2"].data.metrics["score"], 6.0)


def test_profile_setting_loads_the_extension_in_every_shell(tmp_path: Path) -> None:
    """The README's profile line: IPython loads the extension itself at start."""
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "ipython_config.py").write_text(
        'c.InteractiveShellApp.extensions = ["jupyter_mltrack"]\n')
    env = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
    env["MLTRACK_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mltrack.db'}"
    out = subprocess.run(
        [sys.executable, "-m", "IPython", f"--profile-dir={profile}", "--no-banner", "-c",
         "%%track --name profiled\nx = 1\ny = x * 3"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "✓ run profiled · FINISHED" in out.stdout
    from jupyter_mltrack import Client

    client = Client(env["MLTRACK_TRACKING_URI"])
    run = next(iter(client.search_runs([client.get_experiment_by_name("Default")
                                        .experiment_id])))
    assert run.data.params == {"x": "1"} and run.data.metrics == {"y": 3.0}
