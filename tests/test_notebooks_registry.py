"""notebooks/registry.ipynb runs in a real kernel, and the store shows what its panel did."""

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

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "registry.ipynb"
pytestmark = [pytest.mark.kernel, pytest.mark.slow]


def test_registry_notebook_runs_and_its_panel_clicks_reach_the_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLTRACK_TRACKING_URI", raising=False)
    subprocess.run([str(Path(sys.executable).with_name("mltrack")), "init"], check=True,
                   capture_output=True)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=300, store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json"
             in o.get("data", {})]
    assert views, "the panel was not displayed as a widget"
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert views[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] in state
    texts = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                      for o in outputs)
    assert "may not enter Production: metrics.accuracy >= 0.8 fails" in texts
    assert "{'first approval': 2, 'second approval': 3, 'now': 2}" in texts

    client = Client(str(tmp_path / ".mltrack"))
    stages = {v.version: v.current_stage for v in r.search_model_versions(client=client)}
    assert stages == {1: "None", 2: "Production", 3: "Archived"}
    records = r.history_records("churn", client=client)
    done = [(x.kind, x.action, x.version, x.user_id) for x in records
            if x.kind in ("request", "policy") or x.action == "rollback"]
    assert done == [
        ("policy", "set", None, "data-scientist"),
        ("request", "requested", 2, "data-scientist"),
        ("request", "approved", 2, "reviewer"),
        ("request", "requested", 3, "data-scientist"),
        ("request", "approved", 3, "reviewer"),
        ("stage", "rollback", 3, "on-call"),
        ("stage", "rollback", 2, "on-call"),
    ]
    assert next(x.comment for x in records if x.action == "approved") == \
        "checked the evaluation report"
    assert os.environ.get("MLTRACK_USER") != "reviewer"  # the kernel's env stayed there


def test_quickstart_registers_and_promotes_the_best_of_its_ten_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLTRACK_TRACKING_URI", raising=False)
    subprocess.run([str(Path(sys.executable).with_name("mltrack")), "init"], check=True,
                   capture_output=True)
    nb = nbformat.read(NOTEBOOK.with_name("quickstart.ipynb"), as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=300,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, errors
    client = Client(str(tmp_path / ".mltrack"))
    runs = client.search_runs(client.resolve_experiment_id("quickstart"),
                              "attributes.run_name LIKE 'sgd-lr-%'",
                              order_by=["metrics.accuracy DESC"])
    assert len(runs) == 10
    version = r.get_model_version("quickstart-sgd", 1, client=client)
    assert version.current_stage == "Production"
    chosen = client.get_run(version.run_id)
    assert chosen.info.run_name.startswith("sgd-lr-")
    assert chosen.data.metrics["accuracy"] == runs[0].data.metrics["accuracy"]
    assert r.resolve_models_uri("models:/quickstart-sgd/Production", client=client) == \
        f"runs:/{version.run_id}/model"
