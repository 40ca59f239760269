"""MLflow's names and signatures, so that MLflow code runs with ``import jupyter_mltrack as
mlflow``: the fluent calls, ``MlflowClient``, ``artifacts``, the flavor modules."""

from __future__ import annotations

import inspect
import json
import struct
import zlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from jupyter_mltrack.entities import Metric, Param, RunTag
from jupyter_mltrack.errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidModel,
    InvalidParameter,
    InvalidState,
    NotFound,
    RegisteredModelNotFound,
    UntrustedModel,
)

# -- fluent signatures -------------------------------------------------------------------


def test_log_metric_takes_mlflows_arguments_by_position_and_name(fluent: ModuleType) -> None:
    with fluent.start_run() as run:
        # MLflow's order: key, value, step, synchronous, timestamp, run_id
        fluent.log_metric("loss", 0.5, 3, True, 1_700_000_000_000)
        fluent.log_metric("acc", 0.9, step=1, synchronous=None, timestamp=None)
    with fluent.start_run() as other:
        fluent.log_metric("loss", 0.25, step=7, run_id=run.info.run_id)
        fluent.log_metrics({"f1": 0.8}, 2, True, run.info.run_id)
        fluent.log_metrics({"f1": 0.7}, step=3, run_id=run.info.run_id,
                           timestamp=1_700_000_000_001)
    history = fluent.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(3, 0.5), (7, 0.25)]
    assert history[0].timestamp == 1_700_000_000_000
    f1 = fluent.get_metric_history(run.info.run_id, "f1")
    assert [(m.step, m.value, m.timestamp) for m in f1][1] == (3, 0.7, 1_700_000_000_001)
    assert fluent.get_run(other.info.run_id).data.metrics == {}


def test_params_and_tags_accept_synchronous_and_run_id(fluent: ModuleType) -> None:
    with fluent.start_run() as run:
        assert fluent.log_param("alpha", 0.5, synchronous=True) == 0.5
        fluent.set_tag("team", "risk", synchronous=False)
        fluent.set_tags({"stage": "dev"}, synchronous=None)
    with fluent.start_run():
        fluent.log_params({"l1": 0.1}, synchronous=True, run_id=run.info.run_id)
    data = fluent.get_run(run.info.run_id).data
    assert data.params == {"alpha": "0.5", "l1": "0.1"}
    assert data.tags["team"] == "risk" and data.tags["stage"] == "dev"


