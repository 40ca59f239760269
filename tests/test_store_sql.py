"""The SQL tracking store (store/sql.py) on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from jupyter_mltrack.entities import LifecycleStage, Metric, RunStatus, ViewType
from jupyter_mltrack.errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidFilter,
    InvalidParameter,
    InvalidState,
    NotFound,
    ParamConflict,
    RunNotFound,
)
from jupyter_mltrack.store.sql import SqlStore, now_ms

NAN, INF = float("nan"), float("inf")


def _run(store: SqlStore, name: str | None = None, start: int = 1000, exp: str | None = None,
         **kwargs: Any) -> str:
    exp = exp or store.get_or_create_experiment("exp")
    return store.create_run(exp, name, start, "tester", **kwargs).run_id


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


# -- experiments -----------------------------------------------------------------------


def test_experiment_create_get_and_tags(store: SqlStore) -> None:
    exp_id = store.create_experiment("mnist", tags={"team": "vision"})
    exp = store.get_experiment(exp_id)
    assert exp.name == "mnist"
    assert exp.tags == {"team": "vision"}
    assert exp.lifecycle_stage == LifecycleStage.ACTIVE.value
    assert exp.artifact_location == f"{store.artifact_root}/{exp_id}"
    assert exp.creation_time is not None and exp.creation_time > 0
    assert store.get_experiment_by_name("mnist") == exp
    assert store.get_experiment_by_name("nope") is None
    store.set_experiment_tag(exp_id, "team", "nlp")
    assert store.get_experiment(exp_id).tags == {"team": "nlp"}
    other = store.create_experiment("custom", artifact_location="s3://bucket/x")
    assert store.get_experiment(other).artifact_location == "s3://bucket/x"


def test_experiment_tags_are_deleted_one_by_one(store: SqlStore) -> None:
    exp_id = store.create_experiment("tagged", tags={"team": "vision", "stage": "dev"})
    store.delete_experiment_tag(exp_id, "stage")
    assert store.get_experiment(exp_id).tags == {"team": "vision"}
    with pytest.raises(NotFound, match="no tag 'stage'"):
        store.delete_experiment_tag(exp_id, "stage")
    with pytest.raises(ExperimentNotFound):
        store.delete_experiment_tag("987654", "team")
    store.set_experiment_lifecycle(exp_id, deleted=True)
    with pytest.raises(InvalidState, match="restore"):
        store.delete_experiment_tag(exp_id, "team")
    store.set_experiment_lifecycle(exp_id, deleted=False)
    assert store.get_experiment(exp_id).tags == {"team": "vision"}


def test_experiment_names_are_unique(store: SqlStore) -> None:
    exp_id = store.create_experiment("dup")
    with pytest.raises(AlreadyExists, match="set_experiment"):
        store.create_experiment("dup")
    assert store.get_or_create_experiment("dup") == exp_id
    assert [e.name for e in store.search_experiments()] == ["dup"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 257])
def test_experiment_bad_names(store: SqlStore, name: str) -> None:
    with pytest.raises(InvalidParameter):
        store.create_experiment(name)


def test_unknown_experiments(store: SqlStore) -> None:
    with pytest.raises(ExperimentNotFound):
        store.get_experiment("12345")
    with pytest.raises(ExperimentNotFound, match="get_experiment_by_name"):
        store.get_experiment("mnist")
    with pytest.raises(ExperimentNotFound):
        store.set_experiment_lifecycle("999", deleted=True)
    with pytest.raises(ExperimentNotFound):
        store.create_run("999", None, 1, "u")


def test_experiment_delete_and_restore(store: SqlStore) -> None:
    keep = store.create_experiment("keep")
    gone = store.create_experiment("gone")
    run_id = _run(store, exp=gone)
    store.set_experiment_lifecycle(gone, deleted=True)
    assert [e.name for e in store.search_experiments()] == ["keep"]
    assert [e.name for e in store.search_experiments(ViewType.DELETED_ONLY)] == ["gone"]
    assert [e.name for e in store.search_experiments(
        ViewType.ALL, order_by=["experiment_id"])] == ["keep", "gone"]
    assert store.get_run(run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(InvalidState, match="deleted"):
        store.create_run(gone, None, 1, "u")
    with pytest.raises(InvalidState, match="restore"):
        store.get_or_create_experiment("gone")
    store.set_experiment_lifecycle(gone, deleted=False)
    assert store.get_run(run_id).info.lifecycle_stage == "active"
    assert {e.experiment_id for e in store.search_experiments()} == {keep, gone}


def _race(n: int, fn: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run fn(i) in n threads released together; results and errors."""
    barrier = threading.Barrier(n)
    results: list[Any] = []
    errors: list[BaseException] = []

    def go(i: int) -> None:
        barrier.wait()
        try:
            results.append(fn(i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def test_concurrent_get_or_create_experiment(store: SqlStore) -> None:
    # Separate stores: separate connection pools, as separate processes would have.
    stores = [SqlStore(store.uri, store.artifact_root) for _ in range(6)]
    try:
        results, errors = _race(6, lambda i: stores[i].get_or_create_experiment("sweep"))
    finally:
        for s in stores:
            s.close()
    assert errors == []
    assert len(set(results)) == 1
    assert [e.name for e in store.search_experiments()] == ["sweep"]


# -- runs ------------------------------------------------------------------------------


def test_run_lifecycle(store: SqlStore) -> None:
    exp = store.create_experiment("exp")
    info = store.create_run(exp, "first", 1234, "alice", tags={"a": "b"})
    assert re.fullmatch(r"[0-9a-f]{32}", info.run_id)
    assert info.run_name == "first"
    assert info.status == "RUNNING"
    assert info.artifact_uri == f"{store.artifact_root}/{exp}/{info.run_id}/artifacts"
    run = store.get_run(info.run_id)
    assert run.info == info
    assert run.data.tags == {"a": "b"}
    store.update_run(info.run_id, status="finished", end_time=2000, run_name="renamed")
    run = store.get_run(info.run_id)
    assert (run.info.status, run.info.end_time, run.info.run_name) == ("FINISHED", 2000,
                                                                        "renamed")
    # Back to RUNNING (a resumed run) clears the end time.
    store.update_run(info.run_id, status="RUNNING")
    run = store.get_run(info.run_id)
    assert (run.info.status, run.info.end_time) == ("RUNNING", None)
    with pytest.raises(InvalidParameter, match="FINISHED"):
        store.update_run(info.run_id, status="DONE")
    assert store.count_runs([exp]) == 1


def test_parent_runs(store: SqlStore) -> None:
    parent = _run(store, "parent")
    child = _run(store, "child", parent_run_id=parent)
    assert store.get_run(child).info.parent_run_id == parent
    found = store.search_runs([], f"attributes.parent_run_id = '{parent}'")
    assert [r.info.run_id for r in found] == [child]
    with pytest.raises(RunNotFound):
        _run(store, "orphan", parent_run_id="0" * 32)


def test_unknown_runs(store: SqlStore) -> None:
    missing = "f" * 32
    for call in (lambda: store.get_run(missing),
                 lambda: store.update_run(missing, status="FAILED"),
                 lambda: store.log_batch(missing, params={"a": "1"}),
                 lambda: store.write_metrics([(missing, "m", 1.0, 0, 1)]),
                 lambda: store.get_metric_history(missing, "m"),
                 lambda: store.set_run_lifecycle(missing, deleted=True)):
        with pytest.raises(RunNotFound):
            call()


# -- params, tags ----------------------------------------------------------------------


def test_params_are_immutable(store: SqlStore) -> None:
    run_id = _run(store)
    store.log_batch(run_id, params={"lr": "0.1", "layers": "[64, 32]"})
    store.log_batch(run_id, params={"lr": "0.1"})  # the same value again is fine
    with pytest.raises(ParamConflict) as info:
        store.log_batch(run_id, [Metric("acc", 0.5, 1, 0)], params={"lr": "0.2", "new": "x"},
                        tags={"t": "v"})
    assert "'0.1'" in str(info.value) and "'0.2'" in str(info.value)
    assert "immutable" in str(info.value)
    # Nothing of the refused batch was stored.
    run = store.get_run(run_id)
    assert run.data.params == {"lr": "0.1", "layers": "[64, 32]"}
    assert run.data.tags == {}
    assert run.data.metrics == {}
    assert len(store.get_metric_history(run_id, "acc")) == 0


def test_concurrent_same_param(store: SqlStore) -> None:
    run_id = _run(store)
    stores = [SqlStore(store.uri, store.artifact_root) for _ in range(6)]
    try:
        _, errors = _race(6, lambda i: stores[i].log_batch(run_id, params={"p": "same"}))
        assert errors == []
        _, errors = _race(6, lambda i: stores[i].log_batch(run_id, params={"q": str(i)}))
    finally:
        for s in stores:
            s.close()
    # Exactly one value of q won; every other writer was told about the conflict.
    assert len(errors) == 5
    assert all(isinstance(e, ParamConflict) for e in errors), errors
    assert set(store.get_run(run_id).data.params) == {"p", "q"}


def test_tags_overwrite_and_delete(store: SqlStore) -> None:
    run_id = _run(store)
    store.log_batch(run_id, tags={"stage": "dev", "owner": "me"})
    store.log_batch(run_id, tags={"stage": "prod"})
    assert store.get_run(run_id).data.tags == {"stage": "prod", "owner": "me"}
    store.delete_tag(run_id, "owner")
    assert store.get_run(run_id).data.tags == {"stage": "prod"}
    with pytest.raises(NotFound):
        store.delete_tag(run_id, "owner")


def test_concurrent_same_tag(store: SqlStore) -> None:
    run_id = _run(store)
    stores = [SqlStore(store.uri, store.artifact_root) for _ in range(6)]
    try:
        _, errors = _race(6, lambda i: stores[i].log_batch(run_id, tags={"t": str(i)}))
    finally:
        for s in stores:
            s.close()
    assert errors == []
    assert store.get_run(run_id).data.tags["t"] in {str(i) for i in range(6)}


def test_unicode_and_long_values_round_trip(store: SqlStore) -> None:
    run_id = _run(store, "ünï-çødé 🙂")
    value = "ç" * 8000
    store.log_batch(run_id, params={"ключ": value, "emoji 🙂": "✓"}, tags={"note": "日本語"})
    run = store.get_run(run_id)
    assert run.info.run_name == "ünï-çødé 🙂"
    assert run.data.params == {"ключ": value, "emoji 🙂": "✓"}
    assert run.data.tags == {"note": "日本語"}


def test_logging_to_a_deleted_run_is_refused(store: SqlStore) -> None:
    run_id = _run(store)
    store.set_run_lifecycle(run_id, deleted=True)
    with pytest.raises(InvalidState, match="restore"):
        store.log_batch(run_id, params={"a": "1"})
    store.set_run_lifecycle(run_id, deleted=False)
    store.log_batch(run_id, params={"a": "1"})
    assert store.get_run(run_id).data.params == {"a": "1"}


# -- metrics ---------------------------------------------------------------------------


def test_metric_history_is_ordered_by_step_then_timestamp(store: SqlStore) -> None:
    run_id = _run(store)
    store.write_metrics([(run_id, "loss", 0.5, 5, 10), (run_id, "loss", 0.9, 1, 30)])
    store.write_metrics([(run_id, "loss", 0.7, 3, 20), (run_id, "loss", 0.8, 1, 5)])
    store.log_batch(run_id, [Metric("loss", 0.6, 40, 4)])
    frame = store.get_metric_history(run_id, "loss")
    assert list(frame.columns) == ["step", "value", "timestamp"]
    assert frame.dtypes.tolist() == [np.dtype("int64"), np.dtype("float64"),
                                     np.dtype("int64")]
    assert frame["step"].tolist() == [1, 1, 3, 4, 5]
    assert frame["timestamp"].tolist() == [5, 30, 20, 40, 10]
    assert frame["value"].tolist() == [0.8, 0.9, 0.7, 0.6, 0.5]
    empty = store.get_metric_history(run_id, "nothing")
    assert len(empty) == 0 and list(empty.columns) == ["step", "value", "timestamp"]


def test_latest_metric_is_highest_step_then_timestamp(store: SqlStore) -> None:
    run_id = _run(store)

    def latest() -> float:
        return store.get_run(run_id).data.metrics["m"]

    store.write_metrics([(run_id, "m", 1.0, 5, 100)])
    store.write_metrics([(run_id, "m", 2.0, 3, 200)])  # lower step, newer: loses
    assert latest() == 1.0
    store.write_metrics([(run_id, "m", 3.0, 5, 50)])  # same step, older: loses
    assert latest() == 1.0
    store.write_metrics([(run_id, "m", 4.0, 5, 150)])  # same step, newer: wins
    assert latest() == 4.0
    store.write_metrics([(run_id, "m", 5.0, 6, 1)])  # higher step wins whatever the time
    assert latest() == 5.0
    # Inside one batch the same rule applies, in any order.
    store.write_metrics([(run_id, "m", 9.0, 9, 10), (run_id, "m", 7.0, 7, 99),
                         (run_id, "m", 8.0, 9, 5)])
    assert latest() == 9.0
    assert store.search_runs([], "metrics.m = 9")[0].info.run_id == run_id


def test_metrics_of_many_runs_in_one_batch(store: SqlStore) -> None:
    a, b = _run(store, "a"), _run(store, "b")
    store.write_metrics([(a, "x", float(i), i, i) for i in range(100)]
                        + [(b, "x", -float(i), i, i) for i in range(50)])
    assert store.get_metric_history(a, "x")["value"].tolist() == [float(i) for i in range(100)]
    assert len(store.get_metric_history(b, "x")) == 50
    assert store.get_run(a).data.metrics == {"x": 99.0}
    assert store.get_run(b).data.metrics == {"x": -49.0}
    assert store.metric_keys(a) == ["x"]


@pytest.mark.parametrize("value", [NAN, INF, -INF, 0.0, -0.0, 1e308, -1e-308, 5e-324])
def test_special_values_round_trip(store: SqlStore, value: float) -> None:
    run_id = _run(store)
    store.write_metrics([(run_id, "m", 1.0, 0, 1), (run_id, "m", value, 1, 2)])
    history = store.get_metric_history(run_id, "m")["value"].tolist()
    assert history[0] == 1.0 and _same(history[1], value)
    assert _same(store.get_run(run_id).data.metrics["m"], value)
    frame, _ = store.search_runs_frame([])
    assert _same(frame.loc[0, "metrics.m"], value)
    listed = store.search_runs([])[0]
    assert _same(listed.data.metrics["m"], value)


def test_nan_and_inf_through_log_batch(store: SqlStore) -> None:
    run_id = _run(store)
    store.log_batch(run_id, [Metric("a", NAN, 1, 0), Metric("b", INF, 1, 0),
                             Metric("c", -INF, 1, 0)])
    metrics = store.get_run(run_id).data.metrics
    assert math.isnan(metrics["a"]) and metrics["b"] == INF and metrics["c"] == -INF
    assert [r.info.run_id for r in store.search_runs([], "metrics.b > 1e308")] == [run_id]
    assert [r.info.run_id for r in store.search_runs([], "metrics.c < -1e308")] == [run_id]
    assert store.search_runs([], "metrics.a > 0").items == []
    assert [r.info.run_id for r in store.search_runs([], "metrics.a IS NOT NULL")] == [run_id]


# -- search results --------------------------------------------------------------------


def test_search_runs_frame_columns_and_dtypes(store: SqlStore) -> None:
    exp = store.create_experiment("frame")
    first = _run(store, "first", start=1_000, exp=exp)
    second = _run(store, "second", start=2_000, exp=exp)
    store.log_batch(first, [Metric("acc", 0.5, 1, 0)], {"lr": "0.1"}, {"team": "a"})
    store.log_batch(second, [Metric("loss", 0.2, 1, 0)], {"lr": "0.2", "opt": "adam"})
    store.update_run(first, status="FINISHED", end_time=1_500)
    frame, token = store.search_runs_frame([exp])
    assert token is None
    assert list(frame.columns) == [
        "run_id", "experiment_id", "experiment", "run_name", "status", "start_time",
        "end_time", "user_id", "parent_run_id", "artifact_uri", "params.lr", "params.opt",
        "metrics.acc", "metrics.loss", "tags.team",
    ]
    assert frame["run_id"].tolist() == [second, first]  # newest first
    assert frame["experiment"].tolist() == ["frame", "frame"]
    assert frame["experiment_id"].tolist() == [exp, exp]
    assert str(frame["start_time"].dtype).startswith("datetime64")
    assert str(frame["start_time"].dt.tz) == "UTC"
    assert frame["start_time"].iloc[1] == pd.Timestamp(1_000, unit="ms", tz="UTC")
    assert pd.isna(frame["end_time"].iloc[0])
    assert frame["end_time"].iloc[1] == pd.Timestamp(1_500, unit="ms", tz="UTC")
    assert frame["metrics.acc"].dtype == np.float64
    assert math.isnan(frame["metrics.acc"].iloc[0]) and frame["metrics.acc"].iloc[1] == 0.5
    assert frame["params.lr"].tolist() == ["0.2", "0.1"]
    assert pd.isna(frame["params.opt"].iloc[1]) and pd.isna(frame["tags.team"].iloc[0])
    empty, _ = store.search_runs_frame([exp], "metrics.acc > 100")
    assert len(empty) == 0 and "run_id" in empty.columns


def test_paging_tokens(store: SqlStore) -> None:
    exp = store.create_experiment("paging")
    ids = {_run(store, f"r{i}", start=1000 + i, exp=exp) for i in range(25)}
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = store.search_runs([exp], max_results=10, page_token=token)
        seen += [r.info.run_id for r in page]
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert pages == 3
    assert len(seen) == 25 and set(seen) == ids
    frame_ids: list[str] = []
    token = None
    while True:
        frame, token = store.search_runs_frame([exp], max_results=7, page_token=token)
        frame_ids += frame["run_id"].tolist()
        if token is None:
            break
    assert frame_ids == seen
    exact = store.search_runs([exp], max_results=25)
    assert len(exact) == 25 and exact.next_page_token is None


@pytest.mark.parametrize("token", ["garbage", "eyJvZmZzZXQiOiAtMX0=", "W10=", "!!!"])
def test_bad_page_tokens(store: SqlStore, token: str) -> None:
    with pytest.raises(InvalidParameter, match="page token"):
        store.search_runs([], page_token=token)


@pytest.mark.parametrize("max_results", [-1, 10**9, 2.5, True])  # 0: an empty page, as MLflow
def test_bad_max_results(store: SqlStore, max_results: Any) -> None:
    with pytest.raises(InvalidParameter, match="max_results"):
        store.search_runs([], max_results=max_results)


def test_order_by(store: SqlStore) -> None:
    exp = store.create_experiment("order")
    names = {}
    for i, (acc, lr, team) in enumerate([(0.5, "10", "b"), (0.9, "2", None), (None, "abc", "a"),
                                         (0.1, None, "c"), (NAN, "0.5", None)]):
        run_id = _run(store, f"r{i}", start=1000 + i, exp=exp)
        names[run_id] = f"r{i}"
        store.log_batch(run_id, [Metric("acc", acc, 1, 0)] if acc is not None else [],
                        {"lr": lr} if lr is not None else None,
                        {"team": team} if team is not None else None)

    def order(*clauses: str) -> list[str]:
        return [names[r.info.run_id] for r in store.search_runs([exp], order_by=list(clauses))]

    # Missing values (and NaN, which has no order) come last in both directions.
    assert order("metrics.acc DESC")[:3] == ["r1", "r0", "r3"]
    assert order("metrics.acc")[:3] == ["r3", "r0", "r1"]
    assert set(order("metrics.acc")[3:]) == {"r2", "r4"}
    # Params: numbers in numeric order, then text, then missing.
    assert order("params.lr ASC") == ["r4", "r1", "r0", "r2", "r3"]
    assert order("params.lr DESC") == ["r0", "r1", "r4", "r2", "r3"]
    assert order("tags.team") == ["r2", "r0", "r3", "r4", "r1"]
    assert order("tags.team DESC") == ["r3", "r0", "r2", "r4", "r1"]
    assert order("attributes.start_time") == ["r0", "r1", "r2", "r3", "r4"]
    assert order("start_time DESC") == ["r4", "r3", "r2", "r1", "r0"]
    assert order("attributes.run_name DESC") == ["r4", "r3", "r2", "r1", "r0"]
    assert order() == ["r4", "r3", "r2", "r1", "r0"]  # default: newest first
    # A second clause breaks ties of the first.
    assert order("metrics.nothing", "run_name") == ["r0", "r1", "r2", "r3", "r4"]
    frame, _ = store.search_runs_frame([exp], order_by=["params.lr ASC"])
    assert [names[r] for r in frame["run_id"]] == ["r4", "r1", "r0", "r2", "r3"]
    for bad in ("acc DESC", "attributes.nope", "metrics.acc sideways", "", "metrics.acc > 1"):
        with pytest.raises(InvalidFilter):
            store.search_runs([exp], order_by=[bad])


def test_search_view_types(store: SqlStore) -> None:
    alive = _run(store, "alive")
    gone = _run(store, "gone")
    store.set_run_lifecycle(gone, deleted=True)

    def ids(view: ViewType) -> set[str]:
        return {r.info.run_id for r in store.search_runs([], view_type=view)}

    assert ids(ViewType.ACTIVE_ONLY) == {alive}
    assert ids(ViewType.DELETED_ONLY) == {gone}
    assert ids(ViewType.ALL) == {alive, gone}
    with pytest.raises(InvalidParameter):
        store.search_runs([], view_type="sideways")  # type: ignore[arg-type]
    with pytest.raises(ExperimentNotFound):
        store.search_runs(["not-a-number"])


# -- deletion --------------------------------------------------------------------------


def test_delete_restore_purge(store: SqlStore) -> None:
    keep = _run(store, "keep")
    gone = _run(store, "gone")
    for run_id in (keep, gone):
        store.log_batch(run_id, [Metric("m", 1.0, 1, 0)], {"p": "1"}, {"t": "1"})
        store.write_metrics([(run_id, "m", 2.0, 1, 2)])
    before = now_ms()
    store.set_run_lifecycle(gone, deleted=True)
    info = store.get_run(gone).info
    assert info.lifecycle_stage == "deleted"
    assert [r.run_id for r in store.deleted_runs()] == [gone]
    assert store.deleted_runs(older_than=before - 60_000) == []
    store.set_run_lifecycle(gone, deleted=False)
    assert store.deleted_runs() == []
    store.set_run_lifecycle(gone, deleted=True)
    store.purge_runs([gone])
    with pytest.raises(RunNotFound):
        store.get_run(gone)
    assert store.deleted_runs() == []
    # The other run is untouched.
    run = store.get_run(keep)
    assert run.data.params == {"p": "1"} and run.data.tags == {"t": "1"}
    assert run.data.metrics == {"m": 2.0}
    assert len(store.get_metric_history(keep, "m")) == 2
    # A fresh store (no id cache) agrees that the purged run is gone.
    fresh = SqlStore(store.uri, store.artifact_root)
    try:
        with pytest.raises(RunNotFound):
            fresh.get_run(gone)
        assert fresh.count_runs([store.get_or_create_experiment("exp")]) == 1
    finally:
        fresh.close()
    store.purge_runs([])  # nothing to do


# -- heartbeats ------------------------------------------------------------------------


def test_stale_heartbeat_marks_run_killed(store: SqlStore) -> None:
    alive = _run(store, "alive")
    dead = _run(store, "dead")
    done = _run(store, "done")
    store.update_run(done, status="FINISHED", end_time=5)
    store.heartbeat([alive, dead, done], 1_000)
    store.heartbeat([alive], 5_000)
    assert store.mark_stale_runs(500) == []
    assert store.mark_stale_runs(2_000) == [dead]
    killed = store.get_run(dead).info
    assert killed.status == RunStatus.KILLED.value
    assert killed.end_time == 1_000  # the last sign of life
    assert store.get_run(alive).info.status == "RUNNING"
    assert store.get_run(done).info.status == "FINISHED"
    # A late heartbeat does not bring a killed run back; marking again finds nothing.
    store.heartbeat([dead], 9_000)
    assert store.get_run(dead).info.status == "KILLED"
    assert store.mark_stale_runs(2_000) == []
    assert store.heartbeat([], 1) is None


def test_metric_batches_apply_once_per_client_seq_in_one_transaction(store: SqlStore) -> None:
    from array import array

    from jupyter_mltrack.store.protocols import MetricBatch, MetricSeries

    def series(key: str, steps: list[int], values: list[float],
               stamps: list[int]) -> MetricSeries:
        return MetricSeries(key, array("q", steps), array("d", values), array("q", stamps))

    a, b = _run(store, "a"), _run(store, "b")
    first = [MetricBatch(a, [series("m", [1, 3, 3], [0.1, 0.3, NAN], [10, 30, 30]),
                             series("m", [2], [0.2], [99]), series("e", [], [], [])], 5),
             MetricBatch(b, [series("m", [7], [INF], [1])], 1),
             MetricBatch(a, [series("m", [4], [0.4], [1])], 5)]  # same seq again: skipped
    assert store.write_metric_batches(first, "c1") == [True, True, False]
    history = store.get_metric_history(a, "m")
    assert history["step"].tolist() == [1, 2, 3, 3]
    # the latest is the highest step, the later point on a tie: NaN at step 3
    assert math.isnan(store.get_run(a).data.metrics["m"])
    assert store.get_run(b).data.metrics == {"m": INF}
    assert "e" not in store.get_run(a).data.metrics  # an empty series stores nothing
    # a lower seq from the same client is skipped; another client's is not
    assert store.write_metric_batches([MetricBatch(a, [series("m", [5], [0.5], [1])], 4)],
                                      "c1") == [False]
    assert store.write_metric_batches([MetricBatch(a, [series("m", [5], [0.5], [1])], 4)],
                                      "c2") == [True]
    assert store.get_run(a).data.tags["mltrack.sync.c1"] == "5"

    def refuse(experiment_id: str) -> None:
        raise InvalidParameter(f"not on {experiment_id}")

    more = [MetricBatch(a, [series("m", [6], [0.6], [1])], 6)]
    with pytest.raises(InvalidParameter, match="not on"):
        store.write_metric_batches(more, "c1", allow=refuse)
    with pytest.raises(RunNotFound):
        store.write_metric_batches([*more, MetricBatch("0" * 32, [], 1)], "c1")
    store.set_run_lifecycle(b, deleted=True)
    with pytest.raises(InvalidState, match="restore it"):
        store.write_metric_batches([*more, MetricBatch(b, [], 2)], "c1")
    # none of the refused requests stored anything, nor took the seq
    assert store.get_metric_history(a, "m")["step"].tolist() == [1, 2, 3, 3, 5]
    assert store.write_metric_batches(more, "c1") == [True]
