"""Autologging XGBoost and LightGBM on a real store: native ``train()`` with its
per-iteration history, the scikit-learn style estimators with a model and a signature,
early stopping, and the patches undone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import jupyter_mltrack
from jupyter_mltrack.autolog import lightgbm as lightgbm_autolog
from jupyter_mltrack.autolog import xgboost as xgboost_autolog

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")


@pytest.fixture
def autolog(fluent: Any) -> Iterator[Any]:
    yield fluent
    fluent.autolog(disable=True)


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


def history(mltrack: Any, run_id: str, key: str) -> list[float]:
    return [m.value for m in sorted(mltrack.get_metric_history(run_id, key),
                                    key=lambda m: m.step)]


def artifacts(mltrack: Any, run_id: str) -> set[str]:
    return {f.path for f in mltrack.Client().list_artifacts(run_id)}


def test_xgboost_train_logs_params_the_history_per_iteration_and_the_booster(
        autolog: Any) -> None:
    xgboost_autolog.autolog()
    x, y = data()
    train, valid = xgb.DMatrix(x[:90], label=y[:90]), xgb.DMatrix(x[90:], label=y[90:])
    recorded: dict[str, Any] = {}
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, train,
                        num_boost_round=4, evals=[(train, "train"), (valid, "eval")],
                        evals_result=recorded, verbose_eval=False)
    run = autolog.last_active_run()
    assert run.info.status == "FINISHED" and run.data.tags["mltrack.autologging"] == "xgboost"
    assert run.data.params["max_depth"] == "2"
    assert run.data.params["num_boost_round"] == "4"
    assert history(autolog, run.info.run_id, "eval-logloss") == pytest.approx(
        recorded["eval"]["logloss"])
    assert len(history(autolog, run.info.run_id, "train-logloss")) == 4
    assert {"model", "feature_importance_weight.json"} <= artifacts(autolog, run.info.run_id)
    loaded = jupyter_mltrack.load_native(f"runs:/{run.info.run_id}/model", trust=True)
    np.testing.assert_allclose(loaded.predict(valid), booster.predict(valid), rtol=1e-6)


def test_xgboost_early_stopping_logs_the_best_iteration(autolog: Any) -> None:
    xgboost_autolog.autolog(log_models=False)
    x, y = data()
    train, valid = xgb.DMatrix(x[:90], label=y[:90]), xgb.DMatrix(x[90:], label=y[90:])
    booster = xgb.train({"objective": "binary:logistic", "eta": 1.0}, train,
                        num_boost_round=50, evals=[(valid, "eval")],
                        early_stopping_rounds=2, verbose_eval=False)
    run = autolog.last_active_run()
    assert run.data.metrics["best_iteration"] == booster.best_iteration
    assert run.data.metrics["stopped_iteration"] < 49


def test_xgboost_estimator_logs_params_eval_history_and_a_model_with_signature(
        autolog: Any) -> None:
    autolog.autolog()
    x, y = data()
    clf = xgb.XGBClassifier(n_estimators=3, max_depth=2)
    clf.fit(x, y, eval_set=[(x[90:], y[90:])], verbose=False)
    runs = autolog.search_runs(output_format="list")
    assert len(runs) == 1  # the estimator's fit, not a second run for its train() call
    run = runs[0]
    assert run.data.params["n_estimators"] == "3"
    assert run.data.tags["estimator_name"] == "XGBClassifier"
    assert history(autolog, run.info.run_id, "validation_0-logloss") == pytest.approx(
        clf.evals_result()["validation_0"]["logloss"])
    model = jupyter_mltrack.load_model(f"runs:/{run.info.run_id}/model")
    assert model.signature is not None and model.signature.outputs is not None
    np.testing.assert_array_equal(model.predict(x[:7]), clf.predict(x[:7]))


def test_lightgbm_train_logs_the_history_importance_and_the_booster(autolog: Any) -> None:
    lightgbm_autolog.autolog()
    x, y = data()
    train = lgb.Dataset(x[:90], label=y[:90])
    valid = lgb.Dataset(x[90:], label=y[90:], reference=train)
    recorded: dict[str, Any] = {}
    booster = lgb.train({"objective": "binary", "num_leaves": 4, "verbose": -1}, train,
                        num_boost_round=4, valid_sets=[valid], valid_names=["valid"],
                        callbacks=[lgb.record_evaluation(recorded)])
    run = autolog.last_active_run()
    assert run.info.status == "FINISHED" and run.data.params["num_leaves"] == "4"
    assert history(autolog, run.info.run_id, "valid-binary_logloss") == pytest.approx(
        recorded["valid"]["binary_logloss"])
    assert {"model", "feature_importance_split.json",
            "feature_importance_gain.json"} <= artifacts(autolog, run.info.run_id)
    loaded = jupyter_mltrack.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(loaded.predict(x[:5]), booster.predict(x[:5]))


def test_lightgbm_estimator_is_one_run_with_a_signature(autolog: Any) -> None:
    autolog.autolog()
    x, y = data()
    with autolog.start_run() as active:
        clf = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, verbose=-1).fit(
            x, y, eval_set=[(x[90:], y[90:])])
    assert len(autolog.search_runs(output_format="list")) == 1
    run = autolog.get_run(active.info.run_id)
    assert run.data.params["num_leaves"] == "4"
    assert len(history(autolog, run.info.run_id, "valid_0-binary_logloss")) == 3
    model = jupyter_mltrack.load_model(f"runs:/{run.info.run_id}/model")
    assert model.signature is not None
    np.testing.assert_array_equal(model.predict(x[:4]), clf.predict(x[:4]))


def test_disable_restores_train_and_fit(autolog: Any) -> None:
    train, fit = xgb.train, xgb.XGBModel.__dict__["fit"]
    lgb_train, lgb_fit = lgb.train, lgb.LGBMModel.__dict__["fit"]
    autolog.autolog()
    import jupyter_mltrack.autolog.lightgbm  # noqa: F401 - enabled on import, here already
    assert xgb.train is not train and lgb.train is not lgb_train
    autolog.autolog(disable=True)
    assert xgb.train is train and xgb.training.train is train
    assert xgb.XGBModel.__dict__["fit"] is fit
    assert lgb.train is lgb_train and lgb.LGBMModel.__dict__["fit"] is lgb_fit