def test_artifact_calls_take_run_id(fluent: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_text("a")
    with fluent.start_run() as run:
        pass
    with fluent.start_run():
        fluent.log_artifact(tmp_path / "out" / "a.txt", "files", run_id=run.info.run_id)
        fluent.log_artifacts(tmp_path / "out", "dir", run_id=run.info.run_id)
        fluent.log_text("hello", "t.txt", run_id=run.info.run_id)
        fluent.log_dict({"k": 1}, "d.json", run_id=run.info.run_id)
    client = fluent.Client(fluent.get_tracking_uri())
    listed = sorted(f.path for f in client.list_artifacts(run.info.run_id))
    assert [p for p in listed if p != "mltrack"] == ["d.json", "dir", "files", "t.txt"]


def test_delete_tag_removes_the_active_runs_tag(fluent: ModuleType) -> None:
    with fluent.start_run() as run:
        fluent.set_tag("temp", "1")
        fluent.delete_tag("temp")
    assert "temp" not in fluent.get_run(run.info.run_id).data.tags


def test_experiment_tags_go_to_the_current_experiment(fluent: ModuleType) -> None:
    exp = fluent.set_experiment("tagged")
    fluent.set_experiment_tag("owner", "ana")
    fluent.set_experiment_tags({"team": "risk", "size": 3})
    tags = fluent.get_experiment(exp.experiment_id).tags
    assert tags["owner"] == "ana" and tags["team"] == "risk" and tags["size"] == "3"


def test_get_parent_run(fluent: ModuleType) -> None:
    with fluent.start_run() as parent:
        with fluent.start_run(nested=True) as child:
            pass
    found = fluent.get_parent_run(child.info.run_id)
    assert found is not None and found.info.run_id == parent.info.run_id
    assert fluent.get_parent_run(parent.info.run_id) is None


def test_start_run_takes_parent_run_id_fifth_as_mlflow_does(fluent: ModuleType) -> None:
    with fluent.start_run() as parent:
        pass
    with fluent.start_run(None, None, "child", False, parent.info.run_id) as child:
        pass
    assert fluent.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id


def test_last_active_run_is_the_run_just_ended(fluent: ModuleType) -> None:
    assert fluent.last_active_run() is None
    with fluent.start_run() as run:
        fluent.log_param("p", 1)
    last = fluent.last_active_run()
    assert last.info.run_id == run.info.run_id and last.info.status == "FINISHED"


# -- images and tables -------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int, int]:
    """Width, height and colour type of a PNG, read from its header."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, _, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, colour


def _png_pixels(data: bytes) -> bytes:
    """The raw IDAT payload (filter bytes included) of a PNG."""
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(idat)


def test_log_image_writes_a_png_from_an_array(fluent: ModuleType) -> None:
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    grey = np.linspace(0.0, 1.0, 6).reshape(2, 3)  # floats in [0, 1] scale to 0..255
    with fluent.start_run() as run:
        fluent.log_image(rgb, "plots/rgb.png")
        fluent.log_image(grey, artifact_file="grey.png")
        fluent.log_image(rgb, key="sample", step=2)
        fluent.log_image(rgb, key="sample", step=3)
    client = fluent.Client(fluent.get_tracking_uri())
    data = client.read_artifact(run.info.run_id, "plots/rgb.png")
    assert _png_size(data) == (5, 4, 2)
    assert _png_pixels(data)[:4] == b"\x00\xff\x00\x00"
    grey_png = client.read_artifact(run.info.run_id, "grey.png")
    assert _png_size(grey_png) == (3, 2, 0)
    assert list(_png_pixels(grey_png)[:4]) == [0, 0, 51, 102]
    steps = [f.path for f in client.list_artifacts(run.info.run_id, "images/sample")]
    assert len(steps) == 2 and all(p.endswith(".png") for p in steps)
    assert "step_2" in steps[0] and "step_3" in steps[1]


def test_log_image_refuses_what_it_cannot_write(fluent: ModuleType) -> None:
    with fluent.start_run():
        with pytest.raises(InvalidParameter, match="artifact_file or key"):
            fluent.log_image(np.zeros((2, 2), dtype=np.uint8))
        with pytest.raises(InvalidParameter, match="not both"):
            fluent.log_image(np.zeros((2, 2), dtype=np.uint8), "a.png", key="a")
        with pytest.raises(InvalidParameter, match=r"height, width"):
            fluent.log_image(np.zeros((2, 2, 2, 2), dtype=np.uint8), "a.png")
        with pytest.raises(InvalidParameter, match=r"\.png"):
            fluent.log_image(np.zeros((2, 2), dtype=np.uint8), "a.jpg")
        with pytest.raises(InvalidParameter, match="numpy array"):
            fluent.log_image("not an image", "a.png")


def test_log_table_and_load_table(fluent: ModuleType) -> None:
    fluent.set_experiment("tables")
    with fluent.start_run() as first:
        fluent.log_table({"q": ["a", "b"], "score": [0.1, 0.2]}, "eval.json")
        fluent.log_table(pd.DataFrame({"q": ["c"], "score": [0.3]}), "eval.json")  # appends
    with fluent.start_run() as second:
        fluent.log_table({"q": "d", "score": 0.4}, artifact_file="eval.json")
    with fluent.start_run():
        fluent.log_param("no_table", 1)
    raw = json.loads(fluent.Client(fluent.get_tracking_uri()).read_artifact(
        first.info.run_id, "eval.json"))
    assert raw["columns"] == ["q", "score"] and len(raw["data"]) == 3  # MLflow's split JSON
    both = fluent.load_table("eval.json", extra_columns=["run_id"])
    assert sorted(both["q"]) == ["a", "b", "c", "d"]
    assert set(both["run_id"]) == {first.info.run_id, second.info.run_id}
    only = fluent.load_table("eval.json", run_ids=[second.info.run_id])
    assert only["q"].tolist() == ["d"] and "run_id" not in only
    with pytest.raises(NotFound, match=r"missing\.json"):
        fluent.load_table("missing.json")
    with fluent.start_run(), pytest.raises(InvalidParameter, match=r"\.json"):
        fluent.log_table({"a": [1]}, "eval.csv")


# -- the Client's MLflow signatures ------------------------------------------------------


def test_client_log_batch_takes_mlflow_entities(client: object) -> None:
    c = client
    run = c.create_run(c.get_or_create_experiment("e"))
    c.log_batch(run.info.run_id, metrics=[Metric("m", 1.0, 1, 0)],
                params=[Param("p", "1")], tags=[RunTag("t", "x")], synchronous=True)
    c.log_param(run.info.run_id, "q", 2, synchronous=True)
    c.set_tag(run.info.run_id, "u", "y", synchronous=False)
    c.set_terminated(run.info.run_id, None)
    got = c.get_run(run.info.run_id)
    assert got.data.params == {"p": "1", "q": "2"}
    assert got.data.tags["t"] == "x" and got.data.tags["u"] == "y"
    assert got.data.metrics == {"m": 1.0} and got.info.status == "FINISHED"


def test_fluent_signatures_match_mlflows_positional_order() -> None:
    """The parameters MLflow code passes by position come in MLflow's order."""
    import jupyter_mltrack as mlflow

    def names(fn: object, n: int) -> list[str]:
        return list(inspect.signature(fn).parameters)[:n]  # type: ignore[arg-type]

    assert names(mlflow.log_metric, 6) == ["key", "value", "step", "synchronous", "timestamp",
                                           "run_id"]
    assert names(mlflow.log_metrics, 5) == ["metrics", "step", "synchronous", "run_id",
                                            "timestamp"]
    assert names(mlflow.log_params, 3) == ["params", "synchronous", "run_id"]
    assert names(mlflow.start_run, 6) == ["run_id", "experiment_id", "run_name", "nested",
                                          "parent_run_id", "tags"]
    assert names(mlflow.log_image, 6) == ["image", "artifact_file", "key", "step",
                                          "timestamp", "synchronous"]


# -- MlflowClient --------------------------------------------------------------------------


def test_mlflow_client_is_exported_with_mlflows_order(tracking_uri: str) -> None:
    import jupyter_mltrack as mlflow

    client = mlflow.MlflowClient(tracking_uri)
    assert isinstance(client, mlflow.Client)
    exp_id = client.create_experiment("exp")
    assert client.get_experiment_by_name("exp").experiment_id == exp_id
    run = client.create_run(exp_id, 1_700_000_000_000, {"k": "v"}, "named")
    assert run.info.start_time == 1_700_000_000_000 and run.info.run_name == "named"
    client.log_metric(run.info.run_id, "m", 2.0, 1_700_000_000_500, 4)  # timestamp, step
    client.set_terminated(run.info.run_id)
    [point] = client.get_metric_history(run.info.run_id, "m")
    assert (point.step, point.timestamp) == (4, 1_700_000_000_500)
    assert [r.info.run_id for r in client.search_runs([exp_id])] == [run.info.run_id]
    with pytest.raises(InvalidParameter, match="registry_uri"):
        mlflow.MlflowClient(tracking_uri, registry_uri="sqlite:////elsewhere/other.db")
    with pytest.raises(InvalidParameter, match="dataset_name"):
        client.log_metric(run.info.run_id, "m", 1.0, dataset_name="train")


def _logged_model(client: object, run_id: str) -> str:
    """Log a tiny scikit-learn model into the run; returns its runs:/ URI."""
    from sklearn.linear_model import LinearRegression

    import jupyter_mltrack as mlflow

    model = LinearRegression().fit(np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0]))
    return mlflow.sklearn.log_model(model, name="model", run_id=run_id,
                                    client=client).model_uri


