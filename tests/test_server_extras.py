"""``/api/2.0/mltrack/...``: OR search, provenance, history, rollback, policies and
approvals over HTTP, as the authenticated users."""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

from tests.team_server import ADMIN
from tests.test_server_auth import ALICE, BOB, InProcess, _basic

M = "/api/2.0/mltrack"


def _server(tmp_path: Path) -> InProcess:
    server = InProcess(tmp_path)
    users = server.app.state.server_store
    users.set_permission("registered_model", "secret-model", "alice", "EDIT")
    users.set_permission("registered_model", "secret-model", "bob", "MANAGE")
    users.set_permission("experiment", server.exp, "alice", "EDIT")
    return server


def test_search_with_or_and_parentheses_and_provenance(tmp_path: Path) -> None:
    server = _server(tmp_path)
    alice = _basic(ALICE)
    store = server.app.state.store
    for lr, acc in (("0.1", 0.9), ("0.2", 0.5), ("0.3", 0.95)):
        run = store.create_run(server.exp, f"lr{lr}", 1, "alice",
                               tags={"mltrack.source.name": "train.ipynb"}).run_id
        store.log_batch(run, params={"lr": lr})
        server.request("POST", "/api/2.0/mlflow/runs/log-metric", headers=alice,
                       json_body={"run_id": run, "key": "acc", "value": acc, "step": 0})
    answer = server.request("POST", f"{M}/runs/search", headers=alice, json_body={
        "experiment_ids": [server.exp],
        "filter": "(params.lr = '0.1' OR params.lr = '0.3') AND metrics.acc > 0.8",
        "order_by": ["metrics.acc DESC"]})
    assert answer.status_code == 200, answer.text
    found = [r["data"]["params"][0]["value"] for r in answer.json()["runs"]]
    assert found == ["0.3", "0.1"]
    prov = server.request("GET", f"{M}/runs/provenance", headers=alice,
                          params={"run_id": run}).json()
    assert prov["provenance"]["mltrack.source.name"] == "train.ipynb"
    assert server.request("GET", f"{M}/users/me", headers=alice).json() == \
        {"username": "alice", "is_admin": False, "authenticated": True}


