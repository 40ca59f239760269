"""Projects written the way MLflow's examples are written run unchanged with
`mltrack run`: an MLproject naming a python_env file, typed parameters, and
`import mlflow` code that logs into the run the runner created (through mltrack's
MLflow-compatible API).

The projects below are written for these tests; they use the same MLflow features as
MLflow's sklearn examples, on data sets that ship with scikit-learn."""

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
from tests.test_projects import store as store  # the fixture
from tests.test_projects import write_project

pytestmark = pytest.mark.slow

# An iris classifier: no parameters, no explicit start_run (logging starts the run, and
# active_run() is then the runner's), a model logged with a signature and an example.
IRIS_MLPROJECT = '''\
name: iris_species

python_env: python_env.yaml

entry_points:
  main:
    command: "python classify.py"
'''
IRIS_ENV = '''\
python: "3.6"
build_dependencies:
  - pip
dependencies:
  - numpy
  - scikit-learn
  - mlflow>=2.3
'''
IRIS_CLASSIFY = '''\
"""Tell iris species apart from their four measurements."""
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mlflow
import mlflow.sklearn
from mlflow.models import infer_signature


def main():
    measurements, species = load_iris(return_X_y=True)
    classifier = LogisticRegression(max_iter=1000).fit(measurements, species)
    accuracy = classifier.score(measurements, species)
    mlflow.log_metric("train_accuracy", accuracy)
    # The signature is read off the training inputs and what the classifier answers.
    signature = infer_signature(measurements, classifier.predict(measurements))
    mlflow.sklearn.log_model(classifier, "classifier", signature=signature,
                             input_example=measurements[:3])
    print(f"classifier logged to run {mlflow.active_run().info.run_id}")


if __name__ == "__main__":
    main()
'''

# A tumour classifier with typed parameters, an explicit start_run, logged parameters
# and metrics, and a model registered under a name as it is logged.
TUMOUR_MLPROJECT = '''\
name: tumour_forest

python_env: python_env.yaml

entry_points:
  # a random forest on scikit-learn's breast cancer measurements
  main:
    parameters:
      trees: {type: int, default: 25}
      min_leaf: {type: int, default: 2}
      holdout: {type: float, default: 0.25}
    command: "python grow.py --trees {trees} --min-leaf {min_leaf} --holdout {holdout}"
'''
TUMOUR_ENV = '''\
python: "3.10"
build_dependencies:
  - pip
dependencies:
  - scikit-learn>=1.3
  - mlflow
'''
TUMOUR_GROW = '''\
"""Grow a random forest that separates malignant from benign tumours."""
import argparse

from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

import mlflow
import mlflow.sklearn
from mlflow.models import infer_signature

options = argparse.ArgumentParser()
options.add_argument("--trees", type=int, required=True)
options.add_argument("--min-leaf", type=int, required=True)
options.add_argument("--holdout", type=float, required=True)
args = options.parse_args()

cells, diagnosis = load_breast_cancer(return_X_y=True)
fit_cells, held_cells, fit_diagnosis, held_diagnosis = train_test_split(
    cells, diagnosis, test_size=args.holdout, random_state=7, stratify=diagnosis)

with mlflow.start_run():
    forest = RandomForestClassifier(n_estimators=args.trees, min_samples_leaf=args.min_leaf,
                                    random_state=7)
    forest.fit(fit_cells, fit_diagnosis)
    guessed = forest.predict(held_cells)
    for name, value in vars(args).items():
        mlflow.log_param(name, value)
    mlflow.log_metric("accuracy", accuracy_score(held_diagnosis, guessed))
    mlflow.log_metric("f1", f1_score(held_diagnosis, guessed))
    mlflow.log_metric("roc_auc", roc_auc_score(held_diagnosis,
                                               forest.predict_proba(held_cells)[:, 1]))
    mlflow.sklearn.log_model(forest, "forest",
                             signature=infer_signature(held_cells, guessed),
                             registered_model_name="TumourForest")
'''


def iris(tmp_path: Path) -> Path:
    return write_project(tmp_path / "iris_species", IRIS_MLPROJECT,
                         {"python_env.yaml": IRIS_ENV, "classify.py": IRIS_CLASSIFY})


