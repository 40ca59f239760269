"""LightGBM models in LightGBM's native text format, loaded back in a fresh process."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.datasets import make_classification, make_regression

from tests.models_fresh import predict_fresh


def test_classifier_round_trip_in_fresh_process(fluent, tmp_path: Path) -> None:
    X, y = make_classification(n_samples=300, n_features=6, n_classes=3, n_informative=4,
                               random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    labels = np.array(["low", "mid", "high"])[y]
    model = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(frame, labels)
    with fluent.start_run():
        info = fluent.log_model(model, input_example=frame[:5])
    folder = Path(fluent.get_run(info.run_id).info.artifact_uri) / "model"
    # MLflow's layout: the wrapper and its booster in one skops file, no pickle
    conf = info.flavors["lightgbm"]
    assert conf["data"] == "model.skops" and conf["serialization_format"] == "skops"
    assert (folder / "model.skops").is_file() and not (folder / "model.pkl").exists()
    result = predict_fresh(tmp_path / "fresh", info.model_uri, frame,
                           tracking_uri=fluent.get_tracking_uri())
    assert result["native"] == "lightgbm.sklearn.LGBMClassifier"
    np.testing.assert_array_equal(result["prediction"], model.predict(frame))
    native = fluent.load_native(info.model_uri)
    np.testing.assert_allclose(native.predict_proba(frame), model.predict_proba(frame))


def test_booster_and_wrapper_load_from_outside_the_store_without_trust(fluent,
                                                                       tmp_path: Path) -> None:
    X, y = make_regression(n_samples=200, n_features=4, random_state=2)
    booster = lgb.train({"verbose": -1}, lgb.Dataset(X, label=y), num_boost_round=5)
    fluent.save_model(booster, tmp_path / "booster", input_example=X[:2])
    result = predict_fresh(tmp_path / "fresh", str(tmp_path / "booster"), X)
    np.testing.assert_allclose(result["prediction"], booster.predict(X))
    regressor = lgb.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, y)
    fluent.save_model(regressor, tmp_path / "regressor")
    loaded = fluent.load_model(tmp_path / "regressor")  # only LightGBM's own types inside
    np.testing.assert_allclose(loaded.predict(X), regressor.predict(X))
    requirements = (tmp_path / "regressor" / "requirements.txt").read_text()
    assert f"lightgbm=={lgb.__version__}" in requirements