def test_mlflow_client_registry_methods(tracking_uri: str) -> None:
    import jupyter_mltrack as mlflow

    client = mlflow.MlflowClient(tracking_uri)
    run = client.create_run(client.create_experiment("e"))
    uri = _logged_model(client, run.info.run_id)
    assert client.create_registered_model("m", {"team": "x"}, "desc").name == "m"
    source = client.get_run(run.info.run_id).info.artifact_uri + "/model"
    v1 = client.create_model_version("m", source, run.info.run_id, {"a": "1"})
    assert v1.version == 1 and v1.run_id == run.info.run_id
    assert v1.source == f"runs:/{run.info.run_id}/model"  # linked to the run, not copied
    v2 = client.create_model_version("m", uri, run.info.run_id)
    client.transition_model_version_stage("m", v1.version, "Production")
    client.transition_model_version_stage("m", v2.version, "Production",
                                          archive_existing_versions=True)
    assert [v.version for v in client.get_latest_versions("m", ["Production"])] == [2]
    assert client.get_model_version("m", 1).current_stage == "Archived"
    client.set_registered_model_alias("m", "champion", 1)
    assert client.get_model_version_by_alias("m", "champion").version == 1
    client.delete_registered_model_alias("m", "champion")
    assert client.get_registered_model("m").aliases == {}
    client.set_model_version_tag("m", stage="Production", key="ok", value="yes")
    assert client.get_model_version("m", 2).tags["ok"] == "yes"
    client.delete_model_version_tag("m", 2, "ok")
    assert "ok" not in client.get_model_version("m", 2).tags
    client.set_registered_model_tag("m", "owner", "ana")
    client.delete_registered_model_tag("m", "team")
    assert client.get_registered_model("m").tags == {"owner": "ana"}
    assert client.update_model_version("m", 1, "first").description == "first"
    assert client.update_registered_model("m", "model m").description == "model m"
    found = client.search_model_versions("name = 'm'")
    assert sorted(v.version for v in found) == [1, 2]
    assert [m.name for m in client.search_registered_models()] == ["m"]
    assert Path(client.get_model_version_download_uri("m", 2), "MLmodel").is_file()
    client.delete_model_version("m", 1)
    assert client.get_model_version("m", 1).deleted
    with pytest.raises(InvalidParameter, match="version= or stage="):
        client.set_model_version_tag("m", key="k", value="v")


