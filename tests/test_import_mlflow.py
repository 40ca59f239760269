"""Importing an MLflow store: real MLflow (3.17.2, in its own environment) writes the store
(a SQLite database, an mlruns/ folder, a PostgreSQL database, a tracking server), dumps
what it reads back, and every run, history, artifact and version is compared with what
the import stored."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from jupyter_mltrack import Client, import_mlflow
from jupyter_mltrack.artifacts import artifact_repository
from jupyter_mltrack.cli import main
from jupyter_mltrack.errors import (
    ForeignStore,
    InvalidParameter,
    RegisteredModelNotFound,
    RunNotFound,
    StoreError,
)
from jupyter_mltrack.interop import open_source
from jupyter_mltrack.store import mlflow_sql_source
from jupyter_mltrack.store.mlflow_sql_source import MlflowSqlSource
from tests.mlflow_env import mlflow_python, run_mlflow

pytestmark = pytest.mark.slow

# Writes the store through MLflow's client, then dumps what MLflow reads back of it.
WRITE = r'''
import hashlib, json, logging, os, sys, tempfile, warnings
warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Param, ViewType

uri, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
c = MlflowClient(uri, uri)
T0 = 1_700_000_000_000

if mode == "create":
    a = c.create_experiment("exp-a", tags={"team": "vision"})
    b = c.create_experiment("exp-b")
    gone = c.create_experiment("gone")
    r1 = c.create_run(a, run_name="first", tags={"stage": "dev"}, start_time=T0).info.run_id
    c.log_batch(r1, params=[Param("lr", "0.01"), Param("layers", "[64, 32]")])
    for step in range(50):
        c.log_metric(r1, "loss", 1 / (step + 1) + step * 1e-17, step=step, timestamp=T0 + step)
    c.log_metric(r1, "loss", 0.1234567890123456789, step=10, timestamp=T0 + 999)
    c.log_metric(r1, "odd", float("nan"), step=0, timestamp=T0)
    c.log_metric(r1, "odd", float("inf"), step=1, timestamp=T0 + 1)
    c.log_metric(r1, "odd", -1e-310, step=2, timestamp=T0 + 2)
    c.log_metric(r1, "val/acc", 0.75, step=3, timestamp=T0 + 3)
    c.log_text(r1, "hello", "notes/readme.txt")
    c.log_dict(r1, {"a": [1, 2]}, "config.json")
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "weights.bin"), "wb") as f:
            f.write(bytes(range(256)) * 40)
        c.log_artifact(r1, os.path.join(tmp, "weights.bin"), "model")
    c.set_terminated(r1, "FINISHED", end_time=T0 + 60_000)
    child = c.create_run(a, run_name="child", tags={"mlflow.parentRunId": r1},
                         start_time=T0 + 10).info.run_id
    c.log_metric(child, "acc", 0.9, step=0, timestamp=T0 + 20)
    c.set_terminated(child, "FAILED", end_time=T0 + 30)
    running = c.create_run(b, run_name="still-running", start_time=T0 + 40).info.run_id
    c.log_param(running, "x", "1")
    deleted = c.create_run(a, run_name="deleted", start_time=T0 + 50).info.run_id
    c.delete_run(deleted)
    c.create_run(gone, run_name="in-gone", start_time=T0 + 60)
    c.delete_experiment(gone)
    c.create_registered_model("clf", tags={"owner": "ml"}, description="a classifier")
    art = c.get_run(r1).info.artifact_uri
    c.create_model_version("clf", art + "/model", r1, tags={"v": "1"})
    c.create_model_version("clf", f"runs:/{r1}/model", r1)
    c.create_model_version("clf", f"runs:/{child}/x", child)
    c.transition_model_version_stage("clf", "1", "Archived")
    c.transition_model_version_stage("clf", "2", "Production")
    c.set_registered_model_alias("clf", "champion", "2")
    c.delete_model_version("clf", "3")
    c.create_registered_model("empty", tags={"k": "v"})
elif mode == "more":
    r1 = [r for r in c.search_runs([c.get_experiment_by_name("exp-a").experiment_id])
          if r.info.run_name == "first"][0].info.run_id
    for step in range(50, 55):
        c.log_metric(r1, "loss", 0.01, step=step, timestamp=T0 + step)
    c.set_tag(r1, "stage", "prod")
    c.log_text(r1, "more", "notes/later.txt")
    new = c.create_run(c.get_experiment_by_name("exp-b").experiment_id, run_name="new",
                       start_time=T0 + 100).info.run_id
    c.log_metric(new, "m", 1.0, step=0, timestamp=T0 + 100)
    c.set_terminated(new, "FINISHED", end_time=T0 + 200)
    c.create_model_version("clf", f"runs:/{new}/model", new)
    c.set_registered_model_alias("clf", "champion", "1")
    c.transition_model_version_stage("clf", "1", "Staging")


def files(run_id, path=""):
    for f in c.list_artifacts(run_id, path):
        if f.is_dir:
            yield from files(run_id, f.path)
        else:
            yield f.path


data = {"experiments": {}, "runs": {}, "models": {}}
for e in c.search_experiments(view_type=ViewType.ALL):
    data["experiments"][e.name] = {"lifecycle": e.lifecycle_stage, "tags": e.tags}
    for r in c.search_runs([e.experiment_id], run_view_type=ViewType.ALL,
                           max_results=1000):
        i = r.info
        arts = {}
        if e.lifecycle_stage == "active" and i.lifecycle_stage == "active":
            with tempfile.TemporaryDirectory() as tmp:
                for p in files(i.run_id):
                    local = mlflow.artifacts.download_artifacts(
                        run_id=i.run_id, artifact_path=p, dst_path=tmp, tracking_uri=uri)
                    arts[p] = hashlib.sha256(open(local, "rb").read()).hexdigest()
        data["runs"][i.run_id] = {
            "experiment": e.name, "deleted": e.lifecycle_stage != "active"
            or i.lifecycle_stage != "active", "status": i.status, "start": i.start_time,
            "end": i.end_time, "name": i.run_name, "user": i.user_id,
            "params": r.data.params, "tags": r.data.tags, "artifacts": arts,
            "metrics": {k: [[m.step, m.timestamp, m.value]
                            for m in c.get_metric_history(i.run_id, k)]
                        for k in r.data.metrics},
        }
for m in c.search_registered_models():
    data["models"][m.name] = {
        "tags": m.tags, "description": m.description, "aliases": m.aliases,
        "versions": {v.version: {"stage": v.current_stage, "source": v.source,
                                 "run_id": v.run_id, "tags": v.tags}
                     for v in c.search_model_versions(f"name = '{m.name}'")},
    }
with open(out, "w") as f:
    json.dump(data, f)
'''


def mlflow_write(uri: str, tmp: Path, mode: str = "create", env: dict[str, str] | None = None
                 ) -> dict[str, Any]:
    """Have MLflow write to ``uri`` (mode "create" or "more") and return what it reads."""
    out = tmp / f"expected-{mode}.json"
    run_mlflow(WRITE, uri, str(out), mode, cwd=tmp, env=env)
    return dict(json.loads(out.read_text()))


def _point(step: int, stamp: int, value: float) -> tuple[int, int, str]:
    return int(step), int(stamp), "nan" if math.isnan(value) else float(value).hex()


def _hashes(artifact_uri: str) -> dict[str, str]:
    repo = artifact_repository(artifact_uri)
    out: dict[str, str] = {}

    def walk(folder: str) -> None:
        for info in repo.list(folder):
            if info.is_dir:
                walk(info.path)
            else:
                out[info.path] = hashlib.sha256(repo.read_bytes(info.path)).hexdigest()

    walk("")
    return out


def assert_imported(expected: dict[str, Any], client: Client) -> None:
    """Every run, history, artifact and version MLflow reads is in ``client``'s store."""
    for run_id, want in expected["runs"].items():
        if want["deleted"]:
            with pytest.raises(RunNotFound):
                client.get_run(run_id)
            continue
        got = client.get_run(run_id)
        assert client.get_experiment(got.info.experiment_id).name == want["experiment"]
        assert (got.info.status, got.info.start_time, got.info.end_time, got.info.run_name,
                got.info.user_id) == (want["status"], want["start"], want["end"],
                                      want["name"], want["user"]), run_id
        assert got.data.params == want["params"]
        assert got.data.tags == want["tags"]
        assert set(got.data.metrics) == set(want["metrics"])
        for key, points in want["metrics"].items():
            frame = client.get_metric_history_frame(run_id, key)
            ours = sorted(_point(s, t, v) for s, t, v in zip(
                frame["step"], frame["timestamp"], frame["value"], strict=True))
            assert ours == sorted(_point(*p) for p in points), (run_id, key)
        assert _hashes(got.info.artifact_uri) == want["artifacts"], run_id
    registry = client.registry_store
    for name, want in expected["models"].items():
        model = registry.get_registered_model(name)
        assert (model.tags, model.description or "", model.aliases) == (
            want["tags"], want["description"] or "",  # MLflow's REST client says "" for None
            {a: int(v) for a, v in want["aliases"].items()})
        for number, version in want["versions"].items():
            got_v = registry.get_model_version(name, int(number))
            assert (got_v.current_stage, got_v.run_id, got_v.tags) == (
                version["stage"], version["run_id"], version["tags"])
            if version["source"].startswith("runs:/"):
                assert got_v.source == version["source"]
            else:  # pointed at the imported copy of the run's files
                run_uri = client.get_run(version["run_id"]).info.artifact_uri
                assert got_v.source == run_uri + "/model"
                assert artifact_repository(got_v.source).list("")


