"""Autologging scikit-learn on a real store: what a fit logs, where it lands (a run of its
own, the active run, a ``%%track`` cell's run), parameter searches with child runs,
undoing the patches, and training that goes on when logging fails."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import jupyter_mltrack
from jupyter_mltrack.autolog import sklearn as sklearn_autolog
from jupyter_mltrack.autolog.training import AUTOLOGGING_TAG


@pytest.fixture
def autolog(fluent: Any) -> Iterator[Any]:
    """The module-level API on a fresh store; autologging is undone afterwards."""
    yield fluent
    fluent.autolog(disable=True)


def line() -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[1.0, 1.0], [1.0, 2.0], [2.0, 2.0], [2.0, 3.0], [3.0, 5.0], [4.0, 1.0]])
    return x, x @ np.array([1.0, 2.0]) + 3


def all_runs(mltrack: Any) -> list[Any]:
    return mltrack.search_runs(output_format="list", search_all_experiments=True)


def test_a_fit_without_a_run_gets_one_with_params_metrics_and_the_model(autolog: Any) -> None:
    autolog.autolog()
    x, y = line()
    model = LinearRegression(fit_intercept=True).fit(x, y)

    (run,) = all_runs(autolog)
    assert autolog.last_active_run().info.run_id == run.info.run_id
    assert run.info.status == "FINISHED" and autolog.active_run() is None
    assert run.data.params["fit_intercept"] == "True"
    assert run.data.params["positive"] == "False"
    assert run.data.tags["estimator_name"] == "LinearRegression"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._base.LinearRegression"
    assert run.data.tags[AUTOLOGGING_TAG] == "sklearn"
    assert run.data.metrics["training_score"] == pytest.approx(model.score(x, y))
    assert run.data.metrics["training_r2_score"] == pytest.approx(1.0)
    assert {"training_mean_squared_error", "training_root_mean_squared_error",
            "training_mean_absolute_error"} <= set(run.data.metrics)

    loaded = jupyter_mltrack.load_model(f"runs:/{run.info.run_id}/model", trust=True)
    assert loaded.signature is not None
    assert loaded.signature.inputs.inputs[0].shape == (-1, 2)
    assert loaded.signature.outputs is not None
    np.testing.assert_allclose(loaded.predict(x), model.predict(x))
    files = {f.path for f in autolog.Client().list_artifacts(run.info.run_id, "model")}
    assert not any("input_example" in f for f in files)  # only when asked for


def test_classifier_metrics_and_the_input_example(autolog: Any) -> None:
    autolog.autolog(log_input_examples=True)
    x, y = load_iris(return_X_y=True)
    with autolog.start_run() as active:
        LogisticRegression(max_iter=300).fit(x, y)
    run = autolog.get_run(active.info.run_id)
    for name in ("training_accuracy_score", "training_precision_score", "training_recall_score",
                 "training_f1_score", "training_log_loss", "training_roc_auc", "training_score"):
        assert name in run.data.metrics, name
    assert 0.9 < run.data.metrics["training_accuracy_score"] <= 1
    assert run.data.params["max_iter"] == "300"
    files = {f.path for f in autolog.Client().list_artifacts(run.info.run_id, "model")}
    assert any("input_example" in f for f in files), files


def test_a_pipeline_is_one_run_with_its_steps_params(autolog: Any) -> None:
    autolog.autolog(log_models=False)
    x, y = line()
    pipe = Pipeline([("scaler", StandardScaler()), ("lr", LinearRegression())])
    with autolog.start_run() as active:
        pipe.fit(x, y)
        assert autolog.active_run().info.run_id == active.info.run_id  # still open
    assert len(all_runs(autolog)) == 1  # the steps' own fits were not logged apart
    run = autolog.get_run(active.info.run_id)
    assert run.data.params["scaler__with_mean"] == "True"
    assert run.data.params["lr__fit_intercept"] == "True"
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert run.data.metrics["training_r2_score"] == pytest.approx(1.0)


def test_a_grid_search_logs_the_best_and_a_child_run_per_best_candidate(autolog: Any) -> None:
    autolog.autolog()
    x, y = load_iris(return_X_y=True)
    grid = {"kernel": ["linear", "rbf"], "C": [0.1, 1, 10]}
    with autolog.start_run() as active:
        search = GridSearchCV(SVC(), grid, cv=3).fit(x, y)
    parent = autolog.get_run(active.info.run_id)
    assert parent.data.params["best_C"] == str(search.best_params_["C"])
    assert parent.data.params["best_kernel"] == search.best_params_["kernel"]
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert "cv" in parent.data.params and "kernel" not in parent.data.params
    files = {f.path for f in autolog.Client().list_artifacts(parent.info.run_id)}
    assert {"model", "best_estimator", "cv_results.csv"} <= files

    children = [r for r in all_runs(autolog) if r.info.parent_run_id == parent.info.run_id]
    assert len(children) == 5  # six candidates, MLflow's default cap of five
    best_five = sorted(search.cv_results_["mean_test_score"], reverse=True)[:5]
    assert sorted((c.data.metrics["mean_test_score"] for c in children), reverse=True) == \
        pytest.approx(best_five)
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.params["kernel"] in grid["kernel"]
        assert {"mean_fit_time", "std_test_score", "rank_test_score"} <= set(child.data.metrics)
        assert not any(k.startswith("split") for k in child.data.metrics)
    assert len(all_runs(autolog)) == 6  # the candidates' and the refit's fits made no runs


def test_a_search_on_worker_threads_logs_no_candidate_runs_of_its_own(autolog: Any) -> None:
    """The candidates are fitted on joblib threads while the search's fit runs: they are
    part of its training, not trainings of their own."""
    import joblib

    sklearn_autolog.autolog(log_models=False, max_tuning_runs=None)
    x, y = load_iris(return_X_y=True)
    with joblib.parallel_backend("threading", n_jobs=2), autolog.start_run() as active:
        GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2, 3]},
                     cv=2).fit(x, y)
    runs = all_runs(autolog)
    assert len(runs) == 4  # the search and one child run per candidate
    assert sum(r.info.parent_run_id == active.info.run_id for r in runs) == 3
    parent = autolog.get_run(active.info.run_id)
    assert "min_samples_leaf" not in parent.data.params  # no candidate logged into it


def test_max_tuning_runs_caps_the_child_runs(autolog: Any) -> None:
    sklearn_autolog.autolog(max_tuning_runs=2, log_models=False)
    x, y = load_iris(return_X_y=True)
    with autolog.start_run() as active:
        GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2, 3, 4]},
                     cv=3).fit(x, y)
    children = [r for r in all_runs(autolog) if r.info.parent_run_id == active.info.run_id]
    assert len(children) == 2
    with pytest.raises(jupyter_mltrack.InvalidParameter, match="max_tuning_runs"):
        sklearn_autolog.autolog(max_tuning_runs=-1)


def test_disable_puts_the_original_functions_back(autolog: Any) -> None:
    from sklearn.ensemble import RandomForestClassifier

    own = LinearRegression.__dict__["fit"]
    assert "fit" not in vars(RandomForestClassifier)  # inherited from BaseForest
    autolog.autolog()
    assert LinearRegression.__dict__["fit"] is not own
    assert "fit" in vars(RandomForestClassifier)
    assert not hasattr(StandardScaler.fit, "__mltrack_autolog__")  # data preparation
    assert LinearRegression.fit.__wrapped__ is own
    autolog.autolog()  # twice: still one wrapper around the original
    assert LinearRegression.fit.__wrapped__ is own
    autolog.autolog(disable=True)
    assert LinearRegression.__dict__["fit"] is own
    assert "fit" not in vars(RandomForestClassifier)
    x, y = line()
    LinearRegression().fit(x, y)
    assert all_runs(autolog) == []


def test_a_failing_logger_does_not_break_fit(autolog: Any) -> None:
    """An estimator whose deep get_params raises (scikit-learn itself asks for the shallow
    ones only): its params cannot be logged, fit still works, the warning comes once."""

    class Fragile(LinearRegression):
        def get_params(self, deep: bool = True) -> dict[str, Any]:
            if deep:
                raise RuntimeError("params unavailable")
            return super().get_params(deep=False)

    autolog.autolog(log_models=False)
    x, y = line()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = Fragile().fit(x, y)
        Fragile().fit(x, y)
    assert first.coef_ == pytest.approx([1.0, 2.0])
    said = [str(w.message) for w in caught if "autolog" in str(w.message)]
    assert len(said) == 1 and "params unavailable" in said[0], said
    runs = all_runs(autolog)
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)

    autolog.autolog(silent=True, log_models=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Fragile().fit(x, y)
    assert not [w for w in caught if "autolog" in str(w.message)]


def test_a_store_that_cannot_be_written_does_not_break_fit(autolog: Any, tmp_path: Path
                                                           ) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the store's folder should be")
    autolog.set_tracking_uri(f"sqlite:///{blocked / 'mltrack.db'}")
    autolog.autolog()
    x, y = line()
    with pytest.warns(RuntimeWarning, match="could not start a run"):
        model = LinearRegression().fit(x, y)
    assert model.coef_ == pytest.approx([1.0, 2.0])


def test_a_fit_that_raises_ends_its_run_failed_and_raises_unchanged(autolog: Any) -> None:
    autolog.autolog()
    x, _ = line()
    with pytest.raises(ValueError, match="Input y contains NaN"):
        LinearRegression().fit(x, np.full(len(x), np.nan))
    (run,) = all_runs(autolog)
    assert run.info.status == "FAILED"
    assert autolog.active_run() is None


def test_exclusive_leaves_the_users_runs_alone(autolog: Any) -> None:
    autolog.autolog(exclusive=True, log_models=False)
    x, y = line()
    with autolog.start_run() as active:
        LinearRegression().fit(x, y)
    assert autolog.get_run(active.info.run_id).data.params == {}
    LinearRegression().fit(x, y)  # outside a run of the user's: logged in its own
    assert len(all_runs(autolog)) == 2


def test_params_the_run_holds_already_are_kept(autolog: Any) -> None:
    autolog.autolog(log_models=False, silent=True)
    x, y = line()
    with autolog.start_run() as active:
        autolog.log_param("alpha", "0.5")
        Ridge(alpha=0.5, solver="svd").fit(x, y)
        Ridge(alpha=2.0, solver="svd").fit(x, y)  # same run: the first values stay
    run = autolog.get_run(active.info.run_id)
    assert run.data.params["alpha"] == "0.5" and run.data.params["solver"] == "svd"


def test_a_second_model_in_one_run_gets_its_own_name(autolog: Any) -> None:
    autolog.autolog(silent=True)
    x, y = line()
    with autolog.start_run() as active:
        LinearRegression().fit(x, y)
        LinearRegression(fit_intercept=False).fit(x, y)
    files = {f.path for f in autolog.Client().list_artifacts(active.info.run_id)}
    assert {"model", "model_2"} <= files


TRACKED_FIT = """\
%%track --name ridge
alpha = 0.5
model = Ridge(alpha=alpha).fit(X, y)
fitted_score = model.score(X, y)"""


def test_autologged_values_land_in_the_tracked_cells_run(autolog: Any, tracking_uri: str
                                                         ) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_cell("%load_ext jupyter_mltrack", store_history=True)
    try:
        autolog.set_tracking_uri(tracking_uri)
        autolog.set_experiment("cells")
        shell.user_ns.update({"Ridge": Ridge, "X": line()[0], "y": line()[1]})
        shell.run_cell("import jupyter_mltrack as mltrack\nmltrack.autolog()",
                       store_history=True)
        result = shell.run_cell(TRACKED_FIT, store_history=True)
        assert result.success, result.error_in_exec
    finally:
        shell.run_cell("%unload_ext jupyter_mltrack", store_history=True)

    (run,) = all_runs(autolog)  # one run: the cell's
    assert run.info.run_name == "ridge" and run.info.status == "FINISHED"
    assert run.data.params["alpha"] == "0.5"  # the cell's assignment and Ridge's param agree
    assert run.data.params["solver"] == "auto"  # autologged
    assert run.data.metrics["fitted_score"] == pytest.approx(
        run.data.metrics["training_score"])  # the cell's metric next to the autologged one
    assert AUTOLOGGING_TAG not in run.data.tags  # autolog did not start it
    files = {f.path for f in autolog.Client().list_artifacts(run.info.run_id)}
    assert "model" in files


def test_the_package_is_callable_and_holds_the_flavors() -> None:
    import jupyter_mltrack.autolog.sklearn as flavor_module

    assert callable(jupyter_mltrack.autolog)
    assert jupyter_mltrack.autolog.sklearn is flavor_module  # type: ignore[attr-defined]
    assert "autolog" in jupyter_mltrack.__all__


@pytest.mark.slow
def test_autolog_imports_no_framework_and_patches_on_import(tmp_path: Path) -> None:
    code = (
        "import sys, jupyter_mltrack as m\n"
        "m.autolog()\n"
        "print(sorted(x for x in ('sklearn', 'xgboost', 'lightgbm', 'keras', 'torch') "
        "if x in sys.modules))\n"
        "from sklearn.linear_model import LinearRegression\n"
        "print(hasattr(LinearRegression.fit, '__mltrack_autolog__'))\n"
        # the rest of scikit-learn is patched as it is imported, not imported to be patched
        "print('sklearn.cluster' in sys.modules)\n"
        "from sklearn.cluster import KMeans\n"
        "print(hasattr(KMeans.fit, '__mltrack_autolog__'))\n"
        "m.autolog(disable=True)\n"
        "print(hasattr(LinearRegression.fit, '__mltrack_autolog__'))\n"
        "print(hasattr(KMeans.fit, '__mltrack_autolog__'))\n"
        "import sklearn.manifold\n"
        "print(hasattr(sklearn.manifold.TSNE.fit, '__mltrack_autolog__'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout.split()
    assert out == ["[]", "True", "False", "True", "False", "False", "False"]
