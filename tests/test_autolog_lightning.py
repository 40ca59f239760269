"""Autologging PyTorch Lightning on a real store: epochs and the optimizer as params,
the metrics the module logs once per epoch, the module as a model that loads back, and
the patch undone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import jupyter_mltrack
from jupyter_mltrack.autolog import lightning as lightning_autolog

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:lightning",
                                        "ignore::DeprecationWarning")


class Line(L.LightningModule):
    """y = w.x + b, fitted by SGD; logs its losses with self.log."""

    def __init__(self, features: int = 3, lr: float = 0.1):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(features, 1)

    def forward(self, x: Any) -> Any:
        return self.layer(x)

    def training_step(self, batch: Any, index: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch: Any, index: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


@pytest.fixture
def autolog(fluent: Any) -> Iterator[Any]:
    yield fluent
    fluent.autolog(disable=True)


def loaders() -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 1
    data = torch.utils.data.TensorDataset(x, y)
    return (torch.utils.data.DataLoader(data, batch_size=16),
            torch.utils.data.DataLoader(data, batch_size=32))


def trainer(epochs: int) -> Any:
    return L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False,
                     accelerator="cpu", num_sanity_val_steps=0)


def test_fit_logs_epochs_the_optimizer_metrics_per_epoch_and_the_module(autolog: Any) -> None:
    lightning_autolog.autolog()
    torch.manual_seed(0)
    module = Line(lr=0.05)
    train, valid = loaders()
    fitter = trainer(3)
    fitter.fit(module, train, valid)
    run = autolog.last_active_run()
    assert run.info.status == "FINISHED" and run.data.tags["mltrack.autologging"] == "lightning"
    assert run.data.params["epochs"] == "3"
    assert run.data.params["optimizer_name"] == "SGD" and run.data.params["lr"] == "0.05"
    for key in ("train_loss", "val_loss"):
        steps = sorted(m.step for m in autolog.get_metric_history(run.info.run_id, key))
        assert steps == [0, 1, 2], key
    last = max(autolog.get_metric_history(run.info.run_id, "val_loss"), key=lambda m: m.step)
    assert last.value == pytest.approx(float(fitter.callback_metrics["val_loss"]))
    loaded = jupyter_mltrack.load_native(f"runs:/{run.info.run_id}/model", trust=True)
    x = torch.randn(4, 3)
    with torch.no_grad():
        np.testing.assert_allclose(loaded(x).numpy(), module(x).numpy(), rtol=1e-6)
    assert not [c for c in fitter.callbacks if hasattr(c, "__mltrack_autolog__")]


def test_disable_puts_trainer_fit_back(autolog: Any) -> None:
    fit = L.Trainer.__dict__["fit"]
    autolog.autolog()
    import jupyter_mltrack.autolog.lightning  # noqa: F401
    assert L.Trainer.__dict__["fit"] is not fit
    autolog.autolog(disable=True)
    assert L.Trainer.__dict__["fit"] is fit
    train, valid = loaders()
    trainer(1).fit(Line(), train, valid)
    assert autolog.search_runs(output_format="list") == []