def test_policy_requests_approval_by_another_user_then_history_and_rollback(
        tmp_path: Path) -> None:
    server = _server(tmp_path)
    alice, bob = _basic(ALICE), _basic(BOB)
    registry = server.app.state.registry
    run = server.run
    registry.create_model_version("secret-model", f"runs:/{run}/model", run, "admin")
    # reject the request the fixture opened, so that the model starts clean
    opened = server.request("POST", f"{M}/transition-requests/reject", headers=_basic(ADMIN),
                            json_body={"request_id": server.request_id})
    assert opened.status_code == 200, opened.text
    # alice may not set the policy (EDIT), bob may (MANAGE)
    policy = {"name": "secret-model", "require_approval_for": ["Production"]}
    assert server.request("POST", f"{M}/registered-models/policy", headers=alice,
                          json_body=policy).status_code == 403
    assert server.request("POST", f"{M}/registered-models/policy", headers=bob,
                          json_body=policy).status_code == 200
    moved = server.request("POST", "/api/2.0/mlflow/model-versions/transition-stage",
                           headers=alice, json_body={"name": "secret-model", "version": "1",
                                                     "stage": "Production"})
    assert moved.status_code == 200
    assert moved.json()["model_version"]["current_stage"] == "None"
    request_id = moved.json()["mltrack_request_id"]
    pending = server.request("GET", f"{M}/transition-requests", headers=alice,
                             params={"name": "secret-model"}).json()["requests"]
    assert [r["request_id"] for r in pending] == [request_id]
    assert pending[0]["requested_by"] == "alice"
    # alice cannot approve (EDIT only); bob approves
    assert server.request("POST", f"{M}/transition-requests/approve", headers=alice,
                          json_body={"request_id": request_id}).status_code == 403
    approved = server.request("POST", f"{M}/transition-requests/approve", headers=bob,
                              json_body={"request_id": request_id, "comment": "ok"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["request"]["decided_by"] == "bob"
    # version 2 goes to Production through a second request, then rollback restores 1
    second = server.request("POST", f"{M}/transition-requests/create", headers=alice,
                            json_body={"name": "secret-model", "version": 2,
                                       "stage": "Production",
                                       "archive_existing_versions": True})
    assert second.status_code == 200, second.text
    assert server.request("POST", f"{M}/transition-requests/approve", headers=bob, json_body={
        "request_id": second.json()["request"]["request_id"]}).status_code == 200
    back = server.request("POST", f"{M}/registered-models/rollback", headers=alice,
                          json_body={"name": "secret-model"})
    assert back.status_code == 200, back.text
    assert back.json()["model_version"]["version"] == "1"
    records = server.request("GET", f"{M}/registered-models/history", headers=alice,
                             params={"name": "secret-model"}).json()["records"]
    who = {(r["action"], r["user_id"]) for r in records}
    assert {("requested", "alice"), ("approved", "bob"), ("rollback", "alice"),
            ("set", "bob")} <= who, who


def test_admins_create_users_and_managers_grant(tmp_path: Path) -> None:
    server = _server(tmp_path)
    body = {"username": "carol", "password": "carol-password-1"}
    assert server.request("POST", f"{M}/users/create", headers=_basic(ALICE),
                          json_body=body).status_code == 403
    assert server.request("POST", f"{M}/users/create", headers=_basic(ADMIN),
                          json_body=body).status_code == 200
    grant = {"kind": "registered_model", "resource": "secret-model", "username": "carol",
             "permission": "READ"}
    assert server.request("POST", f"{M}/permissions/set", headers=_basic(ALICE),
                          json_body=grant).status_code == 403
    assert server.request("POST", f"{M}/permissions/set", headers=_basic(BOB),
                          json_body=grant).status_code == 200
    carol = _basic(("carol", "carol-password-1"))
    assert server.request("GET", "/api/2.0/mlflow/registered-models/get", headers=carol,
                          params={"name": "secret-model"}).status_code == 200


def _columns(run: str, seq: int, key: str, steps: list[Any], values: list[Any],
             timestamps: list[Any]) -> dict[str, Any]:
    return {"client_id": "abc123", "batches": [{"run_id": run, "seq": seq, "series": [
        {"key": key, "steps": steps, "values": values, "timestamps": timestamps}]}]}


def test_write_metrics_takes_columns_exactly_once_per_seq_on_runs_one_may_edit(
        tmp_path: Path) -> None:
    server = _server(tmp_path)
    alice, bob = _basic(ALICE), _basic(BOB)
    store = server.app.state.store
    run = server.run
    exact = [0.1, -0.0, 5e-324, 1.7976931348623157e308, 1 / 3, 7, "NaN", "Infinity",
             "-Infinity"]
    body = _columns(run, 5, "loss", list(range(9)), exact, [1000 + i for i in range(9)])
    path = f"{M}/runs/write-metrics"
    assert server.request("POST", path, headers=bob, json_body=body).status_code == 403
    assert store.metric_keys(run) == []  # refused: nothing stored
    first = server.request("POST", path, headers=alice, json_body=body)
    again = server.request("POST", path, headers=alice, json_body=body)
    assert (first.json(), again.json()) == ({"applied": 1, "skipped": 0},
                                            {"applied": 0, "skipped": 1})
    history = store.get_metric_history(run, "loss")
    stored = history["value"].tolist()
    assert [struct.pack("<d", x) for x in stored[:6]] == \
        [struct.pack("<d", float(x)) for x in exact[:6]]  # bit for bit, -0.0 too
    assert math.isnan(stored[6]) and stored[7:] == [math.inf, -math.inf]
    assert history["step"].tolist() == list(range(9))
    assert history["timestamp"].tolist() == [1000 + i for i in range(9)]
    assert math.isinf(store.get_run(run).data.metrics["loss"])  # the latest: step 8
    # the first form (rows of [key, value, step, timestamp]) is still taken
    rows = {"client_id": "abc123", "batches": [
        {"run_id": run, "seq": 6, "metrics": [["acc", 0.5, 1, 10], ["acc", "NaN", 2, 11]]}]}
    assert server.request("POST", path, headers=alice, json_body=rows).json() == \
        {"applied": 1, "skipped": 0}
    acc = store.get_metric_history(run, "acc")["value"].tolist()
    assert acc[0] == 0.5 and math.isnan(acc[1])
    older = _columns(run, 4, "loss", [99], [1.0], [1])  # below the last seq: skipped
    assert server.request("POST", path, headers=alice, json_body=older).json() == \
        {"applied": 0, "skipped": 1}
    assert len(store.get_metric_history(run, "loss")) == 9


def test_write_metrics_refuses_malformed_columns_with_a_400_and_stores_nothing(
        tmp_path: Path) -> None:
    server = _server(tmp_path)
    admin = _basic(ADMIN)
    store = server.app.state.store
    run = server.run
    path = f"{M}/runs/write-metrics"

    def batch(**fields: Any) -> dict[str, Any]:
        return {"client_id": "abc123", "batches": [{"run_id": run, "seq": 9, **fields}]}

    good = {"key": "loss", "steps": [1, 2], "values": [0.5, 0.25], "timestamps": [1, 2]}
    cases = [
        (batch(series={"key": "loss"}), "'series' is a list"),
        (batch(series=["loss"]), "object"),
        (batch(series=[{**good, "key": "lo$s"}]), "characters"),
        (batch(series=[{**good, "key": None}]), "string"),
        (batch(series=[{**good, "steps": [1]}]), "1 steps, 2 values and 2 timestamps"),
        (batch(series=[{**good, "values": None}]), "lists"),
        (batch(series=[{**good, "values": [0.5, "high"]}]), "numbers"),
        (batch(series=[{**good, "values": [0.5, [1]]}]), "number"),
        (batch(series=[{**good, "steps": [1, 1.5]}]), "integer"),
        (batch(series=[{**good, "steps": [1, 2 ** 63]}]), "64-bit"),
        (batch(series=[{**good, "timestamps": [1, True]}]), "milliseconds"),
        (batch(series=[{**good, "timestamps": [1, None]}]), "milliseconds"),
        (batch(series=[good], metrics=[["loss", 1.0, 3, 3]]), "not both"),
        (batch(), "'series'"),
        ({"client_id": "abc123", "batches": [{"run_id": run, "seq": "9",
                                              "series": [good]}]}, "integer 'seq'"),
        ({"client_id": "abc123", "batches": [{"run_id": run, "seq": True,
                                              "series": [good]}]}, "integer 'seq'"),
        ({"client_id": "abc123", "batches": [{"run_id": run, "seq": 9, "series": [good]},
                                             {"run_id": run, "seq": 10,
                                              "series": [{**good, "steps": [1]}]}]},
         "batch 1"),
        ({"client_id": "ab-c", "batches": [{"run_id": run, "seq": 9, "series": [good]}]},
         "client_id"),
    ]
    for body, says in cases:
        answer = server.request("POST", path, headers=admin, json_body=body)
        assert answer.status_code == 400, (body, answer.text)
        assert says in answer.json()["message"], (says, answer.json()["message"])
    assert store.metric_keys(run) == []  # the good batch beside a bad one was not stored
    missing = batch(series=[good])
    missing["batches"][0]["run_id"] = "0" * 32
    assert server.request("POST", path, headers=admin, json_body=missing).status_code == 404
    assert server.request("POST", path, headers=admin, json_body=batch(series=[good])
                          ).json() == {"applied": 1, "skipped": 0}
