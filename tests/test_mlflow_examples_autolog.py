"""Scripts written the way MLflow's ``examples/sklearn_autolog`` are run with their
imports changed (``import mlflow`` to ``import jupyter_mltrack as mlflow``, ``from
mlflow.tracking import MlflowClient`` likewise) and nothing else, on synthetic data.

They make the calls those examples make: ``MlflowClient`` from ``mlflow.tracking`` (and
as ``mlflow.tracking.MlflowClient``), ``client.list_artifacts(run_id, path)`` walked
through ``is_dir``, ``mlflow.last_active_run()``, ``run._info.run_id`` and
``mlflow.search_runs(filter_string="tags.mlflow.parentRunId = '...'")`` read as a
DataFrame with ``params.*`` and ``metrics.*`` columns.

The same text also runs under the real MLflow (its own virtual environment): the params,
metrics and tags autologging records must be named the same in both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.mlflow_env import ported, run_mlflow

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]

SCRIPT = '''\
"""Autologging scikit-learn: a regression, a pipeline and a grid search."""
import json
import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import mlflow
from mlflow.tracking import MlflowClient


def artifact_files(run_id, path=None):
    """Every file the run logged, folders walked."""
    client = MlflowClient()
    for entry in client.list_artifacts(run_id, path):
        if entry.is_dir:
            yield from artifact_files(run_id, entry.path)
        else:
            yield entry.path


def logged_data(run_id):
    """Params, metrics, tags (system tags left out) and artifacts of a run."""
    client = MlflowClient()
    data = client.get_run(run_id).data
    return {
        "params": data.params,
        "metrics": data.metrics,
        "tags": {k: v for k, v in data.tags.items() if not k.startswith("mlflow.")},
        "artifacts": sorted(artifact_files(run_id)),
    }


def model_files(run_id):
    client = mlflow.tracking.MlflowClient()
    return sorted(f.path for f in client.list_artifacts(run_id, "model"))


def main():
    if sys.argv[1:] == ["--everything"]:
        mlflow.autolog()
    else:
        mlflow.sklearn.autolog()

    # a plane through noisy points
    rng = np.random.default_rng(42)
    X = rng.uniform(0, 5, size=(40, 2))
    y = X @ np.array([1.5, -2.0]) + 3 + rng.normal(0, 0.1, size=40)

    # no run is active: autologging starts one and ends it after fit
    LinearRegression().fit(X, y)
    bare = mlflow.last_active_run().info.run_id
    print(f"Logged data and model in run {bare}")

    # a pipeline inside a run of our own: one run for it and its steps
    pipe = Pipeline([("scale", StandardScaler()), ("fit", LinearRegression())])
    with mlflow.start_run() as run:
        pipe.fit(X, y)
    piped = run._info.run_id

    # a grid search: its candidates become child runs of the run around it
    labels = (X[:, 0] > X[:, 1]).astype(int)
    grid = {"kernel": ("linear", "rbf"), "C": [0.5, 5, 50]}
    with mlflow.start_run() as run:
        GridSearchCV(SVC(), grid, cv=3).fit(X, labels)
    parent = run.info.run_id

    children = mlflow.search_runs(
        filter_string="tags.mlflow.parentRunId = '{}'".format(parent))
    param_cols = ["params.{}".format(p) for p in grid]
    pd.set_option("display.max_columns", None)
    print(children[["run_id", *param_cols, "metrics.mean_test_score"]])

    print("LOGGED " + json.dumps({
        "bare": logged_data(bare), "pipeline": logged_data(piped),
        "search": logged_data(parent),
        "model_files": {"bare": model_files(bare), "pipeline": model_files(piped)},
        "child_columns": {"params": children[param_cols].astype(str).values.tolist(),
                          "mean_test_score": children["metrics.mean_test_score"].tolist()},
        "children": [logged_data(r) for r in children["run_id"]],
    }))


if __name__ == "__main__":
    main()
'''


def run_script(tmp_path: Path, *args: str) -> dict[str, Any]:
    """Run the ported script in a folder of its own (its store is created there)."""
    folder = tmp_path / "mltrack"
    folder.mkdir()
    script = folder / "sklearn_autolog.py"
    script.write_text(ported(SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MLTRACK_TRACKING_URI", None)
    done = subprocess.run([sys.executable, str(script), *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return _logged(done.stdout)


def _logged(stdout: str) -> dict[str, Any]:
    (line,) = [x for x in stdout.splitlines() if x.startswith("LOGGED ")]
    return json.loads(line[len("LOGGED "):])  # type: ignore[no-any-return]


def _user_tags(tags: dict[str, str]) -> set[str]:
    # the script leaves out ``mlflow.*``; this package's own system tags are ``mltrack.*``
    return {k for k in tags if not k.startswith("mltrack.")}


def check(logged: dict[str, Any]) -> None:
    bare, pipeline, search = logged["bare"], logged["pipeline"], logged["search"]
    assert bare["params"]["fit_intercept"] == "True"
    assert bare["metrics"]["training_r2_score"] > 0.99
    assert bare["tags"]["estimator_name"] == "LinearRegression"
    assert pipeline["params"]["scale__with_mean"] == "True"
    assert pipeline["tags"]["estimator_name"] == "Pipeline"
    assert {"best_C", "best_kernel"} <= set(search["params"])
    assert 0.5 < search["metrics"]["best_cv_score"] <= 1
    assert "cv_results.csv" in search["artifacts"]
    # the parentRunId filter finds exactly the candidates (six, the five best logged)
    assert len(logged["children"]) == 5
    columns = logged["child_columns"]
    assert len(columns["params"]) == len(columns["mean_test_score"]) == 5
    for (kernel, c), score, child in zip(columns["params"], columns["mean_test_score"],
                                         logged["children"], strict=True):
        assert (kernel, c) == (child["params"]["kernel"], child["params"]["C"])
        assert score == child["metrics"]["mean_test_score"]
        assert kernel in ("linear", "rbf") and c in ("0.5", "5", "50")


def check_models(logged: dict[str, Any]) -> None:
    """The models are among the run's artifacts, as MLflow 2 kept them (MLflow 3 keeps
    them as logged models of their own, outside the run's artifacts)."""
    assert {"model/MLmodel", "best_estimator/MLmodel"} <= set(logged["search"]["artifacts"])
    for part in ("bare", "pipeline"):
        assert "model/MLmodel" in logged[part]["artifacts"]
        assert "model/MLmodel" in logged["model_files"][part]
        assert all(f.startswith("model/") for f in logged["model_files"][part])


