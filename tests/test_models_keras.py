"""Keras 3 models in the .keras format (run here on the torch backend)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from jupyter_mltrack.errors import SignatureError
from tests.models_fresh import predict_fresh

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

# Keras' torch backend trips numpy 2's copy-keyword deprecation inside Keras itself.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:keras")


def _model() -> object:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    X = np.random.default_rng(0).normal(size=(64, 5)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, size=64)
    model.fit(X, y, epochs=2, verbose=0)
    return model


def test_keras_round_trip_in_fresh_process(fluent, tmp_path: Path) -> None:
    model = _model()
    X = np.random.default_rng(2).normal(size=(10, 5)).astype("float32")
    with fluent.start_run():
        info = fluent.log_model(model, input_example=X[:2])
    conf = info.flavors["keras"]
    assert conf["data"] == "data"  # MLflow's layout: data/model.keras
    assert conf["keras_backend"] == keras.backend.backend()
    expected = model.predict(X, verbose=0)
    # the fresh process picks the recorded backend itself (KERAS_BACKEND unset there)
    result = predict_fresh(tmp_path / "fresh", info.model_uri, X,
                           tracking_uri=fluent.get_tracking_uri(), unset=("KERAS_BACKEND",))
    assert result["flavor"] == "keras"
    np.testing.assert_allclose(result["prediction"], expected, rtol=1e-5, atol=1e-6)
    loaded = fluent.load_model(info.model_uri)
    with pytest.raises(SignatureError, match="shape"):
        loaded.predict(np.ones((2, 4), dtype="float32"))
    requirements = (Path(fluent.get_run(info.run_id).info.artifact_uri) / "model" /
                    "requirements.txt").read_text()
    assert f"keras=={keras.__version__}" in requirements
