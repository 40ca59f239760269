"""The Jupyter server extension of the lab extension: its REST routes on a real Jupyter
server (pytest-jupyter), against real SQLite stores."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mltrack import Client
from jupyter_mltrack.entities import Metric
from jupyter_mltrack.registry import get_model_version, register_model, set_registry_policy
from jupyter_mltrack.server.lab.handlers import KERNEL_TAG, PREFIX, ROUTES
from tests.registry_helpers import log_run

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mltrack.server.lab": True}}}


@pytest.fixture
def store(jp_root_dir: Path) -> Client:
    """The store the server finds on its own: ``.mltrack`` in the server root."""
    (jp_root_dir / ".mltrack").mkdir()
    return Client(jp_root_dir / ".mltrack", artifact_root=str(jp_root_dir / ".mltrack" / "a"))


async def get(jp_fetch: Any, *parts: str, **params: str) -> Any:
    response = await jp_fetch(PREFIX, *parts, params=params)
    assert response.code == 200
    return json.loads(response.body)


async def error(jp_fetch: Any, *parts: str, method: str = "GET", body: Any = None,
                **params: str) -> tuple[int, dict[str, Any]]:
    kwargs: dict[str, Any] = {"method": method}
    if body is not None:
        kwargs["body"] = json.dumps(body)
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(PREFIX, *parts, params=params, **kwargs)
    response = info.value.response
    assert response is not None
    return info.value.code, json.loads(response.body)


def _sample_path(pattern: str) -> str:
    return re.sub(r"\(\?P<\w+>[^)]*\)", "x", pattern)


async def test_every_route_refuses_a_request_without_the_token(jp_serverapp: Any,
                                                               jp_fetch: Any) -> None:
    rules = [rule for rule in _app_rules(jp_serverapp.web_app)
             if f"/{PREFIX}/" in rule.matcher.regex.pattern]
    # Every route the extension registers is in ROUTES, so walking ROUTES walks them all.
    assert len(rules) == len(ROUTES)
    walked = 0
    for route, handler in ROUTES:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if method.lower() not in vars(handler):
                continue
            response = await jp_fetch(
                PREFIX, _sample_path(route), method=method, raise_error=False,
                headers={"Authorization": ""},
                **({"body": "{}"} if method in ("POST", "PUT", "PATCH") else {}))
            assert response.code == 403, (method, route, response.code)
            walked += 1
    assert walked == 11


def _app_rules(app: Any) -> list[Any]:
    out = []
    for host_rule in app.default_router.rules:
        out.extend(getattr(host_rule.target, "rules", []))
    return out


async def test_runs_of_the_store_found_from_the_server_root(store: Client, jp_fetch: Any
                                                            ) -> None:
    exp = store.create_experiment("mnist")
    run = store.create_run(exp, run_name="first")
    store.log_metric(run.run_id, "loss", 0.25)
    store.log_param(run.run_id, "lr", 0.01)
    store.flush()

    info = await get(jp_fetch, "store")
    assert info["label"] == ".mltrack/mltrack.db"
    experiments = await get(jp_fetch, "experiments")
    assert "mnist" in [e["name"] for e in experiments]
    runs = await get(jp_fetch, "runs", experiment_ids=exp)
    assert [(r["name"], r["status"], r["metrics"], r["params"]) for r in runs] == [
        ("first", "RUNNING", {"loss": 0.25}, {"lr": "0.01"})]
    store.set_terminated(run.run_id)
    runs = await get(jp_fetch, "runs", experiment_ids=exp)
    assert runs[0]["status"] == "FINISHED"


async def test_a_bad_filter_is_a_400_with_the_caret_message(store: Client, jp_fetch: Any
                                                            ) -> None:
    exp = store.create_experiment("mnist")
    code, body = await error(jp_fetch, "runs", experiment_ids=exp,
                             filter="metrics.loss < 0.1 AND params.lr ==")
    assert code == 400
    assert body["error"] == "InvalidFilter"
    lines = body["message"].splitlines()
    assert lines[-2].strip() == "metrics.loss < 0.1 AND params.lr =="
    assert lines[-1].strip() == "^"
    assert lines[-1].index("^") - lines[-2].index("m") == body["position"]


async def test_the_tracking_uri_setting_names_another_store(store: Client, jp_fetch: Any,
                                                            jp_root_dir: Path) -> None:
    other = Client(jp_root_dir / "elsewhere")
    other.create_experiment("only-there")
    names = [e["name"] for e in await get(jp_fetch, "experiments", uri="elsewhere")]
    assert "only-there" in names
    names = [e["name"] for e in await get(jp_fetch, "experiments")]
    assert "only-there" not in names


async def test_run_detail_history_delete_and_active_run(store: Client, jp_fetch: Any,
                                                        tmp_path: Path) -> None:
    exp = store.create_experiment("e")
    run = store.create_run(exp, tags={KERNEL_TAG: "k-123"})
    store.log_batch(run.run_id, metrics=[Metric("loss", 1 / (s + 1), 0, s) for s in range(5)])
    (tmp_path / "notes.txt").write_text("hi")
    store.log_artifact(run.run_id, tmp_path / "notes.txt")
    store.flush()

    detail = await get(jp_fetch, "runs", run.run_id)
    assert detail["tags"][KERNEL_TAG] == "k-123"
    assert [a["path"] for a in detail["artifacts"]] == ["notes.txt"]
    history = await get(jp_fetch, "metric-history", run_ids=run.run_id, key="loss")
    assert [p[0] for p in history[run.run_id]] == [0, 1, 2, 3, 4]
    active = await get(jp_fetch, "active-run", kernel_id="k-123")
    assert active["run"]["run_id"] == run.run_id
    assert (await get(jp_fetch, "active-run", kernel_id="other"))["run"] is None

    response = await jp_fetch(PREFIX, "runs", run.run_id, method="DELETE")
    assert response.code == 200
    assert await get(jp_fetch, "runs", experiment_ids=exp) == []
    code, body = await error(jp_fetch, "runs", "0" * 32)
    assert code == 404 and body["error"] == "RunNotFound"


async def test_promote_asks_then_changes_the_stage_in_the_store(store: Client, jp_fetch: Any
                                                                ) -> None:
    exp = store.create_experiment("reg")
    run_id = log_run(store, exp, {"acc": 0.9})
    register_model(f"runs:/{run_id}/model", "churn", client=store)

    models = await get(jp_fetch, "models")
    assert [(m["name"], [(v["version"], v["stage"]) for v in m["versions"]])
            for m in models] == [("churn", [(1, "None")])]
    path = ("models", "churn", "actions", "production")
    asked = await jp_fetch(PREFIX, *path, method="POST",
                           body=json.dumps({"version": 1, "comment": "ship it"}))
    assert json.loads(asked.body) == {"question": "Move version 1 of 'churn' to Production?"}
    assert get_model_version("churn", 1, client=store).current_stage == "None"
    done = await jp_fetch(PREFIX, *path, method="POST",
                          body=json.dumps({"version": 1, "comment": "ship it",
                                           "confirm": True}))
    assert json.loads(done.body) == {"message": "Version 1 is now in Production."}
    assert get_model_version("churn", 1, client=store).current_stage == "Production"
    detail = await get(jp_fetch, "models", "churn")
    assert detail["versions"][0]["metrics"] == {"acc": 0.9}
    assert detail["history"][0]["comment"] == "ship it"


async def test_a_policy_turns_promote_into_a_request_and_approve_needs_another_user(
        store: Client, jp_fetch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    exp = store.create_experiment("reg")
    run_id = log_run(store, exp, {"acc": 0.9})
    register_model(f"runs:/{run_id}/model", "churn", client=store)
    set_registry_policy("churn", require_approval_for=["Production"], client=store)
    path = ("models", "churn", "actions")
    asked = await jp_fetch(PREFIX, *path, "production", method="POST",
                           body=json.dumps({"version": 1}))
    assert json.loads(asked.body)["question"].startswith("Request approval to move version 1")
    done = await jp_fetch(PREFIX, *path, "production", method="POST",
                          body=json.dumps({"version": 1, "confirm": True}))
    assert "waits for another user's approval" in json.loads(done.body)["message"]
    pending = (await get(jp_fetch, "models", "churn"))["pending"]
    assert len(pending) == 1
    body = {"request_id": pending[0]["request_id"], "confirm": True}
    code, refused = await error(jp_fetch, *path, "approve", method="POST", body=body)
    assert code == 409 and refused["error"] == "StageTransitionDenied"
    assert get_model_version("churn", 1, client=store).current_stage == "None"
    monkeypatch.setenv("MLTRACK_USER", "bob")
    await jp_fetch(PREFIX, *path, "approve", method="POST", body=json.dumps(body))
    assert get_model_version("churn", 1, client=store).current_stage == "Production"


async def test_bad_action_input_is_a_400_that_says_what_to_do(store: Client, jp_fetch: Any
                                                              ) -> None:
    code, body = await error(jp_fetch, "models", "churn", "actions", "launch", method="POST",
                             body={})
    assert code == 400 and "use one of staging, production" in body["message"]
    code, body = await error(jp_fetch, "models", "churn", "actions", "production",
                             method="POST", body={})
    assert code == 400 and body["message"] == "Choose a version first."
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(PREFIX, "models", "churn", "actions", "production", method="POST",
                       body="not json")
    assert info.value.code == 400
