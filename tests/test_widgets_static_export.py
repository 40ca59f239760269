"""A notebook executed headless (as CI does) and exported to HTML shows every widget's
static copy — tables and SVG charts — with no script, and stays small on disk."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

VIEW = "application/vnd.jupyter.widget-view+json"

SETUP = """
import jupyter_mltrack as mltrack
from jupyter_mltrack import registry
client = mltrack.Client()
exp = client.create_experiment("export")
ids = []
for i, name in enumerate(["alpha-run", "bravo-run", "charlie-run"]):
    run = client.create_run(exp, run_name=name)
    client.log_params(run.info.run_id, {"lr": 0.1 / (i + 1), "layers": i + 2})
    client.log_metric_points(run.info.run_id, "loss", [1 / (s + 1 + i) for s in range(40)],
                             steps=list(range(40)))
    ids.append(run.info.run_id)
from sklearn.dummy import DummyClassifier
from jupyter_mltrack.models import log_model
log_model(DummyClassifier().fit([[0], [1]], [0, 1]), "model", run_id=ids[0], client=client,
          progress=False)
for run_id in ids:
    client.set_terminated(run_id)
client.flush()
registry.register_model(f"runs:/{ids[0]}/model", "churn-model", description="first cut")
registry.transition_stage("churn-model", 1, "Production")
"""


def _visible(html: str) -> str:
    """The page as a reader without JavaScript sees it: scripts removed."""
    return re.sub(r"<script\b.*?</script\s*>", "", html, flags=re.DOTALL | re.IGNORECASE)


def _static_copies(html: str) -> list[str]:
    starts = [m.start() for m in re.finditer(r'<div class="mlt-static ', html)]
    return [html[a:b] for a, b in zip(starts, [*starts[1:], len(html)], strict=True)]


@pytest.mark.kernel
@pytest.mark.slow
def test_executed_notebook_exports_static_copies_and_stays_small(tmp_path: Path,
                                                                 monkeypatch) -> None:
    from nbconvert import HTMLExporter

    monkeypatch.setenv("MLTRACK_TRACKING_URI", f"sqlite:///{tmp_path / '.mltrack' / 'm.db'}")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell('mltrack.compare("export")'),
        nbformat.v4.new_code_cell("mltrack.show_run(ids[1])"),
        nbformat.v4.new_code_cell('mltrack.registry_panel("churn-model")'),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    NotebookClient(nb, kernel_name="python3", timeout=300, store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, path)

    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    # Each widget cell: a static copy (text/html) first, then the widget itself.
    for cell in nb.cells[1:]:
        kinds = [sorted(o.get("data", {})) for o in cell.outputs]
        assert kinds[0] == ["text/html"] and VIEW in kinds[1], kinds
    # The chart library (900 KB) is not in the saved widget state, nor is the stylesheet
    # once per view; the file was 1.4 MB with them.
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    biggest = max(len(str(m)) for m in state.values())
    assert biggest < 60_000, biggest
    assert sum("--mlt-badge" in str(m) for m in state.values()) == 1
    # 1.4 MB, then 400 kB: ipywidgets models opened with every unset property (a layout
    # carried 45 nulls), every view carrying its own code, the compare charts' specs
    # saved though they cannot draw without the kernel, SVG with a hover target per point.
    layouts = [m["state"] for m in state.values() if m["model_name"] == "LayoutModel"]
    assert layouts and max(sum(v is None for v in m.values()) for m in layouts) <= 2
    grid_code = "const grid = (() =>"
    assert sum(grid_code in str(m["state"].get("_esm", "")) for m in state.values()) == 1
    assert path.stat().st_size < 200_000, path.stat().st_size

    html, _ = HTMLExporter().from_notebook_node(nbformat.read(path, as_version=4))
    copies = _static_copies(_visible(html))
    assert len(copies) == 3
    compare_copy, run_copy, registry_copy = copies
    for name in ("alpha-run", "bravo-run", "charlie-run"):
        assert name in compare_copy
    assert compare_copy.count("<svg") >= 2 and "loss by step" in compare_copy
    assert "bravo-run" in run_copy and "<svg" in run_copy
    assert "churn-model" in registry_copy and "Production" in registry_copy
    assert "first cut" in registry_copy
