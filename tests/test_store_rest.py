"""The remote store: the Python API over a real ``mltrack server`` on a loopback port,
and its offline queue when that server is killed mid-run."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyter_mltrack import Client
from jupyter_mltrack.errors import RunNotFound
from jupyter_mltrack.store import close_stores, open_store
from jupyter_mltrack.store.rest import RestStore
from jupyter_mltrack.store.rest_queue import QUEUE_DIR_ENV
from tests.team_server import TeamServer


@pytest.fixture(autouse=True)
def _queue_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "queue"
    monkeypatch.setenv(QUEUE_DIR_ENV, str(folder))
    yield folder
    close_stores()


@pytest.fixture()
def server(tmp_path: Path) -> TeamServer:
    srv = TeamServer("sqlite:///" + str(tmp_path / "server.db"), str(tmp_path / "artifacts"),
                     tmp_path)
    with srv:
        yield srv


def test_http_tracking_uris_open_the_remote_store(server: TeamServer) -> None:
    assert isinstance(open_store(server.url), RestStore)
    assert isinstance(Client(server.url).store, RestStore)


def test_the_python_api_over_http(server: TeamServer) -> None:
    client = Client(server.url)
    exp = client.create_experiment("remote", tags={"team": "a"})
    assert client.get_experiment_by_name("remote").tags["team"] == "a"
    run = client.create_run(exp, run_name="first")
    client.log_param(run.info.run_id, "lr", "0.1")
    client.set_tag(run.info.run_id, "kind", "cnn")
    for step in range(5):
        client.log_metric(run.info.run_id, "loss", 1.0 / (step + 1), step=step)
    client.set_terminated(run.info.run_id)
    other = client.create_run(exp, run_name="second")
    client.log_param(other.info.run_id, "lr", "0.5")
    client.log_metric(other.info.run_id, "loss", 3.0)
    client.set_terminated(other.info.run_id, "FAILED")

    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.info.end_time
    assert got.data.params == {"lr": "0.1"} and got.data.metrics == {"loss": 0.2}
    assert got.data.tags["kind"] == "cnn"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2, 3, 4]
    assert [m.value for m in history] == [1.0, 0.5, 1 / 3, 0.25, 0.2]

    found = client.search_runs([exp], "params.lr = '0.5' OR metrics.loss < 0.3")
    assert {r.info.run_name for r in found} == {"first", "second"}
    only = client.search_runs([exp], "(params.lr = '0.5' AND status = 'FAILED')")
    assert [r.info.run_name for r in only] == ["second"]
    with pytest.raises(RunNotFound):
        client.get_run("0" * 32)


def test_experiment_tags_are_deleted_over_http(server: TeamServer) -> None:
    from jupyter_mltrack import MlflowClient
    from jupyter_mltrack.errors import NotFound

    client = MlflowClient(server.url)
    exp = client.create_experiment("tagged", tags={"team": "a", "stage": "dev"})
    client.delete_experiment_tag(exp, "stage")
    assert client.get_experiment(exp).tags == {"team": "a"}
    with pytest.raises(NotFound, match="no tag 'stage'"):
        client.delete_experiment_tag(exp, "stage")


def test_dataset_inputs_and_experiment_search_over_http(server: TeamServer,
                                                        tmp_path: Path) -> None:
    import pandas as pd

    from jupyter_mltrack import DatasetInput, InputTag
    from jupyter_mltrack.tracking.datasets import dataset_entity

    client = Client(server.url)
    for name in ("alpha", "beta", "gamma"):
        client.create_experiment(name, tags={"team": "b" if name == "beta" else "a"})
    page = client.search_experiments(filter_string="tags.team = 'a'", order_by=["name DESC"],
                                     max_results=1)
    assert [e.name for e in page] == ["gamma"] and page.next_page_token
    rest = client.search_experiments(filter_string="tags.team = 'a'", order_by=["name DESC"],
                                     max_results=1, page_token=page.next_page_token)
    assert [e.name for e in rest] == ["alpha"]

    exp = client.get_experiment_by_name("alpha").experiment_id
    client.rename_experiment(exp, "alpha-renamed")
    assert client.get_experiment(exp).name == "alpha-renamed"
    run_id = client.create_run(exp).info.run_id
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    inputs = [DatasetInput(dataset_entity(frame, name="train-frame"),
                           (InputTag("mlflow.data.context", "training"),))]
    client.log_inputs(run_id, inputs)

    got = client.get_run(run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest, i.context) for i in got] == [
        ("train-frame", inputs[0].dataset.digest, "training")]
    # The server's own store holds it as a dataset input, searchable as MLflow's are.
    local = Client("sqlite:///" + str(tmp_path / "server.db"))
    assert [r.info.run_id for r in local.search_runs(
        [exp], "datasets.name = 'train-frame' AND datasets.context = 'training'")] == [run_id]


def test_a_killed_server_loses_no_point_and_duplicates_none(tmp_path: Path,
                                                            server: TeamServer) -> None:
    client = Client(server.url)
    exp = client.create_experiment("crash")
    run_id = client.create_run(exp).info.run_id
    for step in range(2_000):
        client.log_metric(run_id, "loss", float(step), step=step)
    client.flush()
    assert server.proc is not None
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=30)
    started = time.monotonic()
    for step in range(2_000, 10_000):  # the server is gone: nothing blocks, nothing raises
        client.log_metric(run_id, "loss", float(step), step=step)
    client.flush()
    client.set_terminated(run_id)
    assert time.monotonic() - started < 30
    store = client.store
    assert isinstance(store, RestStore)
    assert store.queue.summary()["metric_points"] == 8_000, store.queue.summary()
    assert store.queue.summary()["by_kind"]["update_run"] == 1, store.queue.summary()

    status = subprocess.run([sys.executable, "-m", "jupyter_mltrack.cli", "status"],
                            capture_output=True, text=True, env={**os.environ}, check=True)
    assert server.url in status.stdout and "8000 metric points" in status.stdout

    again = TeamServer(server.backend, server.artifacts, tmp_path)
    again.port, again.url = server.port, server.url
    with again:
        synced = subprocess.run([sys.executable, "-m", "jupyter_mltrack.cli", "sync",
                                 "--tracking-uri", server.url], capture_output=True,
                                text=True, env={**os.environ}, check=True)
        assert "nothing left" in synced.stdout
        store.replay()  # the background replay finds nothing more to send
        history = client.get_metric_history(run_id, "loss")
        assert [m.step for m in history] == list(range(10_000))
        assert client.get_run(run_id).info.status == "FINISHED"
    assert len(store.queue) == 0


def test_metric_batches_are_sent_and_queued_as_columns_and_old_queued_rows_replay(
        tmp_path: Path) -> None:
    from jupyter_mltrack.store.rest import series_batches
    from tests.team_server import free_port

    port = free_port()
    server = TeamServer("sqlite:///" + str(tmp_path / "server.db"),
                        str(tmp_path / "artifacts"), tmp_path)
    server.port, server.url = port, f"http://127.0.0.1:{port}"
    with server:
        run_id = Client(server.url).create_run(
            Client(server.url).create_experiment("cols")).info.run_id
    store = RestStore(server.url, replay_interval=3600)  # the server is down now
    store.write_metrics([(run_id, "loss", 0.5, 1, 10), (run_id, "acc", float("nan"), 1, 10),
                         (run_id, "loss", float("inf"), 2, 11), (run_id, "acc", 0.1, 2, 11)])
    rows = store.queue._conn.execute("SELECT body FROM ops").fetchall()
    queued = json.loads(rows[0][0])
    assert queued["batches"][0]["series"] == [
        {"key": "loss", "steps": [1, 2], "values": [0.5, "Infinity"], "timestamps": [10, 11]},
        {"key": "acc", "steps": [1, 2], "values": ["NaN", 0.1], "timestamps": [10, 11]}]
    # a row queued by an earlier version, in the first form, is replayed as columns
    old = {"client_id": "earlier", "batches": [{"run_id": run_id, "seq": 1,
                                                      "metrics": [["f1", 0.25, 5, 12]]}]}
    store.queue.append("metrics", old)
    assert store.queue.summary()["metric_points"] == 5
    assert series_batches(old)["batches"][0] == {"run_id": run_id, "seq": 1, "series": [
        {"key": "f1", "steps": [5], "values": [0.25], "timestamps": [12]}]}
    with server:
        assert store.replay() == 2
        client = Client(server.url)
        loss = [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")]
        assert loss == [(1, 0.5), (2, float("inf"))]
        acc = [m.value for m in client.get_metric_history(run_id, "acc")]
        assert math.isnan(acc[0]) and acc[1] == 0.1
        assert [m.value for m in client.get_metric_history(run_id, "f1")] == [0.25]
    store.close()


def test_a_batch_sent_again_after_a_lost_answer_is_applied_once(server: TeamServer) -> None:
    client = Client(server.url)
    run_id = client.create_run(client.create_experiment("again")).info.run_id
    store = client.store
    assert isinstance(store, RestStore)
    body = {"client_id": store.client_id, "batches": [
        {"run_id": run_id, "seq": 7, "metrics": [["acc", 0.5, 1, 10], ["acc", 0.6, 2, 11]]}]}
    first = store.http.call("POST", "/api/2.0/mltrack/runs/write-metrics", body)
    second = store.http.call("POST", "/api/2.0/mltrack/runs/write-metrics", body)
    assert (first, second) == ({"applied": 1, "skipped": 0}, {"applied": 0, "skipped": 1})
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "acc")] == [
        (1, 0.5), (2, 0.6)]


def test_artifacts_through_the_artifact_proxy(tmp_path: Path,
                                                          server: TeamServer) -> None:
    client = Client(server.url)
    run_id = client.create_run(client.create_experiment("files")).info.run_id
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "a.csv").write_text("1,2")
    client.log_artifact(run_id, tmp_path / "notes.txt")
    client.log_artifacts(run_id, tmp_path / "plots", "plots")
    got = Path(client.download_artifacts(run_id, "", tmp_path / "back"))
    assert (got / "notes.txt").read_text() == "hello"
    assert (got / "plots" / "a.csv").read_text() == "1,2"
    assert [p.read_text() for p in (tmp_path / "artifacts").rglob("notes.txt")] == ["hello"]


def test_credentials_from_the_environment(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_mltrack._http import ServerRefused
    from tests.team_server import ADMIN

    for name in ("TOKEN", "USERNAME", "PASSWORD"):
        monkeypatch.delenv("MLTRACK_TRACKING_" + name, raising=False)
        monkeypatch.delenv("MLFLOW_TRACKING_" + name, raising=False)
    with TeamServer("sqlite:///" + str(tmp_path / "auth.db"), str(tmp_path / "artifacts"),
                    tmp_path, auth=True) as server:
        with pytest.raises(ServerRefused, match="MLTRACK_TRACKING_TOKEN"):
            RestStore(server.url).create_experiment("nope")
        monkeypatch.setenv("MLTRACK_TRACKING_USERNAME", ADMIN[0])
        monkeypatch.setenv("MLTRACK_TRACKING_PASSWORD", ADMIN[1])
        client = Client(server.url)
        run = client.create_run(client.create_experiment("yes"))
        client.log_metric(run.info.run_id, "m", 1.0)
        client.set_terminated(run.info.run_id)
        got = client.get_run(run.info.run_id)
        assert got.info.user_id == ADMIN[0] and got.data.metrics == {"m": 1.0}
