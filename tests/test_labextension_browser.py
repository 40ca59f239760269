"""The ML Tracker lab extension in a real JupyterLab (and Notebook 7) started from the
installed package, driven by headless Chromium: the sidebar lists a notebook's runs and
follows one while it runs, the dashboard draws its chart, Promote changes the store,
"Track this cell" edits the cell. Keeps light and dark screenshots for the docs.

One JupyterLab serves the whole module; its store is the ``.mltrack`` folder of its root,
found by the server extension on its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyter_mltrack import Client
from jupyter_mltrack import registry as r
from jupyter_mltrack.entities import Metric
from tests import browser_support as bs
from tests.registry_helpers import log_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SLOW_CELL = """%%track --name slow-train
epochs = 24
for step in range(epochs):
    mltrack.log_metric("loss", 1 / (step + 1), step=step)
    time.sleep(0.5)
acc = 1 - 1 / epochs"""


def _installed() -> bool:
    done = subprocess.run([sys.executable, "-m", "jupyterlab.labextensions", "list"],
                          capture_output=True, text=True, check=False)
    return "jupyter-mltrack" in done.stdout + done.stderr


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not _installed():
        pytest.skip("the jupyter-mltrack lab extension is not installed in this environment; "
                    "pip install the package (the wheel carries it)")
    root = tmp_path_factory.mktemp("lab")
    client = Client(root / ".mltrack")
    exp = client.create_experiment("prepared")
    for i, (lr, final) in enumerate(((0.1, 0.42), (0.03, 0.31), (0.01, 0.27))):
        run = client.create_run(exp, run_name=f"lr-{lr}")
        client.log_param(run.run_id, "lr", lr)
        client.log_batch(run.run_id, metrics=[
            Metric("loss", final + (1 - final) / (s + 1 + i), 0, s) for s in range(30)])
        client.set_terminated(run.run_id)
    reg_exp = client.create_experiment("churn-models")
    for acc in (0.88, 0.93):
        run_id = log_run(client, reg_exp, {"accuracy": acc})
        r.register_model(f"runs:/{run_id}/model", "churn", client=client)
    r.transition_stage("churn", 1, "Production", comment="first launch", client=client)
    r.set_alias("churn", "champion", 1, client=client)
    cells = [
        "%load_ext jupyter_mltrack\nimport time\nimport jupyter_mltrack as mltrack\n"
        'mltrack.set_experiment("notebook-runs")',
        "%%track --name quick\nlr = 0.1\nacc = 0.8",
        SLOW_CELL,
        "x = 1",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, root / "train.ipynb")
    return root


@pytest.fixture(scope="module")
def lab(root: Path) -> Iterator[bs.JupyterLab]:
    with bs.jupyterlab(root) as lab:
        yield lab


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with bs.chromium() as browser:
        yield browser


class Errors:
    """Uncaught page errors and console errors of the extension (Notebook 7.6 raises one
    of its own on every page, with or without extensions)."""

    def __init__(self, page: Any):
        self.seen: list[str] = []
        page.on("pageerror", self._page_error)
        page.on("console", lambda msg: self.seen.append(f"console: {msg.text}")
                if msg.type == "error" and "mltrack" in msg.text.lower() else None)

    def _page_error(self, exc: Any) -> None:
        text = f"{exc}\n{getattr(exc, 'stack', '')}"
        if "mltrack" in text.lower():
            self.seen.append(f"pageerror: {text}")

    def assert_none(self) -> None:
        assert not self.seen, self.seen


def _open_sidebar(page: Any) -> Any:
    page.locator(".jp-SideBar.jp-mod-left li[data-id='mltrack-sidebar']").click()
    sidebar = page.locator("#mltrack-sidebar")
    sidebar.wait_for(state="visible")
    return sidebar


def _run_badge(sidebar: Any, name: str) -> Any:
    return sidebar.locator(".mltrack-run", has=sidebar.page.locator(
        ".mltrack-run-name", has_text=name)).locator(".mlt-badge")


def test_sidebar_lists_the_notebooks_runs_and_follows_a_running_one(
        lab: bs.JupyterLab, browser: Any, root: Path) -> None:
    page = bs.new_page(browser)
    errors = Errors(page)
    requests = bs.RequestLog(page)
    bs.open_notebook(page, lab, "train.ipynb")
    sidebar = _open_sidebar(page)
    assert sidebar.locator(".mltrack-store").inner_text() == ".mltrack/mltrack.db"
    sidebar.locator(".mltrack-experiment[data-experiment='prepared']").wait_for()

    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    badge = _run_badge(sidebar, "slow-train")
    badge.wait_for(timeout=60_000)
    bs.wait_for(lambda: badge.inner_text().strip() == "RUNNING", what="slow-train RUNNING")
    # The status bar names the run of this notebook's kernel while it runs.
    status = page.locator(".mltrack-status")
    bs.wait_for(lambda: "slow-train" in status.inner_text(), what="the status bar item")
    assert _run_badge(sidebar, "quick").inner_text().strip() == "FINISHED"
    bs.screenshot(page, Path(lab.root_dir) / "running.png")
    # No reload: the sidebar follows the run to its end.
    bs.wait_for(lambda: badge.inner_text().strip() == "FINISHED", timeout=60,
                what="slow-train FINISHED in the sidebar")
    line = sidebar.locator(".mltrack-run", has=page.locator(".mltrack-run-name",
                                                             has_text="slow-train"))
    assert "acc 0.9583" in line.locator(".mltrack-run-meta").inner_text()
    bs.wait_for(lambda: status.inner_text().strip() == "", what="the status item to clear")

    # A bad filter shows the grammar's caret message; a good one narrows the list.
    search = sidebar.locator(".mltrack-search")
    search.fill("metrics.acc >")
    search.press("Enter")
    error = sidebar.locator(".mltrack-error .mlt-error")
    error.wait_for()
    assert error.locator("pre").inner_text().rstrip().endswith("^")
    search.fill("metrics.acc > 0.85")
    search.press("Enter")
    bs.wait_for(lambda: sidebar.locator(".mltrack-run-name").all_inner_texts()
                == ["slow-train"], what="only slow-train to match")
    assert not error.count()
    search.fill("")
    search.press("Enter")
    errors.assert_none()
    requests.assert_only_loopback()


def test_track_this_cell_prefixes_the_active_cell(lab: bs.JupyterLab, browser: Any) -> None:
    page = bs.new_page(browser)
    errors = Errors(page)
    bs.open_notebook(page, lab, "train.ipynb")
    last = page.locator(".jp-Notebook .jp-CodeCell").last
    last.locator(".jp-InputPrompt").click()
    page.locator(".jp-NotebookPanel-toolbar .mltrack-track-cell").click()
    editor = last.locator(".cm-content")
    bs.wait_for(lambda: editor.inner_text().startswith("%%track\nx = 1"),
                what="the cell to start with %%track")
    # Twice does not stack the magic.
    page.locator(".jp-NotebookPanel-toolbar .mltrack-track-cell").click()
    assert editor.inner_text().count("%%track") == 1
    errors.assert_none()


def _open_dashboard(page: Any, lab: bs.JupyterLab) -> Any:
    page.goto(lab.url("/lab?reset"))
    sidebar = _open_sidebar(page)
    sidebar.locator(".mlt-link", has_text="Dashboard").click()
    dashboard = page.locator("#mltrack-dashboard")
    dashboard.wait_for(state="visible")
    return sidebar, dashboard


def test_dashboard_draws_the_chart_of_an_experiment(lab: bs.JupyterLab, browser: Any,
                                                    shots: Path) -> None:
    page = bs.new_page(browser)
    errors = Errors(page)
    requests = bs.RequestLog(page)
    sidebar, dashboard = _open_dashboard(page, lab)
    dashboard.locator(".mltrack-experiment-select").select_option(label="prepared")
    table = dashboard.locator(".mltrack-runs-table")
    bs.wait_for(lambda: table.locator("tbody tr").count() == 3, what="three runs")
    lines = dashboard.locator(".mltrack-chart svg .mark-line path")
    bs.wait_for(lambda: lines.count() == 3, what="a line per run")
    assert all(len(d or "") > 100 for d in
               (lines.nth(i).get_attribute("d") for i in range(3)))
    assert "loss" in (dashboard.locator(".mltrack-chart svg").text_content() or "")
    bs.screenshot(page, shots / "labext-dashboard-light.png")
    bs.screenshot(sidebar, shots / "labext-sidebar-light.png")

    # A run's detail, opened from the table.
    table.locator("tbody tr", has_text="lr-0.03").locator(".mlt-name").click()
    dashboard.locator(".mltrack-run-title", has_text="lr-0.03").wait_for()
    assert "0.03" in dashboard.locator(".mltrack-pane-run").inner_text()

    bs.set_theme(page, "JupyterLab Dark")
    dashboard.locator(".mltrack-tab[data-view='runs']").click()
    bs.wait_for(lambda: lines.count() == 3, what="the chart again")
    def brightness(selector: str, prop: str) -> float:
        color = page.evaluate(
            f"getComputedStyle(document.querySelector({selector!r}))[{prop!r}]")
        channels = [float(c) for c in color[color.index("(") + 1:-1].split(",")[:3]]
        return sum(channels) / 3

    # Axis labels light on the dark background, grid lines dim (not the light theme's).
    bs.wait_for(lambda: brightness(".mltrack-chart svg .role-axis-label text", "fill") > 150,
                what="axis labels in the dark theme's text color")
    assert brightness(".mltrack-chart svg .role-axis-grid line", "stroke") < 128
    bs.screenshot(page, shots / "labext-dashboard-dark.png")
    bs.screenshot(sidebar, shots / "labext-sidebar-dark.png")
    bs.set_theme(page, "JupyterLab Light")
    errors.assert_none()
    requests.assert_only_loopback()


def test_promote_in_the_dashboard_changes_the_stage_in_the_store(
        lab: bs.JupyterLab, browser: Any, root: Path, shots: Path) -> None:
    client = Client(root / ".mltrack")
    page = bs.new_page(browser)
    errors = Errors(page)
    _sidebar, dashboard = _open_dashboard(page, lab)
    dashboard.locator(".mltrack-tab[data-view='registry']").click()
    pane = dashboard.locator(".mltrack-pane-registry")
    pane.locator(".mltrack-versions").wait_for()
    pane.locator(".mlt-reg-version").select_option(label="v2 · None")
    pane.locator(".mlt-reg-comment").fill("better accuracy")
    pane.locator(".mlt-reg-production").click()
    question = pane.locator(".mlt-reg-question")
    question.wait_for()
    assert question.inner_text() == (
        "Move version 2 of 'churn' to Production? Version 1 will be archived.")
    assert r.get_model_version("churn", 2, client=client).current_stage == "None"
    pane.locator(".mlt-reg-confirm-button").click()
    pane.locator(".mlt-reg-message .mlt-ok").wait_for()
    assert r.get_model_version("churn", 2, client=client).current_stage == "Production"
    assert r.get_model_version("churn", 1, client=client).current_stage == "Archived"
    moved = [x for x in r.history_records("churn", client=client)
             if x.version == 2 and x.to_value == "Production"]
    assert [x.comment for x in moved] == ["better accuracy"]
    row = pane.locator(".mltrack-versions tr[data-version='2']")
    assert "Production" in row.inner_text()
    # The sidebar's registry section follows at once.
    sidebar_v2 = page.locator("#mltrack-sidebar .mltrack-version[data-version='2'] .mlt-badge")
    bs.wait_for(lambda: sidebar_v2.inner_text().strip() == "Production",
                what="the sidebar to show v2 in Production")
    bs.screenshot(page, shots / "labext-registry-light.png")
    errors.assert_none()


def test_notebook7_loads_the_extension_without_errors(root: Path, browser: Any) -> None:
    with bs.jupyterlab(root, app="notebook") as nb7:
        page = bs.new_page(browser)
        errors = Errors(page)
        page.goto(nb7.url("/notebooks/train.ipynb"))
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=90_000)
        page.locator(".jp-NotebookPanel-toolbar .mltrack-track-cell").wait_for()
        assert page.locator("#mltrack-sidebar").count() == 1
        time.sleep(1)
        errors.assert_none()


def test_the_store_label_is_what_the_server_serves(lab: bs.JupyterLab) -> None:
    info = lab.api("/mltrack/api/store")
    assert info["label"] == ".mltrack/mltrack.db"
    assert json.loads(json.dumps(info))["open_dashboard"] is False