def test_mlflow_client_renames_an_experiment(tracking_uri: str) -> None:
    import jupyter_mltrack as mlflow

    client = mlflow.MlflowClient(tracking_uri)
    exp = client.create_experiment("draft")
    run = client.create_run(exp)
    client.rename_experiment(exp, "churn")
    assert client.get_experiment(exp).name == "churn"
    assert client.get_experiment_by_name("draft") is None
    assert client.get_run(run.info.run_id).info.experiment_id == exp  # runs stay with it
    client.create_experiment("other")
    with pytest.raises(AlreadyExists, match="other"):
        client.rename_experiment(exp, "other")
    with pytest.raises(InvalidParameter, match="name"):
        client.rename_experiment(exp, " ")
    with pytest.raises(ExperimentNotFound):
        client.rename_experiment("424242", "x")
    assert client.get_experiment(exp).name == "churn"


def test_mlflow_client_renames_and_deletes_a_registered_model(tracking_uri: str) -> None:
    import jupyter_mltrack as mlflow

    client = mlflow.MlflowClient(tracking_uri)
    run = client.create_run(client.create_experiment("e"))
    uri = _logged_model(client, run.info.run_id)
    client.create_model_version("draft", uri, run.info.run_id)
    client.set_registered_model_alias("draft", "champion", 1)
    client.transition_model_version_stage("draft", 1, "Staging")
    renamed = client.rename_registered_model("draft", "churn")
    assert renamed.name == "churn" and renamed.aliases == {"champion": 1}
    assert client.get_model_version("churn", 1).name == "churn"
    assert client.get_model_version("churn", 1).current_stage == "Staging"
    assert client.get_model_version_by_alias("churn", "champion").version == 1
    with pytest.raises(RegisteredModelNotFound):
        client.get_registered_model("draft")
    client.create_registered_model("taken")
    with pytest.raises(AlreadyExists, match="taken"):
        client.rename_registered_model("churn", "taken")
    with pytest.raises(RegisteredModelNotFound):
        client.rename_registered_model("nope", "x")
    # a model with a version in Staging or Production is being used: archive first
    with pytest.raises(InvalidState, match="Archived"):
        client.delete_registered_model("churn")
    assert client.get_model_version("churn", 1).current_stage == "Staging"
    client.transition_model_version_stage("churn", 1, "Archived")
    client.delete_registered_model("churn")
    with pytest.raises(RegisteredModelNotFound):
        client.get_registered_model("churn")
    assert list(client.search_model_versions("name = 'churn'")) == []
    assert [m.name for m in client.search_registered_models()] == ["taken"]
    # the run and its model files are the run's: they stay
    assert Path(client.get_run(run.info.run_id).info.artifact_uri, "model", "MLmodel").is_file()
    client.create_model_version("churn", uri, run.info.run_id)  # the name is free again
    assert client.get_model_version("churn", 1).version == 1
    with pytest.raises(RegisteredModelNotFound):
        client.delete_registered_model("nope")


