"""Keras 3 models in the ``.keras`` format, loaded with Keras' safe mode on.

The backend the model was saved with (tensorflow, torch, jax) is recorded; when Keras is
not imported yet and ``KERAS_BACKEND`` is unset, loading selects that backend.

MLflow's layout: ``data: data`` names a folder holding ``model.keras``. Version 0.1 wrote
``data: model.keras`` (the file itself); both load.
"""

from __future__ import annotations

import os
from typing import Any

from ..._importers import import_optional
from ...errors import InvalidModel
from . import LoadContext, SaveContext, in_sys_modules

DATA_DIR = "data"
DATA_FILE = "model.keras"


class KerasFlavor:
    """``keras.Model`` (Sequential, functional, subclassed with ``get_config``)."""

    name = "keras"
    priority = 20

    def can_save(self, model: Any) -> bool:
        if not in_sys_modules("keras"):
            return False
        import keras

        return isinstance(model, keras.Model)

    def save(self, model: Any, ctx: SaveContext) -> dict[str, Any]:
        keras = import_optional("keras", "keras")
        (ctx.path / DATA_DIR).mkdir()
        model.save(str(ctx.path / DATA_DIR / DATA_FILE))
        return {"data": DATA_DIR, "save_format": "keras", "save_exported_model": False,
                "keras_version": keras.__version__, "keras_backend": keras.backend.backend()}

    def python_function(self, conf: dict[str, Any]) -> dict[str, Any]:
        return {"loader_module": "mlflow.keras"}

    def load(self, ctx: LoadContext) -> Any:
        backend = ctx.conf.get("keras_backend")
        if backend and "keras" not in __import__("sys").modules \
                and not os.environ.get("KERAS_BACKEND"):
            import importlib.util

            if importlib.util.find_spec(backend) is not None:
                os.environ["KERAS_BACKEND"] = backend
        keras = import_optional("keras", "keras")
        # safe_mode refuses lambda layers (arbitrary code) unless the caller trusts the source
        if ctx.conf.get("save_exported_model"):
            raise InvalidModel(
                "This Keras model was saved by MLflow as an exported TensorFlow SavedModel, "
                "which this package does not load; save it with save_exported_model=False."
            )
        path = ctx.file("data", DATA_DIR)
        if path.is_dir():
            path = ctx.file("data", inside=DATA_FILE)
        return keras.saving.load_model(str(path), safe_mode=not ctx.trusted)

    def predict(self, native: Any, data: Any, params: dict[str, Any]) -> Any:
        if hasattr(data, "to_numpy"):
            data = data.to_numpy()
        return native.predict(data, verbose=0, **params)

    def walks_model(self, conf: dict[str, Any]) -> bool:
        return False  # the .keras file holds the whole model

    def modules(self, model: Any, conf: dict[str, Any]) -> list[str]:
        return ["keras", "numpy", conf.get("keras_backend") or "tensorflow"]


flavor = KerasFlavor()
