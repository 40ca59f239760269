"""MLflow's example programs run here with only their imports changed.

The scripts below are written as MLflow code, in the manner of MLflow's ``quickstart``
and ``sklearn_elasticnet_wine`` examples (the wine data replaced by synthetic data of the
same shape: data loading aside). Each runs in a process of its own against a fresh store,
after :func:`ported` changed ``import mlflow`` to ``import jupyter_mltrack as mlflow``
and nothing else; the test then reads the store. The same source also runs under real
MLflow, so the scripts are MLflow code and not code bent to fit this package.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jupyter_mltrack import Client
from tests.mlflow_env import ported, run_mlflow

REPO = Path(__file__).resolve().parents[1]

QUICKSTART = textwrap.dedent('''
    import os
    from random import randint, random

    from mlflow import log_artifacts, log_metric, log_param, log_params

    if __name__ == "__main__":
        log_param("threshold", randint(1, 50))
        log_params({"learning_rate": 0.05, "layers": 3})
        for i in range(3):
            log_metric("score", random() + i)
        log_metric("latency ms", random())

        os.makedirs("outputs", exist_ok=True)
        with open(os.path.join("outputs", "summary.txt"), "w") as handle:
            handle.write("quickstart done")
        log_artifacts("outputs")
''')

ELASTICNET = textwrap.dedent('''
    import sys
    import warnings
    from urllib.parse import urlparse

    import numpy as np
    import pandas as pd
    from sklearn.linear_model import ElasticNet
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
    from sklearn.model_selection import train_test_split

    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    MODEL_NAME = "ElasticnetWineModel"


    def wine_like_data(rows=400, seed=11):
        """Physico-chemical measurements and a quality score (synthetic: no download)."""
        rng = np.random.default_rng(seed)
        columns = ["fixed acidity", "volatile acidity", "citric acid", "residual sugar",
                   "chlorides", "density", "pH", "sulphates", "alcohol"]
        features = pd.DataFrame(rng.normal(size=(rows, len(columns))), columns=columns)
        weights = np.linspace(-0.4, 0.6, len(columns))
        quality = 5.6 + features.to_numpy() @ weights + rng.normal(scale=0.3, size=rows)
        return features.assign(quality=quality.round())


    def evaluate(actual, predicted):
        rmse = float(np.sqrt(mean_squared_error(actual, predicted)))
        mae = float(mean_absolute_error(actual, predicted))
        return rmse, mae, float(r2_score(actual, predicted))


    if __name__ == "__main__":
        warnings.filterwarnings("ignore")
        train, test = train_test_split(wine_like_data(), random_state=5)
        train_x, test_x = train.drop(["quality"], axis=1), test.drop(["quality"], axis=1)
        train_y, test_y = train[["quality"]], test[["quality"]]

        alpha = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
        l1_ratio = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5

        with mlflow.start_run() as run:
            model = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, random_state=42)
            model.fit(train_x, train_y)
            rmse, mae, r2 = evaluate(test_y, model.predict(test_x))
            print(f"ElasticNet(alpha={alpha:f}, l1_ratio={l1_ratio:f}): rmse={rmse:.3f}")

            mlflow.log_param("alpha", alpha)
            mlflow.log_param("l1_ratio", l1_ratio)
            mlflow.log_metric("rmse", rmse)
            mlflow.log_metric("r2", r2)
            mlflow.log_metric("mae", mae)

            signature = infer_signature(train_x, model.predict(train_x))
            if urlparse(mlflow.get_tracking_uri()).scheme != "file":
                mlflow.sklearn.log_model(model, "model", registered_model_name=MODEL_NAME,
                                         signature=signature)
            else:
                mlflow.sklearn.log_model(model, "model", signature=signature)

        client = MlflowClient()
        versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
        newest = max(versions, key=lambda v: int(v.version))
        assert newest.run_id == run.info.run_id
        client.set_registered_model_alias(MODEL_NAME, "champion", newest.version)
        champion = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
        print("champion predicts", len(champion.predict(test_x)), "rows")
''')


def _run_ported(script: str, folder: Path, *args: str) -> str:
    """Run the ported script in ``folder`` on the store there; returns its output."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train.py"
    path.write_text(ported(script), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLTRACK_TRACKING_URI": _uri(folder)}
    done = subprocess.run([sys.executable, str(path), *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return done.stdout


def _uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'store' / 'mltrack.db'}"


def test_quickstart_runs_with_the_import_changed(tmp_path: Path) -> None:
    _run_ported(QUICKSTART, tmp_path)
    client = Client(_uri(tmp_path))
    [run] = client.search_runs(client.resolve_experiment_id("Default"))
    assert run.info.status == "FINISHED"
    assert set(run.data.params) == {"threshold", "learning_rate", "layers"}
    assert 1 <= int(run.data.params["threshold"]) <= 50
    assert run.data.params["learning_rate"] == "0.05"
    assert [round(m.value) >= m.step for m in client.get_metric_history(
        run.info.run_id, "score")] == [True, True, True]
    assert "latency ms" in run.data.metrics
    assert client.read_artifact(run.info.run_id, "summary.txt") == b"quickstart done"


def test_elasticnet_wine_runs_with_the_import_changed(tmp_path: Path) -> None:
    first = _run_ported(ELASTICNET, tmp_path, "0.3", "0.7")
    _run_ported(ELASTICNET, tmp_path, "0.1", "0.1")
    assert "ElasticNet(alpha=0.300000, l1_ratio=0.700000)" in first
    assert "champion predicts 100 rows" in first
    client = Client(_uri(tmp_path))
    runs = client.search_runs(client.resolve_experiment_id("Default"),
                              order_by=["attributes.start_time ASC"])
    assert [r.data.params for r in runs] == [{"alpha": "0.3", "l1_ratio": "0.7"},
                                             {"alpha": "0.1", "l1_ratio": "0.1"}]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert set(run.data.metrics) == {"rmse", "r2", "mae"}
        assert 0 < run.data.metrics["rmse"] < 2
        files = {f.path for f in client.list_artifacts(run.info.run_id, "model")}
        assert "model/MLmodel" in files
    import jupyter_mltrack as mltrack

    mltrack.set_tracking_uri(_uri(tmp_path))
    try:
        versions = sorted(mltrack.search_model_versions("name = 'ElasticnetWineModel'"),
                          key=lambda v: v.version)
        assert [(v.version, v.run_id) for v in versions] == [
            (1, runs[0].info.run_id), (2, runs[1].info.run_id)]
        assert mltrack.get_model_version_by_alias("ElasticnetWineModel",
                                                  "champion").version == 2
        model = mltrack.load_model("models:/ElasticnetWineModel/1")
        assert model.signature is not None and len(model.signature.inputs.inputs) == 9
    finally:
        mltrack.set_tracking_uri(None)


@pytest.mark.parametrize("script", [QUICKSTART, ELASTICNET], ids=["quickstart", "elasticnet"])
def test_the_scripts_are_mlflow_code(script: str, tmp_path: Path) -> None:
    """The unported source runs under MLflow itself (on a SQLite store, so that the
    registry branch of the elasticnet script runs too)."""
    path = tmp_path / "train.py"
    path.write_text(script, encoding="utf-8")
    done = run_mlflow(f"import runpy, sys; sys.argv = [{str(path)!r}]; "
                      f"runpy.run_path({str(path)!r}, run_name='__main__')", cwd=tmp_path,
                      env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    if script is ELASTICNET:
        assert "champion predicts 100 rows" in done.stdout