def test_pyfunc_model_unwraps_the_python_model(fluent: ModuleType, tmp_path: Path) -> None:
    import jupyter_mltrack as mlflow

    class Double(mlflow.pyfunc.PythonModel):
        factor = 2

        def predict(self, context: object, model_input: pd.DataFrame,
                    params: dict | None = None) -> pd.DataFrame:
            return model_input * self.factor

    mlflow.pyfunc.save_model(tmp_path / "double", python_model=Double())
    loaded = mlflow.pyfunc.load_model(tmp_path / "double", trust=True)
    unwrapped = loaded.unwrap_python_model()
    assert isinstance(unwrapped, mlflow.pyfunc.PythonModel) and unwrapped.factor == 2
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(np.array([[0.0], [1.0]]), np.array([0.0, 1.0]))
    mlflow.sklearn.save_model(model, tmp_path / "linear")
    with pytest.raises(InvalidModel, match="get_raw_model"):
        mlflow.pyfunc.load_model(tmp_path / "linear").unwrap_python_model()


# -- the flavor modules ------------------------------------------------------------------


def test_flavor_modules_are_attributes_of_the_package_and_load_lazily() -> None:
    import subprocess
    import sys

    code = ("import sys, jupyter_mltrack as mlflow\n"
            "names = ('sklearn', 'xgboost', 'lightgbm', 'pytorch', 'keras', 'pyfunc')\n"
            "before = [n for n in names if 'jupyter_mltrack.' + n in sys.modules]\n"
            "funcs = [callable(getattr(mlflow, n).log_model) and callable(getattr(mlflow, n)"
            ".load_model) and callable(getattr(mlflow, n).save_model) for n in names]\n"
            "heavy = [m for m in ('sklearn', 'xgboost', 'lightgbm', 'torch', 'keras', 'numpy') "
            "if m in sys.modules]\n"
            "print(before, all(funcs), heavy, mlflow.pyfunc.PythonModel.__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[] True [] PythonModel"


def test_sklearn_log_model_registers_and_loads(fluent: ModuleType) -> None:
    from sklearn.linear_model import ElasticNet

    import jupyter_mltrack as mlflow

    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    y = np.array([0.1, 1.2, 1.9, 3.1])
    model = ElasticNet(alpha=0.01).fit(x, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, "model", registered_model_name="wine",
                                        input_example=x[:2])
        again = mlflow.sklearn.log_model(model, name="second",
                                         registered_model_name="wine")
    assert info.model_uri == f"runs:/{run.info.run_id}/model"
    assert info.registered_model_version == 1 and again.registered_model_version == 2
    assert info.signature is not None  # inferred from the input example, as MLflow does
    version = mlflow.get_model_version("wine", 1)
    assert version.run_id == run.info.run_id
    loaded = mlflow.sklearn.load_model("models:/wine/1")
    assert type(loaded) is ElasticNet
    np.testing.assert_allclose(loaded.predict(x), model.predict(x))
    pyfunc = mlflow.pyfunc.load_model(info.model_uri)
    np.testing.assert_allclose(np.asarray(pyfunc.predict(x)).ravel(), model.predict(x))
    with pytest.raises(InvalidParameter, match="not a sklearn model"):
        mlflow.sklearn.log_model(object(), "x")


def test_sklearn_save_model_and_load_from_a_folder(fluent: ModuleType,
                                                   tmp_path: Path) -> None:
    from sklearn.tree import DecisionTreeClassifier

    import jupyter_mltrack as mlflow

    x, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    model = DecisionTreeClassifier().fit(x, y)
    mlflow.sklearn.save_model(model, tmp_path / "tree", pip_requirements=["scikit-learn"])
    assert (tmp_path / "tree" / "requirements.txt").read_text().split() == ["scikit-learn"]
    # a folder from outside the store holding types skops does not trust needs trust=True
    with pytest.raises(UntrustedModel, match="trust=True"):
        mlflow.sklearn.load_model(str(tmp_path / "tree"))
    loaded = mlflow.sklearn.load_model(str(tmp_path / "tree"), trust=True)
    assert loaded.predict(x).tolist() == [0, 0, 1, 1]
    mlflow.sklearn.save_model(model, tmp_path / "extra", extra_pip_requirements=["rich"])
    lines = (tmp_path / "extra" / "requirements.txt").read_text().split()
    assert lines[-1] == "rich" and any(line.startswith("scikit-learn==") for line in lines)


def test_flavor_log_model_refuses_what_it_cannot_honour(fluent: ModuleType) -> None:
    from sklearn.linear_model import LinearRegression

    import jupyter_mltrack as mlflow

    model = LinearRegression().fit(np.array([[0.0], [1.0]]), np.array([0.0, 1.0]))
    with mlflow.start_run():
        with pytest.raises(InvalidParameter, match="both name the model"):
            mlflow.sklearn.log_model(model, "a", name="b")
        with pytest.raises(InvalidParameter, match="pyfunc_predict_fn"):
            mlflow.sklearn.log_model(model, name="c", pyfunc_predict_fn="predict_proba")
        with pytest.raises(InvalidParameter, match="params"):
            mlflow.sklearn.log_model(model, name="d", params={"x": 1})
        with pytest.raises(InvalidParameter, match="not both"):
            mlflow.sklearn.log_model(model, name="e", pip_requirements=["a"],
                                     extra_pip_requirements=["b"])
        with pytest.warns(UserWarning, match="conda_env is not used"):
            mlflow.sklearn.log_model(model, name="f", conda_env={"dependencies": []},
                                     await_registration_for=10, step=3)


def test_sklearn_load_model_refuses_another_frameworks_model(fluent: ModuleType) -> None:
    import torch

    import jupyter_mltrack as mlflow

    with mlflow.start_run():
        info = mlflow.pytorch.log_model(torch.nn.Linear(2, 1), name="net", init_args=[2, 1])
    with pytest.raises(InvalidModel, match="not a sklearn model"):
        mlflow.sklearn.load_model(info.model_uri)


def test_xgboost_and_lightgbm_modules(fluent: ModuleType, tmp_path: Path) -> None:
    import lightgbm
    import xgboost

    import jupyter_mltrack as mlflow

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(int)
    xgb = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(x, y)
    lgb = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(x, y)
    with mlflow.start_run():
        xinfo = mlflow.xgboost.log_model(xgb, name="xgb", model_format="ubj",
                                         registered_model_name="boosted")
        linfo = mlflow.lightgbm.log_model(lgb, "lgb")
        # a wrapper with the scikit-learn API, logged as MLflow users do, loads back
        sinfo = mlflow.sklearn.log_model(xgb, name="as_sklearn")
    assert xinfo.registered_model_version == 1
    assert (mlflow.xgboost.load_model("models:/boosted/1").predict(x) == xgb.predict(x)).all()
    assert (mlflow.lightgbm.load_model(linfo.model_uri).predict(x) == lgb.predict(x)).all()
    assert (mlflow.sklearn.load_model(sinfo.model_uri).predict(x) == xgb.predict(x)).all()
    mlflow.xgboost.save_model(xgb, tmp_path / "x")
    mlflow.lightgbm.save_model(lgb, tmp_path / "l")
    assert (mlflow.xgboost.load_model(tmp_path / "x").predict(x) == xgb.predict(x)).all()
    assert (mlflow.lightgbm.load_model(tmp_path / "l").predict(x) == lgb.predict(x)).all()


def test_pytorch_module(fluent: ModuleType, tmp_path: Path) -> None:
    import torch

    import jupyter_mltrack as mlflow

    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)  # rebuilt from its constructor arguments and weights
    x = torch.randn(4, 3)
    with mlflow.start_run():
        info = mlflow.pytorch.log_model(net, name="net", export_model=False, init_args=[3, 1],
                                        registered_model_name="torchy")
    loaded = mlflow.pytorch.load_model(f"models:/torchy/{info.registered_model_version}")
    assert torch.allclose(loaded(x), net(x))
    mlflow.pytorch.save_model(net, tmp_path / "net", init_args=[3, 1])
    assert torch.allclose(mlflow.pytorch.load_model(tmp_path / "net", trust=True)(x), net(x))


