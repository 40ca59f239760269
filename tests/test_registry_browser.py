"""The registry panel in a real JupyterLab, in headless Chromium: choose a version, type a
comment, click Promote to Production, Confirm, and the store changes; a failing gate is
shown inline. Keeps screenshots for the docs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from jupyter_mltrack import Client
from jupyter_mltrack import registry as r
from tests import browser_support as bs
from tests.registry_helpers import log_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def lab_with_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    uri = f"sqlite:///{tmp_path / '.mltrack' / 'mltrack.db'}"
    monkeypatch.setenv("MLTRACK_USER", "ana")
    client = Client(uri)
    exp = client.create_experiment("browser")
    for acc, note in ((0.78, "baseline"), (0.91, "more features"), (0.93, "tuned")):
        run_id = log_run(client, exp, {"accuracy": acc})
        r.register_model(f"runs:/{run_id}/model", "churn", description=note, client=client)
    r.transition_stage("churn", 1, "Production", comment="first launch", client=client)
    r.set_alias("churn", "champion", 1, client=client)
    r.set_registry_policy("churn", gates={"metrics.accuracy": ">= 0.9"}, client=client)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        'import jupyter_mltrack as mltrack\nmltrack.registry_panel("churn")')])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, tmp_path / "registry-panel.ipynb")
    env = {"MLTRACK_TRACKING_URI": uri, "MLTRACK_USER": "ana"}
    with bs.jupyterlab(tmp_path, env=env) as lab:
        yield lab, client


def _act(panel, version_label: str, button: str, comment: str) -> None:
    panel.locator(".mlt-reg-version select").select_option(label=version_label)
    panel.locator(".mlt-reg-comment textarea").fill(comment)
    panel.locator(f".mlt-reg-{button}").click()
    confirm = panel.locator(".mlt-reg-confirm-button")
    confirm.wait_for(state="visible")
    confirm.click()


def test_promote_in_jupyterlab_changes_the_store(lab_with_registry, shots: Path) -> None:
    lab, client = lab_with_registry
    with bs.chromium() as browser:
        page = bs.new_page(browser, height=1600)
        requests = bs.RequestLog(page)
        bs.open_notebook(page, lab, "registry-panel.ipynb")
        bs.run_all(page, lab)
        panel = page.locator(".mltrack-registry").first
        panel.locator(".mlt-tbl").first.wait_for()
        assert "Production" in panel.locator(".mlt-tbl").first.inner_text()

        # A version below the gate: refused, the reason shown inline, nothing changes.
        _act(panel, "v1 · Production", "staging", "")  # v1 to Staging is allowed
        bs.wait_for(lambda: r.get_model_version("churn", 1, client=client).current_stage
                  == "Staging", what="v1 in Staging")
        _act(panel, "v1 · Staging", "production", "try again")
        message = panel.locator(".mlt-reg-message")
        bs.wait_for(lambda: "fails: it is 0.78" in message.inner_text(), what="the gate error")
        assert r.get_model_version("churn", 1, client=client).current_stage == "Staging"
        bs.screenshot(panel, shots / "registry-panel-gate.png")

        # Promote v3 with a comment: the store changes and the panel redraws.
        _act(panel, "v3 · None", "production", "tuned model beats baseline")
        bs.wait_for(lambda: r.get_model_version("churn", 3, client=client).current_stage
                  == "Production", what="v3 in Production in the store")
        bs.wait_for(lambda: "is now in Production" in message.inner_text(),
                  what="the success message")
        options = panel.locator(".mlt-reg-version select option")
        bs.wait_for(lambda: "v3 · Production" in [o.replace("\xa0", " ")
                                                for o in options.all_text_contents()],
                  what="the redrawn version list")
        last = r.history_records("churn", client=client)[-1]
        assert (last.version, last.to_value, last.user_id, last.comment) == (
            3, "Production", "ana", "tuned model beats baseline")
        assert "tuned model beats baseline" in panel.inner_text()
        page.mouse.move(0, 0)
        bs.screenshot(panel, shots / "registry-panel.png")

        # Rollback from the browser: v1, which held Production before v3, returns.
        panel.locator(".mlt-reg-rollback").click()
        panel.locator(".mlt-reg-confirm-button").click()
        bs.wait_for(lambda: r.get_model_version("churn", 3, client=client).current_stage
                  == "Archived", what="v3 archived by the rollback")
        assert r.get_model_version("churn", 1, client=client).current_stage == "Production"

        # Under an approval policy the button asks for approval and opens a request.
        r.set_registry_policy("churn", require_approval_for=["Production"],
                              gates={"metrics.accuracy": ">= 0.9"}, client=client)
        _act(panel, "v2 · None", "staging", "")
        button = panel.locator(".mlt-reg-production")
        bs.wait_for(lambda: "Request Production" in button.inner_text(),
                  what="the Request Production label")
        _act(panel, "v2 · Staging", "production", "ready for traffic")
        bs.wait_for(lambda: r.transition_requests("churn", client=client),
                  what="the request in the store")
        request = r.transition_requests("churn", client=client)[0]
        assert (request.version, request.requested_by, request.comment) == (
            2, "ana", "ready for traffic")
        bs.wait_for(lambda: "Pending approval" in panel.inner_text().title()
                  or "PENDING APPROVAL" in panel.inner_text(), what="the pending table")
        page.mouse.move(0, 0)
        bs.screenshot(panel, shots / "registry-panel-approval.png")
        requests.assert_only_loopback()
