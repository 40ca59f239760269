"""show_run(): params, metrics with history charts, tags, provenance, artifact previews."""

from __future__ import annotations

import json

import altair as alt
import matplotlib
import pandas as pd
import pytest

from jupyter_mltrack.errors import InvalidParameter, RunNotFound
from jupyter_mltrack.widgets import show_run
from jupyter_mltrack.widgets.artifacts import preview_kind
from jupyter_mltrack.widgets.table import Grid
from jupyter_mltrack.widgets.views import Html
from tests.widget_runs import make_runs

matplotlib.use("Agg")


@pytest.fixture
def run_id(client) -> str:
    rid = make_runs(client, n=1, steps=40)[0]
    client.set_tags(rid, {"mltrack.git.commit": "0123abc", "stage": "tuning",
                          "mltrack.packages": "numpy==2.0\npandas==2.2"})
    client.log_text(rid, "epoch 1 ok\nepoch 2 ok", "logs/train.log")
    client.log_dict(rid, {"lr": 0.1, "layers": [64, 32]}, "config.json")
    client.log_text(rid, "name,score\nb,2\na,1\nc,3\n", "eval/scores.csv")
    chart = alt.Chart(pd.DataFrame({"x": [1, 2, 3], "y": [2, 1, 3]})).mark_line().encode(
        x="x", y="y")
    client.log_figure(rid, chart, "plots/curve.html")
    client.log_figure(rid, chart, "plots/curve.json")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([1, 3, 2])
    client.log_figure(rid, fig, "plots/curve.png")
    plt.close(fig)
    client.log_text(rid, "\x00\x01", "weights.bin")
    return rid


@pytest.fixture
def view(client, run_id):
    v = show_run(run_id, client=client, refresh_interval=None)
    yield v
    v.close()


def test_header_overview_and_metrics(view, run_id) -> None:
    assert "run-0" in view.header_html and "FINISHED" in view.header_html
    assert run_id in view.header_html
    assert "experiment sweep" in view.header_html
    overview = view._overview.value
    assert "<th>lr</th><td>0.1</td>" in overview
    assert "<th>stage</th><td>tuning</td>" in overview
    assert "mltrack.git.commit" not in overview  # provenance has its own tab
    metrics = view._metrics.value
    assert metrics.count("<svg class=\"mlt-spark\"") == 2  # loss and acc
    assert "<td class=\"mlt-num\">40</td>" in metrics  # points per history
    spec = view.history_view.spec
    rows = [r for rows in spec["datasets"].values() for r in rows]
    assert {r["metric"] for r in rows} == {"loss", "acc"}
    assert spec["facet"]["field"] == "metric"


def test_provenance_shows_context_and_cell_source(view) -> None:
    html = view._provenance.value
    assert "git.commit" in html and "0123abc" in html
    assert "packages (2 lines)" in html
    assert "lr = 0.1" in html and "mlt-code" in html


def test_artifact_browser_previews_each_kind(view) -> None:
    browser = view.artifacts
    names = [row[0] for row in browser.listing._rows]
    assert names == ["eval/", "logs/", "plots/", "config.json", "weights.bin"]  # folders first

    browser.listing._selected = ["config.json"]
    title, body = browser.preview_box.children
    assert "config.json" in title.value
    assert isinstance(body, Html) and "&quot;layers&quot;: [" in body.value

    browser.listing._selected = ["plots/"]
    assert browser.folder == "plots"
    assert [row[0] for row in browser.listing._rows] == ["../", "curve.html", "curve.json",
                                                        "curve.png"]
    browser.listing._selected = ["plots/curve.png"]
    assert 'src="data:image/png;base64,' in browser.preview_box.children[1].value
    for saved in ("plots/curve.json", "plots/curve.html"):
        browser.listing._selected = [saved]
        chart = browser.preview_box.children[1]
        assert isinstance(chart, alt.JupyterChart), saved
        assert chart.spec["mark"]["type"] == "line"
    browser.listing._selected = ["../"]
    assert browser.folder == ""

    browser.open_path("eval/scores.csv")
    table = browser.preview_box.children[1]
    assert isinstance(table, Grid)
    table._sort = {"key": "score", "ascending": True}
    assert [r[0] for r in table._rows] == ["a", "b", "c"]

    browser.open_path("logs/train.log")
    assert "epoch 2 ok" in browser.preview_box.children[1].value
    browser.open_path("weights.bin")
    assert "no preview for this type" in browser.preview_box.children[1].value
    browser.open_path("missing.txt")
    assert "mlt-error" in browser.preview_box.children[0].value