def test_keras_module(fluent: ModuleType) -> None:
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    import jupyter_mltrack as mlflow

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    x = np.ones((3, 2), dtype="float32")
    with mlflow.start_run():
        info = mlflow.keras.log_model(model, name="k")
    np.testing.assert_allclose(mlflow.keras.load_model(info.model_uri).predict(x, verbose=0),
                               model.predict(x, verbose=0))


def test_pyfunc_module_logs_a_python_model(fluent: ModuleType, tmp_path: Path) -> None:
    import jupyter_mltrack as mlflow

    class AddN(mlflow.pyfunc.PythonModel):
        def load_context(self, context: object) -> None:
            self.n = int(Path(context.artifacts["n"]).read_text())  # type: ignore[attr-defined]

        def predict(self, context: object, model_input: pd.DataFrame,
                    params: dict | None = None) -> pd.DataFrame:
            return model_input + self.n

    (tmp_path / "n.txt").write_text("3")
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="adder", python_model=AddN(),
                                       artifacts={"n": str(tmp_path / "n.txt")},
                                       input_example=frame, registered_model_name="adder")
    assert info.registered_model_version == 1
    loaded = mlflow.pyfunc.load_model("models:/adder/1")
    assert isinstance(loaded, mlflow.pyfunc.PyFuncModel)
    assert loaded.predict(frame)["x"].tolist() == [4.0, 5.0]
    mlflow.pyfunc.save_model(tmp_path / "saved", python_model=AddN(),
                             artifacts={"n": str(tmp_path / "n.txt")})
    assert mlflow.pyfunc.load_model(tmp_path / "saved", trust=True).predict(
        frame)["x"].tolist() == [4.0, 5.0]
    with pytest.raises(InvalidParameter, match="loader_module"):
        mlflow.pyfunc.log_model("m", loader_module="my.module", data_path="d")
    with pytest.raises(InvalidParameter, match="python_model"):
        mlflow.pyfunc.log_model(name="m")


