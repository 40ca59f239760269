"""MLflow's own example projects run unchanged with `mltrack run`: their MLproject and
python_env files as MLflow ships them, and their `import mlflow` code logging into the
run the runner created (through mltrack's MLflow-compatible API)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jupyter_mltrack import Client, InvalidProject
from jupyter_mltrack.cli import main
from jupyter_mltrack.projects import run
from jupyter_mltrack.projects import tags as T
from jupyter_mltrack.projects.mlflow_compat import local_has_mlflow
from tests.test_projects import MLFLOW_WINE, MLFLOW_WINE_ENV, write_project
from tests.test_projects import store as store  # the fixture

pytestmark = pytest.mark.slow

# MLflow's examples/sklearn_logistic_regression, verbatim (MLproject, python_env.yaml, train.py).
LOGISTIC_MLPROJECT = '''\
name: sklearn_logistic_example

python_env: python_env.yaml

entry_points:
  main:
    command: "python train.py"
'''
LOGISTIC_ENV = '''\
python: '3.7'
build_dependencies:
- pip
dependencies:
- mlflow>=1.0
- scipy
- scikit-learn
'''
LOGISTIC_TRAIN = '''\
import numpy as np
from sklearn.linear_model import LogisticRegression

import mlflow
import mlflow.sklearn
from mlflow.models import infer_signature

if __name__ == "__main__":
    X = np.array([-2, -1, 0, 1, 2, 1]).reshape(-1, 1)
    y = np.array([0, 0, 1, 1, 1, 0])
    lr = LogisticRegression()
    lr.fit(X, y)
    score = lr.score(X, y)
    print(f"Score: {score}")
    mlflow.log_metric("score", score)
    predictions = lr.predict(X)
    signature = infer_signature(X, predictions)
    mlflow.sklearn.log_model(lr, "model", signature=signature, input_example=X)
    print(f"Model saved in run {mlflow.active_run().info.run_id}")
'''

# The training code of MLflow's sklearn_elasticnet_wine example, reading scikit-learn's
# diabetes data instead of downloading the wine data (this machine has no internet).
WINE_STYLE_TRAIN = '''\
import sys
from urllib.parse import urlparse

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

import mlflow
import mlflow.sklearn

if __name__ == "__main__":
    np.random.seed(40)
    x, y = load_diabetes(return_X_y=True)
    train_x, test_x, train_y, test_y = train_test_split(x, y)
    alpha = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
    l1_ratio = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    with mlflow.start_run():
        lr = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, random_state=42)
        lr.fit(train_x, train_y)
        predicted = lr.predict(test_x)
        mlflow.log_param("alpha", alpha)
        mlflow.log_param("l1_ratio", l1_ratio)
        mlflow.log_metric("rmse", np.sqrt(mean_squared_error(test_y, predicted)))
        mlflow.log_metric("r2", r2_score(test_y, predicted))
        mlflow.log_metric("mae", mean_absolute_error(test_y, predicted))
        tracking_url_type_store = urlparse(mlflow.get_tracking_uri()).scheme
        if tracking_url_type_store != "file":
            mlflow.sklearn.log_model(lr, "model", registered_model_name="ElasticnetWineModel")
        else:
            mlflow.sklearn.log_model(lr, "model")
'''


def logistic(tmp_path: Path) -> Path:
    return write_project(tmp_path / "sklearn_logistic_regression", LOGISTIC_MLPROJECT,
                         {"python_env.yaml": LOGISTIC_ENV, "train.py": LOGISTIC_TRAIN})


def test_mlflow_logistic_regression_example_runs_unchanged(
        store: Client, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert not local_has_mlflow(), "this test checks the compatibility layer"
    done = run(logistic(tmp_path), quiet=True)
    out = capfd.readouterr().out
    assert f"Model saved in run {done.run_id}" in out
    stored = store.get_run(done.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.data.metrics == {"score": pytest.approx(4 / 6)}
    assert stored.data.tags[T.MLFLOW_COMPAT] == "true"
    assert {f.path for f in store.list_artifacts(done.run_id, "model")} >= {"model/MLmodel"}
    from jupyter_mltrack import load_model

    model = load_model(f"runs:/{done.run_id}/model", trust=True)
    import numpy as np

    assert list(model.predict(np.array([[-2], [2]]))) == [0, 1]


def test_mlflow_example_builds_its_python_env_as_a_virtualenv(
        store: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTRACK_ENVS_DIR", str(tmp_path / "envs"))
    done = run(logistic(tmp_path), env_manager="virtualenv", quiet=True)
    stored = store.get_run(done.run_id)
    assert stored.info.status == "FINISHED" and "score" in stored.data.metrics
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert any("asks for Python 3.7" in n and f"Python {here} instead" in n for n in done.notes)
    assert any("left out mlflow>=1.0" in n for n in done.notes)
    assert stored.data.tags[T.ENV_LOCATION].startswith(str(tmp_path / "envs"))


def test_mlflow_wine_project_takes_typed_params_and_registers_its_model(
        store: Client, tmp_path: Path, tracking_uri: str) -> None:
    folder = write_project(tmp_path / "sklearn_elasticnet_wine", MLFLOW_WINE,
                           {"python_env.yaml": MLFLOW_WINE_ENV, "train.py": WINE_STYLE_TRAIN})
    result = CliRunner().invoke(main, ["--tracking-uri", tracking_uri, "run", str(folder),
                                       "-P", "alpha=0.3", "--experiment", "wine"])
    assert result.exit_code == 0, result.output
    (stored,) = store.search_runs(None, None, "all")
    assert stored.data.params == {"alpha": "0.3", "l1_ratio": "0.1"}
    assert set(stored.data.metrics) == {"rmse", "r2", "mae"}
    from jupyter_mltrack.registry import get_latest_versions

    (version,) = get_latest_versions("ElasticnetWineModel", client=store)
    assert version.run_id == stored.info.run_id

    bad = CliRunner().invoke(main, ["--tracking-uri", tracking_uri, "run", str(folder),
                                    "-P", "l1_ratio=half"])
    assert bad.exit_code == 1
    assert "Parameter 'l1_ratio' of entry point 'main' is a float, but got 'half'" in bad.output
    with pytest.raises(InvalidProject):
        run(folder, parameters={"alpha": "x"})
    assert len(store.search_runs(None, None, "all")) == 1
