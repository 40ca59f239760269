"""A script written the way MLflow's ``examples/sklearn_autolog`` are (autolog on, a bare
fit found through ``last_active_run()``, a pipeline inside ``start_run()``, a grid search
whose candidates become child runs) runs with ``import mlflow`` replaced by
``import jupyter_mltrack as mlflow`` and nothing else changed, on synthetic data.

The same text also runs under the real MLflow (its own virtual environment): the params,
metrics and tags autologging records must be named the same in both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.mlflow_env import run_mlflow

pytestmark = pytest.mark.slow

SCRIPT = '''\
"""Autologging scikit-learn: a regression, a pipeline and a grid search."""
import json

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

{import_line}


def logged(run_id):
    data = mlflow.get_run(run_id).data
    return {{"params": data.params, "metrics": data.metrics, "tags": data.tags}}


def main():
    {enable_line}

    # a plane through noisy points
    rng = np.random.default_rng(42)
    X = rng.uniform(0, 5, size=(40, 2))
    y = X @ np.array([1.5, -2.0]) + 3 + rng.normal(0, 0.1, size=40)

    # no run is active: autologging starts one and ends it after fit
    LinearRegression().fit(X, y)
    bare = mlflow.last_active_run().info.run_id

    # a pipeline inside a run of our own: one run for it and its steps
    pipe = Pipeline([("scale", StandardScaler()), ("fit", LinearRegression())])
    with mlflow.start_run() as run:
        pipe.fit(X, y)
    piped = run.info.run_id

    # a grid search in an experiment of its own: the candidates become child runs
    mlflow.set_experiment("svc-grid")
    labels = (X[:, 0] > X[:, 1]).astype(int)
    grid = {{"kernel": ("linear", "rbf"), "C": [0.5, 5, 50]}}
    with mlflow.start_run() as run:
        GridSearchCV(SVC(), grid, cv=3).fit(X, labels)
    parent = run.info.run_id
    runs = mlflow.search_runs()
    children = runs[runs["run_id"] != parent]
    print(children[["run_id", "params.C", "params.kernel", "metrics.mean_test_score"]])

    print("LOGGED " + json.dumps({{
        "bare": logged(bare), "pipeline": logged(piped), "search": logged(parent),
        "children": [logged(r) for r in children["run_id"]],
    }}))


if __name__ == "__main__":
    main()
'''

AS_MLTRACK = "import jupyter_mltrack as mlflow"
AS_MLTRACK_WITH_FLAVOR = AS_MLTRACK  # mlflow.sklearn.autolog() is the flavor module's


def run_script(tmp_path: Path, import_line: str, enable_line: str) -> dict[str, Any]:
    folder = tmp_path / "mltrack"
    folder.mkdir()
    script = folder / "sklearn_autolog.py"
    script.write_text(SCRIPT.format(import_line=import_line, enable_line=enable_line))
    done = subprocess.run([sys.executable, str(script)], cwd=folder, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return _logged(done.stdout)


def _logged(stdout: str) -> dict[str, Any]:
    (line,) = [x for x in stdout.splitlines() if x.startswith("LOGGED ")]
    return json.loads(line[len("LOGGED "):])  # type: ignore[no-any-return]


def _user_tags(tags: dict[str, str]) -> set[str]:
    return {k for k in tags if not k.startswith(("mlflow.", "mltrack."))}


def check(logged: dict[str, Any]) -> None:
    bare, pipeline, search = logged["bare"], logged["pipeline"], logged["search"]
    assert bare["params"]["fit_intercept"] == "True"
    assert bare["metrics"]["training_r2_score"] > 0.99
    assert bare["tags"]["estimator_name"] == "LinearRegression"
    assert pipeline["params"]["scale__with_mean"] == "True"
    assert pipeline["tags"]["estimator_name"] == "Pipeline"
    assert {"best_C", "best_kernel"} <= set(search["params"])
    assert 0.5 < search["metrics"]["best_cv_score"] <= 1
    assert len(logged["children"]) == 5  # six candidates, the five best
    for child in logged["children"]:
        assert child["params"]["kernel"] in ("linear", "rbf")
        assert "mean_test_score" in child["metrics"]


def test_mlflow_style_script_runs_with_jupyter_mltrack_as_mlflow(tmp_path: Path) -> None:
    logged = run_script(tmp_path, AS_MLTRACK, "mlflow.autolog()")
    check(logged)
    # the models are in the store the script used (the .mltrack folder it created)
    from jupyter_mltrack import Client

    client = Client(f"sqlite:///{tmp_path / 'mltrack' / '.mltrack' / 'mltrack.db'}")
    run_ids = [r.info.run_id for r in client.search_runs(None, None, "all")
               if r.info.parent_run_id is None]
    assert len(run_ids) == 3
    for run_id in run_ids:
        assert "model" in {f.path for f in client.list_artifacts(run_id)}


def test_mlflow_style_script_with_the_sklearn_flavor_autolog(tmp_path: Path) -> None:
    """``mlflow.sklearn.autolog()``, as MLflow's example calls it (see AS_MLTRACK_WITH_FLAVOR)."""
    check(run_script(tmp_path, AS_MLTRACK_WITH_FLAVOR, "mlflow.sklearn.autolog()"))


def test_the_same_script_logs_the_same_names_as_mlflow(tmp_path: Path) -> None:
    ours = run_script(tmp_path, AS_MLTRACK, "mlflow.autolog()")
    theirs_folder = tmp_path / "mlflow"
    theirs_folder.mkdir()
    text = SCRIPT.format(import_line="import mlflow", enable_line="mlflow.autolog()")
    done = run_mlflow(text, cwd=theirs_folder, timeout=600,
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