def _client(tmp_path: Path, name: str = "ours") -> tuple[str, Client]:
    uri = f"sqlite:///{tmp_path / name / 'mltrack.db'}"
    return uri, Client(uri)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """An MLflow SQLite store with its artifacts in a folder beside it (written once)."""
    folder = tmp_path_factory.mktemp("mlflow-sqlite")
    return folder, mlflow_write(f"sqlite:///{folder / 'mlflow.db'}", folder)


def _copy(store: tuple[Path, dict[str, Any]], tmp_path: Path) -> tuple[str, Path]:
    """A private copy of the module's MLflow store (tests that change it use this); the
    database's artifact locations still name the original folder's files."""
    folder = tmp_path / "mlflow"
    shutil.copytree(store[0], folder)
    return f"sqlite:///{folder / 'mlflow.db'}", folder


# -- every kind of source ----------------------------------------------------------------


def test_sqlite_store_imports_every_run(sqlite_store: tuple[Path, dict[str, Any]],
                                        tmp_path: Path) -> None:
    folder, expected = sqlite_store
    uri, client = _client(tmp_path)
    summary = import_mlflow(f"sqlite:///{folder / 'mlflow.db'}", tracking_uri=uri,
                            progress=False)
    assert_imported(expected, client)
    assert summary.runs == 3 and summary.model_versions == 2
    assert summary.registered_models == 2
    skipped = {(s.kind, s.name) for s in summary.skipped}
    assert ("experiment", "gone") in skipped
    deleted = [r for r, w in expected["runs"].items() if w["deleted"]
               and w["experiment"] != "gone"]
    assert ("run", deleted[0]) in skipped
    # the model version whose run's files point into the run: a file of the imported copy
    v1 = client.registry_store.get_model_version("clf", 1)
    assert artifact_repository(v1.source).read_bytes("weights.bin") == bytes(range(256)) * 40


