"""The registry panel driven from Python as a user would: choose, type, click, confirm."""

from __future__ import annotations

import pytest

from jupyter_mltrack import registry as r
from jupyter_mltrack.widgets.registry_panel import RegistryPanel, registry_panel
from tests.registry_helpers import as_user, experiment, log_run, register_runs

__all__ = ["as_user", "experiment"]


@pytest.fixture
def rc(client):  # SQLite is enough here: the store is tested on both elsewhere
    return client


@pytest.fixture
def panel(rc, experiment, as_user) -> RegistryPanel:
    register_runs(rc, experiment, "churn", [0.81, 0.93, 0.95])
    return registry_panel("churn", client=rc)


def click(panel: RegistryPanel, key: str, comment: str = "") -> str:
    panel.comment.value = comment
    panel.buttons[key].click()
    assert panel.pending_action == key
    assert panel.confirm_box.layout.display == "flex"
    panel.confirm_button.click()
    assert panel.pending_action is None
    return panel.message.value


def stages(rc) -> dict[int, str]:
    return {v.version: v.current_stage for v in r.search_model_versions(client=rc)}


def test_shows_versions_badges_metrics_and_history(panel) -> None:
    assert [v for _, v in panel.version_select.options] == [3, 2, 1]
    html = panel._versions.value
    assert "metrics.<wbr>acc" in html and "0.95" in html and "0.81" in html
    assert html.count('class="mlt-badge') == 3 and ">None</span>" in html
    assert "Model registry · churn" in panel.header_html
    assert panel._history.value.count("<td>stage register</td>") == 3
    assert panel.buttons["rollback"].disabled  # nothing in Production yet
    assert panel.requests_box.layout.display == "none"


def test_promote_needs_confirmation_and_refreshes(panel, rc) -> None:
    panel.version_select.value = 2
    panel.buttons["staging"].click()
    assert "Move version 2 of &#x27;churn&#x27; to Staging?" in panel.confirm_text.value
    assert stages(rc)[2] == "None"  # nothing happens before Confirm
    panel.cancel_button.click()
    assert panel.pending_action is None and stages(rc)[2] == "None"
    message = click(panel, "staging", comment="smoke tests green")
    assert "now in Staging" in message and stages(rc)[2] == "Staging"
    assert "v2 · Staging" in [label for label, _ in panel.version_select.options]
    assert "smoke tests green" in panel._history.value
    assert r.history_records("churn", client=rc)[-1].comment == "smoke tests green"
    assert panel.comment.value == ""


def test_production_archives_the_holder_and_rollback_restores_it(panel, rc, as_user) -> None:
    panel.version_select.value = 2
    click(panel, "production")
    panel.version_select.value = 3
    panel.buttons["production"].click()
    assert "Version 2 will be archived" in panel.confirm_text.value
    panel.confirm_button.click()
    assert stages(rc) == {1: "None", 2: "Archived", 3: "Production"}
    assert not panel.buttons["rollback"].disabled
    as_user("oncall")
    message = click(panel, "rollback", comment="latency regression")
    assert "version 2 is in Production again" in message
    assert stages(rc) == {1: "None", 2: "Production", 3: "Archived"}
    last = r.history_records("churn", client=rc)[-1]
    assert (last.action, last.user_id, last.comment) == ("rollback", "oncall",
                                                         "latency regression")
    panel.version_select.value = 3
    click(panel, "archive")
    assert stages(rc)[3] == "Archived"


def test_keep_existing_holder_when_unchecked(panel, rc) -> None:
    panel.version_select.value = 1
    click(panel, "production")
    panel.archive_existing.value = False
    panel.version_select.value = 2
    click(panel, "production")
    assert stages(rc) == {1: "Production", 2: "Production", 3: "None"}


def test_request_approve_reject_under_a_policy(panel, rc, as_user) -> None:
    r.set_registry_policy("churn", require_approval_for=["Production"],
                          gates={"metrics.acc": ">= 0.9"}, client=rc)
    panel.refresh_button.click()
    assert panel.buttons["production"].description == "Request Production"
    assert "approval for Production" in panel.header_html
    panel.version_select.value = 3
    message = click(panel, "production", comment="best offline")
    assert "Request #1 opened" in message and stages(rc)[3] == "None"
    assert panel.requests_box.layout.display == "flex"
    assert panel.request_select.value == 1 and "best offline" in panel._requests.value
    # the requester cannot approve: the refusal is shown inline, nothing moves
    message = click(panel, "approve")
    assert "mlt-error" in message and "another user must approve" in message
    as_user("bob")
    message = click(panel, "approve", comment="ok")
    assert "Request #1 approved by bob" in message and stages(rc)[3] == "Production"
    assert panel.requests_box.layout.display == "none"
    as_user("alice")
    panel.version_select.value = 2
    click(panel, "production")
    as_user("bob")
    message = click(panel, "reject", comment="not now")
    assert "rejected by bob" in message and stages(rc)[2] == "None"


def test_a_failing_gate_is_shown_inline(panel, rc) -> None:
    r.set_registry_policy("churn", gates={"metrics.acc": ">= 0.9"}, client=rc)
    panel.version_select.value = 1
    message = click(panel, "production")
    assert "mlt-error" in message
    assert "metrics.acc &gt;= 0.9 fails: it is 0.81" in message
    assert stages(rc)[1] == "None"


def test_aliases_from_the_panel(panel, rc) -> None:
    panel.version_select.value = 3
    panel.alias_input.value = "champion"
    message = click(panel, "alias")
    assert "models:/churn@champion is now version 3" in message
    assert "@champion" in panel._versions.value
    assert r.get_model_version_by_alias("churn", "champion", client=rc).version == 3
    panel.alias_input.value = "not valid!"
    message = click(panel, "alias")
    assert "mlt-error" in message and "not a valid alias" in message
    panel.alias_input.value = ""
    panel.buttons["alias"].click()
    assert panel.pending_action is None and "Type an alias first" in panel.message.value


def test_chooser_over_every_model_and_empty_store(rc, experiment, as_user) -> None:
    empty = registry_panel(client=rc)
    assert empty.name is None and "No registered models yet" in empty._versions.value
    assert empty.buttons["production"].disabled
    register_runs(rc, experiment, "churn", [0.9])
    register_runs(rc, experiment, "fraud", [0.7, 0.8])
    empty.refresh_button.click()
    assert list(empty.model_select.options) == ["churn", "fraud"]
    empty.model_select.value = "fraud"
    assert [v for _, v in empty.version_select.options] == [2, 1]
    assert "Model registry · fraud" in empty.header_html


def test_a_version_registered_from_a_folder_shows_no_run(rc, experiment, tmp_path,
                                                         as_user) -> None:
    from jupyter_mltrack.models import save_model
    from tests.registry_helpers import tiny_model

    save_model(tiny_model(), tmp_path / "m", progress=False)
    r.register_model(str(tmp_path / "m"), "local", client=rc)
    log_run(rc, experiment, {"acc": 0.5})
    panel = registry_panel("local", client=rc)
    assert ">folder<" in panel._versions.value


def test_front_door_name() -> None:
    import jupyter_mltrack

    assert jupyter_mltrack.registry_panel is registry_panel
