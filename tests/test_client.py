"""The tracking Client (tracking/client.py) and its checks (tracking/validation.py)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from jupyter_mltrack import Client
from jupyter_mltrack.entities import Metric, PagedList, RunStatus
from jupyter_mltrack.errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidArtifactPath,
    InvalidFilter,
    InvalidParameter,
    InvalidState,
    NotFound,
    ParamConflict,
    RunNotFound,
)


def _new_run(client: Client, name: str | None = None, exp: str = "exp") -> str:
    return client.create_run(client.get_or_create_experiment(exp), run_name=name).info.run_id


# -- end to end on SQLite and PostgreSQL -------------------------------------------------


def test_end_to_end(store_uri: str, tmp_path: Path) -> None:
    client = Client(store_uri, artifact_root=str(tmp_path / "artifacts"))
    exp = client.create_experiment("e2e", tags={"team": "vision"})
    run = client.create_run(exp, run_name="first", tags={"stage": "dev"})
    run_id = run.info.run_id
    assert run.info.status == "RUNNING"
    assert run.data.tags == {"stage": "dev", "mltrack.heartbeat_interval": "10.0",
                             "mlflow.runName": "first", "mlflow.user": "tester"}
    assert client.log_param(run_id, "lr", 0.01) == 0.01
    client.log_params(run_id, {"layers": [64, 32], "opt": "adam"})
    client.set_tags(run_id, {"stage": "prod", "owner": "me"})
    for step in range(20):
        client.log_metric(run_id, "loss", 1 / (step + 1))
    client.log_metrics(run_id, {"acc": 0.9, "f1": float("nan")}, step=3)
    client.log_text(run_id, "hello", "notes/hello.txt")
    client.set_terminated(run_id)
    stored = client.get_run(run_id)
    assert stored.info.status == "FINISHED" and stored.info.end_time is not None
    assert stored.data.params == {"lr": "0.01", "layers": "[64, 32]", "opt": "adam"}
    assert stored.data.tags["stage"] == "prod" and stored.data.tags["owner"] == "me"
    assert stored.data.metrics["loss"] == 1 / 20 and math.isnan(stored.data.metrics["f1"])
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(20))
    assert client.read_artifact(run_id, "notes/hello.txt") == b"hello"
    frame, token = client.search_runs_frame(exp, "params.lr < 0.1 AND metrics.acc > 0.5")
    assert token is None and frame["run_id"].tolist() == [run_id]
    assert [r.info.run_id for r in client.search_runs([exp], "tags.owner = 'me'")] == [run_id]
    client.delete_run(run_id)
    assert client.search_runs(exp).items == []
    assert client.gc() == [run_id]
    with pytest.raises(RunNotFound):
        client.get_run(run_id)


# -- experiments -----------------------------------------------------------------------


def test_experiments(client: Client) -> None:
    exp = client.create_experiment("mnist", tags={"k": 1})
    assert client.get_experiment(exp).tags == {"k": "1"}
    assert client.get_experiment(int(exp)).name == "mnist"  # type: ignore[arg-type]
    assert client.get_experiment_by_name("mnist").experiment_id == exp  # type: ignore[union-attr]
    assert client.get_or_create_experiment("mnist") == exp
    with pytest.raises(AlreadyExists):
        client.create_experiment("mnist")
    for bad in ("", "  ", "x" * 257, None, 5):
        with pytest.raises(InvalidParameter):
            client.create_experiment(bad)  # type: ignore[arg-type]
    client.set_experiment_tag(exp, "k", 2)
    assert client.get_experiment(exp).tags == {"k": "2"}
    client.delete_experiment(exp)
    assert list(client.search_experiments()) == []
    assert [e.name for e in client.search_experiments("deleted_only")] == ["mnist"]
    assert [e.name for e in client.search_experiments("ALL")] == ["mnist"]
    client.restore_experiment(exp)
    assert [e.name for e in client.search_experiments()] == ["mnist"]
    with pytest.raises(InvalidParameter, match="view type"):
        client.search_experiments("everything")


def test_experiment_names_that_look_like_ids(client: Client) -> None:
    named_42 = client.create_experiment("42")
    assert client.resolve_experiment_id("42") == named_42  # no experiment 42: the name
    assert client.resolve_experiment_id(named_42) == named_42
    with pytest.raises(ExperimentNotFound, match="create_experiment"):
        client.resolve_experiment_id("nope")


# -- runs ------------------------------------------------------------------------------


def test_run_status_changes(client: Client) -> None:
    run_id = _new_run(client)
    assert client.get_run(run_id).data.tags.get("mltrack.user") is None  # no context here
    assert client.get_run(run_id).info.user_id == "tester"
    with pytest.raises(InvalidParameter, match="FINISHED, FAILED or KILLED"):
        client.set_terminated(run_id, "RUNNING")
    with pytest.raises(InvalidParameter, match="Unknown run status"):
        client.set_terminated(run_id, "DONE")
    client.set_terminated(run_id, "failed", end_time=123)
    info = client.get_run(run_id).info
    assert (info.status, info.end_time) == ("FAILED", 123)
    resumed = client.resume_run(run_id)
    assert resumed.info.status == "RUNNING" and resumed.info.end_time is None
    client.set_terminated(run_id, RunStatus.KILLED)  # type: ignore[arg-type]
    assert client.get_run(run_id).info.status == "KILLED"
    client.update_run(run_id, name="renamed")
    assert client.get_run(run_id).info.run_name == "renamed"
    with pytest.raises(InvalidParameter):
        client.update_run(run_id, name="")


def test_deleted_runs_refuse_logging_and_resuming(client: Client) -> None:
    run_id = _new_run(client)
    fresh = Client(client.tracking_uri)  # knows nothing about the run yet
    client.delete_run(run_id)
    with pytest.raises(InvalidState, match="restore"):
        fresh.log_metric(run_id, "x", 1.0)
    with pytest.raises(InvalidState, match="restore"):
        fresh.log_param(run_id, "p", 1)
    with pytest.raises(InvalidState, match="restore"):
        client.resume_run(run_id)
    client.restore_run(run_id)
    fresh.log_param(run_id, "p", 1)
    assert client.get_run(run_id).data.params == {"p": "1"}


@pytest.mark.parametrize("bad", [None, "", 5, "f" * 32])
def test_unknown_run_ids(client: Client, bad: object) -> None:
    with pytest.raises(RunNotFound):
        client.get_run(bad)  # type: ignore[arg-type]
    with pytest.raises(RunNotFound):
        client.log_metric(bad, "x", 1.0)  # type: ignore[arg-type]


# -- params, tags and values -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (0.1, "0.1"), (1e-5, "1e-05"), (3, "3"), (True, "True"), (None, "None"),
        ("text", "text"), ([64, 32], "[64, 32]"), ({"a": 1}, "{'a': 1}"),
        (np.float64(0.1), "0.1"), (np.float32(0.5), "0.5"), (np.int64(7), "7"),
        (float("nan"), "nan"), ("", ""),
    ],
)
def test_param_values_are_stored_as_text(client: Client, value: object, stored: str) -> None:
    run_id = _new_run(client)
    client.log_param(run_id, "p", value)
    assert client.get_run(run_id).data.params == {"p": stored}


def test_numpy_float_params_compare_as_numbers(client: Client) -> None:
    exp = client.create_experiment("np")
    for lr in np.array([0.001, 0.01, 0.1]):
        run_id = client.create_run(exp).info.run_id
        client.log_param(run_id, "lr", lr)
    found = client.search_runs(exp, "params.lr < 0.05")
    assert sorted(r.data.params["lr"] for r in found) == ["0.001", "0.01"]


def test_params_are_immutable_through_the_client(client: Client) -> None:
    run_id = _new_run(client)
    client.log_param(run_id, "lr", 0.1)
    client.log_param(run_id, "lr", 0.1)
    client.log_param(run_id, "lr", "0.1")
    with pytest.raises(ParamConflict, match="another key, or start a new run"):
        client.log_params(run_id, {"lr": 0.2, "other": 1})
    assert client.get_run(run_id).data.params == {"lr": "0.1"}


def test_tags_overwrite_and_delete(client: Client) -> None:
    run_id = _new_run(client)
    client.set_tag(run_id, "k", 1)
    client.set_tag(run_id, "k", "two")
    assert client.get_run(run_id).data.tags["k"] == "two"
    client.delete_tag(run_id, "k")
    assert "k" not in client.get_run(run_id).data.tags
    with pytest.raises(NotFound):
        client.delete_tag(run_id, "k")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "must not be empty"),
        (5, "must be a string"),
        ("k" * 251, "the limit is 250"),
        ("a|b", "characters that are not allowed"),
        ("loss\n", "characters that are not allowed"),
        ("a\x00b", "characters that are not allowed"),
        ("/abs", "must not start with '/'"),
        ("a/../b", "'..' segment"),
        ("..", "'..' segment"),
    ],
)
def test_bad_keys_are_refused_with_a_reason(client: Client, key: object, message: str) -> None:
    run_id = _new_run(client)
    for call in (lambda: client.log_param(run_id, key, 1),  # type: ignore[arg-type]
                 lambda: client.set_tag(run_id, key, 1),  # type: ignore[arg-type]
                 lambda: client.log_metric(run_id, key, 1.0)):  # type: ignore[arg-type]
        with pytest.raises(InvalidParameter, match=message):
            call()
    client.flush()
    run = client.get_run(run_id)
    assert run.data.params == {} and run.data.metrics == {}


def test_good_keys(client: Client) -> None:
    run_id = _new_run(client)
    keys = ["a", "val/acc", "loss:train", "epoch-1.5", "with space", "ünïcode", "k" * 250]
    client.log_params(run_id, {k: 1 for k in keys})
    assert sorted(client.get_run(run_id).data.params) == sorted(keys)


def test_too_long_values_are_refused_with_a_fix(client: Client) -> None:
    run_id = _new_run(client)
    with pytest.raises(InvalidParameter, match="log_text / log_dict"):
        client.log_param(run_id, "p", "x" * 8001)
    with pytest.raises(InvalidParameter, match="limit is 8000"):
        client.set_tag(run_id, "t", "x" * 8001)
    with pytest.raises(InvalidParameter, match="limit is 256"):
        client.create_run(client.get_or_create_experiment("exp"), run_name="x" * 257)
    client.log_param(run_id, "p", "x" * 8000)
    client.set_tag(run_id, "t", "x" * 8000)
    with pytest.raises(InvalidParameter, match="at most"):
        client.log_batch(run_id, params={f"k{i}": i for i in range(100_001)})


@pytest.mark.parametrize("text", ["a\x00b", "bad \ud800 surrogate"])
def test_unstorable_text_is_refused_on_every_backend(client: Client, text: str) -> None:
    run_id = _new_run(client)
    with pytest.raises(InvalidParameter):
        client.log_param(run_id, "p", text)
    with pytest.raises(InvalidParameter):
        client.set_tag(run_id, "t", text)
    assert client.get_run(run_id).data.params == {}


# -- metrics ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1.0", None, [1.0], np.array([1.0, 2.0]), 1j, object()])
def test_non_numeric_metrics_are_refused(client: Client, value: object) -> None:
    run_id = _new_run(client)
    with pytest.raises(InvalidParameter, match="Metric 'm'"):
        client.log_metric(run_id, "m", value)
    with pytest.raises(InvalidParameter, match="Metric 'm'"):
        client.log_batch(run_id, [Metric("m", value, 1, 0)])  # type: ignore[arg-type]


@pytest.mark.parametrize("step", [1.5, "1", True, 2**63, [1]])
def test_bad_steps_are_refused(client: Client, step: object) -> None:
    run_id = _new_run(client)
    with pytest.raises(InvalidParameter, match="step"):
        client.log_metric(run_id, "m", 1.0, step=step)  # type: ignore[arg-type]


@pytest.mark.parametrize("timestamp", [float("nan"), "now", True, 1.5j])
def test_bad_timestamps_are_refused(client: Client, timestamp: object) -> None:
    run_id = _new_run(client)
    with pytest.raises(InvalidParameter, match="milliseconds"):
        client.log_metric(run_id, "m", 1.0, timestamp=timestamp)  # type: ignore[arg-type]


def test_metric_values_steps_and_timestamps(client: Client) -> None:
    run_id = _new_run(client)
    client.log_metric(run_id, "np", np.float32(0.5), step=np.int64(3), timestamp=1000.7)
    client.log_metric(run_id, "np", np.array(1.5), step=2.0, timestamp=np.int64(900))
    client.log_metric(run_id, "int", 7, synchronous=True)
    assert client.writer.pending() == 0
    history = client.get_metric_history(run_id, "np")
    assert history == [Metric("np", 1.5, 900, 2), Metric("np", 0.5, 1000, 3)]
    assert client.get_run(run_id).data.metrics == {"np": 0.5, "int": 7.0}


def test_auto_steps_count_per_key(client: Client) -> None:
    a, b = _new_run(client, "a"), _new_run(client, "b")
    for _ in range(3):
        client.log_metric(a, "loss", 1.0)
    client.log_metric(a, "acc", 1.0)
    client.log_metric(b, "loss", 1.0)
    client.log_metric_points(a, "loss", [2.0, 3.0])
    assert [m.step for m in client.get_metric_history(a, "loss")] == [0, 1, 2, 3, 4]
    assert [m.step for m in client.get_metric_history(a, "acc")] == [0]
    assert [m.step for m in client.get_metric_history(b, "loss")] == [0]


def test_auto_steps_continue_after_explicit_ones_the_same_everywhere(client: Client) -> None:
    run_id = _new_run(client)
    client.log_metric(run_id, "one", 1.0, step=5)
    client.log_metric(run_id, "one", 2.0)
    client.log_metric_points(run_id, "many", [1.0], steps=[5])
    client.log_metric_points(run_id, "many", [2.0])
    one = [m.step for m in client.get_metric_history(run_id, "one")]
    many = [m.step for m in client.get_metric_history(run_id, "many")]
    assert one == many == [5, 6]


def test_log_metrics_share_one_timestamp(client: Client) -> None:
    run_id = _new_run(client)
    client.log_metrics(run_id, {"a": 1, "b": 2.5}, step=4, synchronous=True)
    a = client.get_metric_history(run_id, "a")[0]
    b = client.get_metric_history(run_id, "b")[0]
    assert (a.step, b.step) == (4, 4) and a.timestamp == b.timestamp
    client.log_metrics(run_id, {"a": 3}, timestamp=42)
    assert client.get_metric_history(run_id, "a")[-1] == Metric("a", 3.0, 42, 5)


def test_log_metric_points_checks_lengths(client: Client) -> None:
    run_id = _new_run(client)
    with pytest.raises(InvalidParameter, match="same length"):
        client.log_metric_points(run_id, "x", [1.0, 2.0], steps=[1])
    client.log_metric_points(run_id, "x", np.linspace(0, 1, 5), steps=np.arange(10, 15),
                             timestamps=np.arange(5))
    frame = client.get_metric_history_frame(run_id, "x")
    assert frame["step"].tolist() == [10, 11, 12, 13, 14]
    assert frame["timestamp"].tolist() == [0, 1, 2, 3, 4]
    assert frame["value"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_special_metric_values_round_trip(client: Client) -> None:
    run_id = _new_run(client)
    values = [float("nan"), float("inf"), float("-inf"), -0.0, 1e-300]
    for i, value in enumerate(values):
        client.log_metric(run_id, "m", value, step=i, timestamp=i)
    history = client.get_metric_history(run_id, "m")
    assert history == [Metric("m", v, i, i) for i, v in enumerate(values)]
    frame = client.get_metric_history_frame(run_id, "m")
    assert math.isnan(frame["value"][0]) and frame["value"][1] == math.inf
    assert client.get_run(run_id).data.metrics == {"m": 1e-300}


# -- search ----------------------------------------------------------------------------


def test_search_arguments(client: Client) -> None:
    exp = client.create_experiment("s")
    other = client.create_experiment("t")
    ids = [client.create_run(exp, run_name=f"r{i}", start_time=1000 + i).info.run_id
           for i in range(3)]
    client.create_run(other, run_name="elsewhere")
    for i, run_id in enumerate(ids):
        client.log_metric(run_id, "acc", i / 10)
    page = client.search_runs(exp, order_by="metrics.acc DESC", max_results=2)
    assert isinstance(page, PagedList)
    assert [r.info.run_name for r in page] == ["r2", "r1"]
    rest = client.search_runs([exp], order_by=["metrics.acc DESC"], page_token=page.next_page_token)
    assert [r.info.run_name for r in rest] == ["r0"] and rest.next_page_token is None
    assert len(client.search_runs()) == 4  # every experiment
    assert len(client.search_runs([int(exp), int(other)])) == 4  # type: ignore[list-item]
    assert len(client.search_runs(exp, run_view_type="all")) == 3
    frame, _ = client.search_runs_frame([exp], "metrics.acc >= 0.1")
    assert sorted(frame["run_name"]) == ["r1", "r2"]
    with pytest.raises(InvalidFilter, match="position"):
        client.search_runs(exp, "metrics.acc >")


# -- artifacts -------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    return folder


def test_artifacts(client: Client, files: Path, tmp_path: Path) -> None:
    run_id = _new_run(client)
    client.log_artifact(run_id, files / "a.txt")
    client.log_artifact(run_id, files / "a.txt", "copies")
    client.log_artifact(run_id, files, "dirs")  # a folder keeps its name
    client.log_artifacts(run_id, files, "flat")
    client.log_text(run_id, "ünïcode", "notes.txt")
    client.log_dict(run_id, {"a": [1, 2]}, "config.json")
    client.log_dict(run_id, {"a": [1, 2], "b": {"c": None}}, "config.yaml")
    assert [f.path for f in client.list_artifacts(run_id)] == [
        "a.txt", "config.json", "config.yaml", "copies", "dirs", "flat", "notes.txt"]
    assert [f.path for f in client.list_artifacts(run_id, "dirs/files")] == [
        "dirs/files/a.txt", "dirs/files/sub"]
    assert client.read_artifact(run_id, "flat/sub/b.txt") == b"b"
    assert client.read_artifact(run_id, "notes.txt").decode() == "ünïcode"
    assert json.loads(client.read_artifact(run_id, "config.json")) == {"a": [1, 2]}
    assert yaml.safe_load(client.read_artifact(run_id, "config.yaml")) == {
        "a": [1, 2], "b": {"c": None}}
    local = Path(client.download_artifacts(run_id, "flat", tmp_path / "dl"))
    assert (local / "sub" / "b.txt").read_text() == "b"
    everything = Path(client.download_artifacts(run_id))
    assert (everything / "copies" / "a.txt").read_text() == "a"


@pytest.mark.parametrize("bad", ["../x", "/abs", "%2e%2e%2f", "a/../../x", "~/x", "C:/x"])
def test_artifact_paths_are_checked_everywhere(client: Client, files: Path, bad: str) -> None:
    run_id = _new_run(client)
    for call in (lambda: client.log_artifact(run_id, files / "a.txt", bad),
                 lambda: client.log_artifact(run_id, files, bad),
                 lambda: client.log_artifacts(run_id, files, bad),
                 lambda: client.log_text(run_id, "x", bad),
                 lambda: client.log_dict(run_id, {}, bad),
                 lambda: client.read_artifact(run_id, bad),
                 lambda: client.list_artifacts(run_id, bad)):
        with pytest.raises(InvalidArtifactPath):
            call()
    assert client.list_artifacts(run_id) == []


def test_log_figure_matplotlib(client: Client) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    run_id = _new_run(client)
    try:
        client.log_figure(run_id, fig, "plots/line.png")
        client.log_figure(run_id, fig, "plots/line.svg")
    finally:
        plt.close(fig)
    assert client.read_artifact(run_id, "plots/line.png").startswith(b"\x89PNG")
    assert b"<svg" in client.read_artifact(run_id, "plots/line.svg")


@pytest.mark.slow  # the first PNG/SVG conversion starts vl-convert's JavaScript engine
def test_log_figure_altair(client: Client) -> None:
    import altair as alt

    chart = alt.Chart(pd.DataFrame({"x": [0, 1], "y": [1, 0]})).mark_line().encode(x="x", y="y")
    run_id = _new_run(client)
    client.log_figure(run_id, chart, "chart.json")
    client.log_figure(run_id, chart, "chart.html")
    client.log_figure(run_id, chart, "chart.svg")
    client.log_figure(run_id, chart, "chart.png")
    assert json.loads(client.read_artifact(run_id, "chart.json"))["mark"]["type"] == "line"
    assert b"vega" in client.read_artifact(run_id, "chart.html")
    assert b"<svg" in client.read_artifact(run_id, "chart.svg")
    assert client.read_artifact(run_id, "chart.png").startswith(b"\x89PNG")
    with pytest.raises(InvalidParameter, match=r"\.html, \.json"):
        client.log_figure(run_id, chart, "chart.gif")
    with pytest.raises(InvalidParameter, match="matplotlib Figure or an Altair chart"):
        client.log_figure(run_id, object(), "x.png")


# -- maintenance -----------------------------------------------------------------------


def test_gc_removes_deleted_runs_and_their_artifacts(client: Client) -> None:
    keep, gone = _new_run(client, "keep"), _new_run(client, "gone")
    for run_id in (keep, gone):
        client.log_text(run_id, "x", "f.txt")
        client.log_metric(run_id, "m", 1.0, synchronous=True)
    gone_dir = Path(client.get_run(gone).info.artifact_uri)
    assert (gone_dir / "f.txt").is_file()
    with pytest.raises(InvalidState, match="delete it first"):
        client.gc(run_ids=[gone])
    client.delete_run(gone)
    assert client.gc(older_than_seconds=3600) == []  # deleted just now
    assert client.gc(run_ids=[gone]) == [gone]
    assert not gone_dir.exists()
    with pytest.raises(RunNotFound):
        client.get_run(gone)
    assert client.read_artifact(keep, "f.txt") == b"x"
    assert client.get_run(keep).data.metrics == {"m": 1.0}
    assert client.gc() == []


def test_mark_stale_runs(client: Client) -> None:
    run_id = _new_run(client)
    assert client.mark_stale_runs(stale_after=3600) == []
    client.store.heartbeat([run_id], 1)  # as if the process died long ago
    assert client.mark_stale_runs(stale_after=3600) == [run_id]
    assert client.get_run(run_id).info.status == "KILLED"


def test_runs_record_the_heartbeat_interval_of_the_process_writing_them(
        client: Client) -> None:
    run_id = _new_run(client)
    tag = "mltrack.heartbeat_interval"
    assert client.get_run(run_id).data.tags[tag] == str(float(client.writer.heartbeat_interval))
    client.set_terminated(run_id)
    client.writer.heartbeat_interval = 2.5  # as a process configured otherwise would
    client.resume_run(run_id)
    assert client.get_run(run_id).data.tags[tag] == "2.5"


def test_client_basics(client: Client, tmp_path: Path) -> None:
    assert repr(client) == f"Client({client.tracking_uri!r})"
    assert client.tracking_uri.startswith("sqlite:///")
    client.flush()  # nothing opened yet: nothing to do
    client.flush_check()
    assert Client(tmp_path / "folder").tracking_uri == \
        f"sqlite:///{(tmp_path / 'folder' / 'mltrack.db').resolve()}"


def test_get_runs_fetches_several_runs_at_once(client) -> None:
    exp = client.create_experiment("many")
    ids = [client.create_run(exp, run_name=f"r{i}").info.run_id for i in range(3)]
    client.log_metric(ids[1], "acc", 0.5)
    client.delete_run(ids[2])
    found = {r.info.run_id: r for r in client.get_runs([*ids, ids[0], "f" * 32])}
    assert set(found) == set(ids)  # deleted runs too; unknown ids left out
    assert found[ids[1]].data.metrics == {"acc": 0.5}
    assert client.get_runs([]) == []


def test_a_run_started_without_a_name_gets_a_readable_one(client: Client) -> None:
    """Naming is the Client's policy: the store keeps the name it is given."""
    exp = client.get_or_create_experiment("names")
    names = {client.create_run(exp).info.run_name for _ in range(5)}
    assert all(re.fullmatch(r"[a-z]+-[a-z]+-\d{3}", name) for name in names)
    assert len(names) > 1
    assert client.create_run(exp, run_name="chosen").info.run_name == "chosen"


def test_search_runs_started_after(client: Client) -> None:
    """What a live view asks for: the runs that appeared since its last look, filtered."""
    exp = client.get_or_create_experiment("live")
    ids = [client.create_run(exp, run_name=f"r{i}", start_time=1000 * (i + 1)).info.run_id
           for i in range(4)]
    client.log_param(ids[3], "kind", "b")
    client.log_param(ids[2], "kind", "a")
    assert {r.info.run_id for r in client.search_runs(exp, started_after=3000)} == set(ids[2:])
    found = client.search_runs(exp, "params.kind = 'b' or params.kind = 'c'", started_after=3000)
    assert [r.info.run_id for r in found] == [ids[3]]  # the filter's OR stays inside
    frame, _ = client.search_runs_frame(exp, "", started_after=2000)
    assert set(frame["run_id"]) == set(ids[1:])
    with pytest.raises(InvalidParameter):
        client.search_runs(exp, started_after=2**70)