# -- mlflow.artifacts ----------------------------------------------------------------------


def test_artifacts_download_by_run_and_by_uri(fluent: ModuleType, tmp_path: Path) -> None:
    import jupyter_mltrack as mlflow

    with mlflow.start_run() as run:
        mlflow.log_text("hi", "notes/a.txt")
        mlflow.log_dict({"k": 1}, "conf.json")
    run_id = run.info.run_id
    one = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="notes/a.txt",
                                              dst_path=tmp_path / "d1")
    assert Path(one) == tmp_path / "d1" / "a.txt" and Path(one).read_text() == "hi"
    folder = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/notes",
                                                 dst_path=tmp_path / "d2")
    assert (Path(folder) / "a.txt").read_text() == "hi"
    whole = mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=tmp_path / "d3")
    assert Path(whole) == tmp_path / "d3"  # a run's root: its contents, as MLflow does
    assert (tmp_path / "d3" / "conf.json").is_file() and (tmp_path / "d3" / "notes").is_dir()
    temp = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/conf.json")
    assert json.loads(Path(temp).read_text()) == {"k": 1}
    local = mlflow.artifacts.download_artifacts(one, dst_path=tmp_path / "d4")
    assert Path(local).read_text() == "hi"
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/a.txt") == "hi"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/conf.json") == {"k": 1}
    listed = mlflow.artifacts.list_artifacts(run_id=run_id, artifact_path="notes")
    assert [f.path for f in listed] == ["notes/a.txt"]
    with pytest.raises(InvalidParameter, match="one of them"):
        mlflow.artifacts.download_artifacts()
    with pytest.raises(InvalidParameter, match="goes with run_id"):
        mlflow.artifacts.download_artifacts(f"runs:/{run_id}", artifact_path="x")
    with pytest.raises(NotFound):
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="missing.txt",
                                            dst_path=tmp_path / "d5")