def test_worker_processes_read_every_point_exactly(
        sqlite_store: tuple[Path, dict[str, Any]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder, expected = sqlite_store
    source = f"sqlite:///{folder / 'mlflow.db'}"
    run_ids = sorted(expected["runs"]) * 2
    reader = MlflowSqlSource(source, processes=2)
    try:
        assert reader._workers(len(run_ids)) == 2
        together = list(reader.metric_histories_of(run_ids))
        one_by_one = [reader.metric_histories(run_id) for run_id in run_ids]
    finally:
        reader.close()
    assert len(together) == len(run_ids)
    for got, want in zip(together, one_by_one, strict=True):
        assert [(h.key, h.steps.tolist(), h.values.tobytes(), h.timestamps.tolist())
                for h in got] == [(h.key, h.steps.tolist(), h.values.tobytes(),
                                   h.timestamps.tolist()) for h in want]
    # the whole import, its histories read by worker processes
    monkeypatch.setattr(mlflow_sql_source, "PARALLEL_POINTS", 1)
    uri, client = _client(tmp_path)
    import_mlflow(source, tracking_uri=uri, progress=False)
    assert_imported(expected, client)


def test_histories_keep_every_value_bit_for_bit(tmp_path: Path) -> None:
    # MLflow's metrics table: NaN is stored as 0 with is_nan set; a run whose histories
    # hold no NaN and one where a single key does
    db = tmp_path / "mlflow.db"
    conn = sqlite3.connect(db)
    for table in ("experiments", "runs", "params", "tags"):
        conn.execute(f"CREATE TABLE {table} (x)")
    conn.execute("CREATE TABLE metrics (key, value, timestamp, run_uuid, step, is_nan)")
    conn.execute("CREATE INDEX index_metrics_run_uuid_key_step ON metrics (run_uuid, key, step)")
    odd = [1 / 3, -0.0, 5e-324, -1e-310, 1.7976931348623157e308, 0.1 + 0.2, -2.5]
    rows = [("a", v, 100 + i, "r1", i, 0) for i, v in enumerate(odd)]
    rows += [("a", v, 200 + i, "r2", i, 0) for i, v in enumerate(odd)]
    rows += [("b", 0.0, 300, "r2", 0, 1), ("b", 1 / 7, 301, "r2", 1, 0),
             ("b", 0.0, 302, "r2", 2, 1), ("b", 0.0, 303, "r2", 3, 0)]
    conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    reader = MlflowSqlSource(f"sqlite:///{db}", processes=2)
    try:
        by_worker = list(reader.metric_histories_of(["r1", "r2"]))
        here = [reader.metric_histories("r1"), reader.metric_histories("r2")]
    finally:
        reader.close()
    for found in (by_worker, here):
        got = {(run, h.key): (h.steps.tolist(), h.timestamps.tolist(),
                              [_point(0, 0, v)[2] for v in h.values.tolist()])
               for run, hs in zip(("r1", "r2"), found, strict=True) for h in hs}
        bits = [v.hex() for v in odd]
        assert got == {("r1", "a"): (list(range(7)), list(range(100, 107)), bits),
                       ("r2", "a"): (list(range(7)), list(range(200, 207)), bits),
                       ("r2", "b"): ([0, 1, 2, 3], [300, 301, 302, 303],
                                     ["nan", (1 / 7).hex(), "nan", (0.0).hex()])}


def test_a_worker_process_that_fails_is_reported(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    conn = sqlite3.connect(db)
    for table in ("experiments", "runs", "params", "tags"):
        conn.execute(f"CREATE TABLE {table} (x)")
    # a history whose step is not a number cannot be read
    conn.execute("CREATE TABLE metrics (key, value, timestamp, run_uuid, step, is_nan)")
    conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, 0)",
                     [("m", 1.0, 1, "r1", 0), ("m", 2.0, 2, "r2", "x")])
    conn.commit()
    conn.close()
    reader = MlflowSqlSource(f"sqlite:///{db}", processes=2)
    try:
        found = reader.metric_histories_of(["r1", "r2"])
        assert [h.key for h in next(found)] == ["m"]
        with pytest.raises(StoreError, match=r"metric table.*run r2"):
            next(found)
    finally:
        reader.close()


@pytest.mark.postgres
def test_into_a_postgresql_store(sqlite_store: tuple[Path, dict[str, Any]], postgres_uri: str,
                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTRACK_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    folder, expected = sqlite_store
    source = f"sqlite:///{folder / 'mlflow.db'}"
    first = import_mlflow(source, tracking_uri=postgres_uri, progress=False)
    assert (first.runs, first.model_versions) == (3, 2)
    assert_imported(expected, Client(postgres_uri))
    again = import_mlflow(source, tracking_uri=postgres_uri, progress=False)
    assert (again.runs, again.metric_points, again.model_versions,
            again.registry_changes) == (0, 0, 0, 0)


def test_mlruns_folder_imports_every_run(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    expected = mlflow_write(root.as_uri(), tmp_path, env={"MLFLOW_ALLOW_FILE_STORE": "true"})
    uri, client = _client(tmp_path)
    summary = import_mlflow(root, tracking_uri=uri, progress=False)
    assert_imported(expected, client)
    assert summary.runs == 3


@pytest.mark.postgres
def test_postgresql_store_imports_every_run(postgres_uri: str, tmp_path: Path) -> None:
    # MLflow's environment has no PostgreSQL driver: lend it this environment's psycopg
    # for the one process (nothing is installed there).
    import psycopg

    site = Path(psycopg.__file__).parents[1]
    lend = tmp_path / "lend"
    lend.mkdir()
    for entry in site.glob("psycopg*"):  # the packages and their metadata (the version)
        (lend / entry.name).symlink_to(entry)
    mlflow_uri = postgres_uri.replace("postgresql://", "postgresql+psycopg://")
    (tmp_path / "work").mkdir()
    expected = mlflow_write(mlflow_uri, tmp_path / "work", env={"PYTHONPATH": str(lend)})
    uri, client = _client(tmp_path)
    summary = import_mlflow(postgres_uri, tracking_uri=uri, progress=False)
    assert_imported(expected, client)
    assert summary.runs == 3 and summary.model_versions == 2
    import sqlalchemy.exc

    reader = open_source(postgres_uri)
    try:  # its session is read-only
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="read-only transaction"):
            reader._conn.exec_driver_sql("DELETE FROM runs")  # type: ignore[attr-defined]
    finally:
        reader.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_tracking_server_imports_every_run(tmp_path: Path) -> None:
    port = _free_port()
    work = tmp_path / "server"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MLTRACK_TRACKING_URI", "VIRTUAL_ENV",
                        "MLFLOW_TRACKING_URI")}
    server = subprocess.Popen(
        [mlflow_python(), "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
         str(port), "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}",
         "--artifacts-destination", str(work / "artifacts"), "--workers", "1"],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=open(work / "log", "wb"),
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (work / "log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.5)
        expected = mlflow_write(url, tmp_path)
        uri, client = _client(tmp_path)
        summary = import_mlflow(url, tracking_uri=uri, progress=False)
        assert_imported(expected, client)
        assert summary.runs == 3 and summary.artifact_files == 3
        again = import_mlflow(url, tracking_uri=uri, progress=False)
        assert (again.runs, again.metric_points, again.artifact_files) == (0, 0, 0)
        # the server's database alone: its runs' files are behind the server
        direct = import_mlflow(f"sqlite:///{work / 'mlflow.db'}", progress=False,
                               tracking_uri=f"sqlite:///{tmp_path / 'direct' / 'mltrack.db'}")
        assert direct.runs == 3 and direct.artifact_files == 0
        assert [s.kind for s in direct.skipped
                if "kept by the MLflow server" in s.reason] == ["artifacts"] * 3
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # uvicorn's workers may linger on a busy machine
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


# -- batches ---------------------------------------------------------------------------------


def test_the_runs_of_an_experiment_are_written_in_one_transaction(
        sqlite_store: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    from sqlalchemy import event

    folder, expected = sqlite_store
    uri, client = _client(tmp_path)
    engine = client.store.engine  # type: ignore[attr-defined]
    begun = [0]
    runs_written_in: list[int] = []

    def begin(conn: Any) -> None:
        begun[0] += 1

    def statement(conn: Any, cursor: Any, sql: str, params: Any, context: Any,
                  many: bool) -> None:
        if sql.startswith("INSERT INTO runs "):
            runs_written_in.append(begun[0])

    event.listen(engine, "begin", begin)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        summary = import_mlflow(f"sqlite:///{folder / 'mlflow.db'}", tracking_uri=uri,
                                progress=False)
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "begin", begin)
    assert summary.runs == 3
    # exp-a's two runs in one transaction (one statement), exp-b's run in another
    assert len(runs_written_in) == 2 and len(set(runs_written_in)) == 2
    assert_imported(expected, client)


def test_a_refused_run_leaves_the_rest_of_its_batch(
        sqlite_store: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    expected = sqlite_store[1]
    child = next(r for r, w in expected["runs"].items() if w["name"] == "child")
    running = next(r for r, w in expected["runs"].items() if w["name"] == "still-running")
    uri, client = _client(tmp_path)
    import_mlflow(f"sqlite:///{sqlite_store[0] / 'mlflow.db'}", experiments=["exp-a"],
                  tracking_uri=uri, progress=False)
    # a copy of the store where the child run has moved to exp-b: it is in exp-a here
    source, copy = _copy(sqlite_store, tmp_path)
    with sqlite3.connect(copy / "mlflow.db") as conn:
        conn.execute("UPDATE runs SET experiment_id = (SELECT experiment_id FROM "
                     "experiments WHERE name = 'exp-b') WHERE run_uuid = ?", (child,))
    summary = import_mlflow(source, experiments=["exp-b"], tracking_uri=uri, progress=False)
    assert summary.runs == 1
    refused = [s for s in summary.skipped if s.name == child]
    assert refused and "exists already in experiment" in refused[0].reason
    assert client.get_run(running).data.params == {"x": "1"}
    assert client.get_experiment(client.get_run(child).info.experiment_id).name == "exp-a"


# -- a second import, reading only, hostile input ------------------------------------------


def test_a_second_import_adds_only_what_is_new(tmp_path: Path) -> None:
    folder = tmp_path / "mlflow"
    folder.mkdir()
    source = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow_write(source, folder)  # a store of its own: MLflow writes more to it below
    uri, client = _client(tmp_path)
    import_mlflow(source, tracking_uri=uri, progress=False)
    again = import_mlflow(source, tracking_uri=uri, progress=False)
    assert (again.experiments, again.runs, again.runs_updated, again.metric_points,
            again.params, again.tags, again.artifact_files, again.registered_models,
            again.model_versions, again.registry_changes) == (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert again.runs_unchanged == 3
    # MLflow goes on: new points, a changed tag, a new file, a new run and version, an
    # alias and a stage moved
    expected = mlflow_write(source, folder, mode="more")
    third = import_mlflow(source, tracking_uri=uri, progress=False)
    assert (third.runs, third.runs_updated, third.metric_points, third.tags,
            third.artifact_files, third.model_versions) == (1, 1, 6, 2, 1, 1)  # tags: 1 + new run's
    assert third.registry_changes == 2  # champion -> 1, version 1 Archived -> Staging
    assert_imported(expected, client)
    history = client.registry_store.registry_history("clf")
    assert [(r.kind, r.to_value) for r in history[-2:]] == [("stage", "Staging"),
                                                           ("alias", "1")]


def test_the_source_is_only_read(sqlite_store: tuple[Path, dict[str, Any]],
                                 tmp_path: Path) -> None:
    source, folder = _copy(sqlite_store, tmp_path)
    db = folder / "mlflow.db"
    before = (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns,
              sorted(p.name for p in folder.iterdir()))
    uri = _client(tmp_path)[0]
    import_mlflow(source, tracking_uri=uri, progress=False)
    after = (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns,
             sorted(p.name for p in folder.iterdir()))
    assert after == before
    reader = open_source(source)
    try:  # the reader's connection refuses writes
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
            reader._sqlite.execute("DELETE FROM runs")  # type: ignore[attr-defined]
    finally:
        reader.close()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before[0]


def test_an_artifact_leading_outside_its_run_is_refused(
        sqlite_store: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    expected = sqlite_store[1]
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the import")
    run_id = next(r for r, w in expected["runs"].items() if w["name"] == "first")
    # a copy of the store whose run points at artifacts holding a link out of the folder
    source, copy = _copy(sqlite_store, tmp_path)
    arts = tmp_path / "hostile-artifacts"
    arts.mkdir()
    (arts / "good.txt").write_text("fine")
    (arts / "leak.txt").symlink_to(secret)
    with sqlite3.connect(copy / "mlflow.db") as conn:
        conn.execute("UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?", (str(arts), run_id))
    uri, client = _client(tmp_path)
    summary = import_mlflow(source, tracking_uri=uri, progress=False)
    leak = [s for s in summary.skipped if s.name == f"{run_id}/leak.txt"]
    assert leak and "outside" in leak[0].reason
    repo = artifact_repository(client.get_run(run_id).info.artifact_uri)
    assert [f.path for f in repo.list("")] == ["good.txt"]
    assert summary.runs == 3  # the rest is imported


def test_one_experiment_only(sqlite_store: tuple[Path, dict[str, Any]],
                             tmp_path: Path) -> None:
    folder = sqlite_store[0]
    uri, client = _client(tmp_path)
    summary = import_mlflow(f"sqlite:///{folder / 'mlflow.db'}", experiments=["exp-b"],
                            tracking_uri=uri, progress=False)
    assert summary.runs == 1 and summary.model_versions == 0
    assert [e.name for e in client.search_experiments()] == ["exp-b"]
    with pytest.raises(InvalidParameter, match=r"no experiment named 'nope'.*exp-a"):
        import_mlflow(f"sqlite:///{folder / 'mlflow.db'}", experiments=["nope"],
                      tracking_uri=uri, progress=False)


def test_a_source_that_is_not_mlflow_is_refused(tmp_path: Path) -> None:
    uri, client = _client(tmp_path)
    client.create_experiment("ours")  # a jupyter_mltrack database is no MLflow store
    with pytest.raises(ForeignStore, match="not an MLflow tracking database"):
        import_mlflow(uri, tracking_uri=f"sqlite:///{tmp_path / 'other.db'}", progress=False)
    with pytest.raises(InvalidParameter, match="mlruns/ folder, a database URI"):
        import_mlflow(tmp_path / "missing", tracking_uri=uri, progress=False)
    assert {e.name for e in client.search_experiments()} <= {"ours", "Default"}
    with pytest.raises(RegisteredModelNotFound):
        client.registry_store.get_registered_model("clf")


# -- command line --------------------------------------------------------------------------


def test_cli_imports_and_prints_a_summary(sqlite_store: tuple[Path, dict[str, Any]],
                                          tmp_path: Path) -> None:
    folder, expected = sqlite_store
    uri, client = _client(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["--tracking-uri", uri, "import-mlflow",
                                  f"sqlite:///{folder / 'mlflow.db'}", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["runs"] == 3
    assert any(s["name"] == "gone" and "deleted" in s["reason"] for s in summary["skipped"])
    assert_imported(expected, client)
    text = runner.invoke(main, ["--tracking-uri", uri, "import-mlflow",
                                f"sqlite:///{folder / 'mlflow.db'}"])
    assert text.exit_code == 0
    assert "0 new, 0 updated, 3 unchanged" in text.output
    bad = runner.invoke(main, ["--tracking-uri", uri, "import-mlflow", str(tmp_path / "nope")])
    assert bad.exit_code == 1 and "Cannot read an MLflow store" in bad.output


class _CountingSource:
    """Histories of ``sizes[i]`` points for run i, counting what was read when."""

    def __init__(self, sizes: list[int], fail_at: int | None = None):
        self.sizes, self.fail_at, self.read = sizes, fail_at, 0

    def metric_histories(self, run_id: str) -> list[Any]:
        import numpy as np

        from jupyter_mltrack.store.mlflow_source import MetricHistory

        i = int(run_id)
        if i == self.fail_at:
            raise StoreError(f"run {i} is unreadable")
        self.read += 1
        n = self.sizes[i]
        return [MetricHistory(f"m{i}", np.arange(n), np.full(n, float(i)), np.arange(n))]


def _settled(source: _CountingSource) -> int:
    last, still = -1, 0
    while still < 5:  # the reading thread has stopped reading ahead
        time.sleep(0.05)
        still = still + 1 if source.read == last else 0
        last = source.read
    return last


def test_histories_are_read_ahead_by_points_not_only_a_few_runs() -> None:
    """The reader goes on while the writer commits a batch: it holds up to ``ahead``
    points, not four runs (which left the readers idle during every commit)."""
    from jupyter_mltrack.interop.mlflow_import import _Prefetch

    source = _CountingSource([10] * 40)
    with _Prefetch(source, [str(i) for i in range(40)], ahead=100) as ahead:  # type: ignore[arg-type]
        assert _settled(source) == 11  # ten held, the eleventh waiting for room
        assert [h.key for h in ahead.next()] == ["m0"]
        assert _settled(source) == 12
        assert [ahead.next()[0].key for _ in range(39)] == [f"m{i}" for i in range(1, 40)]

    # a run bigger than ``ahead`` still goes through, alone
    big = _CountingSource([500, 10, 10])
    with _Prefetch(big, ["0", "1", "2"], ahead=100) as ahead:  # type: ignore[arg-type]
        assert [len(ahead.next()[0]) for _ in range(3)] == [500, 10, 10]

    # a failure reaches the writer in order, after the runs before it
    failing = _CountingSource([10] * 5, fail_at=3)
    with _Prefetch(failing, [str(i) for i in range(5)], ahead=100) as ahead:  # type: ignore[arg-type]
        assert [ahead.next()[0].key for _ in range(3)] == ["m0", "m1", "m2"]
        with pytest.raises(StoreError, match="run 3"):
            ahead.next()
