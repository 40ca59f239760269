"""notebooks/compare.ipynb runs top to bottom in a real kernel; its widgets and their
static fallbacks are in the outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.mark.kernel
@pytest.mark.slow
def test_compare_notebook_runs_in_a_kernel(tmp_path: Path, monkeypatch) -> None:
    shutil.copy(ROOT / "notebooks" / "compare.ipynb", tmp_path / "compare.ipynb")
    monkeypatch.setenv("MLTRACK_TRACKING_URI", f"sqlite:///{tmp_path / '.mltrack' / 'mltrack.db'}")
    nb = nbformat.read(tmp_path / "compare.ipynb", as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=300, store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    views = [o for o in outputs if VIEW in o.get("data", {})]
    assert len(views) >= 5  # compare x3, the composed chart, show_run
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    for view in views:
        assert view["data"][VIEW]["model_id"] in state

    def models(kind: str) -> list[dict]:
        return [m["state"] for m in state.values() if m["state"].get("_anywidget_id", "")
                .endswith(kind)]

    grids = models("table.Grid")
    by_total = {g["_total"]: g for g in grids}
    # The main table: 12 sweep runs, the long run and the two %%track runs.
    assert 15 in by_total and len(by_total[15]["_rows"]) == 15
    assert by_total[15]["_sort"] == {"key": "metrics.val_accuracy", "ascending": False}
    # The side-by-side pair, both selected.
    assert len(by_total[2]["_selected"]) == 2
    htmls = [m["value"] for m in models("views.Html")]
    assert any("mlt-diff-add" in h and "activation" in h for h in htmls)
    # The live run finished and the widget that watched it says so.
    assert any("live-sgd" in str(g["_rows"]) and "FINISHED" in str(g["_rows"]) for g in grids)
    charts = models("vega.ChartView")
    # The Vega bundle travels as a message when a page asks, never in the saved state.
    assert max(len(str(m)) for m in state.values()) < 100_000  # the bundle is 900 KB
    assert all(len(m["_esm"]) < 5_000 for m in charts)
    drawn = [m["spec"] for m in charts if m["spec"]]
    # Charts shown by the kernel alone (the composed chart, show_run's panels) are saved;
    # compare()'s are made when a front end draws its Charts tab, and none did here: the
    # static copies carry them as SVG.
    assert len(drawn) >= 2 and all("vega-lite" in spec["$schema"] for spec in drawn)
    assert not any("mltrack-chart-history" in m.get("_dom_classes", ()) for m in charts)
    # Static copies for nbconvert, notebook viewers and GitHub: an HTML output before
    # each widget, with the charts as inline SVG.
    copies = [o["data"]["text/html"] for o in outputs
              if o.get("data", {}).get("text/html", "").startswith('<div class="mlt-static ')]
    assert len(copies) == len(views)
    assert any("<table" in h and "<svg" in h and "softmax-long" in h for h in copies)
    assert any("mlt-spark" in h for h in copies)  # show_run's sparklines
