"""XGBoost models in XGBoost's native JSON/UBJ files, loaded back in a fresh process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.datasets import make_classification, make_regression

from tests.models_fresh import predict_fresh


@pytest.fixture
def frame() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]), y


def test_classifier_round_trip_in_fresh_process(fluent, frame, tmp_path: Path) -> None:
    X, y = frame
    model = xgb.XGBClassifier(n_estimators=8, max_depth=3).fit(X, y)
    with fluent.start_run():
        info = fluent.log_model(model, input_example=X[:4])
    conf = info.flavors["xgboost"]
    assert conf["model_format"] == "json" and conf["data"] == "model.json"
    assert conf["model_class"] == "xgboost.sklearn.XGBClassifier"  # as MLflow writes it
    result = predict_fresh(tmp_path / "fresh", info.model_uri, X,
                           tracking_uri=fluent.get_tracking_uri())
    assert result["native"] == "xgboost.sklearn.XGBClassifier"
    np.testing.assert_array_equal(result["prediction"], model.predict(X))
    native = fluent.load_native(info.model_uri)
    np.testing.assert_allclose(native.predict_proba(X), model.predict_proba(X))


def test_booster_in_ubj_format_from_a_local_folder(fluent, tmp_path: Path) -> None:
    X, y = make_regression(n_samples=150, n_features=4, random_state=1)
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=y), num_boost_round=5)
    path = tmp_path / "booster"
    meta = fluent.save_model(booster, path, model_format="ubj", input_example=X[:3])
    assert (path / "model.ubj").is_file()
    assert json.loads(meta.signature.to_dict()["inputs"])[0]["tensor-spec"]["shape"] == [-1, 4]
    expected = booster.predict(xgb.DMatrix(X))
    # native format: no trust flag needed even from outside the store
    result = predict_fresh(tmp_path / "fresh", str(path), X)
    np.testing.assert_allclose(result["prediction"], expected, rtol=1e-6)
    requirements = (path / "requirements.txt").read_text()
    assert f"xgboost=={xgb.__version__}" in requirements
    assert "scikit-learn" not in requirements
