"""The model registry through ``MLTRACK_TRACKING_URI=http://...``: log_model, register,
stages, aliases, rollback, policies and approvals against a real ``mltrack server``,
and the server's refusal of what a client may not do (raw changes, another user's
name, files that are not what the client vouched for)."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import jupyter_mltrack as mt
from jupyter_mltrack import registry as reg
from jupyter_mltrack._http import ServerRefused
from jupyter_mltrack.errors import (
    InvalidParameter,
    InvalidState,
    ModelVersionNotFound,
    RegisteredModelNotFound,
    StageTransitionDenied,
    UntrustedModel,
)
from jupyter_mltrack.store import close_stores
from jupyter_mltrack.store.rest_queue import QUEUE_DIR_ENV
from jupyter_mltrack.store.rest_registry import RestRegistryStore
from tests.team_server import ADMIN, TeamServer

ALICE = ("alice", "alice-password-1")
BOB = ("bob", "bob-password-12345")


@pytest.fixture(autouse=True)
def _queue_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(QUEUE_DIR_ENV, str(tmp_path / "queue"))
    yield
    close_stores()


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[TeamServer]:
    srv = TeamServer("sqlite:///" + str(tmp_path / "server.db"), str(tmp_path / "artifacts"),
                     tmp_path)
    with srv:
        yield srv


def _model() -> Any:
    from sklearn.linear_model import LinearRegression

    x = np.arange(20, dtype=float).reshape(-1, 1)
    return LinearRegression().fit(x, 2 * x[:, 0] + 1)


def _logged_run(client: mt.Client, accuracy: float) -> str:
    with mt.start_run(experiment_id=client.get_or_create_experiment("remote-reg")) as run:
        mt.log_metric("accuracy", accuracy)
        mt.sklearn.log_model(_model(), name="model", serialization_format="cloudpickle")
    return run.info.run_id


def test_log_register_stage_alias_rollback_over_http(server: TeamServer) -> None:
    mt.set_tracking_uri(server.url)
    client = mt.Client(server.url)
    assert isinstance(client.registry_store, RestRegistryStore)
    first, second = _logged_run(client, 0.8), _logged_run(client, 0.9)

    # log_model pinned its files (a pickle): they load without trust=True, via the proxy
    loaded = mt.pyfunc.load_model(f"runs:/{first}/model")
    assert loaded.predict(np.array([[3.0]]))[0] == pytest.approx(7.0)

    v1 = reg.register_model(f"runs:/{first}/model", "churn", tags={"team": "a"})
    v2 = reg.register_model(f"runs:/{second}/model", "churn", description="better")
    assert (v1.version, v2.version, v2.description, v1.tags) == (1, 2, "better",
                                                                 {"team": "a"})
    assert v1.run_id == first and v1.source == f"runs:/{first}/model"

    assert reg.promote("churn", 1).current_stage == "Production"
    moved = reg.promote("churn", 2, comment="new data")
    assert moved.current_stage == "Production"
    assert reg.get_model_version("churn", 1).current_stage == "Archived"
    assert reg.get_latest_versions("churn", ["Production"])[0].version == 2

    reg.set_alias("churn", "champion", 2)
    assert reg.get_model_version_by_alias("churn", "champion").version == 2
    assert mt.pyfunc.load_model("models:/churn@champion").predict(
        np.array([[1.0]]))[0] == pytest.approx(3.0)
    reg.delete_alias("churn", "champion")
    assert reg.get_registered_model("churn").aliases == {}

    back = reg.rollback("churn", comment="bad release")
    assert (back.version, back.current_stage) == (1, "Production")
    history = reg.history_records("churn")
    last = [r for r in history if r.kind == "stage"][-2:]
    assert {(r.version, r.to_value, r.action) for r in last} == {
        (2, "Archived", "rollback"), (1, "Production", "rollback")}
    assert {r.comment for r in history} >= {"new data", "bad release"}

    # describe, tag, search; delete and restore a version
    reg.update_model_version("churn", 2, "second try")
    reg.set_model_version_tag("churn", 2, "checked", "yes")
    reg.set_registered_model_tag("churn", "owner", "ml-team")
    reg.update_registered_model("churn", "the churn model")
    model = reg.get_registered_model("churn")
    assert (model.description, model.tags) == ("the churn model", {"owner": "ml-team"})
    found = reg.search_model_versions("name = 'churn' and tags.checked = 'yes'")
    assert [v.version for v in found] == [2]
    assert [m.name for m in reg.search_registered_models("name LIKE 'ch%'")] == ["churn"]
    reg.transition_stage("churn", 2, "Archived")
    deleted = reg.delete_model_version("churn", 2)
    assert deleted.deleted
    with pytest.raises(InvalidState):  # a deleted version cannot take a stage
        reg.transition_stage("churn", 2, "Staging")
    assert not reg.restore_model_version("churn", 2).deleted

    # the errors a local store raises, raised the same through the server
    with pytest.raises(ModelVersionNotFound):
        reg.get_model_version("churn", 9)
    with pytest.raises(RegisteredModelNotFound):
        reg.get_registered_model("nope")
    with pytest.raises(InvalidParameter):
        reg.set_model_version_tag("churn", 1, "mltrack.model.digest", "sha256:x")


def test_policies_gates_and_approvals_over_http(server: TeamServer) -> None:
    mt.set_tracking_uri(server.url)
    client = mt.Client(server.url)
    weak, strong = _logged_run(client, 0.5), _logged_run(client, 0.95)
    reg.register_model(f"runs:/{weak}/model", "gated")
    reg.register_model(f"runs:/{strong}/model", "gated")
    policy = reg.set_registry_policy("gated", require_approval_for=["Production"],
                                     gates={"metrics.accuracy": ">= 0.9"},
                                     allow_self_approval=True)
    assert policy.gates == {"metrics.accuracy": ">= 0.9"}
    assert reg.get_registry_policy("gated") == policy

    with pytest.raises(StageTransitionDenied, match="accuracy"):
        reg.transition_stage("gated", 1, "Production")
    request = reg.transition_stage("gated", 2, "Production", comment="ship it")
    assert isinstance(request, mt.TransitionRequest) and request.status == "PENDING"
    assert reg.get_model_version("gated", 2).current_stage == "None"
    assert [r.request_id for r in reg.transition_requests("gated")] == [request.request_id]
    assert [r.request_id for r in reg.transition_requests()] == [request.request_id]

    approved = reg.approve(request.request_id, "looks good")
    assert approved.status == "APPROVED"
    assert reg.get_model_version("gated", 2).current_stage == "Production"
    other = reg.request_transition("gated", 2, "@champion")
    assert reg.reject(other.request_id).status == "REJECTED"
    reg.delete_registry_policy("gated")
    assert reg.get_registry_policy("gated") is None
    kinds = [r.kind for r in reg.history_records("gated")]
    assert kinds.count("policy") == 2 and "request" in kinds


def test_register_a_folder_and_trust_it_over_http(server: TeamServer, tmp_path: Path) -> None:
    mt.set_tracking_uri(server.url)
    folder = tmp_path / "saved"
    mt.sklearn.save_model(_model(), str(folder), serialization_format="cloudpickle")
    version = reg.register_model(str(folder), "copied", trust=True)
    assert version.tags["mltrack.model.origin"] == str(folder)
    assert version.source.startswith(server.url + "/api/2.0/mlflow-artifacts/artifacts/")
    # the copy, not the folder: changing the folder changes nothing
    (folder / "MLmodel").write_text("garbage")
    model = mt.pyfunc.load_model("models:/copied/1")
    assert model.predict(np.array([[0.0]]))[0] == pytest.approx(1.0)

    # files logged by hand, not by log_model, need trust=True
    client = mt.Client(server.url)
    with mt.start_run(experiment_id=client.get_or_create_experiment("by-hand")) as run:
        mt.sklearn.save_model(_model(), str(tmp_path / "hand"),
                              serialization_format="cloudpickle")
        mt.log_artifacts(str(tmp_path / "hand"), "hand")
    reg.register_model(f"runs:/{run.info.run_id}/hand", "by-hand")
    with pytest.raises(UntrustedModel):
        mt.pyfunc.load_model("models:/by-hand/1")
    reg.register_model(f"runs:/{run.info.run_id}/hand", "by-hand", trust=True)
    assert mt.pyfunc.load_model("models:/by-hand/2").predict(
        np.array([[1.0]]))[0] == pytest.approx(3.0)


def test_the_registry_panel_promotes_through_the_server(server: TeamServer) -> None:
    from jupyter_mltrack.widgets.registry_panel import registry_panel

    mt.set_tracking_uri(server.url)
    client = mt.Client(server.url)
    for accuracy in (0.7, 0.8):
        reg.register_model(f"runs:/{_logged_run(client, accuracy)}/model", "panel",
                           client=client)
    panel = registry_panel("panel", client=client)
    assert [v for _, v in panel.version_select.options] == [2, 1]
    panel.version_select.value = 2
    panel.comment.value = "from the widget"
    panel.buttons["production"].click()
    panel.confirm_button.click()
    assert reg.get_model_version("panel", 2, client=client).current_stage == "Production"
    assert "from the widget" in panel._history.value
    assert "v2 · Production" in [label for label, _ in panel.version_select.options]


# -- what the server refuses, in process -------------------------------------------------


def _basic(user: tuple[str, str]) -> dict[str, str]:
    raw = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


class App:
    """The app with auth on: admin, alice (EDIT on the model) and bob (MANAGE)."""

    def __init__(self, tmp_path: Path):
        from jupyter_mltrack.server.app import TeamServerApp
        from jupyter_mltrack.server.state import ServerConfig

        self.app = TeamServerApp(ServerConfig(f"sqlite:///{tmp_path / 'db.db'}",
                                              str(tmp_path / "artifacts"), auth=True,
                                              default_permission="NONE"))
        state = self.app.state
        users = state.server_store
        for user in (ADMIN, ALICE, BOB):
            users.create_user(*user, is_admin=user is ADMIN)
        self.exp = state.store.create_experiment("e")
        self.run = state.store.create_run(self.exp, "r", 1, "admin").run_id
        state.registry.create_model_version("m", f"runs:/{self.run}/model", self.run, "admin")
        users.set_permission("registered_model", "m", "alice", "EDIT")
        users.set_permission("registered_model", "m", "bob", "MANAGE")
        users.set_permission("experiment", self.exp, "alice", "EDIT")

    def post(self, path: str, body: Any, user: tuple[str, str]) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://127.0.0.1:5000") as client:
                return await client.post(path, json=body, headers=_basic(user))
        return asyncio.run(go())

    def change(self, plan: str, args: dict[str, Any], user: tuple[str, str]
               ) -> httpx.Response:
        return self.post("/api/2.0/mltrack/registered-models/change",
                         {"name": "m", "plan": plan, "args": args}, user)


@pytest.fixture()
def app(tmp_path: Path) -> App:
    return App(tmp_path)


def test_the_server_runs_plans_as_the_signed_in_user_with_its_own_rules(app: App) -> None:
    registry = app.app.state.registry
    ok = app.change("transition_stage", {"version": 1, "stage": "Staging"}, ALICE)
    assert ok.status_code == 200, ok.text
    assert registry.registry_history("m")[-1].user_id == "alice"

    # a client names no user, sends no raw change, and no operation the server lacks
    assert app.change("transition_stage", {"version": 1, "stage": "Production",
                                           "user": "bob"}, ALICE).status_code == 400
    for plan in ("StageChange", "apply_stage", "__init__"):
        refused = app.change(plan, {"version": 1, "stage": "Production"}, ALICE)
        assert refused.status_code == 400 and "Unknown registry operation" in refused.text
    bad = app.change("transition_stage", {"version": "1; drop", "stage": "Production"}, ALICE)
    assert bad.status_code == 400
    assert app.change("set_alias", {"version": 1, "alias": ["x"]}, ALICE).status_code == 400

    # policies and deletions need MANAGE: alice has EDIT, bob MANAGE
    policy = {"require_approval_for": ["Production"]}
    assert app.change("set_policy", policy, ALICE).status_code == 403
    assert app.change("set_policy", policy, BOB).status_code == 200
    assert registry.get_registry_policy("m").updated_by == "bob"
    assert app.change("delete_version", {"version": 1}, ALICE).status_code == 403

    # the policy holds whatever the client sends: alice's transition opens a request
    asked = app.change("transition_stage", {"version": 1, "stage": "Production"}, ALICE)
    assert asked.status_code == 200 and asked.json()["out"] == {"opened": True}
    request_id = asked.json()["results"][0]
    assert registry.get_model_version("m", 1).current_stage == "Staging"
    # she may not approve it (EDIT), nor may bob approve his own one
    decide = {"request_id": request_id, "status": "APPROVED"}
    assert app.change("decide", decide, ALICE).status_code == 403
    assert app.change("decide", {**decide, "status": "PENDING"}, BOB).status_code == 400
    assert app.change("decide", decide, BOB).status_code == 200
    assert registry.get_model_version("m", 1).current_stage == "Production"
    assert registry.get_transition_request(request_id).decided_by == "bob"
    # a request of another model cannot be decided through this one's name
    registry.create_model_version("other", f"runs:/{app.run}/model", app.run, "admin")
    app.app.state.server_store.set_permission("registered_model", "other", "bob", "MANAGE")
    mine = app.post("/api/2.0/mltrack/registered-models/change",
                    {"name": "other", "plan": "request_transition",
                     "args": {"version": 1, "stage": "Staging"}}, BOB)
    assert mine.status_code == 200, mine.text
    cross = app.change("decide", {"request_id": mine.json()["results"][0],
                                  "status": "APPROVED"}, BOB)
    assert cross.status_code == 404
    assert registry.get_model_version("other", 1).current_stage == "None"


def test_the_server_pins_no_digest_it_did_not_check(app: App, tmp_path: Path) -> None:
    state = app.app.state
    folder = tmp_path / "saved"
    mt.sklearn.save_model(_model(), str(folder))
    state.client.log_artifacts(app.run, str(folder), "model")
    from jupyter_mltrack.models.provenance import folder_digest

    digest = folder_digest(folder)
    wrong = app.post("/api/2.0/mltrack/runs/record-model",
                     {"run_id": app.run, "artifact_path": "model",
                      "digest": "sha256:" + "0" * 64}, ALICE)
    assert wrong.status_code == 400 and "digest differs" in wrong.text
    assert not any(k.startswith("mltrack.modelDigest") for k in
                   state.store.get_run(app.run).data.tags)
    for path in ("../other", "/etc", "model/../../x"):
        hostile = app.post("/api/2.0/mltrack/runs/record-model",
                           {"run_id": app.run, "artifact_path": path, "digest": digest}, ALICE)
        assert hostile.status_code == 400, (path, hostile.text)
    assert app.post("/api/2.0/mltrack/runs/record-model",
                    {"run_id": app.run, "artifact_path": "model", "digest": digest},
                    BOB).status_code == 403  # bob has no EDIT on the experiment
    ok = app.post("/api/2.0/mltrack/runs/record-model",
                  {"run_id": app.run, "artifact_path": "model", "digest": digest}, ALICE)
    assert ok.status_code == 200, ok.text
    assert state.store.get_run(app.run).data.tags["mltrack.modelDigest.model"] == digest

    # a version's pinned digest is checked too; other reserved tags are refused
    create = "/api/2.0/mltrack/model-versions/create"
    source = f"runs:/{app.run}/model"
    pinned = app.post(create, {"name": "m", "source": source,
                               "tags": {"mltrack.model.digest": "sha256:" + "1" * 64}}, ALICE)
    assert pinned.status_code == 400 and "digest differs" in pinned.text
    assert app.post(create, {"name": "m", "source": source,
                             "tags": {"mltrack.model.other": "x"}}, ALICE).status_code == 400
    assert app.post(create, {"name": "m", "source": "/etc",
                             "tags": {}}, ALICE).status_code in (400, 403)
    good = app.post(create, {"name": "m", "source": source,
                             "tags": {"mltrack.model.digest": digest}}, ALICE)
    assert good.status_code == 200, good.text
    assert good.json()["model_version"]["user_id"] == "alice"


def test_a_bare_function_plan_is_refused_by_the_remote_store(server: TeamServer) -> None:
    store = mt.Client(server.url).registry_store
    with pytest.raises(InvalidState, match="no form a team server knows"):
        store.change_registry("m", lambda snapshot: [], "me")


def test_registry_calls_need_credentials_the_server_accepts(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    srv = TeamServer("sqlite:///" + str(tmp_path / "s.db"), str(tmp_path / "a"), tmp_path,
                     auth=True)
    with srv:
        monkeypatch.delenv("MLTRACK_TRACKING_USERNAME", raising=False)
        with pytest.raises(ServerRefused):
            reg.search_registered_models(client=mt.Client(srv.url))
        monkeypatch.setenv("MLTRACK_TRACKING_USERNAME", ADMIN[0])
        monkeypatch.setenv("MLTRACK_TRACKING_PASSWORD", ADMIN[1])
        close_stores()
        client = mt.Client(srv.url)
        exp = client.create_experiment("x")
        run = client.create_run(exp)
        client.set_terminated(run.info.run_id)
        model = reg.create_registered_model("admins", client=client)
        assert model.name == "admins"
        assert reg.search_registered_models(client=client)[0].name == "admins"
        assert os.environ["MLTRACK_TRACKING_USERNAME"] == "admin"


def test_the_registry_routes_never_fail_with_a_server_error(tmp_path: Path) -> None:
    from jupyter_mltrack.server import registry_rpc
    from jupyter_mltrack.server.app import TeamServerApp
    from jupyter_mltrack.server.state import ServerConfig

    app = TeamServerApp(ServerConfig(f"sqlite:///{tmp_path / 'o.db'}", str(tmp_path / "a")))

    async def go(method: str, path: str, values: dict[str, Any]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport,
                                     base_url="http://127.0.0.1:5000") as client:
            if method == "GET":
                return await client.get(path, params=values)
            return await client.request(method, path, json=values)

    for route in registry_rpc.ROUTES:
        for values in ({}, {p.name: "x" for p in route.params},
                       {p.name: [] for p in route.params}):
            answer = asyncio.run(go(route.method, route.path, values))
            assert answer.status_code < 500, (route.path, values, answer.text)
            if values and route.method != "GET":
                assert answer.status_code >= 400, (route.path, values, answer.text)


def test_rename_and_delete_a_registered_model_over_http(server: TeamServer) -> None:
    mt.set_tracking_uri(server.url)
    client = mt.Client(server.url)
    reg.register_model(f"runs:/{_logged_run(client, 0.8)}/model", "draft")
    reg.set_alias("draft", "candidate", 1)
    reg.rename_registered_model("draft", "final")
    assert reg.get_model_version_by_alias("final", "candidate").version == 1
    with pytest.raises(RegisteredModelNotFound):
        reg.get_registered_model("draft")
    assert [r.name for r in reg.history_records("final")][-1] == "final"
    reg.delete_registered_model("final")
    assert list(reg.search_registered_models()) == []
