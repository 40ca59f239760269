"""Policies, gates and approvals, and the audit history they leave, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from jupyter_mltrack import registry as r
from jupyter_mltrack.entities import TransitionRequest
from jupyter_mltrack.errors import (
    AlreadyExists,
    InvalidParameter,
    InvalidState,
    NotFound,
    StageTransitionDenied,
)
from tests.registry_helpers import as_user, experiment, log_run, rc, register_runs, stage_log

__all__ = ["as_user", "experiment", "rc"]


@pytest.fixture
def governed(rc, experiment, as_user) -> list[str]:
    """Model "m": v1 acc 0.80, v2 0.93, v3 0.95; Production needs approval and acc >= 0.9."""
    runs = register_runs(rc, experiment, "m", [0.80, 0.93, 0.95])
    r.set_registry_policy("m", require_approval_for=["Production"],
                          gates={"metrics.acc": ">= 0.9"}, client=rc)
    return runs


def test_a_transition_under_policy_becomes_a_request(rc, governed, as_user) -> None:
    request = r.transition_stage("m", 2, "Production", archive_existing=True,
                                 comment="beats v1 on holdout", client=rc)
    assert isinstance(request, TransitionRequest)
    assert (request.status, request.requested_by, request.target, request.version) == (
        "PENDING", "alice", "Production", 2)
    assert r.get_model_version("m", 2, client=rc).current_stage == "None"
    assert [q.request_id for q in r.transition_requests("m", client=rc)] == [request.request_id]
    # stages without approval move directly, gates do not guard Staging
    assert r.transition_stage("m", 1, "Staging", client=rc).current_stage == "Staging"
    as_user("bob")
    done = r.approve(request.request_id, "checked the report", client=rc)
    assert (done.status, done.decided_by, done.decision_comment) == (
        "APPROVED", "bob", "checked the report")
    assert r.get_model_version("m", 2, client=rc).current_stage == "Production"
    assert r.transition_requests("m", client=rc) == []
    last = r.history_records("m", client=rc)[-2:]
    assert [(x.kind, x.action, x.user_id, x.request_id) for x in last] == [
        ("request", "approved", "bob", request.request_id),
        ("stage", "transition", "bob", request.request_id),
    ]
    assert last[1].comment == "beats v1 on holdout"


def test_approval_archives_existing_holders_when_asked(rc, governed, as_user) -> None:
    first = r.request_transition("m", 2, "Production", client=rc)
    as_user("bob")
    r.approve(first.request_id, client=rc)
    as_user("alice")
    second = r.transition_stage("m", 3, "Production", archive_existing=True, client=rc)
    as_user("bob")
    r.approve(second.request_id, client=rc)
    assert {v.version: v.current_stage for v in r.search_model_versions(client=rc)} == {
        1: "None", 2: "Archived", 3: "Production"}


def test_the_requester_cannot_approve_unless_the_policy_allows(rc, governed, as_user) -> None:
    request = r.transition_stage("m", 2, "Production", client=rc)
    with pytest.raises(StageTransitionDenied, match="another user must approve"):
        r.approve(request.request_id, client=rc)
    assert r.get_transition_request(request.request_id, client=rc).is_pending
    r.set_registry_policy("m", require_approval_for=["Production"],
                          gates={"metrics.acc": ">= 0.9"}, allow_self_approval=True, client=rc)
    assert r.approve(request.request_id, client=rc).status == "APPROVED"
    assert r.get_model_version("m", 2, client=rc).current_stage == "Production"


def test_reject_moves_nothing_and_cancel_is_for_the_requester(rc, governed, as_user) -> None:
    request = r.transition_stage("m", 2, "Production", client=rc)
    as_user("bob")
    rejected = r.reject(request.request_id, "wait for the A/B test", client=rc)
    assert (rejected.status, rejected.decided_by) == ("REJECTED", "bob")
    assert r.get_model_version("m", 2, client=rc).current_stage == "None"
    with pytest.raises(InvalidState, match="rejected already by bob"):
        r.approve(request.request_id, client=rc)
    as_user("alice")
    again = r.transition_stage("m", 2, "Production", client=rc)
    as_user("bob")
    with pytest.raises(StageTransitionDenied, match="Only alice"):
        r.cancel_request(again.request_id, client=rc)
    as_user("alice")
    assert r.cancel_request(again.request_id, client=rc).status == "CANCELLED"
    assert [q.status for q in r.transition_requests("m", status=None, client=rc)] == [
        "CANCELLED", "REJECTED"]
    with pytest.raises(NotFound, match="No transition request 999"):
        r.approve(999, client=rc)
    with pytest.raises(InvalidParameter, match="not a request id"):
        r.approve("abc", client=rc)


def test_a_second_request_for_the_same_change_is_refused(rc, governed) -> None:
    first = r.transition_stage("m", 2, "Production", client=rc)
    with pytest.raises(AlreadyExists, match=f"Request {first.request_id}"):
        r.transition_stage("m", 2, "Production", client=rc)


def test_failing_gates_refuse_with_the_reason(rc, governed, experiment, as_user) -> None:
    with pytest.raises(StageTransitionDenied,
                       match=r"metrics.acc >= 0.9 fails: it is 0.8"):
        r.transition_stage("m", 1, "Production", client=rc)
    assert r.transition_requests("m", client=rc) == []
    # the gate is checked again at approval: tightened after the request, it refuses
    request = r.transition_stage("m", 2, "Production", client=rc)
    r.set_registry_policy("m", require_approval_for=["Production"],
                          gates={"metrics.acc": ">= 0.94"}, client=rc)
    as_user("bob")
    with pytest.raises(StageTransitionDenied, match=r"it is 0\.93"):
        r.approve(request.request_id, client=rc)
    assert r.get_transition_request(request.request_id, client=rc).is_pending
    assert r.get_model_version("m", 2, client=rc).current_stage == "None"
    # a gate on a metric the run lacks, and on a version without a run
    r.set_registry_policy("m", gates={"metrics.f1": "> 0.5"}, client=rc)
    with pytest.raises(StageTransitionDenied, match="has no metric 'f1'"):
        r.transition_stage("m", 3, "Production", client=rc)


def test_gates_without_approval_guard_production_directly(rc, experiment, as_user,
                                                          tmp_path) -> None:
    from jupyter_mltrack.models import save_model
    from tests.registry_helpers import tiny_model

    register_runs(rc, experiment, "m", [0.5, 0.95])
    r.set_registry_policy("m", gates={"metrics.acc": "> 0.9"}, client=rc)
    with pytest.raises(StageTransitionDenied, match="may not enter Production"):
        r.transition_stage("m", 1, "Production", client=rc)
    assert r.transition_stage("m", 2, "Production", client=rc).current_stage == "Production"
    assert r.transition_stage("m", 1, "Staging", client=rc).current_stage == "Staging"
    save_model(tiny_model(), tmp_path / "m", progress=False)
    r.register_model(str(tmp_path / "m"), "m", client=rc)
    with pytest.raises(StageTransitionDenied, match="no source run"):
        r.transition_stage("m", 3, "Production", client=rc)
    r.set_registry_policy("m", gates={"metrics.acc": "> 0.9"}, gated_stages=["Staging"],
                          client=rc)
    with pytest.raises(StageTransitionDenied, match="may not enter Staging"):
        r.transition_stage("m", 3, "Staging", client=rc)
    assert r.transition_stage("m", 3, "Production", client=rc).current_stage == "Production"


def test_alias_changes_can_need_approval_too(rc, governed, as_user) -> None:
    r.set_registry_policy("m", require_approval_for=["@champion"],
                          gates={"metrics.acc": ">= 0.9"}, client=rc)
    with pytest.raises(StageTransitionDenied, match="may not enter @champion"):
        r.set_alias("m", "champion", 1, client=rc)
    request = r.set_alias("m", "champion", 3, comment="best so far", client=rc)
    assert isinstance(request, TransitionRequest) and request.target_label == "@champion"
    assert r.set_alias("m", "shadow", 1, client=rc).aliases == ("shadow",)  # not governed
    as_user("bob")
    r.approve(request.request_id, client=rc)
    assert r.get_model_version_by_alias("m", "champion", client=rc).version == 3
    record = r.history_records("m", client=rc)[-1]
    assert (record.kind, record.alias, record.to_value, record.request_id) == (
        "alias", "champion", "3", request.request_id)


@pytest.mark.parametrize("kwargs,message", [
    ({"gates": {"acc": ">= 0.9"}}, "metrics.<key>"),
    ({"gates": {"metrics.acc": "high"}}, "is not a condition"),
    ({"gates": {"metrics.acc": ">= ninety"}}, "is not a condition"),
    ({"require_approval_for": ["Live"]}, "Unknown stage"),
    ({"require_approval_for": ["None"]}, "makes no sense"),
    ({"require_approval_for": ["@bad alias"]}, "not a valid alias"),
])
def test_bad_policies_are_refused_and_nothing_changes(rc, governed, kwargs, message) -> None:
    before = r.get_registry_policy("m", client=rc)
    with pytest.raises(InvalidParameter, match=message):
        r.set_registry_policy("m", client=rc, **kwargs)
    assert r.get_registry_policy("m", client=rc) == before


def test_policy_changes_are_in_the_history(rc, governed, as_user) -> None:
    as_user("lead")
    r.delete_registry_policy("m", client=rc)
    assert r.get_registry_policy("m", client=rc) is None
    policy_records = [x for x in r.history_records("m", client=rc) if x.kind == "policy"]
    assert [(x.action, x.user_id) for x in policy_records] == [("set", "alice"),
                                                               ("delete", "lead")]
    assert '"metrics.acc": ">= 0.9"' in policy_records[0].to_value
    assert policy_records[1].to_value is None
    # without a policy the same transition is direct
    assert r.transition_stage("m", 1, "Production", client=rc).current_stage == "Production"


def test_history_frame_has_every_change_with_who_when_from_to(rc, governed, as_user) -> None:
    request = r.transition_stage("m", 2, "Production", comment="ready", client=rc)
    as_user("bob")
    r.approve(request.request_id, "ok", client=rc)
    r.set_alias("m", "champion", 2, client=rc)
    frame = r.history("m", client=rc)
    assert list(frame.columns) == ["time", "version", "kind", "action", "alias", "from", "to",
                                   "user", "comment", "request_id"]
    assert str(frame["time"].dtype).startswith("datetime64")
    assert frame["time"].is_monotonic_increasing
    kinds = list(zip(frame["kind"], frame["action"], frame["user"], strict=True))
    assert kinds == [
        ("stage", "register", "alice"), ("stage", "register", "alice"),
        ("stage", "register", "alice"), ("policy", "set", "alice"),
        ("request", "requested", "alice"), ("request", "approved", "bob"),
        ("stage", "transition", "bob"), ("alias", "set", "bob"),
    ]
    approved = frame[frame["action"] == "approved"].iloc[0]
    assert approved["comment"] == "ok" and approved["request_id"] == request.request_id
    assert stage_log(rc, "m")[-1] == (2, "transition", "None", "Production")


def test_requests_frame(rc, governed) -> None:
    request = r.transition_stage("m", 2, "Production", comment="please", client=rc)
    frame = r.requests_frame("m", client=rc)
    assert frame.loc[0, "request_id"] == request.request_id
    assert frame.loc[0, "target"] == "Production" and frame.loc[0, "comment"] == "please"
    assert r.requests_frame("m", status="APPROVED", client=rc).empty
    with pytest.raises(InvalidParameter, match="Unknown request status"):
        r.transition_requests("m", status="DONE", client=rc)


def test_archiving_is_never_gated(rc, governed, experiment) -> None:
    run_id = log_run(rc, experiment, {"acc": 0.1})
    v = r.register_model(f"runs:/{run_id}/model", "m", client=rc)
    assert r.transition_stage("m", v.version, "Archived", client=rc).current_stage == "Archived"
