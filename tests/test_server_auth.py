"""Auth and request hygiene of the team server, in process (httpx's ASGI transport) and
with the real MLflow client sending MLFLOW_TRACKING_USERNAME/PASSWORD and TOKEN.

The walk over the route table sends each route a request without credentials and as
a user without permissions: every route must decide (401, 403), none may act.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jupyter_mltrack.server.app import ROUTES, TeamServerApp
from jupyter_mltrack.server.state import ServerConfig
from tests.mlflow_env import run_mlflow
from tests.team_server import ADMIN, TeamServer, mlflow_env

ALICE = ("alice", "alice-password-1")
BOB = ("bob", "bob-password-12345")


def _basic(user: tuple[str, str]) -> dict[str, str]:
    raw = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


class InProcess:
    """The app with auth on, a SQLite store, an admin, alice and bob, and one
    experiment, run, logged model and registered model that only the admin may see."""

    def __init__(self, tmp_path: Path, **config: Any):
        self.config = ServerConfig(f"sqlite:///{tmp_path / 'db' / 'mltrack.db'}",
                                   str(tmp_path / "artifacts"), auth=True,
                                   default_permission="NONE", **config)
        self.app = TeamServerApp(self.config)
        state = self.app.state
        users = state.server_store
        users.create_user(*ADMIN, is_admin=True)
        users.create_user(*ALICE)
        users.create_user(*BOB)
        self.exp = state.store.create_experiment("secret")
        self.run = state.store.create_run(self.exp, "r", 1, "admin").run_id
        self.model_id = users.create_logged_model(
            self.exp, "m", state.store.get_experiment(self.exp).artifact_location,
            "admin").model_id
        state.registry.create_model_version("secret-model", f"runs:/{self.run}/model",
                                            self.run, "admin")
        from jupyter_mltrack import registry

        self.request_id = registry.request_transition("secret-model", 1, "Staging",
                                                      client=state.client).request_id

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                json_body: Any = None, params: dict[str, Any] | None = None,
                content: bytes | None = None) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://127.0.0.1:5000") as client:
                return await client.request(method, path, headers=headers, json=json_body,
                                            params=params, content=content)
        return asyncio.run(go())

    def values(self) -> dict[str, Any]:
        return {"experiment_id": self.exp, "run_id": self.run, "run_uuid": self.run,
                "name": "secret-model", "version": "1", "key": "k", "value": "v",
                "metric_key": "m", "alias": "a", "stage": "Staging",
                "source": f"runs:/{self.run}/model", "experiment_name": "secret",
                "status": "FINISHED", "model_json": "{}", "new_name": "x",
                "path": f"{self.exp}/{self.run}/artifacts", "request_id": self.request_id,
                "kind": "experiment", "resource": self.exp, "username": "alice",
                "permission": "READ", "password": "long-enough-password"}

    def call(self, route: Any, headers: dict[str, str]) -> httpx.Response:
        values = self.values()
        path = (route.path.replace("{artifact_path:path}",
                                   f"{self.exp}/{self.run}/artifacts/x.txt")
                .replace("{model_id}", self.model_id).replace("{tag_key}", "k")
                .replace("{rest:path}", "traces/x"))
        args = {p.name: values.get(p.name, "1") for p in route.params}
        if route.method == "GET":
            return self.request("GET", path, headers=headers, params=args)
        if route.body == "binary":
            return self.request(route.method, path, headers=headers, content=b"data")
        return self.request(route.method, path, headers=headers, json_body=args)


@pytest.fixture
def server(tmp_path: Path) -> InProcess:
    return InProcess(tmp_path)


def test_every_route_refuses_callers_without_credentials(server: InProcess) -> None:
    walked = 0
    for route in ROUTES:
        answer = server.call(route, {})
        walked += 1
        if route.access.scope == "public":
            assert answer.status_code != 401, route.path
            continue
        assert answer.status_code == 401, (route.method, route.path, answer.text)
        assert answer.json()["error_code"] == "UNAUTHENTICATED"
        assert answer.headers["www-authenticate"].startswith("Basic")
        wrong = server.call(route, _basic((ALICE[0], "not-her-password")))
        assert wrong.status_code == 401, (route.method, route.path)
    assert walked == len(ROUTES) > 80


def test_every_route_on_a_resource_refuses_a_user_without_permission(server: InProcess
                                                                     ) -> None:
    decided = set()
    for route in ROUTES:
        answer = server.call(route, _basic(ALICE))
        assert answer.status_code != 401, (route.path, answer.text)
        if route.access.scope in ("experiment", "registered_model", "admin"):
            assert answer.status_code == 403, (route.method, route.path, answer.text)
            assert answer.json()["error_code"] == "PERMISSION_DENIED"
            decided.add(route.access.scope)
    assert decided >= {"experiment", "registered_model"}
    # and nothing was changed by all those refused calls
    run = server.app.state.store.get_run(server.run)
    assert run.data.params == {} and run.info.status == "RUNNING"


def test_grants_read_edit_manage_and_search_shows_only_what_one_may_read(
        server: InProcess) -> None:
    users = server.app.state.server_store
    get = ("GET", "/api/2.0/mlflow/runs/get")
    assert server.request(*get, headers=_basic(ALICE), params={"run_id": server.run}
                          ).status_code == 403
    found = server.request("POST", "/api/2.0/mlflow/experiments/search", json_body={},
                           headers=_basic(ALICE)).json()
    assert found.get("experiments", []) == []
    users.set_permission("experiment", server.exp, "alice", "READ")
    assert server.request(*get, headers=_basic(ALICE), params={"run_id": server.run}
                          ).status_code == 200
    found = server.request("POST", "/api/2.0/mlflow/experiments/search", json_body={},
                           headers=_basic(ALICE)).json()
    assert [e["name"] for e in found["experiments"]] == ["secret"]
    log = {"run_id": server.run, "key": "lr", "value": "0.1"}
    assert server.request("POST", "/api/2.0/mlflow/runs/log-parameter", json_body=log,
                          headers=_basic(ALICE)).status_code == 403
    users.set_permission("experiment", server.exp, "alice", "EDIT")
    assert server.request("POST", "/api/2.0/mlflow/runs/log-parameter", json_body=log,
                          headers=_basic(ALICE)).status_code == 200
    delete = {"experiment_id": server.exp}
    assert server.request("POST", "/api/2.0/mlflow/experiments/delete", json_body=delete,
                          headers=_basic(ALICE)).status_code == 403
    users.set_permission("experiment", server.exp, "alice", "MANAGE")
    assert server.request("POST", "/api/2.0/mlflow/experiments/delete", json_body=delete,
                          headers=_basic(ALICE)).status_code == 200
    # a token works like the password, and stops working when revoked
    token = users.create_token("bob")
    bearer = {"Authorization": f"Bearer {token}"}
    created = server.request("POST", "/api/2.0/mlflow/experiments/create",
                             json_body={"name": "bobs"}, headers=bearer)
    assert created.status_code == 200
    # the creator manages what they create; alice sees none of it
    bobs = created.json()["experiment_id"]
    assert users.get_permission("experiment", bobs, "bob") == "MANAGE"
    assert server.request("GET", "/api/2.0/mlflow/experiments/get", headers=_basic(ALICE),
                          params={"experiment_id": bobs}).status_code == 403
    users.revoke_tokens("bob")
    assert server.request("GET", "/api/2.0/mlflow/experiments/get", headers=bearer,
                          params={"experiment_id": bobs}).status_code == 401


def test_runs_and_registry_changes_record_the_authenticated_user(server: InProcess) -> None:
    users = server.app.state.server_store
    users.set_permission("experiment", server.exp, "alice", "EDIT")
    users.set_permission("registered_model", "secret-model", "alice", "EDIT")
    created = server.request("POST", "/api/2.0/mlflow/runs/create", headers=_basic(ALICE),
                             json_body={"experiment_id": server.exp, "user_id": "mallory",
                                        "tags": [{"key": "mlflow.user", "value": "mallory"}]})
    assert created.status_code == 200, created.text
    run = created.json()["run"]
    assert run["info"]["user_id"] == "alice"
    assert {"key": "mlflow.user", "value": "alice"} in run["data"]["tags"]
    moved = server.request("POST", "/api/2.0/mlflow/model-versions/transition-stage",
                           headers=_basic(ALICE),
                           json_body={"name": "secret-model", "version": "1",
                                      "stage": "Staging", "user_id": "mallory"})
    assert moved.status_code == 200, moved.text
    records = server.app.state.registry.registry_history("secret-model")
    assert records[-1].to_value == "Staging" and records[-1].user_id == "alice"


def test_only_manage_renames_or_deletes_a_model_and_grants_follow_it(server: InProcess
                                                                      ) -> None:
    users = server.app.state.server_store
    rm = "/api/2.0/mlflow/registered-models"
    bob, alice = _basic(BOB), _basic(ALICE)
    assert server.request("POST", f"{rm}/create", headers=bob,
                          json_body={"name": "bobs"}).status_code == 200
    users.set_permission("registered_model", "bobs", "alice", "EDIT")
    # EDIT may change the model but not rename or delete it
    assert server.request("PATCH", f"{rm}/update", headers=alice,
                          json_body={"name": "bobs", "description": "d"}).status_code == 200
    refused = server.request("POST", f"{rm}/rename", headers=alice,
                             json_body={"name": "bobs", "new_name": "alices"})
    assert refused.status_code == 403 and "MANAGE" in refused.json()["message"]
    assert server.request("DELETE", f"{rm}/delete", headers=alice,
                          json_body={"name": "bobs"}).status_code == 403
    # a grant left on a name by a model deleted outside the server gives nothing later
    users.set_permission("registered_model", "renamed", "alice", "MANAGE")
    taken = server.request("POST", f"{rm}/rename", headers=bob,
                           json_body={"name": "bobs", "new_name": "secret-model"})
    assert taken.status_code == 409, taken.text
    assert users.get_permission("registered_model", "bobs", "bob") == "MANAGE"
    renamed = server.request("POST", f"{rm}/rename", headers=bob,
                             json_body={"name": "bobs", "new_name": "renamed"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["registered_model"]["name"] == "renamed"
    assert renamed.json()["registered_model"]["description"] == "d"
    # the owner still manages it under the new name; alice keeps EDIT, not the stale MANAGE
    assert users.get_permission("registered_model", "renamed", "bob") == "MANAGE"
    assert users.get_permission("registered_model", "renamed", "alice") == "EDIT"
    assert users.get_permission("registered_model", "bobs", "bob") is None
    assert server.request("GET", f"{rm}/get", headers=bob,
                          params={"name": "bobs"}).status_code == 403
    assert server.request("DELETE", f"{rm}/delete", headers=alice,
                          json_body={"name": "renamed"}).status_code == 403
    assert server.request("POST", f"{rm}/rename", headers=bob,
                          json_body={"name": "renamed", "new_name": "renamed"}
                          ).status_code == 200
    assert users.get_permission("registered_model", "renamed", "bob") == "MANAGE"
    deleted = server.request("DELETE", f"{rm}/delete", headers=bob,
                             json_body={"name": "renamed"})
    assert deleted.status_code == 200 and deleted.json() == {}
    assert users.permissions_of("registered_model", "alice") == {}
    assert users.permissions_of("registered_model", "bob") == {}
    # whoever creates the name again starts with no grant from the deleted model
    assert server.request("POST", f"{rm}/create", headers=alice,
                          json_body={"name": "renamed"}).status_code == 200
    assert server.request("GET", f"{rm}/get", headers=bob,
                          params={"name": "renamed"}).status_code == 403
    assert server.request("GET", f"{rm}/get", headers=_basic(ADMIN),
                          params={"name": "bobs"}).status_code == 404
    # a model with a version in Production is not deleted, nor are its grants
    users.set_permission("registered_model", "secret-model", "bob", "MANAGE")
    assert server.request("POST", "/api/2.0/mlflow/model-versions/transition-stage",
                          headers=_basic(ADMIN), json_body={
                              "name": "secret-model", "version": "1",
                              "stage": "Production"}).status_code == 200
    serving = server.request("DELETE", f"{rm}/delete", headers=bob,
                             json_body={"name": "secret-model"})
    assert serving.status_code == 409 and "Archived" in serving.json()["message"]
    assert users.get_permission("registered_model", "secret-model", "bob") == "MANAGE"
    assert server.request("GET", f"{rm}/get", headers=bob,
                          params={"name": "secret-model"}).status_code == 200


def test_no_credentials_exist_until_someone_creates_them(tmp_path: Path) -> None:
    config = ServerConfig(f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "a"), auth=True)
    app = TeamServerApp(config)
    assert app.state.server_store.list_users() == []
    for user in (("admin", "admin"), ("admin", ""), ("admin", "password")):
        assert app.state.server_store.authenticate(*user) is None
    with pytest.raises(ValueError, match="at least 12"):
        app.state.server_store.create_user("admin", "short")
    assert ServerConfig("sqlite://", "a", host="0.0.0.0").auth_enabled  # noqa: S104
    assert not ServerConfig("sqlite://", "a", host="127.0.0.1").auth_enabled


def test_hosts_origins_content_types_and_body_sizes_are_checked(tmp_path: Path) -> None:
    server = InProcess(tmp_path, cors_origins=["https://lab.example"], max_body_bytes=2000)
    admin = _basic(ADMIN)
    create = "/api/2.0/mlflow/experiments/create"
    evil_host = server.request("GET", "/api/2.0/mlflow/experiments/get",
                               params={"experiment_id": server.exp},
                               headers={**admin, "Host": "evil.example"})
    assert evil_host.status_code == 400 and "Host" in evil_host.json()["message"]
    for kind, body in (("text/plain", b'{"name": "x"}'),
                       ("application/x-www-form-urlencoded", b"name=x"),
                       ("multipart/form-data; boundary=b", b"--b--")):
        answer = server.request("POST", create, content=body,
                                headers={**admin, "Content-Type": kind})
        assert answer.status_code == 415, kind
    cross = server.request("POST", create, json_body={"name": "x"},
                           headers={**admin, "Origin": "https://evil.example"})
    assert cross.status_code == 403
    allowed = server.request("POST", create, json_body={"name": "from-lab"},
                             headers={**admin, "Origin": "https://lab.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://lab.example"
    big = server.request("POST", create, json_body={"name": "x" * 3000}, headers=admin)
    assert big.status_code == 413 and big.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert sorted(e.name for e in server.app.state.store.search_experiments()) == [
        "from-lab", "secret"]


TRAVERSALS = ["../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/etc/passwd",
              "%252e%252e/secret", "1/../../x", "1/..\\..\\x", "/etc/passwd",
              "1/%00/x", "C:/Windows/win.ini"]


@pytest.mark.parametrize("bad", TRAVERSALS)
def test_artifact_paths_and_model_sources_cannot_leave_the_store(tmp_path: Path,
                                                                 bad: str) -> None:
    server = InProcess(tmp_path)
    admin = _basic(ADMIN)
    (tmp_path / "outside.txt").write_text("TOP-SECRET-CONTENT")
    put = server.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{bad}", content=b"x",
                         headers=admin)
    get = server.request("GET", f"/api/2.0/mlflow-artifacts/artifacts/{bad}", headers=admin)
    listed = server.request("GET", "/api/2.0/mlflow-artifacts/artifacts",
                            params={"path": bad}, headers=admin)
    for answer in (put, get, listed):
        assert answer.status_code in (400, 404), (bad, answer.status_code, answer.text)
        assert "TOP-SECRET-CONTENT" not in answer.text
    for source in (f"mlflow-artifacts:/{bad}", f"file://{tmp_path}", str(tmp_path),
                   "s3://someone-elses-bucket/model", f"{server.app.state.destination}/{bad}"):
        answer = server.request("POST", "/api/2.0/mlflow/model-versions/create",
                                json_body={"name": "evil", "source": source}, headers=admin)
        assert answer.status_code == 400, (source, answer.text)
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert not list(tmp_path.glob("**/x")), "nothing was written anywhere"
    location = server.request("POST", "/api/2.0/mlflow/experiments/create", headers=admin,
                              json_body={"name": "elsewhere", "artifact_location": "/tmp/x"})
    assert location.status_code == 400


def test_genai_routes_answer_501_and_unknown_routes_404(server: InProcess) -> None:
    admin = _basic(ADMIN)
    traces = server.request("POST", "/api/3.0/mlflow/traces", json_body={}, headers=admin)
    assert traces.status_code == 501 and "out of its scope" in traces.json()["message"]
    assert server.request("GET", "/nothing-here", headers=admin).status_code == 404
    wrong = server.request("POST", "/api/2.0/mlflow/runs/get", json_body={}, headers=admin)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"


# -- the real MLflow client with credentials ------------------------------------------

AS_USER = r'''
import json, numpy as np, mlflow
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
mlflow.set_experiment("alice-exp")
with mlflow.start_run() as run:
    mlflow.log_metric("acc", 0.9)
    mlflow.sklearn.log_model(LogisticRegression().fit(np.eye(2), [0, 1]), name="model",
                             pip_requirements=["scikit-learn"], registered_model_name="m")
c = MlflowClient()
c.transition_model_version_stage("m", "1", "Production")
v = c.get_model_version("m", "1")
print(json.dumps({"user": run.info.user_id, "version_user": v.user_id,
                  "stage": v.current_stage}))
'''

DENIED = r'''
import mlflow
from mlflow.exceptions import MlflowException
try:
    mlflow.search_experiments()
except MlflowException as exc:
    print("refused", exc.error_code)
'''


@pytest.fixture
def auth_server(tmp_path: Path) -> Iterator[TeamServer]:
    server = TeamServer(f"sqlite:///{tmp_path / 'db' / 'mltrack.db'}",
                        str(tmp_path / "artifacts"), tmp_path, auth=True)
    with server:
        yield server


@pytest.mark.slow
def test_mlflow_client_with_username_password_and_token(auth_server: TeamServer,
                                                        tmp_path: Path) -> None:
    auth_server.command("create-user", "alice", "--password-stdin")
    token = auth_server.command("create-token", "alice").stdout.strip()
    done = run_mlflow(AS_USER, cwd=tmp_path, env=mlflow_env(
        auth_server, MLFLOW_TRACKING_USERNAME="alice", MLFLOW_TRACKING_PASSWORD=ADMIN[1]))
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"user": "alice", "version_user": "alice", "stage": "Production"}
    with_token = run_mlflow("import mlflow; print(sorted(e.name for e in "
                            "mlflow.search_experiments()))", cwd=tmp_path,
                            env=mlflow_env(auth_server, MLFLOW_TRACKING_TOKEN=token))
    assert "alice-exp" in with_token.stdout
    refused = run_mlflow(DENIED, cwd=tmp_path, env=mlflow_env(
        auth_server, MLFLOW_TRACKING_USERNAME="alice", MLFLOW_TRACKING_PASSWORD="wrong"))
    assert "refused UNAUTHENTICATED" in refused.stdout
    anonymous = run_mlflow(DENIED, cwd=tmp_path, env=mlflow_env(auth_server))
    assert "refused UNAUTHENTICATED" in anonymous.stdout


def test_the_cli_refuses_an_open_server_on_a_reachable_address(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from jupyter_mltrack.cli import main

    result = CliRunner().invoke(main, [
        "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'm.db'}",
        "--artifacts-destination", str(tmp_path / "a"), "--host", "0.0.0.0",  # noqa: S104
        "--no-auth"])
    assert result.exit_code == 2
    assert "--no-auth is only allowed on a loopback address" in result.output
    assert not (tmp_path / "m.db").exists()  # refused before anything was created