def test_an_mlflow_style_project_runs_unchanged_through_the_compat_layer(
        store: Client, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert not local_has_mlflow(), "this test checks the compatibility layer"
    done = run(iris(tmp_path), quiet=True)
    out = capfd.readouterr().out
    assert f"classifier logged to run {done.run_id}" in out  # active_run() is the runner's
    stored = store.get_run(done.run_id)
    assert stored.info.status == "FINISHED"
    assert set(stored.data.metrics) == {"train_accuracy"}
    assert stored.data.tags[T.MLFLOW_COMPAT] == "true"
    assert {f.path for f in store.list_artifacts(done.run_id, "classifier")} >= {
        "classifier/MLmodel"}
    from sklearn.datasets import load_iris

    from jupyter_mltrack import load_model

    model = load_model(f"runs:/{done.run_id}/classifier", trust=True)
    assert model.signature is not None
    measurements, species = load_iris(return_X_y=True)
    # The logged model is the one that scored the logged accuracy.
    accuracy = float((model.predict(measurements) == species).mean())
    assert stored.data.metrics["train_accuracy"] == pytest.approx(accuracy)
    assert accuracy > 0.9


def test_an_mlflow_style_python_env_is_built_as_a_virtualenv(
        store: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTRACK_ENVS_DIR", str(tmp_path / "envs"))
    done = run(iris(tmp_path), env_manager="virtualenv", quiet=True)
    stored = store.get_run(done.run_id)
    assert stored.info.status == "FINISHED" and "train_accuracy" in stored.data.metrics
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert any("asks for Python 3.6" in n and f"Python {here} instead" in n for n in done.notes)
    assert any("left out mlflow>=2.3" in n for n in done.notes)
    assert stored.data.tags[T.ENV_LOCATION].startswith(str(tmp_path / "envs"))


def test_an_mlflow_style_project_takes_typed_params_and_registers_its_model(
        store: Client, tmp_path: Path, tracking_uri: str) -> None:
    folder = write_project(tmp_path / "tumour_forest", TUMOUR_MLPROJECT,
                           {"python_env.yaml": TUMOUR_ENV, "grow.py": TUMOUR_GROW})
    result = CliRunner().invoke(main, ["--tracking-uri", tracking_uri, "run", str(folder),
                                       "-P", "trees=12", "--experiment", "tumours"])
    assert result.exit_code == 0, result.output
    (stored,) = store.search_runs(None, None, "all")
    assert stored.data.params == {"trees": "12", "min_leaf": "2", "holdout": "0.25"}
    assert set(stored.data.metrics) == {"accuracy", "f1", "roc_auc"}
    assert all(0.5 < v <= 1 for v in stored.data.metrics.values())
    assert store.get_experiment(stored.info.experiment_id).name == "tumours"
    from jupyter_mltrack.registry import get_latest_versions

    (version,) = get_latest_versions("TumourForest", client=store)
    assert version.run_id == stored.info.run_id

    bad = CliRunner().invoke(main, ["--tracking-uri", tracking_uri, "run", str(folder),
                                    "-P", "holdout=a quarter"])
    assert bad.exit_code == 1
    assert ("Parameter 'holdout' of entry point 'main' is a float, but got 'a quarter'"
            in bad.output)
    with pytest.raises(InvalidProject, match="'trees'"):
        run(folder, parameters={"trees": "many"})
    assert len(store.search_runs(None, None, "all")) == 1


# XGBoost with autologging, as MLflow's xgboost and lightgbm example projects train: no
# explicit start_run, ``mlflow.xgboost.autolog()`` before the native train(), then an
# evaluation metric logged by hand into the same (the runner's) run.
BOOSTED_MLPROJECT = '''\
name: boosted_iris

python_env: python_env.yaml

entry_points:
  main:
    parameters:
      rounds: {type: int, default: 4}
    command: "python train.py --rounds {rounds}"
'''
BOOSTED_ENV = '''\
python: "3.10"
build_dependencies:
  - pip
dependencies:
  - xgboost
  - scikit-learn
  - mlflow
'''
BOOSTED_TRAIN = '''\
"""Boost trees that tell iris species apart, autologged."""
import argparse

import xgboost as xgb
from sklearn.datasets import load_iris
from sklearn.metrics import accuracy_score

import mlflow
import mlflow.xgboost

options = argparse.ArgumentParser()
options.add_argument("--rounds", type=int, required=True)
args = options.parse_args()

mlflow.xgboost.autolog()
measurements, species = load_iris(return_X_y=True)
train = xgb.DMatrix(measurements, label=species)
booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 2},
                    train, args.rounds, evals=[(train, "train")])
guessed = booster.predict(train).argmax(axis=1)
mlflow.log_metric("accuracy", accuracy_score(species, guessed))
mlflow.lightgbm.autolog(disable=True)  # reached without importing mlflow.lightgbm
'''


def test_an_mlflow_style_project_autologs_through_the_compat_layer(
        store: Client, tmp_path: Path) -> None:
    folder = write_project(tmp_path / "boosted_iris", BOOSTED_MLPROJECT,
                           {"python_env.yaml": BOOSTED_ENV, "train.py": BOOSTED_TRAIN})
    done = run(folder, parameters={"rounds": "3"}, quiet=True)
    stored = store.get_run(done.run_id)
    assert stored.info.status == "FINISHED"
    assert len(store.search_runs(None, None, "all")) == 1  # autolog used the runner's run
    assert stored.data.params["max_depth"] == "2" and stored.data.params["rounds"] == "3"
    history = store.get_metric_history(done.run_id, "train-mlogloss")
    assert sorted(m.step for m in history) == [0, 1, 2]
    assert stored.data.metrics["accuracy"] > 0.9
    assert "model" in {f.path for f in store.list_artifacts(done.run_id)}
