"""Several real processes registering, promoting and approving at the same moment end in
one consistent state, with every change audited; on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from pathlib import Path
from typing import Any

import pytest

from jupyter_mltrack import registry as r
from jupyter_mltrack.registry.rules import holder_stack, holders_at
from tests.registry_helpers import as_user, experiment, rc, register_runs

__all__ = ["as_user", "experiment", "rc"]

WORKERS = 6
pytestmark = pytest.mark.slow


def _worker(job: str, uri: str, artifacts: str, user: str, barrier: Any, args: tuple,
            results: Any) -> None:
    os.environ["MLTRACK_USER"] = user
    try:
        from jupyter_mltrack import Client
        from jupyter_mltrack import registry as reg

        client = Client(uri, artifact_root=artifacts)
        assert client.store is not None  # open (and migrate) before the race starts
        barrier.wait(timeout=60)
        if job == "register":
            out = reg.register_model(args[0], "raced", client=client).version
        elif job == "promote":
            out = reg.transition_stage("m", args[0], "Production", archive_existing=True,
                                       comment=f"by {user}", client=client).current_stage
        elif job == "approve":
            out = reg.approve(args[0], f"approved by {user}", client=client).status
        elif job == "rollback":
            out = reg.rollback("m", client=client).version
        else:
            raise AssertionError(job)
        results.put((user, "ok", out))
    except Exception as exc:  # reported to the parent, which asserts on it
        results.put((user, type(exc).__name__, f"{exc}\n{traceback.format_exc()}"))


def _race(uri: str, artifacts: str, job: str, args_per_worker: list[tuple]) -> list[tuple]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(args_per_worker))
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(job, uri, artifacts, f"user{i}", barrier, args,
                                               results))
             for i, args in enumerate(args_per_worker)]
    for p in procs:
        p.start()
    out = [results.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return sorted(out)


def test_concurrent_registrations_get_distinct_numbers(rc, experiment, tmp_path: Path) -> None:
    from tests.registry_helpers import log_run

    run_id = log_run(rc, experiment, {"acc": 0.9})
    out = _race(rc.tracking_uri, str(tmp_path / "artifacts"), "register",
                [(f"runs:/{run_id}/model",)] * WORKERS)
    assert all(status == "ok" for _, status, _ in out), out
    assert sorted(v for _, _, v in out) == list(range(1, WORKERS + 1))
    stored = r.search_model_versions("name = 'raced'", client=rc)
    assert sorted(v.version for v in stored) == list(range(1, WORKERS + 1))
    registers = [x for x in r.history_records("raced", client=rc) if x.action == "register"]
    assert sorted(x.version for x in registers) == list(range(1, WORKERS + 1))
    assert {x.user_id for x in registers} == {f"user{i}" for i in range(WORKERS)}


def test_concurrent_promotions_leave_exactly_one_production_holder(rc, experiment,
                                                                   tmp_path: Path) -> None:
    register_runs(rc, experiment, "m", [0.5 + i / 100 for i in range(WORKERS)])
    out = _race(rc.tracking_uri, str(tmp_path / "artifacts"), "promote",
                [(i + 1,) for i in range(WORKERS)])
    assert all(status == "ok" for _, status, _ in out), out
    versions = list(r.search_model_versions("name = 'm'", client=rc))
    production = [v.version for v in versions if v.current_stage == "Production"]
    assert len(production) == 1
    assert {v.current_stage for v in versions if v.version not in production} == {"Archived"}
    records = r.history_records("m", client=rc)
    entries = [x for x in records if x.kind == "stage" and x.to_value == "Production"]
    # every process's promotion is recorded, by its user, and the last one holds the stage
    assert sorted(x.version for x in entries) == list(range(1, WORKERS + 1))
    assert {x.user_id for x in entries} == {f"user{i}" for i in range(WORKERS)}
    assert entries[-1].version == production[0]
    # replaying the audit trail gives the stored state
    assert holders_at(records, "Production", records[-1].timestamp) == production
    assert holder_stack(records, "Production")[-1] == production[0]
    # a rollback is now a query on that trail: the previous entrant returns
    assert r.rollback("m", client=rc).version == entries[-2].version


def test_concurrent_approvals_apply_a_request_once(rc, experiment, as_user,
                                                   tmp_path: Path) -> None:
    register_runs(rc, experiment, "m", [0.95])
    r.set_registry_policy("m", require_approval_for=["Production"], client=rc)
    request = r.transition_stage("m", 1, "Production", client=rc)
    out = _race(rc.tracking_uri, str(tmp_path / "artifacts"), "approve",
                [(request.request_id,)] * 4)
    statuses = sorted(status for _, status, _ in out)
    assert statuses == ["InvalidState"] * 3 + ["ok"], out
    assert r.get_model_version("m", 1, client=rc).current_stage == "Production"
    approvals = [x for x in r.history_records("m", client=rc) if x.action == "approved"]
    transitions = [x for x in r.history_records("m", client=rc)
                   if x.kind == "stage" and x.action == "transition"]
    assert len(approvals) == 1 and len(transitions) == 1
    winner = next(user for user, status, _ in out if status == "ok")
    assert approvals[0].user_id == transitions[0].user_id == winner


def test_concurrent_rollbacks_each_step_back_once(rc, experiment, tmp_path: Path) -> None:
    register_runs(rc, experiment, "m", [0.1, 0.2, 0.3, 0.4])
    for v in (1, 2, 3, 4):
        r.promote("m", v, client=rc)
    out = _race(rc.tracking_uri, str(tmp_path / "artifacts"), "rollback", [()] * 2)
    assert sorted(v for _, status, v in out if status == "ok") == [2, 3], out
    production = [v.version for v in r.search_model_versions("stage = 'Production'", client=rc)]
    assert production == [2]
