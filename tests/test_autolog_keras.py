"""Autologging Keras 3 (on the torch backend here) on a real store: fit's params, the
optimizer's configuration, metrics per epoch as they come, the model with a signature,
a failing callback that does not stop training, and the patch undone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import jupyter_mltrack
from jupyter_mltrack.autolog import keras as keras_autolog

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

# Keras' torch backend trips numpy 2's copy-keyword deprecation inside Keras itself.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:keras")


@pytest.fixture
def autolog(fluent: Any) -> Iterator[Any]:
    yield fluent
    fluent.autolog(disable=True)


def model_and_data() -> tuple[Any, np.ndarray, np.ndarray]:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(48, 3)).astype("float32")
    return model, x, (x.sum(axis=1) > 0).astype("float32")


def test_fit_logs_params_metrics_per_epoch_and_the_model(autolog: Any) -> None:
    keras_autolog.autolog()
    model, x, y = model_and_data()
    seen: list[int] = []

    class Spy(keras.callbacks.Callback):  # the run holds each epoch when it ends
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            jupyter_mltrack.flush()
            run = jupyter_mltrack.active_run()
            seen.append(len(jupyter_mltrack.get_metric_history(run.info.run_id, "loss")))

    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
                        callbacks=[Spy()])
    run = autolog.last_active_run()
    assert run.info.status == "FINISHED" and run.data.tags["mltrack.autologging"] == "keras"
    assert run.data.params["epochs"] == "3" and run.data.params["batch_size"] == "16"
    assert run.data.params["validation_split"] == "0.25"
    assert run.data.params["optimizer_name"] == "adam"
    assert float(run.data.params["optimizer_learning_rate"]) == pytest.approx(0.01)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        points = sorted(autolog.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
        assert [p.step for p in points] == [0, 1, 2]
        assert [p.value for p in points] == pytest.approx(history.history[key])
    assert seen == [0, 1, 2]  # our callback ran after the user's, in each epoch
    loaded = jupyter_mltrack.load_model(f"runs:/{run.info.run_id}/model")
    assert loaded.signature.inputs.inputs[0].shape == (-1, 3)
    np.testing.assert_allclose(loaded.predict(x[:4]), model.predict(x[:4], verbose=0),
                               rtol=1e-5)


def test_fit_inside_a_run_logs_there_and_batches_every_n_steps(autolog: Any) -> None:
    keras_autolog.autolog(log_every_n_steps=2, log_models=False)
    model, x, y = model_and_data()
    with autolog.start_run() as active:
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)  # 6 steps per epoch
    run = autolog.get_run(active.info.run_id)
    steps = sorted(m.step for m in autolog.get_metric_history(run.info.run_id, "batch_loss"))
    assert steps == [2, 4, 6, 8, 10, 12]
    assert len(autolog.search_runs(output_format="list")) == 1


def test_a_fit_with_a_generator_logs_no_example_but_trains(autolog: Any) -> None:
    autolog.autolog(log_models=False)
    model, x, y = model_and_data()

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        while True:
            yield x[:16], y[:16]

    history = model.fit(batches(), steps_per_epoch=2, epochs=2, verbose=0, shuffle=False)
    assert len(history.history["loss"]) == 2
    run = autolog.last_active_run()
    assert run.data.params["steps_per_epoch"] == "2"


def test_disable_removes_the_patch(autolog: Any) -> None:
    before = "fit" in vars(keras.Model)
    autolog.autolog()
    import jupyter_mltrack.autolog.keras  # noqa: F401
    assert hasattr(keras.Model.fit, "__mltrack_autolog__")
    autolog.autolog(disable=True)
    assert ("fit" in vars(keras.Model)) == before
    assert not hasattr(keras.Model.fit, "__mltrack_autolog__")