def test_preview_kinds() -> None:
    assert preview_kind("a/b.PNG") == "image"
    assert preview_kind("x.vl.json") == "json"
    assert preview_kind("data.tsv") == "table"
    assert preview_kind("requirements.txt") == "text"
    assert preview_kind("model.pkl") == "binary"


def test_a_run_without_artifacts_says_how_to_log_them(client) -> None:
    exp = client.get_or_create_experiment("empty")
    run = client.create_run(exp, run_name="bare")
    v = show_run(run.info.run_id, client=client, refresh_interval=None)
    assert "no artifacts" in v.artifacts.preview_box.children[0].value
    assert "No metrics logged" in v._metrics.value
    assert "No cell source recorded" in v._provenance.value
    v.close()


def test_run_objects_uris_and_the_last_run(fluent) -> None:
    with fluent.start_run(run_name="latest") as run:
        fluent.log_param("k", 1)
    assert show_run(run, refresh_interval=None).run_id == run.info.run_id
    assert show_run(f"runs:/{run.info.run_id}/model", refresh_interval=None).run_id == \
        run.info.run_id
    assert show_run(refresh_interval=None).run.info.run_name == "latest"


def test_bad_input(client, fluent, monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_mltrack.tracking import fluent as fluent_module

    monkeypatch.setattr(fluent_module, "_last_run_id", None)  # a fresh session
    with pytest.raises(RunNotFound, match="pass a run id"):
        show_run(refresh_interval=None)
    with pytest.raises(InvalidParameter, match="run id, a runs:/ URI or a Run"):
        show_run(12, client=client)
    with pytest.raises(RunNotFound):
        show_run("0" * 32, client=client)


def test_static_copy_is_its_own_output_before_the_widget(view) -> None:
    copy, live = view.display_outputs()
    html = copy["text/html"]
    assert list(copy) == ["text/html"]  # nothing outranks it in viewers and nbconvert
    assert "run-0" in html and "mlt-spark" in html and "<style>" in html and "<svg" in html
    assert f'mlt-static-{view.model_id}' in html
    assert "application/vnd.jupyter.widget-view+json" in live and "text/html" not in live
    # a live child (the header) carries the synced trait that hides the copy
    shown, stack = [], list(view.children)
    while stack:
        child = stack.pop()
        shown.append(getattr(child, "_static_for", ""))
        stack.extend(getattr(child, "children", ()))
    assert view.model_id in shown
    assert json.loads(json.dumps([copy, live]))  # serialisable into a notebook


def test_stale_marks_need_no_projects_face(tracking_uri: str, tmp_path) -> None:
    """show_run() and compare() mark a stale %%track run with the tracking service's check:
    rendering them loads neither the projects face nor anything above the widgets."""
    import subprocess
    import sys

    import nbformat

    notebook = tmp_path / "gone.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("y = 2")]),
                   str(notebook))
    script = f"""
import sys
import jupyter_mltrack as mltrack
from jupyter_mltrack.widgets import compare, show_run
mltrack.set_tracking_uri({tracking_uri!r})
tags = {{"mltrack.notebook.cell_hash": "0" * 64, "mltrack.notebook.path": {str(notebook)!r},
        "mltrack.notebook.cell_source": "%%track\\nx = 1"}}
with mltrack.start_run(run_name="old", tags=tags) as run:
    pass
view = show_run(run.info.run_id, refresh_interval=None)
table = compare(run.info.experiment_id, refresh_interval=None)
print("STALE" in view.header_html, list(table.frame["run_name"]))
print(sorted(m for m in sys.modules if m.startswith("jupyter_mltrack.projects")))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=300).stdout.splitlines()
    assert out[0] == "True ['old ⚠ stale']"
    assert out[1] == "[]"