def test_mlflow_style_script_runs_with_jupyter_mltrack_as_mlflow(tmp_path: Path) -> None:
    logged = run_script(tmp_path, "--everything")
    check(logged)
    check_models(logged)
    # the models are in the store the script used (the .mltrack folder it created)
    from jupyter_mltrack import Client

    client = Client(f"sqlite:///{tmp_path / 'mltrack' / '.mltrack' / 'mltrack.db'}")
    run_ids = [r.info.run_id for r in client.search_runs(None, None, "all")
               if r.info.parent_run_id is None]
    assert len(run_ids) == 3  # the candidates are children of the grid search's run
    for run_id in run_ids:
        assert "model" in {f.path for f in client.list_artifacts(run_id)}


def test_mlflow_style_script_with_the_sklearn_flavor_autolog(tmp_path: Path) -> None:
    """``mlflow.sklearn.autolog()``, as MLflow's examples call it."""
    logged = run_script(tmp_path)
    check(logged)
    check_models(logged)


def test_the_same_script_logs_the_same_names_as_mlflow(tmp_path: Path) -> None:
    ours = run_script(tmp_path)
    theirs_folder = tmp_path / "mlflow"
    theirs_folder.mkdir()
    done = run_mlflow(SCRIPT, cwd=theirs_folder, timeout=600,
                      env={"MLFLOW_TRACKING_URI": f"sqlite:///{theirs_folder / 'mlflow.db'}"})
    theirs = _logged(done.stdout)
    check(theirs)  # the script means the same under MLflow
    for part in ("bare", "pipeline", "search"):
        assert set(ours[part]["params"]) == set(theirs[part]["params"]), part
        assert set(ours[part]["metrics"]) == set(theirs[part]["metrics"]), part
        assert _user_tags(ours[part]["tags"]) == _user_tags(theirs[part]["tags"]), part
        for key, value in theirs[part]["metrics"].items():
            assert ours[part]["metrics"][key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    ours_children = sorted(ours["children"], key=lambda c: (c["params"]["kernel"],
                                                             c["params"]["C"]))
    theirs_children = sorted(theirs["children"], key=lambda c: (c["params"]["kernel"],
                                                                 c["params"]["C"]))
    assert [c["params"] for c in ours_children] == [c["params"] for c in theirs_children]
    assert [set(c["metrics"]) for c in ours_children] == \
        [set(c["metrics"]) for c in theirs_children]
