"""The official MLflow client, unchanged, against ``mltrack server``.

MLflow runs in its own virtual environment (tests/mlflow_env.py); the server is a real
subprocess on a loopback port, on SQLite and local files, and on PostgreSQL with a
moto S3 bucket. What MLflow logs is then read back with jupyter_mltrack's own Client
from the same database: the two see the same runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mltrack import Client
from tests.mlflow_env import run_mlflow
from tests.team_server import MotoS3, TeamServer, mlflow_env

TRACKING = r'''
import json, os, sys, tempfile
import mlflow
from mlflow import MlflowClient

out = {}
mlflow.set_experiment("demo")
with mlflow.start_run(run_name="first") as run:
    mlflow.log_param("lr", 0.1)
    mlflow.log_params({"layers": 3, "act": "relu"})
    for i in range(20):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    mlflow.log_metrics({"acc": 0.91, "f1": float("nan")})
    mlflow.set_tags({"team": "blue", "tmp": "x"})
    mlflow.log_text("hello team", "notes/readme.txt")
    mlflow.log_dict({"k": [1, 2]}, "conf.json")
    folder = tempfile.mkdtemp()
    os.makedirs(os.path.join(folder, "sub"))
    open(os.path.join(folder, "sub", "weights.bin"), "wb").write(bytes(range(256)) * 400)
    mlflow.log_artifacts(folder, "blob")
    run_id = run.info.run_id
with mlflow.start_run(run_name="second"):
    mlflow.log_param("lr", 0.5)
    mlflow.log_metric("acc", 0.5)
client = MlflowClient()
client.delete_tag(run_id, "tmp")
r = client.get_run(run_id)
out["run_id"] = run_id
out["params"] = r.data.params
out["metrics"] = {k: (None if v != v else v) for k, v in r.data.metrics.items()}
out["tags"] = {k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.")}
out["status"] = r.info.status
out["artifact_uri"] = r.info.artifact_uri
out["history"] = [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")]
out["top"] = sorted(f.path for f in client.list_artifacts(run_id))
out["blob"] = sorted(f.path for f in client.list_artifacts(run_id, "blob/sub"))
local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="blob")
out["weights_ok"] = open(os.path.join(local, "sub", "weights.bin"), "rb").read() == \
    bytes(range(256)) * 400
out["readme"] = mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.txt")
found = mlflow.search_runs(experiment_names=["demo"],
                           filter_string="metrics.acc > 0.8 and params.lr = '0.1'")
out["found"] = found["run_id"].tolist()
ordered = client.search_runs([r.info.experiment_id], order_by=["metrics.acc DESC"])
out["ordered"] = [x.data.params["lr"] for x in ordered]
out["experiments"] = sorted(e.name for e in mlflow.search_experiments())
exp_id = r.info.experiment_id
client.set_experiment_tag(exp_id, "stage", "dev")
client.set_experiment_tag(exp_id, "owner", "ana")
client.delete_experiment_tag(exp_id, "stage")
out["experiment_tags"] = {k: v for k, v in client.get_experiment(exp_id).tags.items()
                          if not k.startswith("mlflow.")}
try:
    client.delete_experiment_tag(exp_id, "stage")
except mlflow.exceptions.MlflowException as exc:
    out["tag_gone"] = exc.error_code
print(json.dumps(out))
'''

REGISTRY = r'''
import json
import numpy as np
import mlflow
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.8], [0.9, 0.1]])
y = np.array([0, 1, 0, 1])
out = {}
mlflow.set_experiment("models")
with mlflow.start_run() as run:
    model = LogisticRegression().fit(X, y)
    info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"],
                                    registered_model_name="churn")
out["model_uri"] = info.model_uri
client = MlflowClient()
v2 = mlflow.register_model(f"runs:/{run.info.run_id}/model", "churn")
client.transition_model_version_stage("churn", v2.version, "Staging")
client.transition_model_version_stage("churn", v2.version, "Production",
                                      archive_existing_versions=True)
client.set_registered_model_alias("churn", "champion", v2.version)
client.set_model_version_tag("churn", v2.version, "validated", "yes")
client.update_model_version("churn", v2.version, description="the good one")
out["by_alias"] = client.get_model_version_by_alias("churn", "champion").version
out["versions"] = sorted((v.version, v.current_stage)
                         for v in client.search_model_versions("name='churn'"))
out["models"] = [m.name for m in client.search_registered_models()]
out["pred_alias"] = mlflow.pyfunc.load_model("models:/churn@champion").predict(X).tolist()
out["pred_stage"] = mlflow.sklearn.load_model("models:/churn/Production").predict(X).tolist()
out["description"] = client.get_model_version("churn", v2.version).description
out["user"] = client.get_model_version("churn", v2.version).user_id
mlflow.register_model(f"runs:/{run.info.run_id}/model", "draft")
client.set_registered_model_alias("draft", "candidate", "1")
client.rename_registered_model("draft", "final")  # MLflow's client returns None
renamed = client.get_registered_model("final")
out["renamed"] = [renamed.name, renamed.aliases]
out["pred_renamed"] = mlflow.pyfunc.load_model("models:/final@candidate").predict(X).tolist()
out["final_versions"] = [v.version for v in client.search_model_versions("name='final'")]
try:
    client.get_registered_model("draft")
except mlflow.exceptions.MlflowException as exc:
    out["old_name"] = exc.error_code
try:
    client.rename_registered_model("final", "churn")
except mlflow.exceptions.MlflowException as exc:
    out["rename_taken"] = exc.error_code
client.delete_registered_model("final")
try:
    client.get_registered_model("final")
except mlflow.exceptions.MlflowException as exc:
    out["deleted"] = exc.error_code
out["after_delete"] = sorted(m.name for m in client.search_registered_models())
print(json.dumps(out))
'''


def _last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def _check_tracking(out: dict) -> None:
    assert out["params"] == {"lr": "0.1", "layers": "3", "act": "relu"}
    assert out["metrics"]["acc"] == 0.91 and out["metrics"]["f1"] is None
    assert out["metrics"]["loss"] == pytest.approx(1 / 20)
    assert out["tags"] == {"team": "blue"}
    assert out["status"] == "FINISHED"
    assert out["artifact_uri"].startswith("mlflow-artifacts:/")
    assert out["history"] == [[i, pytest.approx(1.0 / (i + 1))] for i in range(20)]
    assert out["top"] == ["blob", "conf.json", "notes"]
    assert out["blob"] == ["blob/sub/weights.bin"]
    assert out["weights_ok"] is True
    assert out["readme"] == "hello team"
    assert out["found"] == [out["run_id"]]
    assert out["ordered"] == ["0.1", "0.5"]
    assert out["experiments"] == ["Default", "demo"] or out["experiments"] == ["demo"]
    assert out["experiment_tags"] == {"owner": "ana"}
    assert out["tag_gone"] == "RESOURCE_DOES_NOT_EXIST"


def _check_registry(out: dict) -> None:
    assert out["model_uri"].startswith("models:/m-")
    assert out["by_alias"] == "2"
    assert out["versions"] == [["1", "None"], ["2", "Production"]]
    assert out["models"] == ["churn"]
    assert out["pred_alias"] == [0, 1, 0, 1] and out["pred_stage"] == [0, 1, 0, 1]
    assert out["description"] == "the good one"
    assert out["renamed"] == ["final", {"candidate": "1"}]
    assert out["pred_renamed"] == [0, 1, 0, 1]
    assert out["final_versions"] == ["1"]
    assert out["old_name"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["rename_taken"] == "RESOURCE_ALREADY_EXISTS"
    assert out["deleted"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["after_delete"] == ["churn"]


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[TeamServer]:
    server = TeamServer(f"sqlite:///{tmp_path / 'db' / 'mltrack.db'}",
                        str(tmp_path / "artifacts"), tmp_path)
    with server:
        yield server


@pytest.mark.slow
def test_mlflow_client_tracks_and_reads_through_the_server(sqlite_server: TeamServer,
                                                           tmp_path: Path) -> None:
    done = run_mlflow(TRACKING, cwd=tmp_path, env=mlflow_env(sqlite_server))
    out = _last_json(done.stdout)
    _check_tracking(out)
    # jupyter_mltrack's own client reads the same store: the same run, the same files
    ours = Client(sqlite_server.backend, str(tmp_path / "artifacts"))
    run = ours.get_run(out["run_id"])
    assert run.data.params == out["params"] and run.data.tags["team"] == "blue"
    assert ours.read_artifact(out["run_id"], "notes/readme.txt") == b"hello team"
    assert [m.value for m in ours.get_metric_history(out["run_id"], "loss")][:2] == [1.0, 0.5]


@pytest.mark.slow
def test_mlflow_client_logs_registers_promotes_and_loads_models(sqlite_server: TeamServer,
                                                                tmp_path: Path) -> None:
    done = run_mlflow(REGISTRY, cwd=tmp_path, env=mlflow_env(sqlite_server))
    out = _last_json(done.stdout)
    _check_registry(out)
    from jupyter_mltrack import registry

    ours = Client(sqlite_server.backend, str(tmp_path / "artifacts"))
    history = registry.history("churn", client=ours)
    assert "Production" in set(history["to"])


@pytest.mark.slow
@pytest.mark.postgres
def test_mlflow_client_on_postgres_and_s3(postgres_uri: str, tmp_path: Path) -> None:
    s3 = MotoS3()
    try:
        bucket = s3.bucket(f"mltrack-team-{os.getpid()}")
        server = TeamServer(postgres_uri, f"s3://{bucket}/artifacts", tmp_path, env=s3.env)
        with server:
            tracked = _last_json(run_mlflow(TRACKING, cwd=tmp_path,
                                            env=mlflow_env(server)).stdout)
            registered = _last_json(run_mlflow(REGISTRY, cwd=tmp_path,
                                               env=mlflow_env(server)).stdout)
        _check_tracking(tracked)
        _check_registry(registered)
        keys = s3.keys(bucket)
        # the files went through the proxy into the bucket, under the run's folder
        assert any(k.endswith(f"{tracked['run_id']}/artifacts/blob/sub/weights.bin")
                   for k in keys), keys
        assert any(k.endswith("/artifacts/MLmodel") and "/models/m-" in k for k in keys), keys
    finally:
        s3.stop()
