"""LightGBM boosters in LightGBM's native text format, and their scikit-learn wrappers.

MLflow's layout: a ``Booster`` is its text file (``data: model.txt``, ``model_class:
lightgbm.basic.Booster``); an ``LGBMClassifier``/``LGBMRegressor``/... is one skops file
holding the wrapper and its booster (``data: model.skops``, ``serialization_format:
skops``), loaded here without ``trust=True`` when it holds nothing but LightGBM's types.
Version 0.1 kept the trees in ``model.txt`` and the rest of the wrapper in
``wrapper.skops`` (``sklearn_wrapper``); those folders still load.
"""

from __future__ import annotations

from typing import Any

from ..._importers import import_optional
from ...errors import UntrustedModel
from . import LoadContext, SaveContext, dotted_class_path, in_sys_modules
from .sklearn import import_skops, load_pickle, save_skops

DATA_FILE = "model.txt"
SKOPS_FILE = "model.skops"
#: Types a LightGBM wrapper holds that run no foreign code when loaded.
_SAFE_TYPES = ("lightgbm.", "collections.OrderedDict", "collections.defaultdict")
BOOSTER_CLASSES = ("lightgbm.basic.Booster", "lightgbm.basic:Booster")


class LightGBMFlavor:
    """``lightgbm.Booster`` and the ``LGBM*`` scikit-learn estimators."""

    name = "lightgbm"
    priority = 20

    def can_save(self, model: Any) -> bool:
        if not in_sys_modules("lightgbm"):
            return False
        import lightgbm

        return isinstance(model, (lightgbm.Booster, lightgbm.LGBMModel))

    def save(self, model: Any, ctx: SaveContext) -> dict[str, Any]:
        lgb = import_optional("lightgbm", "models")
        conf: dict[str, Any] = {"model_class": dotted_class_path(model),
                                "lgb_version": lgb.__version__}
        if isinstance(model, lgb.Booster):
            model.save_model(str(ctx.path / DATA_FILE))
            conf["data"] = DATA_FILE
            return conf
        conf.update(data=SKOPS_FILE, serialization_format="skops",
                    skops_trusted_types=save_skops(model, ctx.path / SKOPS_FILE))
        return conf

    def python_function(self, conf: dict[str, Any]) -> dict[str, Any]:
        return {"loader_module": "mlflow.lightgbm", "data": conf["data"]}

    def load(self, ctx: LoadContext) -> Any:
        lgb = import_optional("lightgbm", "models")
        conf = ctx.conf
        if conf.get("sklearn_wrapper"):  # version 0.1
            booster = lgb.Booster(model_file=str(ctx.file("data", DATA_FILE)))
            model = self._load_skops(ctx, ctx.file("sklearn_wrapper"))
            model._Booster = booster
            return model
        if conf.get("model_class", BOOSTER_CLASSES[0]) in BOOSTER_CLASSES:
            return lgb.Booster(model_file=str(ctx.file("data", DATA_FILE)))
        # a scikit-learn wrapper; MLflow reads a folder without a format as cloudpickle
        if conf.get("serialization_format", "cloudpickle") == "skops":
            return self._load_skops(ctx, ctx.file("data"))
        return load_pickle(ctx.file("data"), ctx.trusted)

    def _load_skops(self, ctx: LoadContext, path: Any) -> Any:
        sio = import_skops()
        found = sorted(sio.get_untrusted_types(file=path))
        foreign = [t for t in found if not t.startswith(_SAFE_TYPES)]
        if foreign and not ctx.trusted:
            raise UntrustedModel(
                f"This LightGBM model's wrapper holds types that are not LightGBM's: "
                f"{', '.join(foreign)}. If you trust its source, pass trust=True."
            )
        return sio.load(path, trusted=found or None)

    def predict(self, native: Any, data: Any, params: dict[str, Any]) -> Any:
        return native.predict(data, **params)

    def walks_model(self, conf: dict[str, Any]) -> bool:
        return False

    def modules(self, model: Any, conf: dict[str, Any]) -> list[str]:
        if conf.get("sklearn_wrapper") or conf.get("serialization_format") == "skops":
            return ["lightgbm", "numpy", "sklearn", "skops"]
        return ["lightgbm", "numpy"]


flavor = LightGBMFlavor()
