"""LightGBM boosters in LightGBM's native text format, and their scikit-learn wrappers.

The trees always go to ``model.txt``. For an ``LGBMClassifier``/``LGBMRegressor``/... the
rest of the wrapper (parameters, label encoder) goes to ``wrapper.skops``, without the
booster, and the two are joined again on load.
"""

from __future__ import annotations

import copy
from typing import Any

from ..._importers import import_optional
from ...errors import UntrustedModel
from . import LoadContext, SaveContext, class_path, in_sys_modules
from .sklearn import import_skops, save_skops

DATA_FILE = "model.txt"
WRAPPER_FILE = "wrapper.skops"
#: Types a LightGBM wrapper holds that run no foreign code when loaded.
_SAFE_TYPES = ("lightgbm.", "collections.OrderedDict", "collections.defaultdict")


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
        conf: dict[str, Any] = {"data": DATA_FILE, "model_class": class_path(model),
                                "lgb_version": lgb.__version__}
        if isinstance(model, lgb.Booster):
            model.save_model(str(ctx.path / DATA_FILE))
            return conf
        model.booster_.save_model(str(ctx.path / DATA_FILE))
        wrapper = copy.copy(model)
        wrapper._Booster = None
        conf["sklearn_wrapper"] = WRAPPER_FILE
        conf["untrusted_types"] = save_skops(wrapper, ctx.path / WRAPPER_FILE)
        return conf

    def load(self, ctx: LoadContext) -> Any:
        lgb = import_optional("lightgbm", "models")
        booster = lgb.Booster(model_file=str(ctx.file("data", DATA_FILE)))
        if not ctx.conf.get("sklearn_wrapper"):
            return booster
        sio = import_skops()
        path = ctx.file("sklearn_wrapper")
        found = sorted(sio.get_untrusted_types(file=path))
        foreign = [t for t in found if not t.startswith(_SAFE_TYPES)]
        if foreign and not ctx.trusted:
            raise UntrustedModel(
                f"This LightGBM model's wrapper holds types that are not LightGBM's: "
                f"{', '.join(foreign)}. If you trust its source, pass trust=True."
            )
        model = sio.load(path, trusted=found or None)
        model._Booster = booster
        return model

    def predict(self, native: Any, data: Any, params: dict[str, Any]) -> Any:
        return native.predict(data, **params)

    def walks_model(self, conf: dict[str, Any]) -> bool:
        return False

    def modules(self, model: Any, conf: dict[str, Any]) -> list[str]:
        if conf.get("sklearn_wrapper"):
            return ["lightgbm", "numpy", "sklearn", "skops"]
        return ["lightgbm", "numpy"]


flavor = LightGBMFlavor()