def test_artifacts_download_a_registered_version(fluent: ModuleType, tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    import jupyter_mltrack as mlflow

    model = LinearRegression().fit(np.array([[0.0], [1.0]]), np.array([0.0, 1.0]))
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", registered_model_name="lin")
    got = mlflow.artifacts.download_artifacts("models:/lin/1", dst_path=tmp_path / "v1",
                                              tracking_uri=mlflow.get_tracking_uri())
    assert (Path(got) / "MLmodel").is_file()
    assert type(mlflow.sklearn.load_model(got)) is LinearRegression


def test_register_model_takes_await_registration_for(fluent: ModuleType) -> None:
    import jupyter_mltrack as mlflow

    client = mlflow.Client(mlflow.get_tracking_uri())
    with mlflow.start_run() as run:
        pass
    uri = _logged_model(client, run.info.run_id)
    version = mlflow.register_model(uri, "awaited", await_registration_for=300,
                                    tags={"k": "v"})
    assert version.version == 1 and version.tags["k"] == "v"


def test_mlflow_client_imports_from_tracking_as_older_mlflow_code_does() -> None:
    from jupyter_mltrack import MlflowClient
    from jupyter_mltrack.tracking import MlflowClient as FromTracking

    assert FromTracking is MlflowClient


def test_mlflow_exception_catches_our_errors(fluent: ModuleType) -> None:
    import jupyter_mltrack as mlflow
    from jupyter_mltrack.exceptions import MlflowException

    assert mlflow.MlflowException is MlflowException
    mlflow.create_registered_model("taken")
    with pytest.raises(MlflowException, match="taken"):
        mlflow.MlflowClient().create_registered_model("taken")


def test_registry_uri_is_the_tracking_store(fluent: ModuleType, tmp_path: Path) -> None:
    import jupyter_mltrack as mlflow

    assert mlflow.get_registry_uri() == mlflow.get_tracking_uri()
    mlflow.set_registry_uri(mlflow.get_tracking_uri())  # the same store: nothing to do
    with pytest.raises(InvalidParameter, match="set_tracking_uri"):
        mlflow.set_registry_uri(tmp_path / "elsewhere")
